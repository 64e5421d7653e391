# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import socket
import threading
import time

import pytest

from ansible_collections.daylight.release.plugins.module_utils.errors import (
    UnavailableError,
    ValidationError,
)
from ansible_collections.daylight.release.plugins.module_utils.haproxy import (
    SERVER_COUNTERS,
    counter_delta,
    describe_slow_request,
    is_server_error,
    log_window,
    parse_log_line,
    parse_show_stat,
    read_log,
    read_show_stat,
    server_table,
)

# Columns cut down; HAProxy ends each line with a comma. `www` is a frontend, `stats` a listen section.
SHOW_STAT = """# pxname,svname,qcur,scur,econ,eresp,wretr,wredis,status,weight,chkdown,check_status,hrsp_5xx,req_tot,addr,
www,FRONTEND,,3,,,,,OPEN,,,,2,120,,
web,web1,0,1,0,1,2,1,UP,1,0,L7OK,1,70,10.89.0.5:80,
web,web2,,0,,,,,MAINT,1,3,L4CON,0,48,10.89.0.6:8080,
web,BACKEND,0,1,0,1,2,1,UP,1,0,,1,118,,
stats,FRONTEND,,0,,,,,OPEN,,,,0,5,,
stats,BACKEND,0,0,0,0,0,0,UP,0,0,,0,0,,

"""


@pytest.fixture
def local_tz():
    """A zone with DST, far from UTC, so a wrong interpretation of %tr shows."""
    old = os.environ.get('TZ')
    os.environ['TZ'] = 'Europe/Berlin'
    time.tzset()
    yield
    if old is None:
        del os.environ['TZ']
    else:
        os.environ['TZ'] = old
    time.tzset()


# --- show stat -------------------------------------------------------------------------------

def test_parse_show_stat_keys_rows_by_header():
    rows = parse_show_stat(SHOW_STAT)
    assert [(r['pxname'], r['svname']) for r in rows] == [
        ('www', 'FRONTEND'), ('web', 'web1'), ('web', 'web2'), ('web', 'BACKEND'),
        ('stats', 'FRONTEND'), ('stats', 'BACKEND')]
    assert rows[1]['req_tot'] == '70' and rows[2]['qcur'] == ''
    assert '' not in rows[0]  # the trailing comma does not make a nameless column


@pytest.mark.parametrize('text', ['', None, 'Unknown command.\n', '# pxname,svname,status,\nUnknown command\n'])
def test_parse_show_stat_without_rows(text):
    assert parse_show_stat(text) == []


def test_server_table_ints_and_empty_columns():
    table = server_table(parse_show_stat(SHOW_STAT), 'web')
    assert sorted(table['servers']) == ['web1', 'web2']
    assert table['servers']['web1'] == {
        'req_tot': 70, 'hrsp_5xx': 1, 'econ': 0, 'eresp': 1, 'wretr': 2, 'wredis': 1, 'chkdown': 0,
        'scur': 1, 'qcur': 0, 'status': 'UP', 'weight': 1, 'check_status': 'L7OK', 'addr': '10.89.0.5:80'}
    web2 = table['servers']['web2']
    assert web2['addr'] == '10.89.0.6:8080' and table['backend']['addr'] == ''
    assert (web2['qcur'], web2['econ'], web2['chkdown'], web2['status'], web2['check_status']) == (0, 0, 3, 'MAINT', 'L4CON')
    assert table['backend']['req_tot'] == 118 and table['backend']['check_status'] == ''
    assert set(SERVER_COUNTERS) < set(table['backend'])


def test_server_table_listen_section_has_no_frontend_server():
    table = server_table(parse_show_stat(SHOW_STAT), 'stats')
    assert table['servers'] == {}


