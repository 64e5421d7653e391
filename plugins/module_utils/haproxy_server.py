# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Change one HAProxy server's administrative state and wait for what follows, polling sub-second.

An operator sets a server's administrative state (ready, drain, maint); HAProxy
shows what comes of it, with its health checks, as the server's status in
`show stat` (UP, DOWN 1/2, DRAIN, MAINT, ...). A release wants the first
changed and the second waited for, in one call per load balancer:

- drained: `set server B/S state drain` stops new sessions (persistent ones
  still come), then `show stat` is read every poll_interval until the
  server's current sessions (scur) and queued requests (qcur) are 0, then
  `set server B/S state maint`. `show stat` because it is the one runtime
  view with the live session count next to the status and the last health
  check: `show servers state` has the administrative state but no sessions,
  and `show sess` lists every stream of the process, too much to read ten
  times a second. After drain_timeout the server goes to maintenance anyway
  and its remaining sessions are closed with `shutdown sessions server B/S`
  (maintenance alone leaves them running), counted and warned about: the
  operator's timeout is the longest a release waits, and what follows (the
  swap, the smoke test, the canary window) expects a node HAProxy no longer
  talks to.
- ready: `set server B/S state ready`, then `show stat` until the status is
  UP ('no check' when checks are off). DOWN means HAProxy's own rise/fall
  rules found the health check failing: that fails at once, with the check's
  result, instead of waiting for the timeout. The server is left ready: HAProxy
  sends a DOWN server nothing, and keeps checking it, so it comes back by
  itself once the checks pass (a release's rescue, which rolls the node back
  and enables it again, finds it ready).
- maint: `set server B/S state maint`, without waiting.

Whether anything is to be done is decided on the administrative state from
`show servers state` (a drained server that is DOWN shows DOWN, not DRAIN, in
`show stat`). Time is read through the clock and sleep arguments, so tests
run timeouts exactly without waiting.

Pure Python, standard library only: it runs on the load balancers, under Python 3.8.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import time

from ansible_collections.daylight.release.plugins.module_utils.errors import (
    ApplyError,
    ConflictError,
    UnavailableError,
    ValidationError,
)
from ansible_collections.daylight.release.plugins.module_utils.haproxy import (
    parse_show_stat,
    read_show_stat,
    runtime_command,
    server_table,
)

STATES = ('drained', 'ready', 'maint')

# Bits of srv_admin_state in `show servers state` (HAProxy's enum srv_admin). `set server
# ... state` sets and clears only the forced ones; the inherited ones (IMAINT 0x02 through
# `track`, RMAINT 0x20 on a DNS failure, IDRAIN 0x10) follow other servers or the resolver.
FORCED_MAINT = 0x01
FORCED_DRAIN = 0x08

# Characters HAProxy allows in proxy and server names (invalid_char() in its source). Anything
# else could not name a server, and a ';' would chain a second command on the socket.
_NAME_RE = re.compile(r'^[A-Za-z0-9_.:-]+$')
_COUNTED_RE = re.compile(r'^(UP|DOWN|NOLB|DRAIN) \d+/\d+$')
_ESCAPE_RE = re.compile(r'<([0-9A-F]{2})>')

# Sleeping less than this is not worth another reading.
_EPSILON = 1e-6


def classify(status):
    """What a server's status in HAProxy 2.6's `show stat` means, as one word.

    HAProxy writes MAINT, MAINT (via b/s), MAINT (resolution); DRAIN, DRAIN n/m,
    DRAIN (agent); UP, UP n/m; DOWN, DOWN (agent), DOWN n/m; NOLB, NOLB n/m; and
    'no check'. `UP n/m` is a server that takes traffic while fewer than `fall`
    checks in a row have passed (it just left maintenance: HAProxy starts it
    at `rise` and checks at once; or its checks began to fail). `DOWN n/m` is a
    server whose checks pass, n of the `rise` needed. Plain DOWN means the last
    check failed and HAProxy sends the server nothing.

    :returns: 'up' (UP, 'no check'), 'up_pending' (UP n/m), 'down' (DOWN, DOWN
        (agent)), 'down_pending' (DOWN n/m), 'drain', 'maint',
        'maint_inherited' (via a tracked server or a DNS failure, which `set
        server ... state` cannot change), 'nolb' (the check asked for no new
        sessions, e.g. http-check disable-on-404) or 'unknown'.
    """
    status = (status or '').strip()
    if status in ('UP', 'no check'):
        return 'up'
    if status.startswith('MAINT'):
        return 'maint' if status == 'MAINT' else 'maint_inherited'
    if status.startswith('DRAIN'):
        return 'drain'
    if status.startswith('NOLB'):
        return 'nolb'
    if status in ('DOWN', 'DOWN (agent)'):
        return 'down'
    counted = _COUNTED_RE.match(status)
    if counted:
        return {'UP': 'up_pending', 'DOWN': 'down_pending'}[counted.group(1)]
    return 'unknown'


