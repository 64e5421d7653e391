# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""daylight.release.timeline, run by a real ansible-playbook on local connections."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import subprocess
import sys
import textwrap

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')

ROLE = """\
- name: Say the role runs
  ansible.builtin.debug:
    msg: tiny

- name: Include the inner tasks
  ansible.builtin.include_tasks: inner.yml
"""

INNER = """\
- name: Set an inner fact
  ansible.builtin.set_fact:
    tiny_seen: true
"""

PLAYBOOK = """\
- name: Everyone at once
  hosts: a:b:c
  gather_facts: false
  tasks:
    - name: Say hello
      ansible.builtin.debug:
        msg: hello

    - name: Run once on the last host's behalf
      ansible.builtin.debug:
        msg: once
      run_once: true
      delegate_to: "{{ groups.web[2] }}"

    - name: Loop over the other hosts
      ansible.builtin.debug:
        msg: "{{ item }}"
      delegate_to: "{{ item }}"
      loop: [b, c]

    - name: Loop with a failing item
      ansible.builtin.debug:
        msg: "{{ item }}"
      loop: [1, 2]
      failed_when: item == 2
      ignore_errors: true

    - name: Fail but go on
      ansible.builtin.fail:
        msg: on purpose
      ignore_errors: true

    - name: Skip
      ansible.builtin.debug:
        msg: never
      when: false

    - name: Sleep a little
      ansible.builtin.command: sleep 0.3
      changed_when: false
      when: inventory_hostname == 'a'

    - name: Reach a host that is not there
      ansible.builtin.ping:
      delegate_to: nowhere
      ignore_unreachable: true
      # not run_once: a run_once task that fails counts as any_errors_fatal for the whole play
      when: inventory_hostname == 'a'

    # The lines must be on disk while the run goes on: a killed run leaves them.
    - name: Read the timeline so far
      ansible.builtin.assert:
        that: lookup('ansible.builtin.file', timeline_path).splitlines() | length >= 24
      run_once: true

- name: One at a time
  hosts: a:b:c
  gather_facts: false
  serial: 1
  tasks:
    - name: Run the tiny role
      ansible.builtin.include_role:
        name: tiny

    # The same role again in the same batch must not look like a new batch.
    - name: Run the tiny role again
      ansible.builtin.include_role:
        name: tiny
"""

INVENTORY = """\
[web]
a
b
c

[web:vars]
ansible_connection=local
ansible_python_interpreter={python}

[elsewhere]
nowhere ansible_connection=ssh ansible_host=127.0.0.1 ansible_port=1 ansible_ssh_common_args='-o BatchMode=yes'
"""


def make_project(tmp_path, cfg_extra=''):
    os.makedirs(str(tmp_path / 'roles' / 'tiny' / 'tasks'))
    (tmp_path / 'roles' / 'tiny' / 'tasks' / 'main.yml').write_text(ROLE)
    (tmp_path / 'roles' / 'tiny' / 'tasks' / 'inner.yml').write_text(INNER)
    (tmp_path / 'playbook.yml').write_text(PLAYBOOK)
    (tmp_path / 'inventory.ini').write_text(INVENTORY.format(python=sys.executable))
    (tmp_path / 'ansible.cfg').write_text(textwrap.dedent("""\
        [defaults]
        collections_path = {collections}
        roles_path = {roles}
        forks = 1
        stdout_callback = ansible.builtin.default
        retry_files_enabled = false
        host_key_checking = false
        """).format(collections=os.path.join(REPO, '.build', 'collections'), roles=str(tmp_path / 'roles')) + cfg_extra)


