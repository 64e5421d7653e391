# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket
from http.server import BaseHTTPRequestHandler

import pytest

from ansible_collections.daylight.release.plugins.module_utils import replay as rp
from ansible_collections.daylight.release.plugins.module_utils.errors import ValidationError

NO_DROPS = {'method': 0, 'invalid': 0, 'credentials': 0, 'excluded': 0, 'over_limit': 0}


def drops(**counts):
    result = dict(NO_DROPS)
    result.update(counts)
    return result


def logged(path, time=1000.0, method='GET'):
    """A parse_log_line entry as far as sampling looks at it."""
    return {'method': method, 'path': path, 'time': time, 'backend': 'web', 'status': 200}


def req(path, count=1, last_seen=1000.0, method='GET'):
    return {'method': method, 'path': path, 'count': count, 'last_seen': last_seen}


# --- sampling -----------------------------------------------------------------------------------

@pytest.mark.parametrize('entries, kwargs, expected, dropped', [
    # Most frequent first; equal counts: most recent first.
    ([logged('/a', 1), logged('/b', 2), logged('/a', 3), logged('/c', 5), logged('/b', 4), logged('/a', 2)], {},
     [req('/a', 3, 3), req('/b', 2, 4), req('/c', 1, 5)], NO_DROPS),
    # The query string is part of the request; GET and HEAD of one path are two requests.
    ([logged('/s?q=1'), logged('/s?q=2'), logged('/s?q=1', method='HEAD')], {},
     [req('/s?q=1'), req('/s?q=1', method='HEAD'), req('/s?q=2')], NO_DROPS),
    # Unsafe and unwanted methods are never sampled.
    ([logged('/cart', method='POST'), logged('/x', method='DELETE'), logged('/o', method='OPTIONS'), logged('/')],
     {}, [req('/')], drops(method=3)),
    ([logged('/o', method='OPTIONS'), logged('/', method='HEAD')], {'methods': ['options']},
     [req('/o', method='OPTIONS')], drops(method=1)),
    # Not a path we can send as logged: absolute form, empty, spaces, non-ASCII, HAProxy's #XX escapes, too long.
    ([logged('http://shop.example/'), logged(''), logged('*'), logged('/a b'), logged('/caf\u00e9'), logged('/a#22b'),
      logged('/\x07'), logged('/' + 'x' * 2048), logged('/' + 'x' * 2047)], {},
     [req('/' + 'x' * 2047)], drops(invalid=8)),
    # Credentials in the query string: the request is dropped, not rewritten.
    ([logged('/login?password=hunter2'), logged('/reset?token=abc'), logged('/p?PHPSESSID=1'), logged('/a?api_key=k'),
      logged('/dl?sig=x&file=1'), logged('/x?key=1'), logged('/search?keyword=sessions'), logged('/s?q=token')], {},
     [req('/s?q=token'), req('/search?keyword=sessions')], drops(credentials=6)),
    # Excluded by pattern (re.search on path and query).
    ([logged('/admin/x'), logged('/'), logged('/news?nocache=1'), logged('/news')],
     {'exclude': ['^/admin/', '[?&]nocache=']}, [req('/'), req('/news')], drops(excluded=2)),
    # Bounded: the most frequent are kept.
    ([logged('/a'), logged('/b'), logged('/b'), logged('/c'), logged('/c'), logged('/c')], {'limit': 2},
     [req('/c', 3), req('/b', 2)], drops(over_limit=1)),
])
def test_sample_requests(entries, kwargs, expected, dropped):
    kwargs.setdefault('limit', 200)
    assert rp.sample_requests(entries, **kwargs) == (expected, dropped)


def test_sample_requests_merges_the_samples_of_several_load_balancers():
    lb1 = [req('/a', 5, 100.0), req('/b', 1, 300.0)]
    lb2 = [req('/b', 5, 200.0), req('/c', 2, 50.0), {'method': 'GET', 'path': '/d'}]
    requests, dropped = rp.sample_requests(lb1 + lb2, 3)
    assert requests == [req('/b', 6, 300.0), req('/a', 5, 100.0), req('/c', 2, 50.0)]
    assert dropped == drops(over_limit=1)