@pytest.mark.parametrize('rows, present', [
    (parse_show_stat(SHOW_STAT), 'backends present: stats, web'),
    ([], 'backends present: none'),
])
def test_server_table_missing_backend_lists_backends(rows, present):
    with pytest.raises(ValidationError) as exc:
        server_table(rows, 'www')  # a frontend is not a backend
    assert 'backend www is not' in str(exc.value) and present in str(exc.value)


def test_server_table_garbage_counter_is_named():
    rows = parse_show_stat(SHOW_STAT.replace('web,web1,0,1,', 'web,web1,0,x,'))
    with pytest.raises(ValidationError, match="scur of web/web1 .* 'x'"):
        server_table(rows, 'web')


# --- counter_delta ---------------------------------------------------------------------------

@pytest.mark.parametrize('before, after, keys, delta, reset', [
    ({'req_tot': 100, 'hrsp_5xx': 2}, {'req_tot': 150, 'hrsp_5xx': 3}, None,
     {'req_tot': 50, 'hrsp_5xx': 1}, []),
    # HAProxy reloaded, then 10 requests; hrsp_5xx grew past its old value and cannot be told apart
    ({'req_tot': 100, 'hrsp_5xx': 0}, {'req_tot': 10, 'hrsp_5xx': 1}, None,
     {'req_tot': 10, 'hrsp_5xx': 1}, ['req_tot']),
    ({'req_tot': 100, 'hrsp_5xx': 5}, {'req_tot': 7, 'hrsp_5xx': 0}, None,
     {'req_tot': 7, 'hrsp_5xx': 0}, ['hrsp_5xx', 'req_tot']),
    ({'req_tot': 100, 'hrsp_5xx': 5}, {'req_tot': 100, 'hrsp_5xx': 5}, None,
     {'req_tot': 0, 'hrsp_5xx': 0}, []),
    # default keys: ints present in both, not gauges, not strings or bools
    ({'req_tot': 1, 'scur': 9, 'weight': 3, 'status': 'UP', 'only_before': 1, 'flag': True},
     {'req_tot': 4, 'scur': 2, 'weight': 1, 'status': 'DOWN', 'flag': False}, None,
     {'req_tot': 3}, []),
    # explicit keys, including strings of digits as HAProxy's CSV has them
    ({'req_tot': '10', 'econ': 1}, {'req_tot': '12', 'econ': 0}, ['req_tot'], {'req_tot': 2}, []),
])
def test_counter_delta(before, after, keys, delta, reset):
    assert counter_delta(before, after, keys) == (delta, reset)


@pytest.mark.parametrize('before, after, message', [
    ({'req_tot': 1}, {}, 'req_tot is missing from the after reading'),
    ({'req_tot': 'n/a'}, {'req_tot': 1}, "req_tot of the before reading is 'n/a'"),
])
def test_counter_delta_bad_explicit_keys(before, after, message):
    with pytest.raises(ValidationError, match=message):
        counter_delta(before, after, ['req_tot'])


# --- the log ---------------------------------------------------------------------------------

JOURNAL = '1764000000.123456 lb1 haproxy[123]: '
SYSLOG = 'Nov 23 14:00:00 lb1 haproxy[123]: '
BODY_200 = ('10.89.0.1:54321 [23/Nov/2026:14:00:00.123] www web/web1 0/0/1/3/4 200 812 - - ---- '
            '3/3/0/0/0 0/0 "GET / HTTP/1.1"')


def entry(**fields):
    base = {'time': 1764000000.123456, 'frontend': 'www', 'backend': 'web', 'server': 'web1',
            'tr_request': 0, 'tw': 0, 'tc': 1, 'tr': 3, 'ta': 4, 'status': 200, 'bytes': 812,
            'termination': '----', 'retries': 0, 'redispatched': False, 'method': 'GET', 'path': '/'}
    base.update(fields)
    return base


