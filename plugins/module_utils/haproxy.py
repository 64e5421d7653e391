# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read what HAProxy knows about a backend's traffic: stats counters and the per-request log.

Both the canary analysis and the toggle ramp judge a window of traffic from
the same two sources, so the parsing and the arithmetic live here once:

- `show stat` on the stats socket gives cumulative counters per server
  (parse_show_stat, server_table); two readings give a window through
  counter_delta, which copes with HAProxy reloading in between.
- The `option httplog` log gives one line per request with the status, the
  termination state and the timers (parse_log_line, log_window), which the
  counters cannot: latencies, and 200s cut short by the server.

runtime_command is the one place that talks to the stats socket; read_show_stat
and the server state changes of haproxy_server go through it.

Pure Python on purpose: it runs on the load balancers, under Python 3.8.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import csv
import errno
import heapq
import io
import os
import re
import socket
import subprocess
import time

from ansible_collections.daylight.release.plugins.module_utils.errors import (
    UnavailableError,
    ValidationError,
)

# Cumulative counters, except scur/qcur which are gauges (current sessions, queue).
SERVER_COUNTERS = ('req_tot', 'hrsp_5xx', 'econ', 'eresp', 'wretr', 'wredis', 'chkdown', 'scur', 'qcur')

# Values that go up and down: a drop is not a reset and a difference means nothing.
GAUGES = ('scur', 'qcur', 'weight')

# The options of the modules that read HAProxy's per-request log (doc fragment daylight.release.haproxy_log).
LOG_ARGUMENT_SPEC = dict(
    log_source=dict(type='str', choices=['journal', 'file'], default='journal'),
    log_path=dict(type='path', default='/var/log/haproxy.log'),
    log_identifier=dict(type='str', default='haproxy'),
    max_log_lines=dict(type='int', default=200000),
)

# Month abbreviations in log timestamps (HAProxy's and Apache's), locale-independent.
MONTHS = dict((name, number) for number, name in enumerate(
    ('Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'), 1))

# Optional prefix, then HAProxy 2.6's `option httplog` format:
#   %ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r
# The prefix is journalctl's `-o short-unix` (epoch, host, tag) or any syslog
# header ending in `tag[pid]: `. %hr/%hs only appear, in braces, when headers are captured.
_LOG_RE = re.compile(
    r'^(?:(?P<epoch>\d{9,}\.\d+)\s+\S+\s+)?(?:.*?:\s)??'
    r'(?P<client>\S+):(?P<port>\d+) '
    r'\[(?P<day>\d{2})/(?P<month>[A-Z][a-z]{2})/(?P<year>\d{4}):(?P<hms>\d{2}:\d{2}:\d{2})(?:\.(?P<ms>\d{3}))?\] '
    r'(?P<frontend>\S+) (?P<backend>[^\s/]+)/(?P<server>\S+) '
    r'(?P<TR>-?\d+)/(?P<Tw>-?\d+)/(?P<Tc>-?\d+)/(?P<Tr>-?\d+)/\+?(?P<Ta>-?\d+) '
    r'(?P<status>-?\d+) \+?(?P<bytes>\d+) \S+ \S+ (?P<tsc>\S{4}) '
    r'\d+/\d+/\d+/\d+/(?P<rc>\+?\d+) \d+/\d+ '
    r'(?:\{[^}]*\} )*'
    r'"(?P<request>.*)"\s*$'
)


def parse_show_stat(text):
    """Rows of HAProxy's `show stat` CSV as dicts keyed by the header's column names.

    The header is the first line starting with '#'. Values stay strings, as
    HAProxy writes them. HAProxy ends every line with a comma, so a row may
    have one column fewer than the header; shorter rows (error messages,
    truncated output) are skipped.
    """
    lines = [line for line in (text or '').splitlines() if line.strip()]
    for index, line in enumerate(lines):
        if line.startswith('#'):
            break
    else:
        return []
    header = lines[index].lstrip('#').strip().split(',')
    rows = []
    for values in csv.reader(io.StringIO('\n'.join(lines[index + 1:]))):
        if len(values) >= len(header) - 1:
            # zip stops at the shorter list; the trailing comma's empty name is dropped.
            rows.append(dict((k, v) for k, v in zip(header, values) if k))
    return rows


