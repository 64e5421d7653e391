# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""tests/bench/phases.py: a release's phases measured from a timeline shaped like playbooks/release.yml."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib.util
import json
import pathlib

import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
SPEC = importlib.util.spec_from_file_location('bench_phases', str(REPO / 'tests' / 'bench' / 'phases.py'))
phases = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(phases)

PLAYBOOK = '/srv/daylight.release/playbooks/release.yml'
ROLES = '/srv/daylight.release/roles'
SWITCH = '%s/release_node/tasks/switch.yml' % ROLES
PUT_BACK = '%s/release_node/tasks/_put_back.yml' % ROLES


class Timeline:
    """Task lines as daylight.release.timeline writes them, on a clock that only moves forward.

    Every task starts on all its hosts at the cursor (plus the host's lag) and lasts its seconds;
    the next task starts when the slowest host is done, as under the linear strategy.
    """

    def __init__(self):
        self.now = 1000.0
        self.records = [{'event': 'playbook', 'path': 'release.yml', 'time': self.now}]
        self.play_index = 0
        self.play_name = None
        self.batch = 0
        self.lag = {}

    def wait(self, seconds):
        self.now += seconds

    def play(self, name, next_batch=False):
        if next_batch:
            self.batch += 1
        else:
            self.play_index += 1
            self.batch = 1
        self.play_name = name
        self.records.append({'event': 'play', 'play': name, 'play_index': self.play_index, 'batch': self.batch,
                             'time': self.now})

    def task(self, name, hosts, seconds, role=None, path=PLAYBOOK, line=1, includes=(), status='ok',
             action='ansible.builtin.set_fact', delegated_to=()):
        last = self.now
        for host in hosts:
            start = self.now + self.lag.get(host, 0.0)
            self.records.append({
                'event': 'task', 'play': self.play_name, 'play_index': self.play_index, 'batch': self.batch,
                'task': name, 'task_uuid': 'uuid-%d' % len(self.records), 'role': role and 'daylight.release.' + role,
                'path': '%s:%d' % (path, line), 'includes': list(includes), 'tags': [], 'action': action,
                'host': host, 'delegated_to': list(delegated_to), 'start': start, 'end': start + seconds,
                'status': status, 'ignored': False, 'handler': False, 'items': None, 'item_statuses': None,
            })
            last = max(last, start + seconds)
        self.now = last

    def role(self, role, tasks_file, hosts, durations, includes, **kwargs):
        for number, seconds in enumerate(durations):
            self.task('%s step %d' % (role, number), hosts, seconds, role=role, line=number * 10 + 1,
                      path='%s/%s/tasks/%s' % (ROLES, role, tasks_file), includes=includes, **kwargs)


def node_turn(tl, hosts, include_at):
    """roles/release_node/tasks/switch.yml on a batch: drain 6, swap+reload 3, smoke 2.5, enable 4.5 (s of work)."""
    inc = [include_at]
    tl.task("Remember the node's release before the switch", hosts, 0.5, role='release_node', path=SWITCH, includes=inc)
    tl.task('Mark the node as drained by a release', hosts, 1.0, role='release_node', path=SWITCH, includes=inc)
    tl.task('Drain the node', hosts, 0.5, role='release_node', path=SWITCH, line=33, includes=inc,
            action='ansible.builtin.include_role')
    drain_inc = ['%s:33' % SWITCH, include_at]
    # drain.yml whatever its module: the new daylight.release.haproxy_server counts like community.general.haproxy
    tl.role('haproxy_backend', 'drain.yml', hosts, [0.5], drain_inc, status='skipped')
    tl.role('haproxy_backend', 'drain.yml', hosts, [1.5], drain_inc, action='daylight.release.haproxy_server',
            delegated_to=['lb1', 'lb2'])
    tl.role('haproxy_backend', 'drain.yml', hosts, [0.5], drain_inc, action='ansible.builtin.assert')
    tl.role('haproxy_backend', 'drain.yml', hosts, [3.0], drain_inc, action='community.general.haproxy')
    tl.role('haproxy_backend', 'drain.yml', hosts, [0.5], drain_inc, action='ansible.builtin.assert')
    tl.task('Note the swap is next', hosts, 0.5, role='release_node', path=SWITCH, includes=inc)
    tl.task('Swap the docroot and reload Apache', hosts, 0.5, role='release_node', path=SWITCH, line=44, includes=inc,
            action='ansible.builtin.include_role')
    tl.role('apache_docroot', 'main.yml', hosts, [1.0, 0.5, 1.5], ['%s:44' % SWITCH, include_at])
    tl.task('Smoke-test the node', hosts, 0.5, role='release_node', path=SWITCH, line=51, includes=inc,
            action='ansible.builtin.include_role')
    tl.role('smoke_test', 'main.yml', hosts, [2.5], ['%s:51' % SWITCH, include_at], action='daylight.release.smoke_check')
    tl.task('Note the enable is next', hosts, 0.5, role='release_node', path=SWITCH, includes=inc)
    tl.task('Enable the node', hosts, 0.5, role='release_node', path=SWITCH, line=62, includes=inc,
            action='ansible.builtin.include_role')
    tl.role('haproxy_backend', 'enable.yml', hosts, [0.5, 3.0, 0.5, 0.5], ['%s:62' % SWITCH, include_at])
    tl.task('Remove the drained-by-a-release marker', hosts, 1.0, role='release_node', path=SWITCH, includes=inc)
    tl.task("Record the node's new release", hosts, 0.5, role='release_node', path=SWITCH, includes=inc)