def _unescape(text):
    # HAProxy writes '<' and '>' of a check's description as <3C> and <3E>.
    return _ESCAPE_RE.sub(lambda m: chr(int(m.group(1), 16)), text or '')


def server_view(rows, backend, server):
    """One server's status, sessions and last check from parse_show_stat rows.

    :returns: dict with status (str), scur and qcur (int), and check and agent,
        each {'status', 'code', 'description'} (strings, empty when HAProxy
        leaves them out: checks off, or paused in maintenance). The status has
        no in-progress marker ('* L7OK' is 'L7OK'); the description is the
        check's own text (last_chk) or else the status's meaning (check_desc).
    :raises ValidationError: no such backend (the message lists the backends)
        or no such server in it (the message lists its servers).
    """
    table = server_table(rows, backend)
    if server not in table['servers']:
        raise ValidationError('server %s is not in backend %s on this load balancer (its servers: %s); check the '
                              'name against haproxy.cfg' % (server, backend, ', '.join(sorted(table['servers'])) or 'none'))
    row = [r for r in rows if r.get('pxname') == backend and r.get('svname') == server][0]

    def check(prefix, last):
        return {'status': row.get(prefix + '_status', '').replace('* ', '', 1).strip(),
                'code': row.get(prefix + '_code', '').strip(),
                'description': _unescape(row.get(last) or row.get(prefix + '_desc', '')).strip()}
    counters = table['servers'][server]
    return {'status': counters['status'], 'scur': counters['scur'], 'qcur': counters['qcur'],
            'check': check('check', 'last_chk'), 'agent': check('agent', 'last_agt')}


def parse_servers_state(text):
    """Rows of `show servers state` as dicts keyed by its header's names (values are strings).

    The answer starts with a format version line, then '# ' and the column
    names, then one space-separated line per server.
    """
    header = None
    rows = []
    for line in (text or '').splitlines():
        if line.startswith('#'):
            header = line.lstrip('#').split()
        elif header and line.strip():
            rows.append(dict(zip(header, line.split())))
    return rows


def describe_check(view):
    """A server's last check in words, for messages: "health check L7STS 500 ('HTTP status ... <500>')"."""
    if view['status'].endswith('(agent)') and view['agent']['status']:
        kind, check = 'agent check', view['agent']
    elif view['check']['status']:
        kind, check = 'health check', view['check']
    else:
        return 'no health check result (checks are off, or it follows the server it tracks)'
    words = ' '.join(part for part in (check['status'], check['code']) if part)
    return "%s %s ('%s')" % (kind, words, check['description']) if check['description'] else '%s %s' % (kind, words)


class Runtime(object):
    """HAProxy's runtime API on one stats socket: read a server, read its admin state, send a command."""

    def __init__(self, socket_path, timeout):
        self.socket_path = socket_path
        self.timeout = timeout

    def server(self, backend, server):
        """server_view of backend/server from a fresh `show stat`."""
        return server_view(parse_show_stat(read_show_stat(self.socket_path, self.timeout)), backend, server)

    def admin_state(self, backend, server):
        """srv_admin_state of backend/server (int, bits of FORCED_MAINT, FORCED_DRAIN, ...)."""
        command = 'show servers state %s' % backend
        text = runtime_command(self.socket_path, command, self.timeout)
        for row in parse_servers_state(text):
            if row.get('be_name') == backend and row.get('srv_name') == server:
                try:
                    return int(row.get('srv_admin_state'))
                except (TypeError, ValueError):
                    break
        raise UnavailableError('HAProxy answered %r to `%s` on %s, without the administrative state of %s'
                               % (text.strip()[:200], command, self.socket_path, server))

    def send(self, command):
        """Send a command that answers nothing when it works (set server, shutdown sessions).

        :raises ApplyError: HAProxy answered something: the refusal, e.g. 'Permission denied'.
        """
        answer = runtime_command(self.socket_path, command, self.timeout).strip()
        if answer:
            hint = ''
            if 'permission denied' in answer.lower():
                hint = ' (the `stats socket` line in haproxy.cfg needs `level admin` to change servers)'
            raise ApplyError('HAProxy refused `%s` on %s: %s%s' % (command, self.socket_path, answer[:200], hint))