@pytest.mark.parametrize('line, expected', [
    (JOURNAL + BODY_200, entry()),
    (JOURNAL + '10.89.0.7:40000 [23/Nov/2026:14:00:01.000] www web/web2 0/0/0/-1/2 503 217 - - SC-- '
     '1/1/0/0/3 0/0 "POST /cart/add HTTP/1.1"',
     entry(server='web2', tc=0, tr=-1, ta=2, status=503, bytes=217, termination='SC--', retries=3,
           method='POST', path='/cart/add')),
    # the browser went away before the answer: no status
    (JOURNAL + '10.89.0.7:40001 [23/Nov/2026:14:00:01.000] www web/web1 0/0/0/-1/1500 -1 0 - - CD-- '
     '1/1/0/0/0 0/0 "GET /search?q=a HTTP/1.1"',
     entry(tc=0, tr=-1, ta=1500, status=-1, bytes=0, termination='CD--', path='/search?q=a')),
    # server timeout: HAProxy answered 504 itself
    (JOURNAL + '10.89.0.7:40002 [23/Nov/2026:14:00:01.000] www web/web1 0/0/0/-1/30001 504 194 - - sH-- '
     '1/1/0/0/0 0/0 "GET /slow HTTP/1.1"',
     entry(tc=0, tr=-1, ta=30001, status=504, bytes=194, termination='sH--', path='/slow')),
    # logasap: '+' on Ta and on the bytes; redispatched after a retry: '+' on %rc
    (JOURNAL + '10.89.0.7:40003 [23/Nov/2026:14:00:01.000] www web/web2 0/0/3/5/+9 200 +4096 - - ---- '
     '1/1/0/0/+1 0/0 "GET /big HTTP/1.1"',
     entry(server='web2', tc=3, tr=5, ta=9, bytes=4096, retries=1, redispatched=True, path='/big')),
    # no server was picked (all down); the queue timers are -1
    (JOURNAL + '10.89.0.7:40004 [23/Nov/2026:14:00:01.000] www web/<NOSRV> 0/-1/-1/-1/0 503 217 - - SC-- '
     '1/1/0/0/0 0/0 "GET / HTTP/1.1"',
     entry(server='<NOSRV>', tw=-1, tc=-1, tr=-1, ta=0, status=503, bytes=217, termination='SC--')),
    # captured request/response headers sit in braces before the request
    (JOURNAL + '10.89.0.1:54321 [23/Nov/2026:14:00:00.123] www~ web/web1 0/0/1/3/4 200 812 - - ---- '
     '3/3/0/0/0 0/0 {shop.example|Mozilla/5.0 (X11)} {} "GET / HTTP/1.1"', entry(frontend='www~')),
    (JOURNAL + 'Server web/web1 is DOWN, reason: Layer4 connection problem, info: "Connection refused".', None),
    (JOURNAL + 'Proxy www started.', None),
    ('-- No entries --', None),
    ('', None),
])
def test_parse_log_line(line, expected):
    assert parse_log_line(line + '\n') == expected


@pytest.mark.parametrize('prefix', [SYSLOG, '2026-11-23T14:00:00.200000+01:00 lb1 haproxy[123]: ', ''])
def test_parse_log_line_without_journal_time_uses_accept_date_in_local_zone(local_tz, prefix):
    parsed = parse_log_line(prefix + BODY_200)
    # 14:00:00.123 in Berlin in November (CET, UTC+1) is 13:00:00.123 UTC
    assert parsed['time'] == pytest.approx(1795438800.123)
    assert parsed['server'] == 'web1' and parsed['status'] == 200


def test_parse_log_line_summer_time(local_tz):
    parsed = parse_log_line(SYSLOG + BODY_200.replace('23/Nov/2026', '01/Jul/2026'))
    assert parsed['time'] == pytest.approx(1782907200.123)  # CEST, UTC+2