def switch_block(tl, hosts, names, line):
    """The canary's and the rolling play's opening: a skipped stop, the turn (included at line), the count."""
    stop, include, count = names
    tl.task(stop, hosts, 0.5, status='skipped', action='ansible.builtin.meta')
    tl.task(include, hosts, 0.5, line=line, action='ansible.builtin.include_role')
    node_turn(tl, hosts, '%s:%d' % (PLAYBOOK, line))
    tl.task(count, hosts, 0.5, action='ansible.builtin.group_by')


ROLLING = ('Stop after a failed batch', 'Switch the node', 'Count the node as switched')
WEB = ['web1', 'web2', 'web3', 'web4']


def release_timeline():
    """A release of web1..web4: canary web1, then batches [web2] and [web3, web4] (serial: [1, 2])."""
    tl = Timeline()
    # 1. preflight: 1 + 0.5 + 0.5 + 0.5 + 2.0 = 4.5
    tl.play('Check the request and that every host answers')
    tl.task('Reach the host', WEB + ['lb1'], 1.0, action='ansible.builtin.ping')
    tl.task('Check the estate has web nodes and load balancers', ['web1'], 0.5, delegated_to=['localhost'])
    tl.task('Check the batch size', ['web1'], 0.5, delegated_to=['localhost'])
    tl.task('Check the version, the package and its checksum', WEB, 0.5, action='ansible.builtin.include_role')
    tl.role('release_stage', 'preflight.yml', ['web1'], [0.5, 1.0, 0.5], ['%s:40' % PLAYBOOK])
    tl.wait(2.0)
    # 2. lock and inspect: 0.5 + 3 + 0.5 + 1 + 0.5 + 2 + 0.5 = 8.0
    tl.play('Take the release lock and see where every node stands')
    tl.task('Take the release lock', WEB, 0.5, action='ansible.builtin.include_role')
    tl.role('release_lock', 'acquire.yml', ['web1'], [1.0, 2.0], ['%s:57' % PLAYBOOK])
    tl.task('Read the release history', WEB, 0.5, action='ansible.builtin.include_role')
    tl.role('release_history', 'read.yml', WEB, [1.0], ['%s:68' % PLAYBOOK])
    tl.task('See where the node stands', WEB, 0.5, action='ansible.builtin.include_role')
    tl.role('release_node', 'inspect.yml', WEB, [2.0], ['%s:74' % PLAYBOOK])
    tl.task('Say where the estate stands', WEB, 0.5, action='ansible.builtin.debug')
    tl.wait(2.0)
    # 3. staging: 0.5 + 1.0 + 1.5 + 5.0 = 8.0
    tl.play('Stage the release on the share')
    tl.task('Stage the package', WEB, 0.5, action='ansible.builtin.include_role')
    tl.role('release_stage', 'preflight.yml', ['web1'], [1.0], ['%s:183' % PLAYBOOK])
    tl.role('release_stage', 'mount.yml', WEB, [1.5], ['%s:183' % PLAYBOOK])
    tl.role('release_stage', 'stage.yml', ['web1'], [2.0, 3.0], ['%s:183' % PLAYBOOK])
    tl.wait(2.0)
    # 4. pre migrations: 0.5 + 0.5 + 2.0 = 3.0
    tl.play("Run the release's pre migrations")
    tl.task('Stop after a failure', WEB, 0.5, status='skipped', action='ansible.builtin.meta')
    tl.task('Apply the pending pre migrations', WEB, 0.5, action='ansible.builtin.include_role')
    tl.role('db_migrate', 'main.yml', ['web1'], [0.5, 1.5], ['%s:212' % PLAYBOOK])
    tl.wait(2.0)
    # 5. no interrupted node: the play matches no host and writes no task line
    tl.play('Put back the nodes an interrupted run left drained')
    tl.wait(1.0)
    # 6. the canary: its turn, then the watch (CANARY_WATCH)
    tl.play('Release the canary and judge it under live traffic')
    switch_block(tl, ['web1'], ('Stop after a failure', 'Switch the canary', 'Count the canary as switched'), 270)
    tl.task('Judge the canary against the nodes still on the old release', ['web1'], 0.5, line=282,
            action='ansible.builtin.include_role')
    judge = ['%s:282' % PLAYBOOK]
    # warm-up 10, read 1, check 0.5, start 0.5, the poll include 0.5
    tl.role('canary_analysis', 'main.yml', ['web1'], [10.0, 1.0, 0.5, 0.5, 0.5], judge)
    poll = ['%s/canary_analysis/tasks/main.yml:41' % ROLES] + judge
    for dummy in range(2):  # two looks at the traffic (7 s each), the third skipped (4 x 0.25 s)
        tl.role('canary_analysis', '_poll.yml', ['web1'], [5.0, 1.0, 0.5, 0.5], poll)
    tl.role('canary_analysis', '_poll.yml', ['web1'], [0.25] * 4, poll, status='skipped')
    # read after 2, check, judge, report, stop: 0.5 each
    tl.role('canary_analysis', 'main.yml', ['web1'], [2.0, 0.5, 0.5, 0.5, 0.5], judge)
    tl.task('Let the other nodes follow', ['web1'], 0.5, action='ansible.builtin.add_host')
    tl.wait(2.0)
    # 7. rolling: [web2], then [web3, web4] with web4's tasks starting 0.25 s after web3's
    tl.play('Roll the release through the other nodes')
    switch_block(tl, ['web2'], ROLLING, 325)
    tl.wait(1.0)
    tl.play('Roll the release through the other nodes', next_batch=True)
    tl.lag = {'web4': 0.25}
    switch_block(tl, ['web3', 'web4'], ROLLING, 325)
    tl.lag = {}
    tl.wait(2.0)
    # 8. post migrations: 0.5 + 0.5 + 0.5 + 1.5 = 3.0
    tl.play("Run the release's post migrations once every node serves it")
    tl.task('Stop after a failure', WEB, 0.5, status='skipped', action='ansible.builtin.meta')
    tl.task('Say why the post migrations wait', ['web1'], 0.5, status='skipped', action='ansible.builtin.debug')
    tl.task('Apply the pending post migrations', WEB, 0.5, action='ansible.builtin.include_role')
    tl.role('db_migrate', 'main.yml', ['web1'], [1.5], ['%s:370' % PLAYBOOK])
    tl.wait(2.0)
    # 9. nothing to send back: 0.5
    tl.play('Decide whether the switched nodes go back')
    tl.task('Send the switched nodes back after a node failed', ['web1'], 0.5, status='skipped',
            action='ansible.builtin.add_host')
    tl.wait(2.0)
    tl.play('Return the switched nodes to their previous release')
    tl.wait(2.0)
    # 10. report: 0.5 + 2.0 + 0.5 + 1.0 + 0.5 = 4.5
    tl.play('Report the release')
    tl.task('Report what every node serves and close the history entry', WEB, 0.5, action='ansible.builtin.include_role')
    tl.role('release_report', 'main.yml', ['web1'], [2.0], ['%s:446' % PLAYBOOK])
    tl.task('Give the lock back', WEB, 0.5, action='ansible.builtin.include_role')
    tl.role('release_lock', 'release.yml', ['web1'], [1.0], ['%s:454' % PLAYBOOK])
    tl.task('Fail a stopped release', ['web1'], 0.5, status='skipped', action='ansible.builtin.fail')
    tl.records.append({'event': 'stats', 'hosts': {}, 'time': tl.now})
    return tl.records


