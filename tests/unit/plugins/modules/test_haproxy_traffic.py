# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket
import threading
import time

import pytest

from ansible_collections.daylight.release.plugins.modules.haproxy_traffic import main

# HAProxy 2.6's `show stat` header up to uweight (the columns after it are cut; the parser keys by name).
HEADER = ('pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,'
          'weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,'
          'rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,'
          'hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,'
          'lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,'
          'agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo,'
          'conn_rate,conn_rate_max,conn_tot,intercepted,dcon,dses,wrew,connect,reuse,cache_lookups,cache_hits,'
          'srv_icur,src_ilim,qtime_max,ctime_max,rtime_max,ttime_max,eint,idle_conn_cur,safe_conn_cur,'
          'used_conn_cur,need_conn_est,uweight').split(',')


def row(**values):
    """One CSV line with `values` in their header positions, the rest empty, and HAProxy's trailing comma."""
    unknown = set(values) - set(HEADER)
    assert not unknown, unknown
    return ','.join(str(values.get(name, '')) for name in HEADER) + ','


SHOW_STAT = '\n'.join([
    '# ' + ','.join(HEADER) + ',',
    row(pxname='www', svname='FRONTEND', scur=4, smax=40, slim=262120, stot=2300, bin=400000, bout=9000000,
        dreq=0, dresp=0, ereq=1, status='OPEN', pid=1, iid=2, sid=0, type=0, rate=12, rate_max=80,
        hrsp_1xx=0, hrsp_2xx=2200, hrsp_3xx=40, hrsp_4xx=57, hrsp_5xx=3, hrsp_other=0, req_rate=12,
        req_rate_max=80, req_tot=2300, mode='http', conn_rate=5, conn_tot=900),
    row(pxname='web', svname='web1', qcur=0, qmax=2, scur=1, smax=9, stot=1200, bin=200000, bout=4800000,
        dresp=0, econ=0, eresp=1, wretr=2, wredis=1, status='UP', weight=1, act=1, bck=0, chkfail=0,
        chkdown=0, lastchg=3600, downtime=0, pid=1, iid=3, sid=1, lbtot=1200, type=2, rate=6, rate_max=40,
        check_status='L7OK', check_code=200, check_duration=1, hrsp_1xx=0, hrsp_2xx=1150, hrsp_3xx=20,
        hrsp_4xx=28, hrsp_5xx=2, hrsp_other=0, req_tot=1200, cli_abrt=3, srv_abrt=1, addr='10.89.0.11:80',
        mode='http', uweight=1),
    row(pxname='web', svname='web2', qcur=0, qmax=0, scur=0, smax=8, stot=1097, econ=4, eresp=0, wretr=4,
        wredis=0, status='DOWN', weight=1, act=1, bck=0, chkfail=3, chkdown=1, lastchg=12, downtime=12,
        pid=1, iid=3, sid=2, lbtot=1097, type=2, check_status='L4CON', check_duration=0, hrsp_2xx=1050,
        hrsp_5xx=1, req_tot=1097, addr='10.89.0.12:80', mode='http', uweight=1),
    row(pxname='web', svname='BACKEND', qcur=0, qmax=2, scur=1, smax=17, stot=2297, econ=4, eresp=1,
        wretr=6, wredis=1, status='UP', weight=1, act=1, bck=0, chkdown=0, lastchg=3600, pid=1, iid=3,
        sid=0, lbtot=2297, type=1, hrsp_2xx=2200, hrsp_5xx=3, req_tot=2297, mode='http', algo='roundrobin'),
    '', '',
])

WEB1 = {'req_tot': 1200, 'hrsp_5xx': 2, 'econ': 0, 'eresp': 1, 'wretr': 2, 'wredis': 1, 'chkdown': 0,
        'scur': 1, 'qcur': 0, 'status': 'UP', 'weight': 1, 'check_status': 'L7OK', 'addr': '10.89.0.11:80'}


class StatsSocket(object):
    """Answers every connection's `show stat` with SHOW_STAT, as HAProxy's stats socket does."""

    def __init__(self, path):
        self.path = path
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
                if conn.recv(1024) == b'show stat\n':
                    conn.sendall(SHOW_STAT.encode())

    def close(self):
        self.stop.set()
        self.server.close()
        self.thread.join(5)


@pytest.fixture
def haproxy(tmp_path):
    server = StatsSocket(str(tmp_path / 'admin.sock'))
    yield server
    server.close()


MONTHS = ('Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec')  # not %b: locale