class NotReadyError(ConflictError):
    """The server did not come UP; result holds what the module returns with the failure."""

    def __init__(self, message, result):
        super(NotReadyError, self).__init__(message)
        self.result = result


def _validate(backend, server, state, poll_interval, drain_timeout, ready_timeout):
    for option, name in (('backend', backend), ('server', server)):
        if not _NAME_RE.match(name or ''):
            raise ValidationError('%s %r is not a name HAProxy allows (letters, digits, and . _ : -)' % (option, name))
    if state not in STATES:
        raise ValidationError('state must be one of %s, not %r' % (', '.join(STATES), state))
    if not poll_interval > 0:
        raise ValidationError('poll_interval must be more than 0 seconds, not %r' % (poll_interval,))
    for option, value in (('drain_timeout', drain_timeout), ('ready_timeout', ready_timeout)):
        if not value >= 0:
            raise ValidationError('%s must be 0 seconds or more, not %r' % (option, value))


class _Change(object):
    """One call of set_server_state: the readings, the commands and what is returned."""

    def __init__(self, runtime, backend, server, check_mode, poll_interval, clock, sleep):
        self.runtime = runtime
        self.backend = backend
        self.server = server
        self.name = '%s/%s' % (backend, server)
        self.check_mode = check_mode
        self.poll_interval = poll_interval
        self.clock = clock
        self.sleep = sleep
        self.commands = []  # sent, or in check mode to be sent
        self.warnings = []
        self.result = {}

    def command(self, state):
        return 'set server %s state %s' % (self.name, state)

    def send(self, commands):
        for command in commands:
            if not self.check_mode:
                self.runtime.send(command)
            self.commands.append(command)

    def read(self):
        return self.runtime.server(self.backend, self.server)

    def poll(self, start, timeout, verdict):
        """Read until verdict(view) is not 'wait', or timeout seconds after start: (view, verdict or 'timeout')."""
        while True:
            view = self.read()
            outcome = verdict(view)
            if outcome != 'wait':
                return view, outcome
            left = start + timeout - self.clock()
            if left <= _EPSILON:
                return view, 'timeout'
            self.sleep(min(self.poll_interval, left))

    def after(self, view, start):
        self.result.update(state_after=view['status'], check=view['check'],
                           waited_seconds=round(self.clock() - start, 3))

    def maint(self, admin):
        if admin & FORCED_MAINT:
            return
        self.send([self.command('maint')])
        # HAProxy stops sending new sessions; those in progress run to their end.
        self.result['state_after'] = 'MAINT' if self.check_mode else self.read()['status']

    def drained(self, admin, drain_timeout):
        if admin & FORCED_MAINT:
            return
        start = self.clock()
        self.send([] if admin & FORCED_DRAIN else [self.command('drain')])
        if self.check_mode:
            self.send([self.command('maint')])
            self.result['state_after'] = 'MAINT'
            return
        dummy, outcome = self.poll(start, drain_timeout, lambda v: 'done' if v['scur'] + v['qcur'] == 0 else 'wait')
        waited = round(self.clock() - start, 3)
        self.send([self.command('maint')])
        after = self.read()
        if outcome == 'timeout' and after['scur']:
            self.send(['shutdown sessions server %s' % self.name])
            self.result['sessions_cut'] = after['scur']
            self.warnings.append(
                '%s still had %d session(s) after drain_timeout (%g s); it was put in maintenance and they were '
                'closed (shutdown sessions). Raise drain_timeout if requests this long are expected.'
                % (self.name, after['scur'], drain_timeout))
        self.result.update(state_after=after['status'], check=after['check'], waited_seconds=waited)

    def ready(self, view, admin, ready_timeout):
        forced = admin & (FORCED_MAINT | FORCED_DRAIN)
        if not forced and classify(view['status']) == 'up':
            return
        start = self.clock()
        self.send([self.command('ready')] if forced else [])
        if self.check_mode:
            if forced:
                self.result['state_after'] = 'UP'
            else:
                self.warnings.append('%s is %s now, with %s; a real run waits for it to come UP and fails if it is '
                                     'DOWN' % (self.name, view['status'], describe_check(view)))
            return
        view, outcome = self.poll(start, ready_timeout, self.up_verdict)
        self.after(view, start)
        if outcome == 'done':
            return
        where = 'on this load balancer (%s)' % self.runtime.socket_path
        if outcome == 'timeout' and classify(view['status']) == 'down':
            message = ('%s is still DOWN %s after %g s: %s. HAProxy sends it no traffic while its checks fail; it is '
                       'left in the ready state, so HAProxy sends it traffic again as soon as they pass.'
                       % (self.name, where, ready_timeout, describe_check(view)))
        elif outcome == 'inherited':
            message = ('%s is %s %s: it is in maintenance because of the server it tracks or because its address '
                       'does not resolve, which `set server ... state ready` cannot change.'
                       % (self.name, view['status'], where))
        else:
            message = ('%s did not come UP %s within ready_timeout (%g s): its status is still %s, with %s.'
                       % (self.name, where, ready_timeout, view['status'], describe_check(view)))
        raise NotReadyError(message, self.finish(bool(self.commands)))

    @staticmethod
    def up_verdict(view):
        kind = classify(view['status'])
        if kind == 'up':
            return 'done'
        # DOWN waits too: the first check after a graceful reload may fail on a busy node. Still DOWN
        # at ready_timeout, it fails with the check's answer.
        if kind == 'maint_inherited':
            return 'inherited'
        # UP n/m and DOWN n/m are still deciding; DOWN, MAINT, DRAIN or NOLB may still change.
        return 'wait'

    def finish(self, changed):
        diff = {'before_header': '%s (%s)' % (self.name, self.runtime.socket_path),
                'after_header': '%s (%s)' % (self.name, self.runtime.socket_path),
                'before': self.result['state_before'] + '\n', 'after': self.result['state_after'] + '\n'}
        self.result.update(changed=changed, commands=list(self.commands), diff=diff)
        return self.result


