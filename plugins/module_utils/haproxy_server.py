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

With marker_dir, the load balancer also keeps a release marker, the file
marker_dir/BACKEND/SERVER (Marker), so that a re-run after a controller
killed mid-turn tells "a release drained this server here" (resume it)
from "a person put it in maintenance" (leave it alone). drained creates it
(fsynced) before the first command that changes anything; ready removes it
only once the server is UP, so a failed enable leaves it; maint never
touches it. marked_servers() lists a backend's markers, for haproxy_traffic.

Whether anything is to be done is decided on the administrative state from
`show servers state` (a drained server that is DOWN shows DOWN, not DRAIN, in
`show stat`). Time is read through the clock and sleep arguments, so tests
run timeouts exactly without waiting.

Pure Python, standard library only: it runs on the load balancers, under Python 3.8.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import json
import os
import re
import stat
import threading
import time

from ansible_collections.daylight.release.plugins.module_utils.errors import (
    ApplyError,
    ConflictError,
    DaylightError,
    UnavailableError,
    ValidationError,
)
from ansible_collections.daylight.release.plugins.module_utils.files import fsync_dir, write_atomically
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


# --- the release marker --------------------------------------------------------------------------

MARKER_OUTCOMES = ('created', 'removed', 'kept', 'absent')

_MARKER_HINT = ('the user the module runs as (usually root, through become) must be able to write there; fix the '
                'permissions or set marker_dir to a directory it can write')


def _marker_name_problem(name):
    """Why `name` cannot be one part of a marker's path, or None."""
    if not name:
        return 'it is empty'
    if '/' in name or (os.altsep and os.altsep in name):
        return "it contains '/'"
    if '\x00' in name:
        return 'it contains a NUL byte'
    if '..' in name:
        return "it contains '..'"
    if name.startswith('.'):
        return "it starts with '.' (hidden files in marker_dir are temporary files, not markers)"
    return None


def marker_path(marker_dir, backend, server=None):
    """The release marker of backend/server, marker_dir/BACKEND/SERVER (without server: the backend's directory).

    :raises ValidationError: marker_dir is not absolute, or a name would lead
        the path out of marker_dir/BACKEND/ (empty, '/', '..', a leading '.').
    """
    if not marker_dir or not os.path.isabs(marker_dir):
        raise ValidationError('marker_dir must be an absolute path, not %r' % (marker_dir,))
    names = [('backend', backend)] + ([('server', server)] if server is not None else [])
    for option, name in names:
        problem = _marker_name_problem(name)
        if problem:
            raise ValidationError(
                '%s %r cannot name a release marker under marker_dir %s: %s, and the marker is the file '
                'marker_dir/BACKEND/SERVER. Rename it in haproxy.cfg, or leave marker_dir unset (no marker).'
                % (option, name, marker_dir, problem))
    return os.path.join(marker_dir, *[name for dummy, name in names])


def marked_servers(marker_dir, backend):
    """Sorted names of the servers of `backend` that have a release marker in marker_dir on this host.

    Regular files of marker_dir/BACKEND whose names HAProxy allows count;
    hidden files (write_atomically's temporary files) and anything else do
    not. A missing directory means no marker. Reads only.

    :raises ValidationError: see marker_path.
    :raises UnavailableError: the directory cannot be read.
    """
    directory = marker_path(marker_dir, backend)
    try:
        names = os.listdir(directory)
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ENOTDIR) and not os.path.lexists(directory):
            return []
        raise UnavailableError('cannot read the release markers in %s: %s; the user the module runs as (usually root, '
                               'through become) must be able to read it, and it must be a directory'
                               % (directory, e.strerror or e))
    marked = []
    for name in names:
        if name.startswith('.') or not _NAME_RE.match(name):
            continue
        try:
            if stat.S_ISREG(os.lstat(os.path.join(directory, name)).st_mode):
                marked.append(name)
        except OSError:
            continue  # removed since the listing
    return sorted(marked)