# A node's turn, batch of one: 0.5 + 1 + 0.5 (include) + drain 6 + 0.5 + 0.5 (include) + swap 3 + 0.5 (include)
# + smoke 2.5 + 0.5 + 0.5 (include) + enable 4.5 + 1 + 0.5 = 22.0
TURN = 22.0
CANARY_WATCH = 10 + 1 + 0.5 + 0.5 + 0.5 + 2 * 7 + 4 * 0.25 + 2 + 4 * 0.5  # 31.5


def test_the_release_phases_are_measured_from_the_task_lines():
    result = phases.phases(release_timeline())

    assert result['preflight'] == pytest.approx(4.5)
    assert result['lock_and_inspect'] == pytest.approx(8.0)
    assert result['staging'] == pytest.approx(8.0)
    assert result['migrations'] == {'pre': pytest.approx(3.0), 'post': pytest.approx(3.0)}
    assert result['resume'] is None
    assert result['return'] == pytest.approx(0.5)
    assert result['report'] == pytest.approx(4.5)
    assert result['other'] == {}

    canary, first, second = result['batches']
    assert canary == {
        'kind': 'canary', 'batch': 1, 'nodes': ['web1'],
        'drain': pytest.approx(6.0), 'swap_reload': pytest.approx(3.0), 'smoke': pytest.approx(2.5),
        'enable': pytest.approx(4.5), 'dark_launch': None, 'canary_watch': pytest.approx(31.5), 'put_back': None,
        # meta, include, the turn, group_by, include, the watch, add_host
        'total': pytest.approx(0.5 + 0.5 + TURN + 0.5 + 0.5 + CANARY_WATCH + 0.5),
    }
    assert CANARY_WATCH == 31.5
    assert first == {
        'kind': 'batch', 'batch': 1, 'nodes': ['web2'],
        'drain': pytest.approx(6.0), 'swap_reload': pytest.approx(3.0), 'smoke': pytest.approx(2.5),
        'enable': pytest.approx(4.5), 'dark_launch': None, 'canary_watch': None, 'put_back': None,
        'total': pytest.approx(0.5 + 0.5 + TURN + 0.5),
    }
    # Two nodes side by side are one wall-clock span (web3's first start to web4's last end), not a sum.
    # web4 is 0.25 s behind on each of the batch's 26 tasks: drain has 5, swap+reload 3, smoke 1, enable 4.
    assert second == {
        'kind': 'batch', 'batch': 2, 'nodes': ['web3', 'web4'],
        'drain': pytest.approx(6.0 + 5 * 0.25), 'swap_reload': pytest.approx(3.0 + 3 * 0.25),
        'smoke': pytest.approx(2.5 + 0.25), 'enable': pytest.approx(4.5 + 4 * 0.25), 'canary_watch': None,
        'dark_launch': None, 'put_back': None, 'total': pytest.approx(0.5 + 0.5 + TURN + 0.5 + 26 * 0.25),
    }

    gaps = 2.0 * 4 + 1.0 + 2.0 + 1.0 + 2.0 * 4  # between the plays and batches: not in any phase
    batches = canary['total'] + first['total'] + second['total']
    assert result['total'] == pytest.approx(4.5 + 8 + 8 + 3 + batches + 3 + 0.5 + 4.5 + gaps)


