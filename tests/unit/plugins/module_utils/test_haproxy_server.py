# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tests of module_utils/haproxy_server.py against a fake HAProxy runtime API.

HAProxy itself is faked here because it is not installed on the controller: FakeHAProxy is a
real unix socket server, in a thread, in tmp_path, that answers `show stat` (HAProxy 2.6's CSV
header), `show servers state`, `set server B/S state ...` and `shutdown sessions server B/S`
from a scripted state machine. The lab's real HAProxy exercises the module in the end-to-end
tests. Time is a fake clock whose sleep only adds to it, so timeouts are exact and fast.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import json
import os
import re
import socketserver
import stat
import threading

import pytest

from ansible_collections.daylight.release.plugins.module_utils.errors import (
    ApplyError,
    UnavailableError,
    ValidationError,
)
from ansible_collections.daylight.release.plugins.module_utils.haproxy import parse_show_stat
from ansible_collections.daylight.release.plugins.module_utils.haproxy_server import (
    Marker,
    NotReadyError,
    Runtime,
    classify,
    describe_check,
    marked_servers,
    marker_path,
    parse_servers_state,
    server_view,
    set_server_state,
)
from ansible_collections.daylight.release.tests.unit.plugins.modules.test_haproxy_traffic import HEADER, row

PASSING = {'check_status': 'L7OK', 'check_code': 200, 'check_desc': 'Layer7 check passed',
           'last_chk': 'HTTP status check returned code <3C>200<3E>'}
FAILING = {'check_status': 'L7STS', 'check_code': 500, 'check_desc': 'Layer7 wrong status',
           'last_chk': 'HTTP status check returned code <3C>500<3E>'}
CHECK_FIELDS = ('check_status', 'check_code', 'check_desc', 'last_chk')

SERVERS_STATE_HEADER = ('# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight '
                        'srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health '
                        'srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord '
                        'srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port')


class FakeHAProxy(object):
    """HAProxy 2.6's runtime API for backend `web` on a unix socket, one command per connection.

    Each server is a dict of status, scur, qcur, admin (srv_admin_state bits: 0x01 forced
    maintenance, 0x02 inherited, 0x08 forced drain), checks (False: no health checks) and the
    check columns. `set server` changes admin and status as HAProxy does (maint: MAINT, checks
    paused, sessions left running; drain: UP becomes DRAIN; ready from MAINT: `UP 1/2`, as
    HAProxy starts a server at `rise` and checks it at once). Then script(server, state, ...)
    steps, if any, are applied one per `show stat` that follows, the last one staying.
    """

    def __init__(self, path, servers):
        self.path = path
        self.servers = {}
        for name, fields in servers.items():
            self.servers[name] = dict(dict(status='UP', scur=0, qcur=0, admin=0, checks=True), **PASSING)
            self.servers[name].update(fields)
        self.scripts = {}
        self.pending = {}
        self.refuse = {}  # part of a command -> HAProxy's answer to it instead
        self.received = []
        self.watch = None  # a path: each command is also recorded in seen, with whether that path existed
        self.seen = []
        if path is None:  # the runtime API over TCP, as a peer load balancer serves it
            self.unix = socketserver.ThreadingTCPServer(('127.0.0.1', 0), _Connection)
            self.path = '127.0.0.1:%d' % self.unix.server_address[1]
        else:
            self.unix = socketserver.UnixStreamServer(path, _Connection)
        self.unix.fake = self
        self.thread = threading.Thread(target=self.unix.serve_forever, kwargs={'poll_interval': 0.02})
        self.thread.daemon = True
        self.thread.start()

    def script(self, server, state, *steps):
        self.scripts[(server, state)] = list(steps)

    def changes(self):
        """The commands that change something, in order."""
        return [c for c in self.received if not c.startswith('show ')]

    def answer(self, command):
        for part, refusal in self.refuse.items():
            if part in command:
                return refusal + '\n\n'
        if command == 'show stat':
            return self.show_stat()
        if command.startswith('show servers state '):
            return self.show_servers_state(command.split()[-1])
        match = re.match(r'^(set server (\S+)/(\S+) state (ready|drain|maint)|shutdown sessions server (\S+)/(\S+))$',
                         command)
        if not match:
            return 'Unknown command: %r\n\n' % command
        backend, name = (match.group(2), match.group(3)) if match.group(2) else (match.group(5), match.group(6))
        if backend != 'web':
            return 'No such backend.\n\n'
        if name not in self.servers:
            return 'No such server.\n\n'
        if match.group(4):
            self.set_state(name, match.group(4))
        else:
            self.servers[name]['scur'] = 0
        return '\n'

    def set_state(self, name, state):
        server = self.servers[name]
        was = server['status']
        if state == 'maint':
            server['admin'] |= 0x01
            server['status'] = 'MAINT (via web/web0)' if server['admin'] & 0x02 else 'MAINT'
        elif state == 'drain':
            server['admin'] |= 0x08
            if was in ('UP', 'no check') or was.startswith('UP '):
                server['status'] = 'DRAIN' + was[2:] if was.startswith('UP') else 'DRAIN'
        else:
            server['admin'] &= ~0x09
            if server['admin'] & 0x02:
                pass  # inherited maintenance: `set server` cannot lift it
            elif was.startswith('MAINT'):
                server['status'] = 'UP 1/2' if server['checks'] else 'no check'
            elif was.startswith('DRAIN'):
                server['status'] = 'UP' + was[5:]
        self.pending[name] = list(self.scripts.get((name, state), []))

    def show_stat(self):
        for name, steps in self.pending.items():
            if steps:
                self.servers[name].update(steps.pop(0) if len(steps) > 1 else steps[0])
        lines = ['# ' + ','.join(HEADER) + ',',
                 row(pxname='www', svname='FRONTEND', scur=3, status='OPEN', mode='http', req_tot=120)]
        for number, (name, server) in enumerate(sorted(self.servers.items()), 1):
            # HAProxy leaves the check columns out when checks are off or paused by maintenance.
            checked = server['checks'] and not server['status'].startswith('MAINT')
            check = dict((key, server[key] if checked else '') for key in CHECK_FIELDS)
            lines.append(row(pxname='web', svname=name, qcur=server['qcur'], scur=server['scur'],
                             status=server['status'], weight=1, act=1, bck=0, sid=number, type=2,
                             addr='10.89.0.%d:80' % (10 + number), mode='http', **check))
        lines += [row(pxname='web', svname='BACKEND', qcur=0, scur=3, status='UP', weight=3, type=1, mode='http'),
                  row(pxname='stats', svname='FRONTEND', scur=0, status='OPEN', type=0, mode='http'),
                  row(pxname='stats', svname='BACKEND', qcur=0, scur=0, status='UP', type=1, mode='http')]
        return '\n'.join(lines) + '\n\n'

    def show_servers_state(self, backend):
        if backend != 'web':
            return "Can't find backend.\n\n"
        lines = ['1', SERVERS_STATE_HEADER]
        for number, (name, server) in enumerate(sorted(self.servers.items()), 1):
            op_state = 0 if server['status'].startswith(('MAINT', 'DOWN')) else 2
            lines.append('3 web %d %s 10.89.0.%d %d %d 1 1 12 6 3 2 6 0 0 0 - 80 - 0 0 - - 0'
                         % (number, name, 10 + number, op_state, server['admin']))
        return '\n'.join(lines) + '\n\n'

    def close(self):
        self.unix.shutdown()
        self.unix.server_close()
        self.thread.join(5)