class Marker(object):
    """The release marker of one server on this load balancer: marker_dir/BACKEND/SERVER.

    Its presence says "a release drained this server here"; its content (one
    line of JSON: backend, server, the status before and the time) is for
    people. outcome is None until create/remove/keep, then one of
    MARKER_OUTCOMES; in check mode, what a real run would do.
    """

    def __init__(self, marker_dir, backend, server, check_mode=False, now=None):
        self.path = marker_path(marker_dir, backend, server)
        self.backend = backend
        self.server = server
        self.check_mode = check_mode
        self.now = now or time.time
        self.existed = None  # at the first look
        self.outcome = None

    def look(self):
        """Whether the marker is there now; the first answer is kept as existed."""
        try:
            mode = os.lstat(self.path).st_mode
        except OSError as e:
            if e.errno not in (errno.ENOENT, errno.ENOTDIR):
                raise ApplyError('cannot look for the release marker %s: %s; %s' % (self.path, e.strerror or e,
                                                                                    _MARKER_HINT))
            present = False
        else:
            if stat.S_ISDIR(mode):
                raise ApplyError('the release marker %s is a directory; a marker is a file. Remove the directory '
                                 '(nothing of the release is in it) and run again' % self.path)
            present = True
        if self.existed is None:
            self.existed = present
        return present

    def _presence(self):
        # For results and messages: never raises.
        try:
            return 'kept' if self.look() else 'absent'
        except DaylightError:
            return None

    def create(self, state_before):
        """Make the marker (and its directories, 0755), durably, unless it is there. Call before any command."""
        if self.look():
            self.outcome = 'kept'
            return
        if not self.check_mode:
            self._make_dirs(os.path.dirname(self.path))
            drained_at = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(self.now()))
            text = json.dumps({'backend': self.backend, 'server': self.server, 'state_before': state_before,
                               'drained_at': drained_at, 'by': 'daylight.release.haproxy_server'},
                              sort_keys=True) + '\n'
            try:
                write_atomically(self.path, text, mode=0o644, what='the release marker')
            except ApplyError as e:
                raise ApplyError('%s; nothing was sent to HAProxy. %s' % (e, _MARKER_HINT[0].upper() + _MARKER_HINT[1:]))
        self.outcome = 'created'

    def _make_dirs(self, directory):
        missing = []
        while not os.path.isdir(directory) and os.path.dirname(directory) != directory:
            missing.append(directory)
            directory = os.path.dirname(directory)
        for directory in reversed(missing):
            try:
                os.mkdir(directory, 0o755)
            except OSError as e:
                # Another run on this host (a batch drains several servers) may have just made it.
                if e.errno == errno.EEXIST and os.path.isdir(directory):
                    continue
                raise ApplyError('cannot create the directory %s for the release marker %s: %s; nothing was sent to '
                                 'HAProxy. %s' % (directory, self.path, e.strerror or e,
                                                  _MARKER_HINT[0].upper() + _MARKER_HINT[1:]))
            try:
                os.chmod(directory, 0o755)  # mkdir's mode is cut by the umask
            except OSError as e:
                raise ApplyError('cannot set mode 0755 on %s, made for the release marker %s: %s'
                                 % (directory, self.path, e.strerror or e))
            fsync_dir(os.path.dirname(directory))

    def remove(self):
        """Remove the marker if it is there. Call only once the server is UP."""
        if not self.look():
            self.outcome = 'absent'
            return
        if not self.check_mode:
            try:
                os.unlink(self.path)
            except OSError as e:
                if e.errno != errno.ENOENT:
                    raise ApplyError(
                        'the server is UP, but its release marker %s cannot be removed: %s. Remove it by hand (a '
                        're-run would take the server for one a release left drained, and enable it again); %s'
                        % (self.path, e.strerror or e, _MARKER_HINT))
            fsync_dir(os.path.dirname(self.path))
        self.outcome = 'removed'

    def keep(self):
        """Leave the marker as it is (maint, or a ready that failed)."""
        self.outcome = self._presence()

    @property
    def changed(self):
        return self.outcome in ('created', 'removed')

    def report(self):
        """{'marker': outcome (or, before any, whether it is there: kept/absent), 'marker_path': path}."""
        return {'marker': self.outcome or self._presence(), 'marker_path': self.path}

    def diff_lines(self):
        """('marker PATH: present|absent' before, the same after), for the diff."""
        before = self.existed
        if before is None:
            before = self._presence() == 'kept'
        after = (self.outcome or self._presence()) in ('created', 'kept')
        line = 'release marker %s: %s\n'
        return (line % (self.path, 'present' if before else 'absent'),
                line % (self.path, 'present' if after else 'absent'))


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

    def __init__(self, runtime, backend, server, check_mode, poll_interval, clock, sleep, marker=None):
        self.runtime = runtime
        self.marker = marker  # a Marker, or None without marker_dir
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
        if self.marker:
            # First, and durably: a run killed right after the drain command leaves a server a re-run
            # knows a release drained. Made even when the server is in maintenance already: the
            # release asked for it, and will enable it.
            self.marker.create(self.result['state_before'])
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
        if self.marker:
            self.marker.keep()  # not UP: a re-run must still know a release drained it
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
        raise NotReadyError(message, self.finish())

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

    def finish(self):
        diff = {'before_header': '%s (%s)' % (self.name, self.runtime.socket_path),
                'after_header': '%s (%s)' % (self.name, self.runtime.socket_path),
                'before': self.result['state_before'] + '\n', 'after': self.result['state_after'] + '\n'}
        changed = bool(self.commands)
        if self.marker:
            before, after = self.marker.diff_lines()
            diff['before'] += before
            diff['after'] += after
            changed = changed or self.marker.changed
            self.result.update(self.marker.report())
        self.result.update(changed=changed, commands=list(self.commands), diff=diff)
        return self.result