def log_line(stamp, server, status=200, ta=4, termination='----', backend='web'):
    # A file written by rsyslog has a syslog prefix, so the time is HAProxy's accept date (%tr).
    t = time.localtime(stamp)
    tr = '%02d/%s/%d:%s.%03d' % (t.tm_mday, MONTHS[t.tm_mon - 1], t.tm_year, time.strftime('%H:%M:%S', t),
                                 int(stamp % 1 * 1000))
    return ('Nov 23 14:00:00 lb1 haproxy[123]: 10.89.0.1:54321 [%s] www %s/%s 0/0/1/3/%d %d 812 - - %s '
            '3/3/0/0/0 0/0 "GET / HTTP/1.1"\n' % (tr, backend, server, ta, status, termination))


@pytest.fixture
def log_file(tmp_path):
    now = time.time()
    path = tmp_path / 'haproxy.log'
    path.write_text(u''.join([
        log_line(now - 3600, 'web1'),                          # before the window
        log_line(now - 30, 'web1', ta=12),
        log_line(now - 20, 'web1', status=503, ta=2, termination='SC--'),
        log_line(now - 10, 'web2', ta=5),
        log_line(now - 10, 'web1', backend='api'),
        'Nov 23 14:00:00 lb1 haproxy[123]: Server web/web2 is DOWN, reason: Layer4 connection problem\n',
    ]))
    return dict(path=str(path), since=now - 60)


def run(run_module, haproxy, **args):
    return run_module(main, socket=haproxy.path, backend='web', **args)


def test_counters_without_since(run_module, haproxy):
    before = time.time()
    status, result = run(run_module, haproxy)
    assert status == 'exit' and result['changed'] is False
    assert before <= result['now'] <= time.time()
    assert result['servers']['web1'] == WEB1
    web2 = result['servers']['web2']
    assert (web2['status'], web2['econ'], web2['chkdown'], web2['check_status'], web2['req_tot']) == ('DOWN', 4, 1, 'L4CON', 1097)
    assert result['backend']['req_tot'] == 2297 and result['backend']['check_status'] == ''
    assert 'requests' not in result and 'log' not in result


def test_requests_from_the_log_since(run_module, haproxy, log_file):
    status, result = run(run_module, haproxy, since=log_file['since'], log_source='file', log_path=log_file['path'])
    assert status == 'exit' and result['changed'] is False
    assert result['log'] == {'source': 'file', 'read': True, 'lines': 3, 'error': None}
    slowest = dict((server, [(slow['ta'], slow['status'], slow['termination'], slow['tw'], slow['tc'], slow['tr'])
                             for slow in figures.pop('slowest')]) for server, figures in result['requests'].items())
    assert result['requests'] == {
        'web1': {'requests': 2, 'errors': 1, 'statuses': {'2xx': 1, '5xx': 1}, 'latencies_ms': [2, 12]},
        'web2': {'requests': 1, 'errors': 0, 'statuses': {'2xx': 1}, 'latencies_ms': [5]},
    }
    # slowest first, each with the log line's timers (queue 0, connect 1, answer 3)
    assert slowest == {'web1': [(12, 200, '----', 0, 1, 3), (2, 503, 'SC--', 0, 1, 3)],
                       'web2': [(5, 200, '----', 0, 1, 3)]}
    assert result['servers']['web1'] == WEB1


def test_servers_filter_only_limits_requests(run_module, haproxy, log_file):
    status, result = run(run_module, haproxy, since=log_file['since'], log_source='file', log_path=log_file['path'],
                         servers=['web2'])
    assert status == 'exit'
    assert list(result['requests']) == ['web2'] and result['log']['lines'] == 1
    assert sorted(result['servers']) == ['web1', 'web2']


def test_check_mode_reads_for_real(run_module, haproxy, log_file):
    args = dict(since=log_file['since'], log_source='file', log_path=log_file['path'])
    dummy, normal = run(run_module, haproxy, **args)
    status, checked = run(run_module, haproxy, _ansible_check_mode=True, **args)
    assert status == 'exit' and checked['changed'] is False
    for key in ('backend', 'servers', 'requests', 'log'):
        assert checked[key] == normal[key]
    assert checked['log']['read'] is True


def test_missing_backend_fails_listing_backends(run_module, haproxy):
    status, result = run_module(main, socket=haproxy.path, backend='wbe')
    assert status == 'fail'
    assert 'backend wbe is not in HAProxy\'s statistics (backends present: web)' in result['msg']


def test_unknown_server_is_listed_idle_not_failed(run_module, haproxy, log_file):
    status, result = run(run_module, haproxy, since=log_file['since'], log_source='file', log_path=log_file['path'],
                         servers=['web1', 'web3'])
    assert status == 'exit'
    assert 'web3' not in result['servers']
    assert result['requests']['web3'] == {'requests': 0, 'errors': 0, 'statuses': {}, 'latencies_ms': [], 'slowest': []}
    assert result['requests']['web1']['requests'] == 2