def test_sample_requests_keeps_nothing_but_method_and_path():
    entry = dict(logged('/'), cookie='sid=1', headers={'Authorization': 'Basic x'}, client='10.0.0.1')
    assert rp.sample_requests([entry], 10)[0] == [req('/')]


@pytest.mark.parametrize('args, message', [
    (([], 0), 'limit must be a whole number of at least 1, got 0'),
    (([], 10, ['GET', 'POST']), 'methods POST cannot be replayed: the log has no request bodies'),
    (([], 10, 'GET'), 'methods must be a non-empty list'),
    (([], 10, ('GET',), ['(']), r"exclude: '\(' is not a valid regular expression"),
    ((['/'], 10), r"request #1 must be a dict with method and path, got '/'"),
    (([req('/', 0)], 10), r'count of request #1 \(/\) must be a whole number of at least 1'),
    (([req('/', 1, 'yesterday')], 10), r"last_seen of request #1 \(/\) must be epoch seconds"),
])
def test_sample_requests_bad_input(args, message):
    with pytest.raises(ValidationError, match=message):
        rp.sample_requests(*args)


JOURNAL = '%.6f lb1 haproxy[1]: 10.89.0.1:5000 [23/Nov/2026:14:00:00.000] www %s/web2 0/0/1/3/4 200 812 - - ---- ' \
          '1/1/0/0/0 0/0 "%s HTTP/1.1"'


def test_log_entries_keep_the_backend_and_the_window():
    t = 1764000000.0
    lines = [JOURNAL % (t - 1, 'web', 'GET /early'), JOURNAL % (t, 'web', 'GET /a?x=1'),
             JOURNAL % (t + 50, 'stats', 'GET /stats'), '%.6f lb1 haproxy[1]: Proxy www started.' % (t + 60),
             JOURNAL % (t + 100, 'web', 'HEAD /b'), JOURNAL % (t + 100.5, 'web', 'GET /late')]
    entries = rp.log_entries(lines, 'web', t, t + 100)
    assert [(e['method'], e['path'], e['time']) for e in entries] == [('GET', '/a?x=1', t), ('HEAD', '/b', t + 100)]


def test_requests_from_paths_in_order_without_duplicates_or_excluded():
    requests, excluded = rp.requests_from_paths(['/', '/news', '/', '/admin/'], ['^/admin'])
    assert requests == [req('/', last_seen=None), req('/news', last_seen=None)]
    assert excluded == ['/admin/']


@pytest.mark.parametrize('paths, message', [
    ('/', 'paths must be a list of paths'),
    (['/ok', 'news'], r"path 'news' cannot be replayed: it must start with /"),
    (['/a b'], r"path '/a b' cannot be replayed"),
    (['/reset?token=abc'], r"path '/reset\?token=abc' has a query parameter named like a credential"),
])
def test_requests_from_paths_refuses_what_cannot_be_replayed(paths, message):
    with pytest.raises(ValidationError, match=message):
        rp.requests_from_paths(paths)


# --- replay with a fake clock ---------------------------------------------------------------------

class FakeNodes(object):
    """Answers from answer(name, method, path) -> status or an exception; every answer takes `ms[name]` fake ms.

    Times are binary fractions (0.125, 0.25), so the fake clock adds them up exactly.
    """

    def __init__(self, answer=None, ms=None):
        self.answer = answer or (lambda name, method, path: 200)
        self.ms = ms or {'canary': 125, 'baseline': 62.5}
        self.now, self.sent, self.sleeps = 1000.0, [], []

    def fetch(self, method, url, headers, timeout):
        name = 'canary' if url.startswith('http://canary') else 'baseline'
        path = url.split('//', 1)[1].partition('/')[1:]
        self.sent.append({'at': self.now, 'name': name, 'method': method, 'url': url, 'headers': headers,
                          'timeout': timeout})
        self.now += self.ms[name] / 1000.0
        status = self.answer(name, method, ''.join(path))
        if isinstance(status, Exception):
            raise status
        return status

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


