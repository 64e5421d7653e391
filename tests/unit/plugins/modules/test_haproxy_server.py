# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The haproxy_server module run in-process against a fake HAProxy runtime API.

HAProxy itself is faked here (FakeHAProxy, a unix socket server in a thread, from the
module_utils tests) because it is not installed on the controller; the lab's real HAProxy
exercises the module in the end-to-end tests. These tests use the real clock with short poll
intervals; the exact timings are asserted in the module_utils tests, with a fake clock.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from ansible.module_utils import basic

from ansible_collections.daylight.release.plugins.modules.haproxy_server import main
from ansible_collections.daylight.release.tests.unit.plugins.module_utils.test_haproxy_server import (
    FAILING,
    FakeHAProxy,
)


@pytest.fixture
def lb(tmp_path):
    """lb(web1=dict(...)) -> a FakeHAProxy; lb.args are the module options that reach it."""
    fakes = []

    def start(**servers):
        fake = FakeHAProxy(str(tmp_path / 'admin.sock'), servers or {'web1': {}})
        fake.args = dict(socket=fake.path, backend='web', server='web1', poll_interval=0.01)
        fakes.append(fake)
        return fake
    yield start
    for fake in fakes:
        fake.close()


@pytest.fixture
def run(run_module, monkeypatch):
    """run(expect, **options) -> (result, warnings)."""
    def call(expect='exit', **options):
        warnings = []
        monkeypatch.setattr(basic.AnsibleModule, 'warn', lambda self, warning, **kw: warnings.append(warning))
        status, result = run_module(main, **options)
        assert status == expect, result
        return result, warnings
    return call


def test_drained(lb, run):
    fake = lb(web1=dict(scur=3), web2={})
    fake.script('web1', 'drain', dict(scur=2), dict(scur=1), dict(scur=0))
    result, warnings = run(state='drained', **fake.args)
    assert result['changed'] and warnings == []
    assert result['commands'] == ['set server web/web1 state drain', 'set server web/web1 state maint']
    assert fake.changes() == result['commands']
    assert (result['state_before'], result['state_after'], result['sessions_before']) == ('UP', 'MAINT', 3)
    assert 0.02 <= result['waited_seconds'] < 2 and result['sessions_cut'] == 0
    assert 'diff' not in result
    assert fake.servers['web2']['status'] == 'UP'  # the other servers are left alone

    result, warnings = run(state='drained', **fake.args)
    assert not result['changed'] and fake.changes() == ['set server web/web1 state drain',
                                                        'set server web/web1 state maint']


def test_drained_timeout_warns_about_the_sessions_cut(lb, run):
    fake = lb(web1=dict(scur=2))
    result, warnings = run(state='drained', drain_timeout=0.05, **fake.args)
    assert result['changed'] and result['sessions_cut'] == 2
    assert fake.changes()[-1] == 'shutdown sessions server web/web1'
    assert len(warnings) == 1 and warnings[0].startswith('web/web1 still had 2 session(s) after drain_timeout (0.05 s)')


def test_ready(lb, run):
    fake = lb(web1=dict(status='MAINT', admin=0x01))
    fake.script('web1', 'ready', dict(status='UP 1/2'), dict(status='UP'))
    result, warnings = run(state='ready', _ansible_diff=True, **fake.args)
    assert result['changed'] and result['commands'] == ['set server web/web1 state ready']
    assert result['state_after'] == 'UP' and result['check']['status'] == 'L7OK'
    assert result['diff'] == {'before_header': 'web/web1 (%s)' % fake.path, 'after_header': 'web/web1 (%s)' % fake.path,
                              'before': 'MAINT\n', 'after': 'UP\n'}


def test_ready_down_fails_with_the_health_check(lb, run):
    fake = lb(web1=dict(status='MAINT', admin=0x01))
    fake.script('web1', 'ready', dict(FAILING, status='DOWN'))
    result, warnings = run('fail', state='ready', ready_timeout=0.3, **fake.args)
    assert result['msg'].startswith("web/web1 is still DOWN on this load balancer (%s) after 0.3 s: health check "
                                    "L7STS 500 ('HTTP status check returned code <500>')" % fake.path)
    assert result['changed'] and result['state_after'] == 'DOWN' and result['socket'] == fake.path
    assert result['commands'] == ['set server web/web1 state ready'] and 'diff' not in result
    assert fake.changes() == ['set server web/web1 state ready']


