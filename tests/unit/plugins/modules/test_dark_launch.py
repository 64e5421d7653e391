# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""dark_launch: sampling from a log file, and replaying to two real HTTP servers on 127.0.0.1."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import time
from http.server import BaseHTTPRequestHandler

import pytest

from ansible.module_utils import basic

from ansible_collections.daylight.release.plugins.modules import dark_launch


class Node(object):
    """A web node answering GET and HEAD with the status routes[path] (default 200); records the paths asked."""

    def __init__(self, serve, routes=None):
        self.routes, self.paths = routes or {}, []
        node = self

        class Handler(BaseHTTPRequestHandler):
            def answer(self, with_body):
                node.paths.append(self.path)
                status = node.routes.get(self.path, 200)
                self.send_response(status)
                if status in (301, 302):
                    self.send_header('Location', '/elsewhere')
                self.send_header('Content-Length', '2')
                self.end_headers()
                if with_body:
                    self.wfile.write(b'ok')

            def do_GET(self):
                self.answer(True)

            def do_HEAD(self):
                self.answer(False)

            def log_message(self, *args):
                pass

        self.url = serve(Handler)


@pytest.fixture
def nodes(serve_http):
    return Node(serve_http), Node(serve_http)


@pytest.fixture
def warnings(monkeypatch):
    said = []
    monkeypatch.setattr(basic.AnsibleModule, 'warn', lambda self, message: said.append(message))
    return said


@pytest.fixture
def run(run_module):
    def call(args, check_mode=False):
        return run_module(dark_launch.main, _ansible_check_mode=check_mode, **args)
    return call


# --- mode: sample ---------------------------------------------------------------------------------

def log_line(epoch, request, backend='web'):
    # journalctl -o short-unix's prefix: the epoch is the time of the request.
    return ('%.6f lb1 haproxy[1]: 10.89.0.1:5000 [23/Nov/2026:14:00:00.000] www %s/web2 0/0/1/3/4 200 812 - - ---- '
            '1/1/0/0/0 0/0 "%s HTTP/1.1"' % (epoch, backend, request))


def test_sample_reads_the_log_and_keeps_what_can_be_replayed(run, tmp_path):
    now = time.time()
    log = tmp_path / 'haproxy.log'
    log.write_text('\n'.join([
        log_line(now - 3600, 'GET /an-hour-ago'),
        log_line(now - 60, 'GET /'), log_line(now - 50, 'GET /search?q=shoes'), log_line(now - 40, 'GET /'),
        log_line(now - 30, 'POST /cart'), log_line(now - 20, 'GET /login?password=hunter2'),
        log_line(now - 15, 'GET /stats', backend='stats'), log_line(now - 10, 'HEAD /'),
        log_line(now - 5, 'GET /admin/'),
    ]) + '\n')
    kind, result = run(dict(mode='sample', backend='web', log_source='file', log_path=str(log), exclude=['^/admin']))
    assert kind == 'exit', result
    assert result['changed'] is False
    assert [(r['method'], r['path'], r['count']) for r in result['requests']] == [
        ('GET', '/', 2), ('HEAD', '/', 1), ('GET', '/search?q=shoes', 1)]
    assert result['sampled'] == 3
    assert result['dropped'] == {'method': 1, 'invalid': 0, 'credentials': 1, 'excluded': 1, 'over_limit': 0}
    assert result['log'] == {'source': 'file', 'read': True, 'lines': 7, 'error': None}
    assert result['now'] - result['since'] == pytest.approx(15 * 60)


def test_sample_unreadable_log_is_no_failure_the_replay_falls_back(run, tmp_path):
    kind, result = run(dict(mode='sample', backend='web', log_source='file', log_path=str(tmp_path / 'nope.log')))
    assert kind == 'exit', result
    assert result['requests'] == [] and result['log']['read'] is False
    assert result['log']['error'].startswith("cannot read HAProxy's log %s: No such file" % (tmp_path / 'nope.log'))


@pytest.mark.parametrize('args, message', [
    (dict(mode='sample'), 'mode is sample but all of the following are missing: backend'),
    (dict(mode='sample', backend='web', exclude=['(']), r"exclude: '\(' is not a valid regular expression"),
    (dict(mode='sample', backend='web', minutes=0), 'minutes must be above 0, got 0'),
    (dict(mode='sample', backend='web', methods=['GET', 'POST']), 'value of methods must be one or more of'),
])
def test_sample_bad_options(run, tmp_path, args, message):
    args.setdefault('log_source', 'file')
    args.setdefault('log_path', str(tmp_path / 'haproxy.log'))
    kind, result = run(args)
    assert kind == 'fail'
    assert re.search(message, result['msg']), result['msg']


# --- mode: replay ---------------------------------------------------------------------------------

def sampled(*paths):
    return [{'method': 'GET', 'path': path, 'count': 1, 'last_seen': 1764000000.0} for path in paths]


PATHS = ['/', '/search?q=shoes', '/cart', '/news', '/about']


def replay_args(canary, baseline, **extra):
    args = dict(canary_url=canary.url, baseline_url=baseline.url, requests=sampled(*PATHS), rate=1000,
                thresholds=dict(min_requests=5))
    args.update(extra)
    return args