def set_server_state(runtime, backend, server, state, check_mode=False, poll_interval=0.1, drain_timeout=30.0,
                     ready_timeout=30.0, clock=None, sleep=None, marker_dir=None, now=None):
    """Bring backend/server to `state` on one HAProxy and wait for the outcome (see the module docstring).

    Already in the wanted state (forced maintenance for drained and maint;
    ready and UP for ready): nothing is sent. In check mode nothing is sent
    either; the result says what would be sent and the status expected.

    With marker_dir, the release marker marker_dir/BACKEND/SERVER on this host
    (Marker): drained creates it, after reading the server and before the first
    command; ready removes it once the server is UP (a ready that fails keeps
    it); maint leaves it alone. In check mode no file changes.

    :arg runtime: a Runtime (or an object with its methods).
    :arg clock: seconds as a float, monotonic (default time.monotonic).
    :arg sleep: sleep(seconds) (default time.sleep).
    :arg marker_dir: absolute path, or None for no marker.
    :arg now: epoch seconds for the marker's content (default time.time).
    :returns: (changed, result, warnings). result has backend, server,
        state_before and state_after (statuses of `show stat`),
        sessions_before (scur at the start), waited_seconds (float, 3
        decimals), sessions_cut (sessions closed after drain_timeout), check
        (the last health check: status, code, description), commands (sent,
        or in check mode to be sent), marker (one of MARKER_OUTCOMES; None
        without marker_dir), marker_path (None without marker_dir) and diff
        (before/after status, and the marker's presence). changed is true
        when a command was sent or the marker created or removed (in check
        mode: would be).
    :raises ValidationError: a bad argument, or no such backend or server.
    :raises UnavailableError: HAProxy's socket cannot be used.
    :raises ApplyError: HAProxy refused a command, or the marker could not be
        written or removed.
    :raises NotReadyError: for ready, the server is DOWN, stays in an inherited
        maintenance, or is not UP within ready_timeout; .result is the result.
    Errors raised once the marker's path is known carry .marker, the marker
    and marker_path entries of the result (the marker as it was left).
    """
    _validate(backend, server, state, poll_interval, drain_timeout, ready_timeout)
    marker = None
    if marker_dir is not None:
        marker = Marker(marker_dir, backend, server, check_mode=check_mode, now=now)
    change = _Change(runtime, backend, server, check_mode, poll_interval, clock or time.monotonic, sleep or time.sleep,
                     marker)
    try:
        view = change.read()
        admin = runtime.admin_state(backend, server)
        change.result.update(backend=backend, server=server, state_before=view['status'], state_after=view['status'],
                             sessions_before=view['scur'], waited_seconds=0.0, sessions_cut=0, check=view['check'],
                             marker=None, marker_path=None)
        try:
            if state == 'drained':
                change.drained(admin, drain_timeout)
            elif state == 'ready':
                change.ready(view, admin, ready_timeout)
                if marker:
                    marker.remove()  # ready() returns only once the server is UP (or in check mode)
            else:
                change.maint(admin)
                if marker:
                    marker.keep()  # maintenance by hand is not a release's
        except (ApplyError, UnavailableError) as e:
            if not change.commands:
                raise
            # Say what HAProxy already has from us, so the operator knows the server's state.
            raise type(e)('%s (already sent: %s)' % (e, '; '.join('`%s`' % c for c in change.commands)))
    except DaylightError as e:
        if marker is not None:
            e.marker = marker.report()
        raise
    result = change.finish()
    return result['changed'], result, change.warnings