def test_check_mode_with_diff_sends_nothing(lb, run):
    fake = lb(web1=dict(scur=7))
    result, warnings = run(state='drained', _ansible_check_mode=True, _ansible_diff=True, **fake.args)
    assert result['changed'] and result['commands'] == ['set server web/web1 state drain',
                                                        'set server web/web1 state maint']
    assert result['diff']['before'] == 'UP\n' and result['diff']['after'] == 'MAINT\n'
    assert result['waited_seconds'] == 0.0 and fake.changes() == []


def test_maint(lb, run):
    fake = lb(web1=dict(scur=1))
    result, warnings = run(state='maint', **fake.args)
    assert result['changed'] and result['state_after'] == 'MAINT' and fake.changes() == ['set server web/web1 state maint']


@pytest.mark.parametrize('options, message', [
    (dict(server='web9'), 'server web9 is not in backend web on this load balancer (its servers: web1)'),
    (dict(backend='api'), "backend api is not in HAProxy's statistics (backends present: stats, web)"),
    (dict(server='web1;disable'), "server 'web1;disable' is not a name HAProxy allows"),
    (dict(poll_interval=0.0), 'poll_interval must be more than 0 seconds'),
])
def test_errors_a_person_can_act_on(lb, run, options, message):
    fake = lb()
    args = dict(fake.args, state='drained')
    args.update(options)
    result, warnings = run('fail', **args)
    assert result['msg'].startswith(message) and fake.changes() == []
    assert (result['backend'], result['server'], result['socket']) == (args['backend'], args['server'], fake.path)


def test_missing_socket_is_named(tmp_path, run):
    path = str(tmp_path / 'admin.sock')
    result, warnings = run('fail', socket=path, backend='web', server='web1', state='ready')
    assert result['msg'].startswith("HAProxy's stats socket %s does not exist on this host" % path)


# --- marker_dir --------------------------------------------------------------------------------

def test_marker_created_by_drained_removed_by_ready(lb, run, tmp_path):
    marker_dir = str(tmp_path / 'drained')
    path = str(tmp_path / 'drained' / 'web' / 'web1')
    fake = lb(web1=dict(scur=0))
    result, warnings = run(state='drained', marker_dir=marker_dir, **fake.args)
    assert result['changed'] and (result['marker'], result['marker_path']) == ('created', path)
    assert os.path.isfile(path)

    fake.script('web1', 'ready', dict(status='UP'))
    result, warnings = run(state='ready', marker_dir=marker_dir, _ansible_diff=True, **fake.args)
    assert result['changed'] and result['marker'] == 'removed' and not os.path.exists(path)
    assert result['diff']['before'] == 'MAINT\nrelease marker %s: present\n' % path
    assert result['diff']['after'] == 'UP\nrelease marker %s: absent\n' % path

    result, warnings = run(state='ready', marker_dir=marker_dir, **fake.args)
    assert not result['changed'] and result['marker'] == 'absent'


def test_marker_kept_when_ready_fails(lb, run, tmp_path):
    marker_dir = str(tmp_path / 'drained')
    fake = lb(web1=dict(scur=0))
    run(state='drained', marker_dir=marker_dir, **fake.args)
    fake.script('web1', 'ready', dict(FAILING, status='DOWN'))
    result, warnings = run('fail', state='ready', ready_timeout=0.1, marker_dir=marker_dir, **fake.args)
    assert result['msg'].startswith('web/web1 is still DOWN')
    assert result['marker'] == 'kept' and os.path.isfile(result['marker_path'])


def test_marker_check_mode_writes_nothing(lb, run, tmp_path):
    marker_dir = str(tmp_path / 'drained')
    fake = lb(web1=dict(status='MAINT', admin=0x01))
    result, warnings = run(state='drained', marker_dir=marker_dir, _ansible_check_mode=True, _ansible_diff=True,
                           **fake.args)
    assert result['changed'] and result['marker'] == 'created' and result['commands'] == []
    assert result['diff']['after'].endswith('release marker %s/web/web1: present\n' % marker_dir)
    assert not os.path.exists(marker_dir) and fake.changes() == []