def test_replay_passes_a_canary_answering_like_the_baseline(run, nodes):
    canary, baseline = nodes
    kind, result = run(replay_args(canary, baseline))
    assert kind == 'exit', result
    assert result['changed'] is False
    assert (result['verdict'], result['source'], result['sampled'], result['replayed'], result['judged']) == \
        ('pass', 'log', 5, 5, 5)
    assert result['summary'].startswith('pass: the canary answered 5 requests like the baseline')
    assert result['canary']['statuses'] == {'2xx': 5} and result['baseline']['statuses'] == {'2xx': 5}
    assert result['thresholds'] == {'max_new_5xx': 0, 'max_mismatch_ratio': 0.02, 'max_p50_increase_ms': 100,
                                    'max_p95_increase_ms': 200, 'min_requests': 5}
    assert sorted(canary.paths) == sorted(baseline.paths) == sorted(PATHS)


def test_replay_fails_with_the_reasons_and_the_worst_requests(run, nodes):
    canary, baseline = nodes
    canary.routes = {'/cart': 500, '/news': 404}
    kind, result = run(replay_args(canary, baseline))
    assert kind == 'fail', result
    assert result['verdict'] == 'fail' and result['new_5xx'] == 1 and result['mismatches'] == 2
    assert [(w['path'], w['problem']) for w in result['worst'][:2]] == [('/cart', 'canary 5xx'), ('/news', 'status class')]
    msg = result['msg']
    assert msg.startswith('dark launch: %s answered worse than %s on the same 5 requests: the canary answered 1 of 5 '
                          'requests with a 5xx or not at all where the baseline did not (at most 0 allowed), e.g. '
                          'GET /cart: canary 500 in ' % (canary.url, baseline.url))
    assert '; the canary answered 2 of 5 requests (40.0%) in another status class than the baseline' in msg
    assert '. Worst: GET /cart: canary 500 in ' in msg and '; GET /news: canary 404 in ' in msg
    assert msg.endswith('If these pages legitimately answer differently in the new release, add a pattern for them '
                        'to exclude.')


def test_replay_excluded_paths_are_not_asked(run, nodes):
    canary, baseline = nodes
    canary.routes = {'/news': 404}
    kind, result = run(replay_args(canary, baseline, exclude=['^/news'], thresholds=dict(min_requests=4)))
    assert kind == 'exit', result
    assert result['verdict'] == 'pass' and result['dropped']['excluded'] == 1
    assert '/news' not in canary.paths + baseline.paths


def test_replay_verdict_only_when_fail_on_verdict_is_false(run, nodes):
    canary, baseline = nodes
    canary.routes = {'/cart': 503}
    kind, result = run(replay_args(canary, baseline, fail_on_verdict=False))
    assert kind == 'exit', result
    assert result['verdict'] == 'fail' and result['reasons']


def test_replay_falls_back_to_the_paths_when_nothing_was_sampled(run, nodes):
    canary, baseline = nodes
    kind, result = run(replay_args(canary, baseline, requests=[], paths=['/', '/probe.php', '/admin/'],
                                   exclude=['^/admin/'], thresholds=dict(min_requests=2)))
    assert kind == 'exit', result
    assert (result['source'], result['verdict'], result['replayed']) == ('paths', 'pass', 2)
    assert result['notes'][0] == "no request was sampled from the load balancers' logs: replaying the 2 paths given " \
                                 "(1 excluded)"
    assert sorted(canary.paths) == ['/', '/probe.php']


def test_replay_inconclusive_warns_and_succeeds(run, nodes, warnings):
    canary, baseline = nodes
    kind, result = run(replay_args(canary, baseline, thresholds={}))
    assert kind == 'exit', result
    assert result['verdict'] == 'inconclusive'
    assert result['reasons'] == ['only 5 requests could be judged, 20 needed for a verdict (0 new 5xx and 0 status '
                                 'class mismatches on those)']
    assert warnings == ['dark launch inconclusive: ' + result['reasons'][0]]


def test_replay_nothing_to_replay_is_inconclusive(run, nodes, warnings):
    canary, baseline = nodes
    kind, result = run(replay_args(canary, baseline, requests=[]))
    assert kind == 'exit', result
    assert result['verdict'] == 'inconclusive' and result['replayed'] == 0
    assert 'nothing was replayed' in warnings[0]


def test_replay_runs_for_real_in_check_mode(run, nodes):
    canary, baseline = nodes
    kind, result = run(replay_args(canary, baseline), check_mode=True)
    assert kind == 'exit', result
    assert result['verdict'] == 'pass' and len(canary.paths) == 5


@pytest.mark.parametrize('extra, message', [
    (dict(thresholds=dict(max_new_5xx=-1)), 'threshold max_new_5xx must be a whole number of at least 0, got -1'),
    (dict(paths=['news']), "path 'news' cannot be replayed: it must start with /"),
    (dict(canary_url='http://web1/app'), "canary URL 'http://web1/app' must be http://host[:port]"),
    (dict(rate=0), 'rate must be a number above 0, got 0'),
])
def test_replay_bad_options_fail_before_any_request(run, nodes, extra, message):
    canary, baseline = nodes
    kind, result = run(replay_args(canary, baseline, **extra))
    assert kind == 'fail'
    assert message in result['msg']
    assert canary.paths == baseline.paths == []


def test_replay_needs_both_urls(run):
    kind, result = run(dict(requests=sampled('/')))
    assert kind == 'fail'
    assert result['msg'] == 'mode is replay but all of the following are missing: canary_url, baseline_url'