TARGETS = {'canary': 'http://canary', 'baseline': 'http://baseline:8080/'}


def run_replay(nodes, requests, rate=1000, **kwargs):
    return rp.replay(requests, TARGETS, rate, 5, fetch=nodes.fetch, clock=nodes.clock, sleep=nodes.sleep, **kwargs)


def test_replay_sends_every_request_to_every_target_taking_turns():
    nodes = FakeNodes()
    out = run_replay(nodes, [req('/a'), req('/b?x=1', method='HEAD'), req('/c')])
    assert [(s['name'], s['method'], s['url']) for s in nodes.sent] == [
        ('canary', 'GET', 'http://canary/a'), ('baseline', 'GET', 'http://baseline:8080/a'),
        ('baseline', 'HEAD', 'http://baseline:8080/b?x=1'), ('canary', 'HEAD', 'http://canary/b?x=1'),
        ('canary', 'GET', 'http://canary/c'), ('baseline', 'GET', 'http://baseline:8080/c')]
    assert out['complete'] is True
    assert out['results'][1] == {'method': 'HEAD', 'path': '/b?x=1', 'answers': {
        'baseline': {'status': 200, 'ms': 62.5, 'error': None}, 'canary': {'status': 200, 'ms': 125.0, 'error': None}}}


def test_replay_sends_no_cookie_or_credential_only_its_user_agent_and_the_host():
    nodes = FakeNodes()
    run_replay(nodes, [req('/')], host_header='shop.example')
    assert [s['headers'] for s in nodes.sent] == [{'User-Agent': 'daylight.release dark launch',
                                                   'Host': 'shop.example'}] * 2
    nodes = FakeNodes()
    run_replay(nodes, [req('/')])
    assert nodes.sent[0]['headers'] == {'User-Agent': 'daylight.release dark launch'}


@pytest.mark.parametrize('rate, ms, gaps', [
    # 4 requests per second overall: one every 0.25 s, whichever node and however fast it answers.
    (4, {'canary': 62.5, 'baseline': 62.5}, [0.25] * 5),
    # A slow answer (0.5 s) is not made up for with a burst: the next request still waits its turn after it.
    # Turns: canary, baseline | baseline, canary | canary, baseline.
    (4, {'canary': 500, 'baseline': 62.5}, [0.5, 0.25, 0.25, 0.5, 0.5]),
    # Faster than the rate allows anyway: no sleeping.
    (1, {'canary': 1000, 'baseline': 1000}, [1.0] * 5),
])
def test_replay_bounds_the_rate(rate, ms, gaps):
    nodes = FakeNodes(ms=ms)
    run_replay(nodes, [req('/a'), req('/b'), req('/c')], rate=rate)
    times = [s['at'] for s in nodes.sent]
    assert [b - a for a, b in zip(times, times[1:])] == gaps
    assert all(gap >= 1.0 / rate for gap in gaps)


def test_replay_stops_starting_requests_after_max_seconds():
    nodes = FakeNodes(ms={'canary': 500, 'baseline': 500})
    out = run_replay(nodes, [req('/%d' % i) for i in range(10)], max_seconds=1.5)
    # Each pair takes 1 s: pairs start at 0 s and 1 s; at 2 s the limit has passed.
    assert len(out['results']) == 2 and out['complete'] is False
    assert out['seconds'] == 2.0
    assert len(nodes.sent) == 4


def test_replay_records_no_answer_as_status_0_with_the_error():
    def answer(name, method, path):
        return ConnectionRefusedError(111, 'Connection refused') if name == 'canary' else 503
    out = run_replay(FakeNodes(answer), [req('/')])
    assert out['results'][0]['answers'] == {'canary': {'status': 0, 'ms': 125.0, 'error': '[Errno 111] Connection refused'},
                                            'baseline': {'status': 503, 'ms': 62.5, 'error': None}}