def health_checks_fail(result):
    """Whether a failed change left the server DOWN by HAProxy's own health checks (DOWN, or DOWN n/m):
    the node's fault, not the load balancer's. One rule for a run alone and a run with peers."""
    return classify(result.get('state_after')) in ('down', 'down_pending')


class PeersError(DaylightError):
    """The server did not reach the state on every load balancer; result holds what the module returns."""

    def __init__(self, message, result):
        super(PeersError, self).__init__(message)
        self.result = result


def set_server_state_with_peers(runtime, peers, backend, server, state, check_mode=False, poll_interval=0.1,
                                drain_timeout=30.0, ready_timeout=30.0, clock=None, sleep=None, marker_dir=None,
                                now=None, name='this load balancer'):
    """set_server_state on this load balancer and on its peers at once, each in its own thread.

    One run instead of one per load balancer, and the waits (sessions to end, the first
    health check after ready) overlap instead of adding up. The release marker stays on
    this host and covers them all: drained creates it before any load balancer is sent
    anything; ready removes it only once the server is UP on every one.

    :arg peers: [(name, Runtime)], the other load balancers (runtime API over TCP).
    :arg name: this load balancer's name in failed_on and down_on.
    :returns: (changed, result, warnings): this load balancer's result, with
        peers ({name: result, or {'msg': why} where it failed}), failed_peers
        (names), failed_on (names, this one included) and down_on (the names
        of those where the server's health checks fail: the node's fault).
    :raises PeersError: the server failed somewhere (here or on a peer); .result
        is the result, and the message names every load balancer that failed.
    """
    _validate(backend, server, state, poll_interval, drain_timeout, ready_timeout)
    marker = Marker(marker_dir, backend, server, check_mode=check_mode, now=now) if marker_dir else None
    if marker and state == 'drained':
        try:
            marker.create(runtime.server(backend, server)['status'])
        except DaylightError as e:
            e.marker = marker.report()
            raise
    everyone = [(None, runtime)] + list(peers)
    outcomes = {}

    def one(name, where):
        try:
            outcomes[name] = ('ok', set_server_state(where, backend, server, state, check_mode, poll_interval,
                                                     drain_timeout, ready_timeout, clock, sleep))
        except NotReadyError as e:
            outcomes[name] = ('failed', e, e.result)
        except Exception as e:  # DaylightError, or a thread's surprise: it must reach the module, not vanish
            outcomes[name] = ('failed', e, {'backend': backend, 'server': server})

    threads = [threading.Thread(target=one, args=pair) for pair in everyone[1:]]
    for thread in threads:
        thread.start()
    one(*everyone[0])  # this load balancer in this thread
    for thread in threads:
        thread.join()

    warnings, problems, peer_results, failed_peers, failed_on, down_on = [], [], {}, [], [], []
    for peer, dummy in everyone:
        outcome = outcomes[peer]
        if outcome[0] == 'ok':
            dummy, result, more = outcome[1]
            warnings.extend(more)
        else:
            result = dict(outcome[2], msg=str(outcome[1]))
            problems.append('on %s: %s' % (peer or name, outcome[1]))
            failed_on.append(peer or name)
            if health_checks_fail(result):
                down_on.append(peer or name)
            if peer is not None:
                failed_peers.append(peer)
        if peer is not None:
            peer_results[peer] = result
    here = outcomes[None]
    result = dict(here[1][1] if here[0] == 'ok' else here[2])
    result.update(peers=peer_results, failed_peers=failed_peers, failed_on=failed_on, down_on=down_on,
                  changed=any(o[0] == 'ok' and o[1][0] for o in outcomes.values()))
    if marker:
        if state == 'ready' and not problems:
            try:
                marker.remove()
            except DaylightError as e:
                problems.append(str(e))
                failed_on.append(name)
        elif state != 'drained':
            marker.keep()
        before, after = marker.diff_lines()
        if 'diff' in result:
            result['diff'] = dict(result['diff'], before=result['diff']['before'] + before,
                                  after=result['diff']['after'] + after)
        result['changed'] = result['changed'] or marker.changed
        result.update(marker.report())
    if problems:
        raise PeersError(' '.join(problems), result)
    return result['changed'], result, warnings