def test_a_failed_turn_puts_the_node_back_outside_its_swap_and_enable():
    tl = Timeline()
    tl.play('Roll the release through the other nodes')
    hosts = ['web2']
    include_at = '%s:325' % PLAYBOOK
    tl.role('haproxy_backend', 'drain.yml', hosts, [2.0], ['%s:33' % SWITCH, include_at])
    tl.role('apache_docroot', 'main.yml', hosts, [1.0], ['%s:44' % SWITCH, include_at])
    tl.role('smoke_test', 'main.yml', hosts, [3.0], ['%s:51' % SWITCH, include_at], status='failed')
    tl.task("Record why the node's turn failed", hosts, 0.5, role='release_node', path=SWITCH, includes=[include_at])
    tl.task('Put the node back', hosts, 0.5, role='release_node', path=SWITCH, includes=[include_at],
            action='ansible.builtin.include_tasks')
    back = ['%s:90' % SWITCH, include_at]
    tl.task('Swap the docroot back and reload Apache', hosts, 0.5, role='release_node', path=PUT_BACK, includes=back)
    tl.role('apache_docroot', 'main.yml', hosts, [1.5], ['%s:9' % PUT_BACK] + back)
    tl.role('smoke_test', 'main.yml', hosts, [2.0], ['%s:16' % PUT_BACK] + back)
    tl.role('haproxy_backend', 'enable.yml', hosts, [2.5], ['%s:40' % PUT_BACK] + back)
    tl.task('Say where the node is now', hosts, 0.5, role='release_node', path=PUT_BACK, includes=back)
    tl.task('Stop here', hosts, 0.5, role='release_node', path=SWITCH, includes=[include_at], status='failed')

    (batch,) = phases.phases(tl.records)['batches']
    assert (batch['drain'], batch['swap_reload'], batch['smoke'], batch['enable']) == (2.0, 1.0, 3.0, None)
    assert batch['put_back'] == pytest.approx(0.5 + 1.5 + 2.0 + 2.5 + 0.5)
    assert batch['total'] == pytest.approx(2 + 1 + 3 + 0.5 + 0.5 + 7.0 + 0.5)