def _int(row, key, backend):
    value = (row.get(key) or '').strip()
    if not value:
        return 0  # HAProxy leaves a column empty when it does not apply to the row
    try:
        return int(value)
    except ValueError:
        raise ValidationError('column %s of %s/%s in HAProxy\'s statistics is %r, not a whole number'
                              % (key, backend, row.get('svname'), value))


def _counters(row, backend):
    result = dict((key, _int(row, key, backend)) for key in SERVER_COUNTERS)
    result['status'] = row.get('status', '')
    result['weight'] = _int(row, 'weight', backend)
    result['check_status'] = row.get('check_status', '')
    # ip:port the load balancer sends the server's requests to: the dark launch asks the node there.
    result['addr'] = row.get('addr', '')
    return result


def server_table(rows, backend):
    """The counters of one backend from parse_show_stat rows.

    :returns: {'backend': {...}, 'servers': {svname: {...}}}; each dict has the
        SERVER_COUNTERS as ints (an empty column is 0), plus status (str),
        weight (int), check_status (str) and addr (str, ip:port; empty
        for the backend row).
    :raises ValidationError: the backend is not in the rows; the message lists
        the backends that are.
    """
    table = {'backend': None, 'servers': {}}
    for row in rows:
        if row.get('pxname') != backend:
            continue
        name = row.get('svname')
        if name == 'BACKEND':
            table['backend'] = _counters(row, backend)
        elif name != 'FRONTEND':  # a `listen` section has both under one name
            table['servers'][name] = _counters(row, backend)
    if table['backend'] is None:
        present = sorted(set(r.get('pxname') for r in rows if r.get('svname') == 'BACKEND'))
        raise ValidationError('backend %s is not in HAProxy\'s statistics (backends present: %s); '
                              'check the backend name against haproxy.cfg'
                              % (backend, ', '.join(present) or 'none'))
    return table


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def counter_delta(before, after, keys=None):
    """What cumulative counters grew by between two readings, surviving HAProxy reloads.

    This is the one place that turns two `show stat` readings into a window of
    traffic: both the canary analysis and the toggle ramp call it, so both
    count a reload the same way.

    :arg before: dict of counter name to int, e.g. a server of server_table.
    :arg after: the same, read later.
    :arg keys: counters to compare. Default: every key whose value is an int in
        both dicts, except the GAUGES (scur, qcur, weight), which go up and
        down and have no meaningful difference.
    :returns: (delta, reset_keys). delta[key] = after - before. HAProxy's
        counters only grow while the process lives; when after < before the
        process was reloaded or restarted and counted again from zero, so the
        delta is `after` and the key is listed in reset_keys (sorted). Never
        negative. A counter that was reset and then grew past `before` cannot
        be told from one that was not; a reload resets every counter at once,
        so a caller seeing any reset key should treat the whole window as
        possibly under-counted.
    :raises ValidationError: an explicitly requested key is missing or not a
        whole number in one of the readings.
    """
    if keys is None:
        keys = sorted(k for k in before if k in after and k not in GAUGES
                      and _is_int(before[k]) and _is_int(after[k]))
    delta = {}
    reset = []
    for key in keys:
        values = []
        for name, reading in (('before', before), ('after', after)):
            if key not in reading:
                raise ValidationError('counter %s is missing from the %s reading' % (key, name))
            try:
                values.append(int(reading[key]))
            except (TypeError, ValueError):
                raise ValidationError('counter %s of the %s reading is %r, not a whole number'
                                      % (key, name, reading[key]))
        old, new = values
        if new < old:
            delta[key] = max(new, 0)
            reset.append(key)
        else:
            delta[key] = new - old
    return delta, sorted(reset)


def _accept_time(match):
    # %tr is the host's local time; mktime interprets it in the local zone (DST decided by the C library).
    hour, minute, second = (int(x) for x in match.group('hms').split(':'))
    month = MONTHS.get(match.group('month'))
    if month is None:
        return None
    stamp = time.mktime((int(match.group('year')), month, int(match.group('day')),
                         hour, minute, second, 0, 0, -1))
    return stamp + int(match.group('ms') or 0) / 1000.0