@pytest.mark.parametrize('targets, rate, timeout, kwargs, message', [
    ({}, 1, 1, {}, 'targets must be a dict of name to base URL'),
    ({'canary': 'web1'}, 1, 1, {}, r"canary URL 'web1' must be http://host\[:port\]"),
    ({'canary': 'http://user:pw@web1'}, 1, 1, {}, 'without a path or credentials'),
    ({'canary': 'http://web1/app'}, 1, 1, {}, 'without a path or credentials'),
    ({'canary': 'http://web1'}, 0, 1, {}, 'rate must be a number above 0, got 0'),
    ({'canary': 'http://web1'}, 1, 0, {}, 'timeout must be a number above 0, got 0'),
    ({'canary': 'http://web1'}, 1, 1, {'max_seconds': -1}, 'max_seconds must be a number above 0'),
    ({'canary': 'http://web1'}, 1, 1, {'host_header': 'a.example\r\nCookie: x'}, 'host_header .* must be a host name'),
])
def test_replay_bad_arguments_send_nothing(targets, rate, timeout, kwargs, message):
    nodes = FakeNodes()
    with pytest.raises(ValidationError, match=message):
        rp.replay([req('/')], targets, rate, timeout, fetch=nodes.fetch, clock=nodes.clock, sleep=nodes.sleep,
                  **kwargs)
    assert nodes.sent == []


# --- http_request against a real server on 127.0.0.1 -----------------------------------------------

class Node(object):
    """A web node on 127.0.0.1 answering by path; records what each request carried."""

    ROUTES = {'/': (200, {}), '/moved': (302, {'Location': '/elsewhere'}), '/missing': (404, {}),
              '/broken': (500, {}), '/login': (200, {'Set-Cookie': 'sid=secret; Path=/'})}

    def __init__(self, serve):
        self.requests = []
        node = self

        class Handler(BaseHTTPRequestHandler):
            def answer(self, with_body):
                node.requests.append({'method': self.command, 'path': self.path, 'headers': dict(self.headers)})
                status, headers = node.ROUTES.get(self.path.split('?')[0], (404, {}))
                body = b'x' * 1000
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                if with_body:
                    self.wfile.write(body)

            def do_GET(self):
                self.answer(True)

            def do_HEAD(self):
                self.answer(False)

            def log_message(self, *args):
                pass

        self.url = serve(Handler)


@pytest.fixture
def node(serve_http):
    return Node(serve_http)


def test_http_request_returns_any_status_and_follows_no_redirect(node):
    headers = {'User-Agent': rp.USER_AGENT}
    assert [rp.http_request('GET', node.url + path, headers, 2) for path in ('/', '/moved', '/missing', '/broken')] \
        == [200, 302, 404, 500]
    assert rp.http_request('HEAD', node.url + '/', headers, 2) == 200
    assert [(r['method'], r['path']) for r in node.requests] == [
        ('GET', '/'), ('GET', '/moved'), ('GET', '/missing'), ('GET', '/broken'), ('HEAD', '/')]


def test_replay_against_a_real_node_keeps_no_cookie_and_sends_the_host_header(node):
    out = rp.replay([req('/login'), req('/')], {'canary': node.url, 'baseline': node.url}, 100, 2,
                    host_header='shop.example')
    assert [a['status'] for r in out['results'] for a in r['answers'].values()] == [200] * 4
    for seen in node.requests:
        assert seen['headers']['Host'] == 'shop.example'
        assert seen['headers']['User-Agent'] == 'daylight.release dark launch'
        assert 'Cookie' not in seen['headers'] and 'Authorization' not in seen['headers']


def test_http_request_no_answer_raises_oserror():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    with pytest.raises(OSError):
        rp.http_request('GET', 'http://127.0.0.1:%d/' % port, {}, 1)