@pytest.mark.parametrize('role, path, includes, step', [
    ('daylight.release.haproxy_backend', ROLES + '/haproxy_backend/tasks/drain.yml:11', [], 'drain'),
    ('haproxy_backend', ROLES + '/haproxy_backend/tasks/enable.yml:9', [], 'enable'),
    ('haproxy_backend', ROLES + '/haproxy_backend/tasks/_enable_trouble.yml:4', [ROLES + '/haproxy_backend/tasks/enable.yml:50'],
     'enable'),
    ('daylight.release.haproxy_backend', ROLES + '/haproxy_backend/tasks/main.yml:2', [], None),
    ('daylight.release.apache_docroot', ROLES + '/apache_docroot/tasks/main.yml:22', [], 'swap_reload'),
    ('daylight.release.smoke_test', ROLES + '/smoke_test/tasks/main.yml:4', [], 'smoke'),
    ('daylight.release.canary_analysis', ROLES + '/canary_analysis/tasks/_poll.yml:6', [], 'canary_watch'),
    ('daylight.release.release_node', SWITCH + ':40', [], None),
    ('daylight.release.release_node', PUT_BACK + ':5', [], 'put_back'),
    # The dark launch in the node's turn, and its error log check after the live window (part of the watch).
    ('daylight.release.dark_launch', ROLES + '/dark_launch/tasks/main.yml:20', [SWITCH + ':60', PLAYBOOK + ':280'],
     'dark_launch'),
    ('daylight.release.dark_launch', ROLES + '/dark_launch/tasks/main.yml:20',
     [ROLES + '/release_node/tasks/_dark_launch.yml:3', SWITCH + ':97', PLAYBOOK + ':280'], 'dark_launch'),
    ('daylight.release.dark_launch', ROLES + '/dark_launch/tasks/findings.yml:9', [SWITCH + ':60', PLAYBOOK + ':280'],
     'dark_launch'),
    ('daylight.release.dark_launch', ROLES + '/dark_launch/tasks/findings.yml:9', [PLAYBOOK + ':310'], 'canary_watch'),
    ('daylight.release.haproxy_backend', ROLES + '/haproxy_backend/tasks/enable.yml:9', [PUT_BACK + ':40'], 'put_back'),
    (None, PLAYBOOK + ':20', [], None),
    (None, None, [], None),
])
def test_task_step(role, path, includes, step):
    assert phases.task_step({'role': role, 'path': path, 'includes': includes}) == step