class _Connection(socketserver.StreamRequestHandler):
    # One command per connection, answered and closed, as HAProxy does without `prompt`.
    def handle(self):
        command = self.rfile.readline().decode().strip()
        fake = self.server.fake
        if fake.watch:
            fake.seen.append((command, os.path.lexists(fake.watch)))
        fake.received.append(command)
        self.wfile.write(self.server.fake.answer(command).encode())


@pytest.fixture
def haproxy(tmp_path):
    """haproxy(web1=dict(...), ...) -> a running FakeHAProxy at tmp_path/admin.sock."""
    fakes = []

    def start(**servers):
        fakes.append(FakeHAProxy(str(tmp_path / 'admin.sock'), servers or {'web1': {}}))
        return fakes[-1]
    yield start
    for fake in fakes:
        fake.close()


class Clock(object):
    """A monotonic clock that moves only when something sleeps."""

    def __init__(self):
        self.now = 1000.0
        self.slept = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(round(seconds, 6))
        self.now += seconds


def change(fake, state, clock=None, server='web1', **options):
    clock = clock or Clock()
    return set_server_state(Runtime(fake.path, 5), 'web', server, state, clock=clock, sleep=clock.sleep, **options)


def set_cmd(state, server='web1'):
    return 'set server web/%s state %s' % (server, state)


# --- reading HAProxy ---------------------------------------------------------------------------

@pytest.mark.parametrize('status, kind', [
    ('UP', 'up'), ('no check', 'up'),
    ('UP 1/2', 'up_pending'), ('UP 2/3', 'up_pending'),
    ('DOWN', 'down'), ('DOWN (agent)', 'down'),
    ('DOWN 1/2', 'down_pending'),
    ('DRAIN', 'drain'), ('DRAIN 1/2', 'drain'), ('DRAIN (agent)', 'drain'),
    ('MAINT', 'maint'), ('MAINT (via web/web0)', 'maint_inherited'), ('MAINT (resolution)', 'maint_inherited'),
    ('NOLB', 'nolb'), ('NOLB 1/2', 'nolb'),
    ('', 'unknown'), (None, 'unknown'), ('UP 1/', 'unknown'),
])
def test_classify(status, kind):
    assert classify(status) == kind


def csv_of(**server):
    return '\n'.join(['# ' + ','.join(HEADER) + ',',
                      row(pxname='web', svname='web1', **server),
                      row(pxname='web', svname='BACKEND', status='UP')])


def test_server_view_reads_sessions_and_check():
    view = server_view(parse_show_stat(csv_of(status='DOWN', scur=2, qcur=1, **FAILING)), 'web', 'web1')
    assert view == {
        'status': 'DOWN', 'scur': 2, 'qcur': 1,
        'check': {'status': 'L7STS', 'code': '500', 'description': 'HTTP status check returned code <500>'},
        'agent': {'status': '', 'code': '', 'description': ''}}


def test_server_view_check_in_progress_and_no_last_chk():
    # '* ' marks a check in progress; without last_chk the status's meaning (check_desc) is used.
    view = server_view(parse_show_stat(csv_of(status='UP', check_status='* L4TOUT', check_desc='Layer4 timeout')),
                       'web', 'web1')
    assert view['check'] == {'status': 'L4TOUT', 'code': '', 'description': 'Layer4 timeout'}
    assert view['scur'] == 0  # empty column


def test_server_view_missing_server_lists_the_servers():
    rows = parse_show_stat(csv_of(status='UP'))
    with pytest.raises(ValidationError) as exc:
        server_view(rows, 'web', 'web9')
    assert str(exc.value).startswith('server web9 is not in backend web on this load balancer (its servers: web1)')