def set_server_state(runtime, backend, server, state, check_mode=False, poll_interval=0.1, drain_timeout=30.0,
                     ready_timeout=30.0, clock=None, sleep=None):
    """Bring backend/server to `state` on one HAProxy and wait for the outcome (see the module docstring).

    Already in the wanted state (forced maintenance for drained and maint;
    ready and UP for ready): nothing is sent. In check mode nothing is sent
    either; the result says what would be sent and the status expected.

    :arg runtime: a Runtime (or an object with its methods).
    :arg clock: seconds as a float, monotonic (default time.monotonic).
    :arg sleep: sleep(seconds) (default time.sleep).
    :returns: (changed, result, warnings). result has backend, server,
        state_before and state_after (statuses of `show stat`),
        sessions_before (scur at the start), waited_seconds (float, 3
        decimals), sessions_cut (sessions closed after drain_timeout), check
        (the last health check: status, code, description), commands (sent,
        or in check mode to be sent) and diff (before/after status).
    :raises ValidationError: a bad argument, or no such backend or server.
    :raises UnavailableError: HAProxy's socket cannot be used.
    :raises ApplyError: HAProxy refused a command.
    :raises NotReadyError: for ready, the server is DOWN, stays in an inherited
        maintenance, or is not UP within ready_timeout; .result is the result.
    """
    _validate(backend, server, state, poll_interval, drain_timeout, ready_timeout)
    change = _Change(runtime, backend, server, check_mode, poll_interval, clock or time.monotonic, sleep or time.sleep)
    view = change.read()
    admin = runtime.admin_state(backend, server)
    change.result.update(backend=backend, server=server, state_before=view['status'], state_after=view['status'],
                         sessions_before=view['scur'], waited_seconds=0.0, sessions_cut=0, check=view['check'])
    try:
        if state == 'drained':
            change.drained(admin, drain_timeout)
        elif state == 'ready':
            change.ready(view, admin, ready_timeout)
        else:
            change.maint(admin)
    except (ApplyError, UnavailableError) as e:
        if not change.commands:
            raise
        # Say what HAProxy already has from us, so the operator knows the server's state.
        raise type(e)('%s (already sent: %s)' % (e, '; '.join('`%s`' % c for c in change.commands)))
    return bool(change.commands), change.finish(bool(change.commands)), change.warnings