@pytest.mark.parametrize('status, termination, error', [
    (200, '----', False),
    (404, '----', False),
    (500, '----', True),
    (503, 'SC--', True),
    (502, 'SH--', True),
    (504, 'sH--', True),
    (200, 'SD--', True),   # the server broke off a page it had started to send
    (200, 'sD--', True),
    (-1, 'CD--', False),   # the client went away
    (-1, 'cD--', False),
    (400, 'CR--', False),
    (503, 'CC--', True),   # a 5xx counts whatever the state
    (403, 'PR--', False),
])
def test_is_server_error(status, termination, error):
    assert is_server_error(entry(status=status, termination=termination)) is error


T0 = 1764000000.0  # journald's epoch; its prefix needs a realistic one


def log_line(stamp, server='web1', status=200, ta=4, termination='----', backend='web'):
    return ('%.6f lb1 haproxy[123]: 10.89.0.1:54321 [23/Nov/2026:14:00:00.123] www %s/%s 0/0/1/3/%d %d 812 - - %s '
            '3/3/0/0/0 0/0 "GET / HTTP/1.1"' % (T0 + stamp, backend, server, ta, status, termination))


WINDOW = [
    log_line(99.9),                                  # before the window
    log_line(100.0, ta=30),                          # on the lower bound
    log_line(150.0, ta=5),
    log_line(150.0, status=503, ta=2, termination='SC--'),
    log_line(160.0, status=-1, ta=-1, termination='CR--'),
    log_line(170.0, server='web2', ta=7),
    log_line(170.0, backend='api', ta=1),            # another backend
    'Server web/web1 is DOWN, reason: Layer4 timeout',
    log_line(200.0, status=200, ta=8, termination='SD--'),  # on the upper bound
    log_line(200.1),                                 # after the window
]


def test_log_window():
    by_server, matched = log_window(WINDOW, 'web', T0 + 100.0, T0 + 200.0)
    assert matched == 6

    def slow(stamp, ta, status=200, termination='----'):
        return {'time': T0 + stamp, 'path': '/', 'status': status, 'termination': termination,
                'ta': ta, 'tw': 0, 'tc': 1, 'tr': 3}

    assert by_server == {
        'web1': {'requests': 5, 'errors': 2, 'statuses': {'2xx': 3, '5xx': 1, '-1': 1},
                 'latencies_ms': [2, 5, 8, 30],
                 # the three slowest of the four timed ones, slowest first (the unanswered one has no %Ta)
                 'slowest': [slow(100.0, 30), slow(200.0, 8, termination='SD--'), slow(150.0, 5)]},
        'web2': {'requests': 1, 'errors': 0, 'statuses': {'2xx': 1}, 'latencies_ms': [7], 'slowest': [slow(170.0, 7)]},
    }


def test_describe_slow_request_splits_the_time():
    entry = {'time': T0 + 3.25, 'path': '/cart', 'status': 200, 'termination': '----', 'ta': 749, 'tw': 0, 'tc': 702,
             'tr': 45}
    assert describe_slow_request(entry, 'lb2') == (
        '749 ms for /cart at 16:00:03.250 UTC via lb2 (queue 0 ms, connect 702 ms, answer 45 ms; status 200, ----)')
    unanswered = dict(entry, tr=-1, status=-1, termination='sC--')
    assert '(queue 0 ms, connect 702 ms, answer not reached; status -1, sC--)' in describe_slow_request(unanswered)


def test_log_window_server_filter_lists_idle_servers():
    by_server, matched = log_window(WINDOW, 'web', T0 + 100.0, T0 + 200.0, servers=['web2', 'web3'])
    assert matched == 1
    assert by_server == {
        'web2': {'requests': 1, 'errors': 0, 'statuses': {'2xx': 1}, 'latencies_ms': [7],
                 'slowest': [{'time': T0 + 170.0, 'path': '/', 'status': 200, 'termination': '----', 'ta': 7, 'tw': 0,
                              'tc': 1, 'tr': 3}]},
        'web3': {'requests': 0, 'errors': 0, 'statuses': {}, 'latencies_ms': [], 'slowest': []},
    }