def test_parse_servers_state():
    text = '1\n%s\n3 web 1 web1 10.89.0.11 2 8 1 1 12 6 3 2 6 0 0 0 - 80 - 0 0 - - 0\n\n' % SERVERS_STATE_HEADER
    rows = parse_servers_state(text)
    assert len(rows) == 1
    assert (rows[0]['be_name'], rows[0]['srv_name'], rows[0]['srv_admin_state']) == ('web', 'web1', '8')
    assert parse_servers_state("Can't find backend.\n") == []


@pytest.mark.parametrize('status, check, agent, words', [
    ('DOWN', dict(FAILING), {}, "health check L7STS 500 ('HTTP status check returned code <500>')"),
    ('DOWN', {'check_status': 'L4CON', 'check_desc': 'Layer4 connection problem',
              'last_chk': 'Connection refused'}, {}, "health check L4CON ('Connection refused')"),
    ('DOWN (agent)', dict(PASSING), {'agent_status': 'L7STS', 'last_agt': 'down'}, "agent check L7STS ('down')"),
    ('DOWN', {}, {}, 'no health check result (checks are off, or it follows the server it tracks)'),
])
def test_describe_check(status, check, agent, words):
    fields = dict(check, **agent)
    view = server_view(parse_show_stat(csv_of(status=status, **fields)), 'web', 'web1')
    assert describe_check(view) == words


def test_runtime_errors_name_the_socket_and_the_backends(haproxy, tmp_path):
    fake = haproxy()
    with pytest.raises(ValidationError, match=r'backend api is not .* \(backends present: stats, web\)'):
        Runtime(fake.path, 5).server('api', 'web1')
    missing = str(tmp_path / 'nothere.sock')
    with pytest.raises(UnavailableError, match="stats socket %s does not exist" % missing):
        set_server_state(Runtime(missing, 5), 'web', 'web1', 'drained')


def test_runtime_send_names_a_refusal(haproxy):
    fake = haproxy()
    fake.refuse['state'] = 'Permission denied'
    with pytest.raises(ApplyError) as exc:
        Runtime(fake.path, 5).send(set_cmd('maint'))
    assert str(exc.value) == ('HAProxy refused `set server web/web1 state maint` on %s: Permission denied (the '
                              '`stats socket` line in haproxy.cfg needs `level admin` to change servers)' % fake.path)


# --- drained -----------------------------------------------------------------------------------

def test_drained_waits_for_sessions_then_maint(haproxy):
    fake = haproxy(web1=dict(scur=4))
    fake.script('web1', 'drain', dict(scur=3), dict(scur=2), dict(scur=1), dict(scur=0))
    clock = Clock()
    changed, result, warnings = change(fake, 'drained', clock)
    assert changed and warnings == []
    assert fake.changes() == [set_cmd('drain'), set_cmd('maint')]
    assert clock.slept == [0.1, 0.1, 0.1]  # the first reading comes right after the drain
    assert result['waited_seconds'] == 0.3
    assert (result['state_before'], result['state_after']) == ('UP', 'MAINT')
    assert (result['sessions_before'], result['sessions_cut']) == (4, 0)
    assert result['commands'] == fake.changes()
    assert result['diff']['before'] == 'UP\n' and result['diff']['after'] == 'MAINT\n'
    # Again: already in maintenance, nothing is sent.
    del fake.received[:]
    changed, result, warnings = change(fake, 'drained')
    assert not changed and fake.changes() == [] and result['commands'] == []
    assert result['state_after'] == 'MAINT' and result['waited_seconds'] == 0.0


@pytest.mark.parametrize('start, steps, slept, waited', [
    # no sessions: one reading, no sleep
    (dict(scur=0), [], [], 0.0),
    # requests queued for the server count as much as sessions
    (dict(scur=0, qcur=2), [dict(qcur=1), dict(qcur=0)], [0.1], 0.1),
    # a server already DOWN has nothing to drain
    (dict(status='DOWN', scur=0), [], [], 0.0),
])
def test_drained_counts_what_the_server_still_has(haproxy, start, steps, slept, waited):
    fake = haproxy(web1=start)
    fake.script('web1', 'drain', *steps)
    clock = Clock()
    changed, result, warnings = change(fake, 'drained', clock)
    assert changed and warnings == [] and result['sessions_cut'] == 0
    assert clock.slept == slept and result['waited_seconds'] == waited
    assert fake.changes() == [set_cmd('drain'), set_cmd('maint')]


def test_drained_timeout_goes_to_maint_and_cuts_the_rest(haproxy):
    fake = haproxy(web1=dict(scur=5))
    clock = Clock()
    changed, result, warnings = change(fake, 'drained', clock, drain_timeout=0.25)
    assert changed
    # HAProxy lets sessions run on in maintenance: they are closed explicitly, after it.
    assert fake.changes() == [set_cmd('drain'), set_cmd('maint'), 'shutdown sessions server web/web1']
    assert clock.slept == [0.1, 0.1, 0.05]  # the last sleep ends exactly at the timeout
    assert result['waited_seconds'] == 0.25 and result['sessions_cut'] == 5
    assert warnings == ['web/web1 still had 5 session(s) after drain_timeout (0.25 s); it was put in maintenance and '
                        'they were closed (shutdown sessions). Raise drain_timeout if requests this long are expected.']