def parse_log_line(line):
    """One HAProxy `option httplog` line as a dict, or None if it is not one.

    The line may carry journalctl's `-o short-unix` prefix (then `time` is
    journald's timestamp, i.e. when HAProxy logged the request, at its end) or
    a syslog prefix (then `time` is the accept date %tr, read in this host's
    time zone). Non-request lines (server state changes, "Proxy started", the
    journal's "-- No entries --") give None.

    :returns: dict with time (float), frontend, backend, server (may be
        '<NOSRV>'), tr_request (%TR), tw, tc, tr (%Tr), ta (%Ta) in ms, -1 when
        not reached, status (int, -1 when no response was sent), bytes,
        termination (the 4-char state such as '----' or 'SH--'), retries
        (int), redispatched (bool), method and path.
    """
    match = _LOG_RE.match(line.rstrip('\r\n'))
    if match is None:
        return None
    if match.group('epoch'):
        stamp = float(match.group('epoch'))
    else:
        stamp = _accept_time(match)
        if stamp is None:
            return None
    request = match.group('request').split(' ')
    rc = match.group('rc')
    return {
        'time': stamp,
        'frontend': match.group('frontend'),
        'backend': match.group('backend'),
        'server': match.group('server'),
        'tr_request': int(match.group('TR')),
        'tw': int(match.group('Tw')),
        'tc': int(match.group('Tc')),
        'tr': int(match.group('Tr')),
        'ta': int(match.group('Ta')),
        'status': int(match.group('status')),
        'bytes': int(match.group('bytes')),
        'termination': match.group('tsc'),
        'retries': int(rc.lstrip('+')),
        'redispatched': rc.startswith('+'),
        'method': request[0],
        'path': request[1] if len(request) > 1 else '',
    }


def is_server_error(entry):
    """Whether a parse_log_line entry counts against the server that answered it.

    A 5xx always does. So does a termination state starting with 'S' (the
    server aborted or refused) or 's' (server-side timeout): e.g. 'SD--' is
    logged with the 200 the server started to send before it broke off, so the
    status alone would call a truncated page a success. A state starting with
    'C' or 'c' is the client going away (closed tab, impatient user); that says
    nothing about the release, so it never counts by itself.
    """
    if entry['status'] >= 500:
        return True
    return entry['termination'][:1] in ('S', 's')