@pytest.mark.parametrize('options, message, marker', [
    (dict(server='..'), "server '..' cannot name a release marker under marker_dir", None),
    (dict(server='.web1'), "server '.web1' cannot name a release marker under marker_dir", None),
    (dict(server='web9'), 'server web9 is not in backend web', 'absent'),
])
def test_marker_errors(lb, run, tmp_path, options, message, marker):
    fake = lb()
    args = dict(fake.args, state='drained', marker_dir=str(tmp_path / 'drained'))
    args.update(options)
    result, warnings = run('fail', **args)
    assert result['msg'].startswith(message) and fake.changes() == []
    assert result['marker'] == marker and not os.path.exists(str(tmp_path / 'drained'))


def test_marker_file_error_fails_naming_the_path(lb, run, tmp_path):
    in_the_way = tmp_path / 'drained'
    in_the_way.write_text(u'not a directory\n')
    fake = lb(web1=dict(scur=0))
    result, warnings = run('fail', state='drained', marker_dir=str(in_the_way), **fake.args)
    assert result['msg'].startswith('cannot create the directory %s for the release marker %s/web/web1'
                                    % (in_the_way, in_the_way))
    assert 'nothing was sent to HAProxy' in result['msg'] and fake.changes() == []
    assert (result['marker'], result['marker_path']) == ('absent', '%s/web/web1' % in_the_way)


def test_without_marker_dir_marker_is_null(lb, run):
    fake = lb(web1=dict(scur=0))
    result, warnings = run(state='maint', **fake.args)
    assert result['marker'] is None and result['marker_path'] is None


def test_servers_drains_a_batch_in_one_run(lb, run):
    fake = lb(web1=dict(scur=2), web2={}, web3={})
    fake.script('web1', 'drain', dict(scur=1), dict(scur=0))
    args = dict(fake.args, servers=['web1', 'web2'], name='lb1')
    del args['server']
    result, warnings = run(state='drained', _ansible_diff=True, **args)
    assert result['changed'] and result['failed_servers'] == [] and result['failed_on'] == []
    assert {s: r['state_after'] for s, r in result['servers'].items()} == {'web1': 'MAINT', 'web2': 'MAINT'}
    assert result['servers']['web1']['sessions_before'] == 2
    assert sorted(fake.changes()) == ['set server web/web1 state drain', 'set server web/web1 state maint',
                                      'set server web/web2 state drain', 'set server web/web2 state maint']
    assert result['diff'] == {'before': 'web1: UP\nweb2: UP\n', 'after': 'web1: MAINT\nweb2: MAINT\n'}
    assert fake.servers['web3']['status'] == 'UP' and 'state_after' not in result


def test_servers_one_down_fails_naming_it(lb, run):
    fake = lb(web1=dict(status='MAINT', admin=0x01), web2=dict(status='MAINT', admin=0x01))
    fake.script('web1', 'ready', dict(status='UP'))
    fake.script('web2', 'ready', dict(FAILING, status='DOWN'))
    args = dict(fake.args, servers=['web1', 'web2'], name='lb1')
    del args['server']
    result, warnings = run('fail', state='ready', ready_timeout=0.3, **args)
    assert result['msg'].startswith('web2: on lb1: web/web2 is still DOWN')
    assert result['failed_servers'] == ['web2'] and result['down_on'] == ['lb1']
    assert result['servers']['web1']['state_after'] == 'UP' and result['servers']['web1']['failed_on'] == []
    assert 'diff' not in result


@pytest.mark.parametrize('options, message', [
    (dict(servers=['web1']), 'parameters are mutually exclusive: server|servers'),
    (dict(), 'one of the following is required: server, servers'),
])
def test_server_or_servers(lb, run, options, message):
    fake = lb()
    args = dict(fake.args, **options)
    if not options:
        del args['server']
    result, warnings = run('fail', state='drained', **args)
    assert message in result['msg'] and fake.changes() == []