def test_drained_timeout_without_sessions_left_cuts_nothing(haproxy):
    fake = haproxy(web1=dict(scur=1))
    fake.script('web1', 'maint', dict(scur=0))  # the last request ended between the reading and the maint
    changed, result, warnings = change(fake, 'drained', drain_timeout=0)
    assert fake.changes() == [set_cmd('drain'), set_cmd('maint')]
    assert result['sessions_cut'] == 0 and warnings == []


def test_drained_continues_a_drain_already_started(haproxy):
    fake = haproxy(web1=dict(status='DRAIN', admin=0x08))
    changed, result, warnings = change(fake, 'drained')
    assert changed and fake.changes() == [set_cmd('maint')]
    assert result['state_before'] == 'DRAIN' and result['waited_seconds'] == 0.0


def test_drained_refused_half_way_says_what_was_sent(haproxy):
    fake = haproxy(web1=dict(scur=0))
    fake.refuse['state maint'] = 'Permission denied'
    with pytest.raises(ApplyError) as exc:
        change(fake, 'drained')
    assert str(exc.value).endswith('(already sent: `set server web/web1 state drain`)')


# --- ready -------------------------------------------------------------------------------------

def test_ready_waits_for_up(haproxy):
    fake = haproxy(web1=dict(status='MAINT', admin=0x01))
    fake.script('web1', 'ready', dict(status='UP 1/2'), dict(status='UP 1/2'), dict(status='UP'))
    clock = Clock()
    changed, result, warnings = change(fake, 'ready', clock)
    assert changed and warnings == []
    assert fake.changes() == [set_cmd('ready')]
    assert clock.slept == [0.1, 0.1] and result['waited_seconds'] == 0.2
    assert (result['state_before'], result['state_after']) == ('MAINT', 'UP')
    assert result['check'] == {'status': 'L7OK', 'code': '200', 'description': 'HTTP status check returned code <200>'}
    # Again: ready and UP, nothing is sent.
    del fake.received[:]
    changed, result, warnings = change(fake, 'ready')
    assert not changed and fake.changes() == [] and fake.received == ['show stat', 'show servers state web']


@pytest.mark.parametrize('start, steps, polls', [
    # checks passing but fewer than `rise`: still coming up
    (dict(status='MAINT', admin=0x01), [dict(status='DOWN 1/3'), dict(status='DOWN 2/3'), dict(status='UP')], 3),
    # in drain, UP: leaving drain is enough
    (dict(status='DRAIN', admin=0x08), [], 1),
    # no health checks: `no check` is as good as UP
    (dict(status='MAINT', admin=0x01, checks=False), [], 1),
    # the poll interval is what the operator asks for
    (dict(status='MAINT', admin=0x01), [dict(status='UP 1/2')] * 5 + [dict(status='UP')], 6),
])
def test_ready_transitional_states_are_waited_for(haproxy, start, steps, polls):
    fake = haproxy(web1=start)
    fake.script('web1', 'ready', *steps)
    clock = Clock()
    changed, result, warnings = change(fake, 'ready', clock, poll_interval=0.05)
    assert changed and fake.changes() == [set_cmd('ready')]
    assert result['state_after'] in ('UP', 'no check')
    assert clock.slept == [0.05] * (polls - 1)
    assert fake.received.count('show stat') == polls + 1  # and the reading before


def test_ready_down_waits_out_the_timeout_then_fails_and_stays_ready(haproxy):
    fake = haproxy(web1=dict(status='MAINT', admin=0x01))
    fake.script('web1', 'ready', dict(status='UP 1/2'), dict(FAILING, status='DOWN'))
    clock = Clock()
    with pytest.raises(NotReadyError) as exc:
        change(fake, 'ready', clock, ready_timeout=0.3)
    assert str(exc.value) == (
        "web/web1 is still DOWN on this load balancer (%s) after 0.3 s: health check L7STS 500 ('HTTP status check "
        "returned code <500>'). HAProxy sends it no traffic while its checks fail; it is left in the ready state, so "
        "HAProxy sends it traffic again as soon as they pass." % fake.path)
    result = exc.value.result
    assert result['changed'] and result['commands'] == [set_cmd('ready')]
    assert (result['state_before'], result['state_after'], result['waited_seconds']) == ('MAINT', 'DOWN', 0.3)
    assert result['check']['status'] == 'L7STS'
    assert fake.changes() == [set_cmd('ready')]  # not put back in maintenance
    assert clock.slept == [0.1, 0.1, 0.1]


def test_ready_a_first_failed_check_then_up_passes(haproxy):
    fake = haproxy(web1=dict(status='MAINT', admin=0x01))
    fake.script('web1', 'ready', dict(FAILING, status='DOWN'), dict(status='UP'))
    changed, result, _warnings = change(fake, 'ready', Clock(), ready_timeout=5)
    assert changed and result['state_after'] == 'UP'


def test_ready_already_ready_but_down_fails_without_a_command(haproxy):
    fake = haproxy(web1=dict(FAILING, status='DOWN'))
    with pytest.raises(NotReadyError, match='web/web1 is still DOWN') as exc:
        change(fake, 'ready', Clock(), ready_timeout=0.2)
    assert fake.changes() == [] and not exc.value.result['changed']


def test_ready_timeout_names_the_status(haproxy):
    fake = haproxy(web1=dict(status='MAINT', admin=0x01))
    fake.script('web1', 'ready', dict(FAILING, status='UP 1/3'))
    clock = Clock()
    with pytest.raises(NotReadyError) as exc:
        change(fake, 'ready', clock, ready_timeout=0.3)
    assert str(exc.value) == (
        "web/web1 did not come UP on this load balancer (%s) within ready_timeout (0.3 s): its status is still "
        "UP 1/3, with health check L7STS 500 ('HTTP status check returned code <500>')." % fake.path)
    assert clock.slept == [0.1, 0.1, 0.1] and exc.value.result['waited_seconds'] == 0.3