def test_log_window_counts_slow_requests_and_when_they_came():
    """web1's times are 30 (at +100 s), 5 (+150 s), 8 (+200 s) and 2 ms; over 4 ms: three, from +100 s to +200 s."""
    by_server = log_window(WINDOW, 'web', T0 + 100.0, T0 + 200.0, servers=['web1', 'web2', 'web3'], slow_ms=4)[0]
    assert by_server['web1']['slow'] == {'over_ms': 4, 'requests': 3, 'first': T0 + 100.0, 'last': T0 + 200.0}
    assert by_server['web2']['slow'] == {'over_ms': 4, 'requests': 1, 'first': T0 + 170.0, 'last': T0 + 170.0}
    # over 8 ms (not 8 itself): only the 30 ms one; an idle server has none
    by_server = log_window(WINDOW, 'web', T0 + 100.0, T0 + 200.0, servers=['web1', 'web3'], slow_ms=8)[0]
    assert by_server['web1']['slow'] == {'over_ms': 8, 'requests': 1, 'first': T0 + 100.0, 'last': T0 + 100.0}
    assert by_server['web3']['slow'] == {'over_ms': 8, 'requests': 0, 'first': None, 'last': None}


def test_log_window_empty():
    assert log_window([], 'web', 0, 1) == ({}, 0)


# --- the stats socket ------------------------------------------------------------------------

class StatsSocket(object):
    """A UNIX socket server in a thread that answers `show stat` like HAProxy, or never answers."""

    def __init__(self, path, answer):
        self.path, self.answer = path, answer
        self.received = []
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(path)
        self.server.listen(4)
        self.server.settimeout(0.05)  # close() does not wake a blocked accept(); poll instead
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve)
        self.thread.daemon = True
        self.thread.start()

    def _serve(self):
        while not self.stop.is_set():
            try:
                conn, dummy = self.server.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.settimeout(5)
            with conn:
                data = b''
                while not data.endswith(b'\n'):
                    chunk = conn.recv(1024)
                    if not chunk:
                        break
                    data += chunk
                self.received.append(data)
                if self.answer is None:
                    self.stop.wait(10)  # hang like a stuck HAProxy
                    continue
                conn.sendall(self.answer.encode())

    def close(self):
        self.stop.set()
        self.server.close()
        self.thread.join(5)


@pytest.fixture
def stats_socket(tmp_path):
    servers = []

    def start(answer):
        servers.append(StatsSocket(str(tmp_path / 'admin.sock'), answer))
        return servers[-1]
    yield start
    for server in servers:
        server.close()


def test_read_show_stat(stats_socket):
    server = stats_socket(SHOW_STAT)
    assert read_show_stat(server.path, 5) == SHOW_STAT
    assert server.received == [b'show stat\n']


def test_read_show_stat_timeout(stats_socket):
    server = stats_socket(None)
    started = time.time()
    with pytest.raises(UnavailableError, match='HAProxy did not answer on %s within 0.3 s' % server.path):
        read_show_stat(server.path, 0.3)
    assert time.time() - started < 3


def test_read_show_stat_not_csv(stats_socket):
    server = stats_socket('Permission denied\n')
    with pytest.raises(UnavailableError, match="answered 'Permission denied' to `show stat`"):
        read_show_stat(server.path, 5)


def test_read_show_stat_missing_socket(tmp_path):
    path = str(tmp_path / 'admin.sock')
    with pytest.raises(UnavailableError) as exc:
        read_show_stat(path, 5)
    assert str(exc.value) == ("HAProxy's stats socket %s does not exist on this host: is HAProxy running with "
                              "`stats socket %s level admin`?" % (path, path))


def test_read_show_stat_refused(tmp_path):
    path = str(tmp_path / 'admin.sock')
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(path)
    stale.close()  # the file stays, nobody listens: HAProxy died
    with pytest.raises(UnavailableError, match='refused the connection on %s' % path):
        read_show_stat(path, 5)