def run(tmp_path, timeline=None, enabled=True, playbook='playbook.yml', read_back=None):
    """ansible-playbook in tmp_path; the playbook's own check reads read_back (default: the timeline)."""
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith(('ANSIBLE_', 'DAYLIGHT_')))
    env.update(ANSIBLE_CONFIG=str(tmp_path / 'ansible.cfg'), ANSIBLE_FORCE_COLOR='0', ANSIBLE_NOCOLOR='1')
    if enabled:
        env['ANSIBLE_CALLBACKS_ENABLED'] = 'daylight.release.timeline'
    if timeline:
        env['DAYLIGHT_TIMELINE'] = timeline
    proc = subprocess.run([ANSIBLE_PLAYBOOK, '-i', 'inventory.ini', playbook,
                           '-e', 'timeline_path=%s' % (read_back or timeline or '/nonexistent')],
                          cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def read(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope='module')
def release_run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp('project')
    make_project(tmp_path)
    timeline = str(tmp_path / 'timeline.jsonl')
    proc = run(tmp_path, timeline)
    return tmp_path, proc, read(timeline)


def line_of(task):
    return PLAYBOOK.splitlines().index('    - name: %s' % task) + 1


def tasks(records, **match):
    return [r for r in records if r['event'] == 'task' and all(r[k] == v for k, v in match.items())]


def test_the_file_opens_with_the_playbook_and_ends_with_the_recap(release_run):
    dummy, dummy, records = release_run
    assert records[0]['event'] == 'playbook' and records[0]['path'].endswith('playbook.yml')
    assert records[-1]['event'] == 'stats'
    assert sorted(records[-1]['hosts']) == ['a', 'b', 'c']
    assert records[-1]['hosts']['a']['ignored'] == 3  # the failing item's loop, the fail, the unreachable host
    assert [r['event'] for r in records[1:-1]].count('stats') == 0


def test_every_batch_of_a_serial_play_is_counted(release_run):
    dummy, dummy, records = release_run
    plays = [(r['play_index'], r['batch'], r['play']) for r in records if r['event'] == 'play']
    assert plays == [(1, 1, 'Everyone at once'), (2, 1, 'One at a time'), (2, 2, 'One at a time'),
                     (2, 3, 'One at a time')]
    expected = ['Run the tiny role', 'Say the role runs', 'Include the inner tasks', 'Set an inner fact'] * 2
    expected[4] = 'Run the tiny role again'
    for batch, host in enumerate(['a', 'b', 'c'], 1):
        rows = tasks(records, play_index=2, batch=batch)
        assert [r['task'] for r in rows] == expected
        assert set(r['host'] for r in rows) == {host}


def test_roles_and_includes_are_named(release_run):
    dummy, dummy, records = release_run
    outer, inner = tasks(records, batch=1, play_index=2, task='Set an inner fact')
    for row in (outer, inner):
        assert row['role'] == 'tiny'
        assert row['path'].endswith(os.path.join('roles', 'tiny', 'tasks', 'inner.yml') + ':1')
        assert row['includes'][0].endswith(os.path.join('roles', 'tiny', 'tasks', 'main.yml') + ':5')
        assert row['action'] == 'ansible.builtin.set_fact'
    assert outer['includes'][1].endswith('playbook.yml:%d' % line_of('Run the tiny role'))
    assert inner['includes'][1].endswith('playbook.yml:%d' % line_of('Run the tiny role again'))
    (include,) = tasks(records, batch=1, play_index=2, task='Run the tiny role')
    assert (include['role'], include['includes'], include['action']) == (None, [], 'ansible.builtin.include_role')


def test_statuses_loops_run_once_and_delegation(release_run):
    dummy, dummy, records = release_run
    first = tasks(records, play_index=1)

    def one(name, host='a'):
        (row,) = [r for r in first if r['task'] == name and r['host'] == host]
        return row

    assert [r['host'] for r in first if r['task'] == 'Say hello'] == ['a', 'b', 'c']
    assert [r['host'] for r in first if r['task'] == 'Run once on the last host\'s behalf'] == ['a']
    assert one("Run once on the last host's behalf")['delegated_to'] == ['c']

    for host in 'abc':
        row = one('Loop over the other hosts', host)
        assert (row['status'], row['items'], row['item_statuses'], row['delegated_to']) == ('ok', 2, {'ok': 2}, ['b', 'c'])
        row = one('Loop with a failing item', host)
        assert (row['status'], row['ignored'], row['items'], row['item_statuses']) == ('failed', True, 2, {'ok': 1, 'failed': 1})
        row = one('Fail but go on', host)
        assert (row['status'], row['ignored'], row['items'], row['delegated_to']) == ('failed', True, None, [])
        assert one('Skip', host)['status'] == 'skipped'
        assert one('Say hello', host)['status'] == 'ok'

    assert one('Sleep a little')['status'] == 'ok'
    assert one('Sleep a little')['end'] - one('Sleep a little')['start'] >= 0.3
    assert [one('Sleep a little', host)['status'] for host in 'bc'] == ['skipped', 'skipped']
    unreachable = one('Reach a host that is not there')
    assert (unreachable['status'], unreachable['ignored'], unreachable['delegated_to']) == ('unreachable', True, ['nowhere'])
    assert [r['host'] for r in first if r['task'] == 'Read the timeline so far'] == ['a']
    assert one('Read the timeline so far')['status'] == 'ok'


def test_times_are_in_order(release_run):
    dummy, dummy, records = release_run
    rows = tasks(records)
    assert all(isinstance(r['start'], float) and r['start'] <= r['end'] for r in rows)
    ends = [r['end'] for r in rows]
    assert ends == sorted(ends)  # a line is written as its task ends
    times = [r.get('time') or r['start'] for r in records]
    assert times[0] <= times[1] and records[-1]['time'] >= ends[-1]
    for play in [r for r in records if r['event'] == 'play']:
        rows = tasks(records, play_index=play['play_index'], batch=play['batch'])
        assert play['time'] <= min(r['start'] for r in rows)
    # the batches follow each other
    spans = [(min(r['start'] for r in tasks(records, play_index=2, batch=b)),
              max(r['end'] for r in tasks(records, play_index=2, batch=b))) for b in (1, 2, 3)]
    assert spans[0][1] <= spans[1][0] and spans[1][1] <= spans[2][0]


def _sections(stdout):
    """The output cut at each PLAY/TASK header, each section's lines sorted: the hosts of one task
    answer in whatever order they finish (forks), which two runs need not share."""
    sections, current = [], []
    for line in stdout.splitlines():
        if line.startswith(('PLAY ', 'TASK ')):
            sections.append(sorted(current))
            current = []
        current.append(line)
    return sections + [sorted(current)]


def test_stdout_is_the_same_with_and_without_the_callback(release_run):
    project, proc, dummy = release_run
    without = run(project, enabled=False, read_back=str(project / 'timeline.jsonl'))
    assert _sections(without.stdout) == _sections(proc.stdout)
    assert 'daylight.release' not in proc.stdout + proc.stderr


def test_path_from_ansible_cfg_no_path_and_a_path_that_cannot_be_written(tmp_path):
    timeline = str(tmp_path / 'from-ini.jsonl')
    make_project(tmp_path, '\n[callback_timeline]\npath = %s\n' % timeline)
    (tmp_path / 'short.yml').write_text('- name: Short\n  hosts: a\n  gather_facts: false\n  tasks:\n'
                                        '    - name: Say hello\n      ansible.builtin.debug:\n        msg: hi\n')
    run(tmp_path, playbook='short.yml')
    assert [r['event'] for r in read(timeline)] == ['playbook', 'play', 'task', 'stats']

    (tmp_path / 'ansible.cfg').write_text((tmp_path / 'ansible.cfg').read_text().split('[callback_timeline]')[0])
    os.remove(timeline)
    proc = run(tmp_path, playbook='short.yml')
    assert 'no path set' in proc.stdout + proc.stderr
    assert not os.path.exists(timeline)
    proc = run(tmp_path, timeline=str(tmp_path / 'no-such-dir' / 'timeline.jsonl'), playbook='short.yml')
    assert 'cannot write' in proc.stdout + proc.stderr
    assert (proc.stdout + proc.stderr).count('[WARNING]') == 1  # once, not on every event