def test_ready_inherited_maintenance_fails_at_once(haproxy):
    fake = haproxy(web1=dict(status='MAINT (via web/web0)', admin=0x03))
    with pytest.raises(NotReadyError, match=r'web/web1 is MAINT \(via web/web0\) on .*: it is in maintenance because '
                                            r'of the server it tracks'):
        change(fake, 'ready')
    assert fake.changes() == [set_cmd('ready')]


# --- maint -------------------------------------------------------------------------------------

def test_maint_does_not_wait(haproxy):
    fake = haproxy(web1=dict(scur=3))
    clock = Clock()
    changed, result, warnings = change(fake, 'maint', clock)
    assert changed and fake.changes() == [set_cmd('maint')] and clock.slept == []
    assert (result['state_after'], result['sessions_before'], result['sessions_cut']) == ('MAINT', 3, 0)
    changed, result, warnings = change(fake, 'maint')
    assert not changed and fake.changes() == [set_cmd('maint')]


# --- check mode --------------------------------------------------------------------------------

@pytest.mark.parametrize('state, start, changed, commands, after', [
    ('drained', dict(scur=4), True, [set_cmd('drain'), set_cmd('maint')], 'MAINT'),
    ('drained', dict(status='DRAIN', admin=0x08), True, [set_cmd('maint')], 'MAINT'),
    ('drained', dict(status='MAINT', admin=0x01), False, [], 'MAINT'),
    ('ready', dict(status='MAINT', admin=0x01), True, [set_cmd('ready')], 'UP'),
    ('ready', dict(status='UP'), False, [], 'UP'),
    ('maint', dict(status='UP'), True, [set_cmd('maint')], 'MAINT'),
    ('maint', dict(status='MAINT', admin=0x01), False, [], 'MAINT'),
])
def test_check_mode_sends_nothing(haproxy, state, start, changed, commands, after):
    fake = haproxy(web1=start)
    clock = Clock()
    result = change(fake, state, clock, check_mode=True)
    assert result[0] is changed and result[1]['commands'] == commands
    assert result[1]['state_after'] == after and result[1]['diff']['after'] == after + '\n'
    assert fake.changes() == [] and clock.slept == []
    assert fake.received == ['show stat', 'show servers state web']


def test_check_mode_warns_about_a_down_server(haproxy):
    fake = haproxy(web1=dict(FAILING, status='DOWN'))
    changed, result, warnings = change(fake, 'ready', check_mode=True)
    assert not changed and result['state_after'] == 'DOWN'
    assert warnings == ["web/web1 is DOWN now, with health check L7STS 500 ('HTTP status check returned code <500>'); "
                        "a real run waits for it to come UP and fails if it is DOWN"]


# --- arguments and names -----------------------------------------------------------------------

@pytest.mark.parametrize('args, message', [
    (dict(backend='web;', server='web1'), "backend 'web;' is not a name HAProxy allows"),
    (dict(server='web1; shutdown sessions server web/web2'), "server 'web1; shutdown sessions server web/web2' is not"),
    (dict(server=''), "server '' is not a name HAProxy allows"),
    (dict(state='enabled'), "state must be one of drained, ready, maint, not 'enabled'"),
    (dict(poll_interval=0), 'poll_interval must be more than 0 seconds, not 0'),
    (dict(drain_timeout=-1), 'drain_timeout must be 0 seconds or more, not -1'),
    (dict(ready_timeout=-0.5), 'ready_timeout must be 0 seconds or more, not -0.5'),
])
def test_bad_arguments_send_nothing(haproxy, args, message):
    fake = haproxy()
    call = dict(backend='web', server='web1', state='drained')
    call.update(args)
    with pytest.raises(ValidationError, match=re.escape(message)):
        set_server_state(Runtime(fake.path, 5), **call)
    assert fake.received == []


def test_unknown_server_lists_the_backends_servers(haproxy):
    fake = haproxy(web1={}, web2={}, web3={})
    with pytest.raises(ValidationError, match=r'server web9 is not in backend web .* \(its servers: web1, web2, web3\)'):
        change(fake, 'drained', server='web9')
    assert fake.changes() == []


# --- the release marker ------------------------------------------------------------------------

@pytest.fixture
def markers(tmp_path):
    """The marker directory (not created: the module makes it) and web1's marker in it."""
    directory = tmp_path / 'lib' / 'drained'
    return str(directory), str(directory / 'web' / 'web1')


def files_under(path):
    """Every file and directory under path with its mode and content: to show nothing changed."""
    found = {}
    for root, dirs, names in os.walk(path):
        for name in dirs + names:
            full = os.path.join(root, name)
            content = None if os.path.isdir(full) else open(full).read()
            found[full] = (stat.S_IMODE(os.lstat(full).st_mode), os.lstat(full).st_mtime_ns, content)
    return found


def put_marker(path, text='by hand\n'):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text)