# --- reading the log -------------------------------------------------------------------------

def test_read_log_journal_argv():
    calls = []

    def run(argv):
        calls.append(argv)
        return 0, 'line one\nline two\n', ''
    assert read_log('journal', 1764000000.9, run=run) == ['line one', 'line two']
    assert calls == [['journalctl', '--no-pager', '-o', 'short-unix', '-t', 'haproxy', '--since', '@1764000000']]
    read_log('journal', 5, identifier='haproxy-edge', run=run)
    assert calls[-1][5] == 'haproxy-edge'


def test_read_log_journal_keeps_the_newest_max_lines():
    lines = read_log('journal', 0, max_lines=2, run=lambda argv: (0, 'a\nb\nc\n', ''))
    assert lines == ['b', 'c']


def test_read_log_journal_failure_names_the_command():
    with pytest.raises(UnavailableError) as exc:
        read_log('journal', 1764000000, run=lambda argv: (1, '', 'Failed to determine timestamp: @x\n'))
    assert str(exc.value) == ('`journalctl --no-pager -o short-unix -t haproxy --since @1764000000` failed (rc 1): '
                              'Failed to determine timestamp: @x')


def test_read_log_journal_no_entries_is_not_an_error():
    assert read_log('journal', 0, run=lambda argv: (1, '-- No entries --\n', '')) == []


def test_read_log_journal_missing_command():
    def run(argv):
        raise OSError(2, 'No such file or directory')
    with pytest.raises(UnavailableError, match='could not run `journalctl .*No such file'):
        read_log('journal', 0, run=run)


@pytest.mark.parametrize('total, max_lines, trailing_newline', [
    (10, 3, True),
    (10, 3, False),
    (10, 10, True),
    (10, 50, True),
    (50000, 7, True),       # many blocks, only the end is read
    (50000, 40000, False),
    (1, 1, True),
    (0, 5, True),
])
def test_read_log_file_keeps_the_last_lines(tmp_path, total, max_lines, trailing_newline):
    path = tmp_path / 'haproxy.log'
    lines = ['line %06d %s' % (i, 'x' * (i % 50)) for i in range(total)]
    path.write_text(u'\n'.join(lines) + (u'\n' if trailing_newline and lines else u''))
    expected = lines[-max_lines:]
    assert read_log('file', 0, path=str(path), max_lines=max_lines) == expected


def test_read_log_file_reads_only_the_end(tmp_path, monkeypatch):
    path = tmp_path / 'haproxy.log'
    path.write_text(u''.join(u'%080d\n' % i for i in range(100000)))  # 8 MB
    read = []
    real_open = open

    class Counting(object):
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def __getattr__(self, name):
            return getattr(self.f, name)

        def read(self, size=-1):
            data = self.f.read(size)
            read.append(len(data))
            return data

    from ansible_collections.daylight.release.plugins.module_utils import haproxy
    monkeypatch.setattr(haproxy, 'open', lambda *a: Counting(real_open(*a)), raising=False)
    assert read_log('file', 0, path=str(path), max_lines=10) == ['%080d' % i for i in range(99990, 100000)]
    assert sum(read) < 200000


def test_read_log_file_missing(tmp_path):
    path = str(tmp_path / 'nope.log')
    with pytest.raises(UnavailableError, match='cannot read HAProxy\'s log %s: No such file' % path):
        read_log('file', 0, path=path)


@pytest.mark.parametrize('args, message', [
    (dict(source='syslog'), 'must be journal or file'),
    (dict(source='file'), 'needs the path'),
    (dict(source='journal', max_lines=0), 'at least 1'),
])
def test_read_log_bad_arguments(args, message):
    with pytest.raises(ValidationError, match=message):
        read_log(since=0, run=lambda argv: (0, '', ''), **args)