def test_every_play_of_the_release_playbook_has_its_phase():
    names = [play['name'] for play in yaml.safe_load((REPO / 'playbooks' / 'release.yml').read_text())]
    assert [phases.play_kind(name) for name in names] == [
        'preflight', 'lock_and_inspect', 'staging', 'pre_migrations', 'resume', 'canary', 'batch',
        'post_migrations', 'return', 'return', 'report']
    # a rollback runs release.yml after a play of its own
    assert phases.play_kind('Choose the release to go back to') == 'other'


def test_a_play_of_no_phase_is_reported_apart():
    tl = Timeline()
    tl.play('Choose the release to go back to')
    tl.task('Read the release history', ['web1'], 1.5)
    tl.play('Report the release')
    tl.task('Report', ['web1'], 1.0)
    result = phases.phases(tl.records)
    assert result['other'] == {'Choose the release to go back to': 1.5}
    assert (result['report'], result['preflight'], result['batches']) == (1.0, None, [])


def test_load_keeps_a_killed_run_and_refuses_a_broken_file(tmp_path):
    records = release_timeline()
    text = ''.join(json.dumps(record) + '\n' for record in records)
    path = tmp_path / 'timeline.jsonl'
    path.write_text(text)
    assert phases.load(str(path)) == records

    path.write_text(text[:-40])  # killed in the middle of the recap line
    assert phases.load(str(path)) == records[:-1]

    path.write_text(text.replace('\n', '\n{"event": \n', 1))
    with pytest.raises(ValueError, match='line 2 is not JSON'):
        phases.load(str(path))


def test_markdown_and_summary_line():
    result = phases.phases(release_timeline())
    table = phases.markdown(result)
    lines = table.splitlines()
    assert lines[:6] == [
        '| Phase | Seconds |',
        '| --- | ---: |',
        '| Preflight | 4.5 |',
        '| Lock and inspect | 8.0 |',
        '| Staging | 8.0 |',
        '| Pre migrations | 3.0 |',
    ]
    assert '| Resume interrupted nodes | - |' in lines
    assert '| Canary (web1) | 56.0 |' in lines
    assert '| Batch 2 (web3, web4) | 30.0 |' in lines
    assert '| **Total** | **%.1f** |' % result['total'] in lines
    assert '| Batch | Nodes | Drain | Swap+reload | Smoke | Enable | Canary watch | Total |' in lines
    assert '| canary | web1 | 6.0 | 3.0 | 2.5 | 4.5 | 31.5 | 56.0 |' in lines
    assert '| batch 1 | web2 | 6.0 | 3.0 | 2.5 | 4.5 | - | 23.5 |' in lines
    assert '| batch 2 | web3, web4 | 7.2 | 3.8 | 2.8 | 5.5 | - | 30.0 |' in lines

    line = phases.summary_line(result)
    assert line.startswith('release %.1f s: preflight 4.5; lock and inspect 8.0; staging 8.0; pre migrations 3.0; '
                           % result['total'])
    assert ('canary 56.0 (drain 6.0, swap+reload 3.0, smoke 2.5, enable 4.5, canary watch 31.5); '
            '2 batches 26.8 s each on average (drain 6.6, swap+reload 3.4, smoke 2.6, enable 5.0); '
            'post migrations 3.0; return switched nodes 0.5; report 4.5') in line
    assert '\n' not in line


def test_main_prints_the_tables_or_json(tmp_path, capsys):
    path = tmp_path / 'timeline.jsonl'
    path.write_text(''.join(json.dumps(record) + '\n' for record in release_timeline()))
    assert phases.main([str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith('| Phase | Seconds |') and out.rstrip().splitlines()[-1].startswith('release ')
    assert phases.main([str(path), '--json']) == 0
    assert json.loads(capsys.readouterr().out)['migrations']['pre'] == 3.0
    assert phases.main([]) == 2
