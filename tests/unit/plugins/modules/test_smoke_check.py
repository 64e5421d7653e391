# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""smoke_check against a real HTTP server on 127.0.0.1, so urllib's behaviour is tested too."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket
from http.server import BaseHTTPRequestHandler

import pytest

from ansible_collections.daylight.release.plugins.module_utils import smoke
from ansible_collections.daylight.release.plugins.modules import smoke_check

V = '2.0.0'
OK = (200, {'X-Release-Version': V}, '<h1>daylight demo app</h1>')
DOWN = (503, {'X-Release-Version': V}, 'Service Unavailable')
OLD = (200, {'X-Release-Version': '1.0.0'}, '<h1>daylight demo app</h1>')


class Node(object):
    """A web node answering GETs from a list of (status, headers, body); the last answer repeats."""

    def __init__(self, serve):
        self.answers, self.paths = [OK], []
        node = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                node.paths.append(self.path)
                status, headers, body = node.answers.pop(0) if len(node.answers) > 1 else node.answers[0]
                data = body.encode('utf-8')
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header('Content-Type', 'text/html; charset=utf-8')
                self.send_header('Content-Length', str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.url = serve(Handler)


@pytest.fixture
def node(serve_http):
    return Node(serve_http)


@pytest.fixture
def run(run_module):
    def call(args, check_mode=False):
        return run_module(smoke_check.main, _ansible_check_mode=check_mode, **args)
    return call


def args_for(node, **extra):
    args = dict(base_url=node.url, expected_version=V, interval=0.01, deadline=5,
                checks=[{'path': '/', 'body': 'daylight'}, {'path': '/probe.php', 'status': 200}])
    args.update(extra)
    return args


def test_passes(node, run):
    node.answers = [DOWN, OK, OK, OK, OK, OK, OK, OK]
    kind, result = run(args_for(node))
    assert kind == 'exit', result
    assert result['changed'] is False
    assert (result['passed'], result['rounds'], result['consecutive']) == (True, 4, 3)
    assert result['last_failure']['status'] == 503
    assert [r['passed'] for r in result['results']] == [True, True]
    assert node.paths == ['/', '/probe.php'] * 4


def test_fails_with_a_message_a_person_can_act_on(node, run):
    node.answers = [OLD]
    kind, result = run(args_for(node, deadline=0.3, interval=0.05))
    assert kind == 'fail', result
    assert result['changed'] is False
    assert result['msg'].startswith('smoke test failed on %s after %d rounds in ' % (node.url, result['rounds']))
    assert result['msg'].endswith(" s (3 passes in a row needed): / answered status 200, version '1.0.0' "
                                  "(expected 2.0.0), body matched /daylight/")
    assert result['passed'] is False and result['consecutive'] == 0
    assert 1 <= result['rounds'] <= 10
    assert 0.25 <= result['seconds'] < 2
    assert result['last_failure'] == {'path': '/', 'status': 200, 'version': '1.0.0', 'body_matched': True,
                                      'error': None, 'expected_status': 200, 'pattern': 'daylight'}
    assert len(result['results']) == 2


def test_check_mode_runs_the_requests_and_changes_nothing(node, run):
    kind, result = run(args_for(node), check_mode=True)
    assert kind == 'exit', result
    assert result['changed'] is False and result['passed'] is True
    assert len(node.paths) == 6


def test_bad_check_fails_before_any_request(node, run):
    kind, result = run(args_for(node, checks=[{'path': '/'}, {'path': '/x', 'body': '(('}]))
    assert kind == 'fail'
    assert result['msg'].startswith("check #2 (/x): body '((' is not a valid regular expression")
    assert node.paths == []


def test_http_get_reads_any_status_and_follows_no_redirect(node):
    node.answers = [(404, {'X-Release-Version': V}, 'nope'), (302, {'Location': '/elsewhere'}, '')]
    status, headers, body = smoke.http_get(node.url + '/missing', 2)
    assert (status, headers['x-release-version'], body) == (404, V, 'nope')
    status, headers, body = smoke.http_get(node.url + '/moved', 2)
    assert (status, headers['location']) == (302, '/elsewhere')
    assert node.paths == ['/missing', '/moved']


def test_no_answer_is_status_0_with_the_error(run):
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    kind, result = run(dict(base_url='http://127.0.0.1:%d' % port, checks=[{'path': '/'}], deadline=0,
                            request_timeout=1))
    assert kind == 'fail'
    assert result['last_failure']['status'] == 0
    assert 'refused' in result['last_failure']['error'].lower()
    assert result['msg'].endswith(': / got no answer: %s' % result['last_failure']['error'])