# --- compare ----------------------------------------------------------------------------------------

def pair(path, canary, baseline, canary_ms=10.0, baseline_ms=10.0, method='GET'):
    def answer(status, ms):
        return {'status': status, 'ms': ms, 'error': 'timed out' if status == 0 else None}
    return {'method': method, 'path': path, 'answers': {'canary': answer(canary, canary_ms),
                                                        'baseline': answer(baseline, baseline_ms)}}


def same(n, status=200, canary_ms=10.0, baseline_ms=10.0):
    return [pair('/p%d' % i, status, status, canary_ms, baseline_ms) for i in range(n)]


@pytest.mark.parametrize('results, thresholds, verdict, figures', [
    (same(20), None, 'pass', {'judged': 20, 'new_5xx': 0, 'mismatches': 0, 'fixed_5xx': 0}),
    # One new 5xx fails at the default; allowed with max_new_5xx 1.
    (same(19) + [pair('/cart', 500, 200)], None, 'fail', {'new_5xx': 1, 'mismatches': 1}),
    (same(99) + [pair('/cart', 500, 200)], {'max_new_5xx': 1}, 'pass', {'new_5xx': 1, 'mismatches': 1}),
    # No answer from the canary counts as a new 5xx.
    (same(19) + [pair('/cart', 0, 200)], None, 'fail', {'new_5xx': 1}),
    # A 5xx on both is not new; a canary answering where the baseline failed is a fix, not a mismatch.
    (same(18) + [pair('/a', 500, 503), pair('/b', 200, 500)], None, 'pass',
     {'new_5xx': 0, 'fixed_5xx': 1, 'mismatches': 0}),
    # Status class mismatches: 2 of 100 is at the 2% limit, 3 of 100 above it.
    (same(98) + [pair('/a', 404, 200), pair('/b', 200, 302)], None, 'pass', {'mismatches': 2, 'mismatch_ratio': 0.02}),
    (same(97) + [pair('/a', 404, 200), pair('/b', 200, 302), pair('/c', 301, 200)], None, 'fail',
     {'mismatches': 3, 'mismatch_ratio': 0.03}),
    # A status within the same class is no mismatch.
    (same(19) + [pair('/a', 201, 200), pair('/b', 302, 301)], None, 'pass', {'mismatches': 0}),
    # A request the baseline did not answer is not judged.
    (same(20) + [pair('/a', 500, 0)], None, 'pass', {'judged': 20, 'new_5xx': 0}),
    # Latency: the same requests, canary slower by 100 ms is at the p50 limit, by 101 ms above it.
    (same(20, canary_ms=110.0), None, 'pass', {}),
    (same(20, canary_ms=111.0), None, 'fail', {}),
    # A slow tail: p50 equal, p95 far above.
    (same(18) + same(2, canary_ms=900.0), None, 'fail', {}),
    (same(18) + same(2, canary_ms=900.0), {'max_p95_increase_ms': 1000}, 'pass', {}),
    # Too few requests: inconclusive, however slow, unless a per-request rule fails.
    (same(5, canary_ms=5000.0), None, 'inconclusive', {'judged': 5}),
    (same(4) + [pair('/cart', 500, 200)], None, 'fail', {'judged': 5, 'new_5xx': 1}),
    ([], None, 'inconclusive', {'requests': 0, 'judged': 0}),
    (same(30, 0), None, 'inconclusive', {'requests': 30, 'judged': 0}),
    (same(5), {'min_requests': 5}, 'pass', {'judged': 5}),
])
def test_compare_verdicts(results, thresholds, verdict, figures):
    out = rp.compare(results, thresholds)
    assert out['verdict'] == verdict, out['summary']
    for key, value in figures.items():
        assert out[key] == value, key
    assert bool(out['reasons']) == (verdict != 'pass')
    assert out['summary'].startswith(verdict + ': ')