def test_drained_creates_the_marker_before_the_first_command(haproxy, markers, tmp_path):
    marker_dir, path = markers
    fake = haproxy(web1=dict(scur=1), web2={})
    fake.script('web1', 'drain', dict(scur=0))
    fake.watch = path
    old_umask = os.umask(0o077)  # the modes are set, not left to the umask
    try:
        changed, result, warnings = change(fake, 'drained', marker_dir=marker_dir, now=lambda: 1764000000.25)
    finally:
        os.umask(old_umask)
    assert changed and warnings == []
    assert (result['marker'], result['marker_path']) == ('created', path)
    # Reading the server comes first (no marker for a server HAProxy does not have); every command finds it.
    assert fake.seen == [('show stat', False), ('show servers state web', False), (set_cmd('drain'), True),
                         ('show stat', True), (set_cmd('maint'), True), ('show stat', True)]
    assert json.loads(open(path).read()) == {'backend': 'web', 'server': 'web1', 'state_before': 'UP',
                                             'drained_at': '2025-11-24T16:00:00Z',
                                             'by': 'daylight.release.haproxy_server'}
    assert open(path).read().count('\n') == 1
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    for directory in (marker_dir, os.path.dirname(marker_dir), os.path.dirname(path)):
        assert stat.S_IMODE(os.stat(directory).st_mode) == 0o755
    assert sorted(os.listdir(os.path.dirname(path))) == ['web1']  # no temporary file left
    assert result['diff']['before'] == 'UP\nrelease marker %s: absent\n' % path
    assert result['diff']['after'] == 'MAINT\nrelease marker %s: present\n' % path

    # Again: in maintenance with its marker, nothing to do.
    changed, result, warnings = change(fake, 'drained', marker_dir=marker_dir)
    assert not changed and result['marker'] == 'kept' and result['commands'] == []
    assert result['diff']['before'] == result['diff']['after']


@pytest.mark.parametrize('start, commands', [
    # A drain already going on: the marker still comes before the maint.
    (dict(status='DRAIN', admin=0x08), [set_cmd('maint')]),
    # Already in maintenance: the release asked for the drain and will enable it, so it is marked.
    (dict(status='MAINT', admin=0x01), []),
])
def test_drained_marks_a_server_already_on_its_way_out(haproxy, markers, start, commands):
    marker_dir, path = markers
    fake = haproxy(web1=start)
    fake.watch = path
    changed, result, warnings = change(fake, 'drained', marker_dir=marker_dir)
    assert changed and result['marker'] == 'created' and result['commands'] == commands
    assert all(present for command, present in fake.seen if not command.startswith('show '))
    assert os.path.isfile(path)


def test_drained_leaves_an_existing_marker_as_it_is(haproxy, markers):
    marker_dir, path = markers
    put_marker(path, 'from the run that was killed\n')
    fake = haproxy(web1=dict(scur=0))
    changed, result, warnings = change(fake, 'drained', marker_dir=marker_dir)
    assert changed and result['marker'] == 'kept'  # changed by the commands, not by the marker
    assert fake.changes() == [set_cmd('drain'), set_cmd('maint')]
    assert open(path).read() == 'from the run that was killed\n'


def test_drained_stopped_after_the_drain_command_leaves_the_marker(haproxy, markers):
    # As a controller killed right after the drain: HAProxy has the drain, the disk has the marker.
    marker_dir, path = markers
    fake = haproxy(web1=dict(scur=0))
    fake.refuse['state maint'] = 'Permission denied'
    with pytest.raises(ApplyError) as exc:
        change(fake, 'drained', marker_dir=marker_dir)
    assert str(exc.value).endswith('(already sent: `set server web/web1 state drain`)')
    assert exc.value.marker == {'marker': 'created', 'marker_path': path}
    assert os.path.isfile(path)


def test_drained_that_cannot_write_the_marker_sends_nothing(haproxy, tmp_path):
    in_the_way = tmp_path / 'drained'
    in_the_way.write_text(u'a file where the directory should be\n')
    fake = haproxy(web1=dict(scur=0))
    with pytest.raises(ApplyError) as exc:
        change(fake, 'drained', marker_dir=str(in_the_way))
    message = str(exc.value)
    assert message.startswith('cannot create the directory %s for the release marker %s/web/web1: File exists; '
                              'nothing was sent to HAProxy.' % (in_the_way, in_the_way))
    assert 'set marker_dir to a directory it can write' in message
    assert fake.changes() == []
    assert exc.value.marker == {'marker': 'absent', 'marker_path': '%s/web/web1' % in_the_way}


def test_drained_marker_write_error_names_the_path(haproxy, markers, monkeypatch):
    marker_dir, path = markers
    fake = haproxy(web1=dict(scur=0))

    def refuse(*args, **kwargs):
        raise OSError(errno.EACCES, 'Permission denied')
    monkeypatch.setattr('tempfile.mkstemp', refuse)
    with pytest.raises(ApplyError) as exc:
        change(fake, 'drained', marker_dir=marker_dir)
    assert str(exc.value).startswith('cannot write the release marker %s: [Errno 13] Permission denied; nothing was '
                                     'sent to HAProxy. The user the module runs as' % path)
    assert fake.changes() == [] and not os.path.exists(path)


def test_marker_directory_made_by_another_run_meanwhile(markers, monkeypatch):
    # A batch drains several servers at once: another run may make marker_dir/web between look and mkdir.
    marker_dir, path = markers
    os.makedirs(marker_dir)
    real_mkdir = os.mkdir

    def racing_mkdir(directory, mode=0o777):
        real_mkdir(directory, mode)
        raise OSError(errno.EEXIST, 'File exists')
    monkeypatch.setattr(os, 'mkdir', racing_mkdir)
    marker = Marker(marker_dir, 'web', 'web1')
    marker.create('UP')
    assert marker.outcome == 'created' and os.path.isfile(path)