class ServersError(DaylightError):
    """Some servers of a batch did not reach the state; result holds what the module returns."""

    def __init__(self, message, result):
        super(ServersError, self).__init__(message)
        self.result = result


def set_servers_state(runtime, peers, backend, servers, state, name='this load balancer', **options):
    """set_server_state_with_peers for several servers of one backend at once, each in its own thread.

    A batch of a release moves several nodes together: one run for all of them
    instead of one run per node on the same load balancer, and their waits (sessions
    to end, the first health check after ready) overlap. Each server keeps its own
    release marker and its own outcome; one that fails does not stop the others.

    :arg servers: the servers' names (at least one, each once).
    :arg options: set_server_state_with_peers's keyword arguments.
    :returns: (changed, result, warnings): result has servers ({server: its
        result, with failed_on and down_on; where it failed, msg}),
        failed_servers (names, in the order given), failed_on and down_on
        (every load balancer named by any server's), backend, and diff when
        the servers' results have one.
    :raises ServersError: some server failed; .result is the result, and the
        message names each server and what happened to it.
    """
    if not servers:
        raise ValidationError('servers must name at least one server of backend %r' % (backend,))
    repeated = sorted(set(s for s in servers if servers.count(s) > 1))
    if repeated:
        raise ValidationError('servers names %s more than once' % ', '.join(repeated))
    outcomes = {}

    def one(server):
        try:
            outcomes[server] = ('ok',) + set_server_state_with_peers(runtime, peers, backend, server, state,
                                                                     name=name, **options)
        except PeersError as e:
            outcomes[server] = ('failed', False, dict(e.result, msg=str(e)), [])
        except Exception as e:  # DaylightError, or a thread's surprise: it must reach the module, not vanish
            outcomes[server] = ('failed', False, dict(getattr(e, 'marker', None) or {}, backend=backend, server=server,
                                                      failed_on=[name], down_on=[], msg=str(e)), [])

    threads = [threading.Thread(target=one, args=(server,)) for server in servers[1:]]
    for thread in threads:
        thread.start()
    one(servers[0])
    for thread in threads:
        thread.join()

    result = dict(backend=backend, servers={}, failed_servers=[], failed_on=[], down_on=[])
    changed, warnings, problems, before, after = False, [], [], '', ''
    for server in servers:
        outcome, server_changed, server_result, server_warnings = outcomes[server]
        changed = changed or server_changed or server_result.pop('changed', False)
        warnings.extend(server_warnings)
        diff = server_result.pop('diff', None)
        if diff:  # a line per server and status
            before += ''.join('%s: %s\n' % (server, line) for line in diff['before'].splitlines())
            after += ''.join('%s: %s\n' % (server, line) for line in diff['after'].splitlines())
        result['servers'][server] = server_result
        if outcome == 'failed':
            result['failed_servers'].append(server)
            problems.append('%s: %s' % (server, server_result['msg']))
        for key in ('failed_on', 'down_on'):
            result[key].extend(lb for lb in server_result.get(key, []) if lb not in result[key])
    result['changed'] = changed
    if before or after:
        result['diff'] = dict(before=before, after=after)
    if problems:
        raise ServersError('; '.join(problems), result)
    return changed, result, warnings