def test_compare_figures_and_reasons():
    results = (same(18, canary_ms=20.0, baseline_ms=10.0) + [pair('/cart', 500, 200, 20.0, 10.0)]
               + [pair('/gone', 404, 200, 20.0, 10.0)] + [pair('/down', 0, 200, 5000.0, 10.0)])
    out = rp.compare(results)
    assert out['canary'] == {'answered': 20, 'no_answer': 1, 'errors_5xx': 1,
                             'statuses': {'2xx': 18, '5xx': 1, '4xx': 1, 'none': 1}, 'p50_ms': 20, 'p95_ms': 20}
    # Percentiles over the 20 requests both answered: /down is not among them.
    assert out['baseline'] == {'answered': 21, 'no_answer': 0, 'errors_5xx': 0, 'statuses': {'2xx': 21},
                               'p50_ms': 10, 'p95_ms': 10}
    assert out['reasons'] == [
        'the canary answered 2 of 21 requests with a 5xx or not at all where the baseline did not (at most 0 allowed), '
        'e.g. GET /cart: canary 500 in 20 ms, baseline 200 in 10 ms',
        'the canary answered 3 of 21 requests (14.3%) in another status class than the baseline (at most 2.0% '
        'allowed), e.g. GET /gone: canary 404 in 20 ms, baseline 200 in 10 ms',
    ]


def test_compare_lists_the_worst_first():
    results = [pair('/slow', 200, 200, 300.0, 10.0), pair('/fast', 200, 200, 5.0, 10.0),
               pair('/gone', 404, 200), pair('/cart', 500, 200, 1.0, 10.0), pair('/slower', 200, 200, 900.0, 10.0),
               pair('/down', 0, 200, 5000.0, 10.0)]
    out = rp.compare(results, worst=5)
    assert [(w['path'], w['problem']) for w in out['worst']] == [
        ('/down', 'canary no answer'), ('/cart', 'canary 5xx'), ('/gone', 'status class'), ('/slower', 'slower'),
        ('/slow', 'slower')]
    assert out['worst'][0] == {'method': 'GET', 'path': '/down', 'problem': 'canary no answer',
                               'canary': {'status': 0, 'ms': 5000.0, 'error': 'timed out'},
                               'baseline': {'status': 200, 'ms': 10.0, 'error': None}}
    assert rp.describe(out['worst'][0]) == 'GET /down: canary no answer (timed out), baseline 200 in 10 ms'
    assert rp.compare(results, worst=0)['worst'] == []


def test_compare_latency_reason_names_both_percentiles():
    out = rp.compare(same(20, canary_ms=400.0, baseline_ms=100.0))
    assert out['reasons'] == [
        "the canary's p50 was 400 ms against the baseline's 100 ms on the same 20 requests: 300 ms slower, more than "
        "the 100 ms allowed",
        "the canary's p95 was 400 ms against the baseline's 100 ms on the same 20 requests: 300 ms slower, more than "
        "the 200 ms allowed"]


@pytest.mark.parametrize('thresholds, message', [
    ({'max_5xx': 1}, r"unknown threshold\(s\) 'max_5xx'; expected max_mismatch_ratio, max_new_5xx"),
    ({'max_new_5xx': -1}, 'threshold max_new_5xx must be a whole number of at least 0'),
    ({'min_requests': 0}, 'threshold min_requests must be a whole number of at least 1'),
    ({'max_mismatch_ratio': 2}, 'threshold max_mismatch_ratio is a share from 0 to 1'),
    ({'max_p95_increase_ms': '200'}, 'threshold max_p95_increase_ms must be a number of at least 0'),
    ([], 'thresholds must be a dict'),
])
def test_compare_bad_thresholds(thresholds, message):
    with pytest.raises(ValidationError, match=message):
        rp.compare(same(1), thresholds)


def test_thresholds_defaults_fill_what_is_none():
    assert rp.thresholds_with_defaults({'max_new_5xx': None, 'min_requests': 50}) == dict(
        rp.DEFAULT_THRESHOLDS, min_requests=50)