def test_ready_removes_the_marker_only_once_up(haproxy, markers):
    marker_dir, path = markers
    put_marker(path)
    fake = haproxy(web1=dict(status='MAINT', admin=0x01))
    fake.script('web1', 'ready', dict(status='UP 1/2'), dict(status='UP 1/2'), dict(status='UP'))
    fake.watch = path
    changed, result, warnings = change(fake, 'ready', marker_dir=marker_dir)
    assert changed and result['state_after'] == 'UP'
    assert (result['marker'], result['marker_path']) == ('removed', path)
    # There through the last reading, the one that found the server UP.
    assert fake.seen[-1] == ('show stat', True) and all(present for dummy, present in fake.seen)
    assert not os.path.exists(path) and os.path.isdir(os.path.dirname(path))  # the backend's directory stays
    assert result['diff']['before'] == 'MAINT\nrelease marker %s: present\n' % path
    assert result['diff']['after'] == 'UP\nrelease marker %s: absent\n' % path


@pytest.mark.parametrize('start, has_marker, changed, marker', [
    # Ready and UP already (enabled before the controller was killed): only the marker goes.
    (dict(status='UP'), True, True, 'removed'),
    (dict(status='UP'), False, False, 'absent'),
    (dict(status='MAINT', admin=0x01), False, True, 'absent'),
])
def test_ready_marker_outcomes(haproxy, markers, start, has_marker, changed, marker):
    marker_dir, path = markers
    if has_marker:
        put_marker(path)
    fake = haproxy(web1=start)
    fake.script('web1', 'ready', dict(status='UP'))
    result = change(fake, 'ready', marker_dir=marker_dir)
    assert result[0] is changed and result[1]['marker'] == marker
    assert not os.path.exists(path)


@pytest.mark.parametrize('start, steps, message', [
    (dict(status='MAINT', admin=0x01), [dict(FAILING, status='DOWN')], 'web/web1 is still DOWN'),
    (dict(status='MAINT', admin=0x01), [dict(status='UP 1/3')], 'web/web1 did not come UP'),
    (dict(status='MAINT (via web/web0)', admin=0x03), [], r'web/web1 is MAINT \(via web/web0\)'),
])
def test_ready_that_fails_keeps_the_marker(haproxy, markers, start, steps, message):
    marker_dir, path = markers
    put_marker(path)
    fake = haproxy(web1=start)
    fake.script('web1', 'ready', *steps)
    with pytest.raises(NotReadyError, match=message) as exc:
        change(fake, 'ready', marker_dir=marker_dir, ready_timeout=0.3)
    assert (exc.value.result['marker'], exc.value.result['marker_path']) == ('kept', path)
    assert exc.value.marker == {'marker': 'kept', 'marker_path': path}
    assert exc.value.result['diff']['after'].endswith('release marker %s: present\n' % path)
    assert open(path).read() == 'by hand\n'


def test_ready_that_cannot_remove_the_marker_says_what_to_do(haproxy, markers, monkeypatch):
    marker_dir, path = markers
    put_marker(path)
    fake = haproxy(web1=dict(status='MAINT', admin=0x01))
    fake.script('web1', 'ready', dict(status='UP'))

    def refuse(target):
        raise OSError(errno.EACCES, 'Permission denied')
    monkeypatch.setattr(os, 'unlink', refuse)
    with pytest.raises(ApplyError) as exc:
        change(fake, 'ready', marker_dir=marker_dir)
    monkeypatch.undo()
    assert str(exc.value).startswith('the server is UP, but its release marker %s cannot be removed: Permission denied. '
                                     'Remove it by hand' % path)
    assert str(exc.value).endswith('(already sent: `set server web/web1 state ready`)')
    assert exc.value.marker == {'marker': 'kept', 'marker_path': path}


@pytest.mark.parametrize('has_marker, marker', [(True, 'kept'), (False, 'absent')])
def test_maint_never_touches_the_marker(haproxy, markers, has_marker, marker):
    marker_dir, path = markers
    if has_marker:
        put_marker(path)
    fake = haproxy(web1=dict(scur=2))
    changed, result, warnings = change(fake, 'maint', marker_dir=marker_dir)
    assert changed and result['marker'] == marker and fake.changes() == [set_cmd('maint')]
    assert os.path.exists(path) is has_marker
    assert not has_marker or open(path).read() == 'by hand\n'
    if not has_marker:
        assert not os.path.exists(marker_dir)


@pytest.mark.parametrize('state, start, has_marker, changed, marker', [
    ('drained', dict(scur=4), False, True, 'created'),
    ('drained', dict(status='MAINT', admin=0x01), False, True, 'created'),
    ('drained', dict(status='MAINT', admin=0x01), True, False, 'kept'),
    ('ready', dict(status='MAINT', admin=0x01), True, True, 'removed'),
    ('ready', dict(status='UP'), True, True, 'removed'),
    ('ready', dict(status='UP'), False, False, 'absent'),
    ('maint', dict(status='MAINT', admin=0x01), True, False, 'kept'),
    ('maint', dict(status='UP'), False, True, 'absent'),
])
def test_check_mode_changes_no_file(haproxy, markers, tmp_path, state, start, has_marker, changed, marker):
    marker_dir, path = markers
    if has_marker:
        put_marker(path)
    before = files_under(str(tmp_path / 'lib'))
    fake = haproxy(web1=start)
    result = change(fake, state, check_mode=True, marker_dir=marker_dir)
    assert result[0] is changed and result[1]['marker'] == marker and fake.changes() == []
    assert files_under(str(tmp_path / 'lib')) == before
    present = 'present' if marker in ('created', 'kept') else 'absent'
    assert result[1]['diff']['after'].endswith('release marker %s: %s\n' % (path, present))