def test_missing_socket_fails(run_module, tmp_path):
    path = str(tmp_path / 'nope.sock')
    status, result = run_module(main, socket=path, backend='web')
    assert status == 'fail'
    assert result['msg'].startswith("HAProxy's stats socket %s does not exist on this host" % path)


def test_unreadable_log_does_not_fail(run_module, haproxy, tmp_path):
    missing = str(tmp_path / 'no-such.log')
    status, result = run(run_module, haproxy, since=time.time() - 60, log_source='file', log_path=missing)
    assert status == 'exit'
    assert result['servers']['web1'] == WEB1
    assert result['requests'] == {}
    assert result['log']['read'] is False and result['log']['lines'] == 0
    assert missing in result['log']['error'] and 'No such file' in result['log']['error']


def test_bad_max_log_lines_fails(run_module, haproxy, log_file):
    status, result = run(run_module, haproxy, since=log_file['since'], log_source='file', log_path=log_file['path'],
                         max_log_lines=0)
    assert status == 'fail' and 'at least 1' in result['msg']


# --- marker_dir --------------------------------------------------------------------------------

@pytest.mark.parametrize('files, marked', [
    (None, []),                                     # no marker_dir at all: none
    ([], []),
    (['web2', 'web1'], ['web1', 'web2']),
    (['web1', '.web2.x1y2.tmp'], ['web1']),         # a temporary file of a marker being written
])
def test_marked_lists_the_release_markers(run_module, haproxy, tmp_path, files, marked):
    marker_dir = tmp_path / 'drained'
    if files is not None:
        (marker_dir / 'web').mkdir(parents=True)
        (marker_dir / 'api').mkdir()
        (marker_dir / 'api' / 'web3').write_text(u'{}\n')  # another backend's
        for name in files:
            (marker_dir / 'web' / name).write_text(u'{}\n')
    for check_mode in (False, True):
        status, result = run(run_module, haproxy, marker_dir=str(marker_dir), _ansible_check_mode=check_mode)
        assert status == 'exit' and result['changed'] is False
        assert result['marked'] == marked
    assert result['servers']['web1'] == WEB1


def test_marked_only_with_marker_dir(run_module, haproxy):
    status, result = run(run_module, haproxy)
    assert status == 'exit' and 'marked' not in result


def test_marked_unreadable_fails(run_module, haproxy, tmp_path):
    marker_dir = tmp_path / 'drained'
    marker_dir.mkdir()
    (marker_dir / 'web').write_text(u'a file\n')
    status, result = run(run_module, haproxy, marker_dir=str(marker_dir))
    assert status == 'fail'
    assert result['msg'].startswith('cannot read the release markers in %s/web: Not a directory' % marker_dir)
    assert result['marker_dir'] == str(marker_dir)


def test_windows_count_the_whole_backend_per_window(run_module, haproxy, log_file):
    now = log_file['since'] + 60
    windows = [{'name': 'before', 'start': now - 4000, 'end': now - 25}, {'name': 'during', 'start': now - 25, 'end': now}]
    status, result = run(run_module, haproxy, windows=windows, log_source='file', log_path=log_file['path'])
    assert status == 'exit' and result['changed'] is False and result['log']['read'] is True
    assert 'requests' not in result  # no since: only the windows
    assert result['windows'] == {
        'before': {'requests': 2, 'errors': 0, 'statuses': {'2xx': 2}, 'latency_ms': {'4': 1, '12': 1}},
        'during': {'requests': 2, 'errors': 1, 'statuses': {'2xx': 1, '5xx': 1}, 'latency_ms': {'2': 1, '5': 1}},
    }


def test_windows_that_make_no_sense_fail_naming_the_window(run_module, haproxy, log_file):
    status, result = run(run_module, haproxy, windows=[{'name': 'after', 'start': 20, 'end': 10}],
                         log_source='file', log_path=log_file['path'])
    assert status == 'fail' and result['msg'] == "window 'after': it ends (10.0) before it starts (20.0)"


def test_windows_with_an_unreadable_log_do_not_fail(run_module, haproxy, tmp_path):
    status, result = run(run_module, haproxy, windows=[{'name': 'before', 'start': 0, 'end': 10}],
                         log_source='file', log_path=str(tmp_path / 'missing.log'))
    assert status == 'exit' and result['log']['read'] is False and result['windows'] == {}
    assert 'missing.log' in result['log']['error']