def log_status_class(status):
    """A logged status as its class (2xx, 5xx, ...); -1 for a request that got no response."""
    return '-1' if status < 0 else '%dxx' % (status // 100)


def log_window(lines, backend, since, until, servers=None, slow_ms=None):
    """Per-server request figures of one backend from log lines, for since <= time <= until.

    :arg lines: raw log lines; those parse_log_line rejects are ignored.
    :arg servers: only count these servers; each of them is in the result
        even without requests, so "no traffic" is visible.
    :arg slow_ms: when given, each server also gets 'slow': {'over_ms':
        slow_ms, 'requests': n, 'first': time, 'last': time}, its requests
        slower than slow_ms and the times of the first and the last of them
        (None without any): whether slow requests came at one moment or all
        along the window.
    :returns: (by_server, matched_lines). by_server maps a server name to
        {'requests': n, 'errors': n (is_server_error), 'statuses': {'2xx': n,
        '5xx': n, ..., '-1': n for no response}, 'latencies_ms': sorted %Ta of
        the requests that have one, 'slowest': the SLOWEST_KEPT slowest of
        them, slowest first, as {time, path, status, termination, ta, tw, tc,
        tr} (where the time went: queue, connect, server's answer)}.
        matched_lines counts the lines counted.
    """
    wanted = None if servers is None else set(servers)
    by_server = {}
    timed = {}
    for name in servers or ():
        by_server[name] = {'requests': 0, 'errors': 0, 'statuses': {}, 'latencies_ms': []}
    matched = 0
    for line in lines:
        entry = parse_log_line(line)
        if entry is None or entry['backend'] != backend or not since <= entry['time'] <= until:
            continue
        if wanted is not None and entry['server'] not in wanted:
            continue
        matched += 1
        figures = by_server.setdefault(entry['server'],
                                       {'requests': 0, 'errors': 0, 'statuses': {}, 'latencies_ms': []})
        figures['requests'] += 1
        if is_server_error(entry):
            figures['errors'] += 1
        status = log_status_class(entry['status'])
        figures['statuses'][status] = figures['statuses'].get(status, 0) + 1
        if entry['ta'] >= 0:
            figures['latencies_ms'].append(entry['ta'])
            timed.setdefault(entry['server'], []).append(entry)
    for name, figures in by_server.items():
        figures['latencies_ms'].sort()
        slowest = heapq.nlargest(SLOWEST_KEPT, timed.get(name, ()), key=lambda e: e['ta'])
        figures['slowest'] = [dict((key, e[key]) for key in SLOWEST_KEYS) for e in slowest]
        if slow_ms is not None:
            times = [e['time'] for e in timed.get(name, ()) if e['ta'] > slow_ms]
            figures['slow'] = {'over_ms': slow_ms, 'requests': len(times),
                               'first': min(times) if times else None, 'last': max(times) if times else None}
    return by_server, matched


# A latency verdict names the requests behind it, and where their time went.
SLOWEST_KEPT = 3
SLOWEST_KEYS = ('time', 'path', 'status', 'termination', 'ta', 'tw', 'tc', 'tr')


def describe_slow_request(entry, where=None):
    """One line for a slow request of log_window's 'slowest': its time split into HAProxy's timers."""
    def part(label, value):
        return '%s %s' % (label, 'not reached' if value < 0 else '%d ms' % value)
    at = time.strftime('%H:%M:%S', time.gmtime(entry['time'])) + ('.%03d' % int(entry['time'] % 1 * 1000))
    return '%d ms for %s at %s UTC%s (%s, %s, %s; status %s, %s)' % (
        entry['ta'], entry['path'] or '?', at, ' via %s' % where if where else '',
        part('queue', entry['tw']), part('connect', entry['tc']), part('answer', entry['tr']),
        entry['status'], entry['termination'])


def _seconds(timeout):
    return '%g s' % timeout


def tcp_address(socket_path):
    """(host, port) when socket_path is a runtime API over TCP, HOST:PORT; None for a socket file's path.

    HAProxy serves the same API on `stats socket ipv4@ADDRESS:PORT level admin`: a load balancer
    can then drive its peers in the same run, on their management network.
    """
    if socket_path.startswith('/'):
        return None
    host, sep, port = socket_path.rpartition(':')
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UnavailableError('%r is neither the absolute path of a stats socket nor HOST:PORT of a runtime API over '
                               'TCP' % (socket_path,))
    return host, int(port)


def runtime_command(socket_path, command, timeout):
    """Send one command to HAProxy's runtime API (its stats socket) and return the answer as text.

    HAProxy answers one command per connection and then closes it; the
    answer is read to that end. Whether the answer means success is for
    the caller to judge (`set server` answers nothing when it worked).

    :arg socket_path: the stats socket's path, or HOST:PORT (see tcp_address).
    :arg timeout: seconds for connecting and for the whole answer.
    :raises UnavailableError: the socket is missing, refuses, forbids, or
        does not answer in time; the message names the socket.
    """
    address = tcp_address(socket_path)
    if address is None and not os.path.exists(socket_path):
        raise UnavailableError('HAProxy\'s stats socket %s does not exist on this host: is HAProxy running with '
                               '`stats socket %s level admin`?' % (socket_path, socket_path))
    deadline = time.time() + timeout
    sock = socket.socket(socket.AF_UNIX if address is None else socket.AF_INET, socket.SOCK_STREAM)
    chunks = []
    try:
        sock.settimeout(timeout)
        sock.connect(socket_path if address is None else address)
        sock.sendall(command.encode('utf-8') + b'\n')
        while True:
            # One deadline for the whole answer, not per recv: a trickle must not hang the play.
            remaining = deadline - time.time()
            if remaining <= 0:
                raise socket.timeout()
            sock.settimeout(remaining)
            chunk = sock.recv(65536)
            if not chunk:
                break  # HAProxy closes the connection after answering one command
            chunks.append(chunk)
    except socket.timeout:
        raise UnavailableError('HAProxy did not answer on %s within %s; is it overloaded or stopped?'
                               % (socket_path, _seconds(timeout)))
    except ConnectionRefusedError:
        if address is not None:
            raise UnavailableError('nothing answers on %s: is HAProxy running there, with `stats socket ipv4@%s level '
                                   'admin`?' % (socket_path, socket_path))
        raise UnavailableError('HAProxy refused the connection on %s: the socket file exists but nothing listens on '
                               'it; is HAProxy running, and is this the path of its `stats socket`?' % socket_path)
    except PermissionError:
        raise UnavailableError('not allowed to connect to HAProxy\'s stats socket %s as uid %d; run the task with '
                               'become' % (socket_path, os.getuid()))
    except OSError as e:
        raise UnavailableError('could not send `%s` to HAProxy on %s: %s' % (command, socket_path, e))
    finally:
        sock.close()
    return b''.join(chunks).decode('utf-8', 'replace')


def read_show_stat(socket_path, timeout):
    """Ask HAProxy's stats socket for `show stat` and return its answer as text.

    :arg timeout: seconds for connecting and for the whole answer.
    :raises UnavailableError: the socket is missing, refuses, or does not
        answer in time, or the answer is not the statistics CSV.
    """
    text = runtime_command(socket_path, 'show stat', timeout)
    if not any(line.startswith('# ') for line in text.splitlines()):
        raise UnavailableError('HAProxy answered %r to `show stat` on %s instead of the statistics CSV'
                               % (text.strip()[:200], socket_path))
    return text


def _run(argv):
    # Default for callers without AnsibleModule.run_command (tests, scripts).
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = process.communicate()
    return process.returncode, out.decode('utf-8', 'replace'), err.decode('utf-8', 'replace')


def tail_lines(path, max_lines, block=1 << 16):
    """The last max_lines lines of a file, reading backwards from its end in blocks."""
    with open(path, 'rb') as f:
        f.seek(0, os.SEEK_END)
        position = f.tell()
        blocks = []
        newlines = 0
        # One newline more than lines wanted, so the first kept line is complete.
        while position > 0 and newlines <= max_lines:
            size = min(block, position)
            position -= size
            f.seek(position)
            data = f.read(size)
            blocks.append(data)
            newlines += data.count(b'\n')
    data = b''.join(reversed(blocks))
    lines = data.split(b'\n')
    if lines and lines[-1] == b'':
        lines.pop()  # the file ends with a newline
    # A first line cut mid-way is never among the last max_lines: we read one newline more.
    return [line.decode('utf-8', 'replace') for line in lines[-max_lines:]]


def read_log(source, since, identifier='haproxy', path=None, max_lines=200000, run=None):
    """Raw HAProxy log lines from the journal or from a file.

    :arg source: 'journal' runs `journalctl --no-pager -o short-unix -t
        IDENTIFIER --since @<int(since)>`; 'file' reads the last max_lines
        lines of `path` (from its end, so a multi-GB log is not read whole).
    :arg since: epoch seconds; only narrows the journal query, the caller
        still filters by time (log_window).
    :arg max_lines: at most this many lines are returned, the newest.
    :arg run: run(argv) -> (rc, stdout, stderr), e.g. AnsibleModule.run_command;
        default runs the command with subprocess.
    :returns: list of lines without their newlines.
    :raises ValidationError: bad source, path or max_lines.
    :raises UnavailableError: the command failed or the file cannot be read.
    """
    if not _is_int(max_lines) or max_lines < 1:
        raise ValidationError('max_log_lines must be a whole number of at least 1, not %r' % (max_lines,))
    if source == 'journal':
        argv = ['journalctl', '--no-pager', '-o', 'short-unix', '-t', identifier, '--since', '@%d' % int(since)]
        try:
            rc, out, err = (run or _run)(argv)
        except OSError as e:
            raise UnavailableError('could not run `%s`: %s; is systemd-journald in use on this host, or should '
                                   'log_source be file?' % (' '.join(argv), e))
        if rc != 0 and (out or '').strip() == '-- No entries --':
            return []  # some systemd versions exit 1 for an empty result; an idle window is not an error
        if rc != 0:
            raise UnavailableError('`%s` failed (rc %d): %s' % (' '.join(argv), rc, (err or out or '').strip()))
        return out.splitlines()[-max_lines:]
    if source == 'file':
        if not path:
            raise ValidationError('log_source file needs the path of HAProxy\'s log file')
        try:
            return tail_lines(path, max_lines)
        except OSError as e:
            hint = ' (is HAProxy logging to a file through rsyslog?)' if e.errno == errno.ENOENT else ''
            raise UnavailableError('cannot read HAProxy\'s log %s: %s%s' % (path, e.strerror or e, hint))
    raise ValidationError('log source must be journal or file, not %r' % (source,))