def test_without_marker_dir_no_marker(haproxy, tmp_path):
    fake = haproxy(web1=dict(scur=0))
    changed, result, warnings = change(fake, 'drained')
    assert (result['marker'], result['marker_path']) == (None, None)
    assert 'release marker' not in result['diff']['after']
    assert os.listdir(str(tmp_path)) == ['admin.sock']


@pytest.mark.parametrize('args, message', [
    (dict(server='..'), "server '..' cannot name a release marker under marker_dir %s: it contains '..'"),
    (dict(server='web..1'), "server 'web..1' cannot name a release marker under marker_dir %s: it contains '..'"),
    (dict(backend='..'), "backend '..' cannot name a release marker under marker_dir %s: it contains '..'"),
    (dict(server='.web1'), "server '.web1' cannot name a release marker under marker_dir %s: it starts with '.'"),
    (dict(backend='.'), "backend '.' cannot name a release marker under marker_dir %s: it starts with '.'"),
    # Refused as HAProxy names already, before the marker's path is made.
    (dict(server='../../etc/passwd'), "server '../../etc/passwd' is not a name HAProxy allows"),
    (dict(backend='web/..', server='web1'), "backend 'web/..' is not a name HAProxy allows"),
    (dict(server=''), "server '' is not a name HAProxy allows"),
    (dict(marker_dir='drained'), "marker_dir must be an absolute path, not 'drained'"),
])
def test_marker_names_that_would_leave_marker_dir_are_refused(haproxy, markers, args, message):
    marker_dir, path = markers
    fake = haproxy()
    call = dict(backend='web', server='web1', state='drained', marker_dir=marker_dir)
    call.update(args)
    with pytest.raises(ValidationError) as exc:
        set_server_state(Runtime(fake.path, 5), **call)
    assert str(exc.value).startswith(message.replace('%s', marker_dir) if '%s' in message else message)
    assert fake.received == [] and not os.path.exists(os.path.dirname(marker_dir))


@pytest.mark.parametrize('backend, server, problem', [
    ('web', '', 'it is empty'),
    ('', 'web1', 'it is empty'),
    ('web', 'a/b', "it contains '/'"),
    ('web', 'web\x001', 'it contains a NUL byte'),
    ('web', '..', "it contains '..'"),
    ('web', '.tmp', "it starts with '.'"),
])
def test_marker_path_refuses(backend, server, problem):
    with pytest.raises(ValidationError, match=re.escape(problem)):
        marker_path('/var/lib/m', backend, server)


def test_marker_path():
    assert marker_path('/var/lib/m', 'web', 'web1') == '/var/lib/m/web/web1'
    assert marker_path('/var/lib/m/', 'web') == '/var/lib/m/web'


def test_marker_that_is_a_directory_fails(haproxy, markers):
    marker_dir, path = markers
    os.makedirs(path)
    fake = haproxy(web1=dict(scur=0))
    with pytest.raises(ApplyError, match='the release marker %s is a directory' % re.escape(path)):
        change(fake, 'drained', marker_dir=marker_dir)
    assert fake.changes() == []


# --- marked_servers (haproxy_traffic's marker_dir) -----------------------------------------------

def test_marked_servers_lists_marker_files(tmp_path):
    web = tmp_path / 'drained' / 'web'
    web.mkdir(parents=True)
    for name in ('web3', 'web1', '.web2.abc123.tmp', 'web4~'):
        (web / name).write_text(u'{}\n')
    (web / 'web5').mkdir()
    os.symlink(str(web / 'web1'), str(web / 'web6'))
    (tmp_path / 'drained' / 'api').mkdir()
    (tmp_path / 'drained' / 'api' / 'api1').write_text(u'{}\n')
    assert marked_servers(str(tmp_path / 'drained'), 'web') == ['web1', 'web3']
    assert marked_servers(str(tmp_path / 'drained'), 'api') == ['api1']


@pytest.mark.parametrize('layout', ['nothing', 'marker_dir only', 'empty backend dir'])
def test_marked_servers_none(tmp_path, layout):
    marker_dir = tmp_path / 'drained'
    if layout != 'nothing':
        marker_dir.mkdir()
    if layout == 'empty backend dir':
        (marker_dir / 'web').mkdir()
    assert marked_servers(str(marker_dir), 'web') == []


def test_marked_servers_sees_what_set_server_state_leaves(haproxy, markers):
    marker_dir, path = markers
    fake = haproxy(web1=dict(scur=0), web2=dict(scur=0))
    change(fake, 'drained', marker_dir=marker_dir)
    change(fake, 'drained', server='web2', marker_dir=marker_dir)
    assert marked_servers(marker_dir, 'web') == ['web1', 'web2']
    fake.script('web1', 'ready', dict(status='UP'))
    change(fake, 'ready', marker_dir=marker_dir)
    assert marked_servers(marker_dir, 'web') == ['web2']


@pytest.mark.parametrize('backend, error, message', [
    ('..', ValidationError, "backend '..' cannot name a release marker"),
    ('', ValidationError, 'it is empty'),
    ('a/b', ValidationError, "it contains '/'"),
    ('web', UnavailableError, 'cannot read the release markers in %s/web: Not a directory'),
])
def test_marked_servers_errors(tmp_path, backend, error, message):
    marker_dir = tmp_path / 'drained'
    marker_dir.mkdir()
    (marker_dir / 'web').write_text(u'a file where the directory should be\n')
    with pytest.raises(error) as exc:
        marked_servers(str(marker_dir), backend)
    assert (message % marker_dir if '%s' in message else message) in str(exc.value)
