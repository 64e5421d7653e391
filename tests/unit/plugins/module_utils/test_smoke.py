# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.daylight.release.plugins.module_utils import smoke
from ansible_collections.daylight.release.plugins.module_utils.errors import ValidationError

V = '2.0.0'
OK = (200, {'x-release-version': V}, '<h1>daylight demo app</h1>')
DOWN = (503, {'x-release-version': V}, 'Service Unavailable')
OLD = (200, {'x-release-version': '1.0.0'}, '<h1>daylight demo app</h1>')
BLANK = (200, {'x-release-version': V}, '')
REFUSED = ConnectionRefusedError(111, 'Connection refused')
CHECK = [{'path': '/', 'status': 200, 'body': 'daylight'}]


class FakeNode(object):
    """Answers in order (the last answer repeats); each request takes `per_request` fake seconds.

    Times are binary fractions (0.125, 0.25), so the fake clock adds them up exactly.
    """

    def __init__(self, answers, per_request=0.125):
        self.answers, self.per_request = list(answers), per_request
        self.now, self.urls, self.sleeps = 1000.0, [], []

    def fetch(self, url, timeout):
        self.urls.append(url)
        self.now += self.per_request
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def run(node, checks=None, passes=3, deadline=20, interval=0.25, expected_version=V, base_url='http://127.0.0.1'):
    return smoke.run_smoke_test(CHECK if checks is None else checks, base_url, expected_version, passes,
                                deadline, interval, 5, fetch=node.fetch, clock=node.clock, sleep=node.sleep)


@pytest.mark.parametrize('answers, passes, passed, rounds, consecutive', [
    ([OK], 3, True, 3, 3),
    ([OK], 1, True, 1, 1),
    # A node still flapping after the reload: the count only starts at the last failure.
    ([DOWN, OK, DOWN, OLD, OK], 3, True, 7, 3),
    # pass, pass, fail, pass, pass, pass: the fail resets the count, so 6 rounds, not 3.
    ([OK, OK, DOWN, OK], 3, True, 6, 3),
    ([OK, OK, REFUSED, OK], 3, True, 6, 3),
])
def test_passes_in_a_row(answers, passes, passed, rounds, consecutive):
    node = FakeNode(answers)
    result = run(node, passes=passes)
    assert (result['passed'], result['rounds'], result['consecutive']) == (passed, rounds, consecutive)
    assert node.sleeps == [0.25] * (rounds - 1)
    assert result['results'] == [{'path': '/', 'expected_status': 200, 'pattern': 'daylight', 'status': 200,
                                  'version': V, 'body_matched': True, 'error': None, 'passed': True}]
    # The most recent failure is still reported, for the log.
    assert (result['last_failure'] is None) == (rounds == passes)


def test_a_failed_round_in_the_middle_is_reported():
    result = run(FakeNode([OK, OK, DOWN, OK]))
    assert result['last_failure'] == {'path': '/', 'status': 503, 'version': V, 'body_matched': False,
                                      'error': None, 'expected_status': 200, 'pattern': 'daylight'}


def test_every_check_runs_once_per_round():
    checks = [{'path': '/'}, {'path': '/probe.php', 'status': 200, 'body': 'consistent'}]
    node = FakeNode([OK, (200, {'x-release-version': V}, '{"consistent":true}')] * 3)
    result = run(node, checks=checks, base_url='http://127.0.0.1:8080/')
    assert result['passed'] and result['rounds'] == 3
    assert node.urls[:2] == ['http://127.0.0.1:8080/', 'http://127.0.0.1:8080/probe.php']
    assert len(node.urls) == 6


@pytest.mark.parametrize('deadline, interval, per_request, rounds', [
    # A round takes 0.25 s, then a 0.5 s pause: round k ends at 0.75k - 0.5 s, and the next one
    # would start at 0.75k s, so the last round is the first k with 0.75k >= deadline.
    (20, 0.5, 0.25, 27),
    (1, 0.5, 0.25, 2),
    (0, 0.5, 0.25, 1),  # the first round always runs
    # A slow request in flight at the deadline finishes; no round starts after it.
    (10, 1, 6, 2),
])
def test_deadline_is_in_seconds(deadline, interval, per_request, rounds):
    node = FakeNode([DOWN], per_request=per_request)
    result = run(node, deadline=deadline, interval=interval)
    assert result['passed'] is False
    assert result['rounds'] == rounds
    assert result['consecutive'] == 0
    assert result['seconds'] == pytest.approx(rounds * per_request + (rounds - 1) * interval)
    assert result['seconds'] <= deadline + per_request  # at most the last round's requests over


def test_deadline_reached_while_still_counting():
    # Every round passes, but the deadline allows only two of the three needed.
    result = run(FakeNode([OK], per_request=0.4), deadline=1)
    assert (result['passed'], result['rounds'], result['consecutive'], result['last_failure']) == (False, 2, 2, None)
    message = smoke.failure_message(result, 'http://127.0.0.1', V, 3)
    assert message.endswith('only 2 passed in a row before the deadline; raise the deadline or lower the interval')


@pytest.mark.parametrize('answer, expected_version, failure, message', [
    (OLD, V,
     {'status': 200, 'version': '1.0.0', 'body_matched': True, 'error': None},
     "/ answered status 200, version '1.0.0' (expected 2.0.0), body matched /daylight/"),
    ((200, {}, 'daylight'), V,
     {'status': 200, 'version': None, 'body_matched': True, 'error': None},
     "/ answered status 200, version '' (expected 2.0.0), body matched /daylight/"),
    (BLANK, V,
     {'status': 200, 'version': V, 'body_matched': False, 'error': None},
     "/ answered status 200, version '2.0.0' (expected 2.0.0), body did not match /daylight/"),
    ((500, {'x-release-version': '1.0.0'}, 'Fatal error'), V,
     {'status': 500, 'version': '1.0.0', 'body_matched': False, 'error': None},
     "/ answered status 500 (expected 200), version '1.0.0' (expected 2.0.0), body did not match /daylight/"),
    (REFUSED, V,
     {'status': 0, 'version': None, 'body_matched': False, 'error': '[Errno 111] Connection refused'},
     '/ got no answer: [Errno 111] Connection refused'),
    (TimeoutError('timed out'), V,
     {'status': 0, 'version': None, 'body_matched': False, 'error': 'timed out'},
     '/ got no answer: timed out'),
    # Without an expected version any version passes, so only the body can fail here.
    (BLANK, '',
     {'status': 200, 'version': V, 'body_matched': False, 'error': None},
     "/ answered status 200, version '2.0.0' (not checked), body did not match /daylight/"),
])
def test_failures_say_what_was_wrong(answer, expected_version, failure, message):
    result = run(FakeNode([answer]), deadline=1, expected_version=expected_version)
    assert result['passed'] is False
    assert dict((k, result['last_failure'][k]) for k in failure) == failure
    assert result['last_failure']['path'] == '/'
    assert smoke.failure_message(result, 'http://127.0.0.1', expected_version, 3) == (
        'smoke test failed on http://127.0.0.1 after 3 rounds in 0.875 s (3 passes in a row needed): ' + message)


def test_no_expected_version_accepts_any_version():
    assert run(FakeNode([OLD]), expected_version='')['passed'] is True


def test_defaults_status_200_and_any_body():
    node = FakeNode([(200, {}, 'x')])
    assert run(node, checks=[{'path': '/'}], expected_version='')['passed'] is True
    node = FakeNode([(200, {}, '')])
    assert run(node, checks=[{'path': '/'}], expected_version='', deadline=0)['passed'] is False


def test_status_other_than_200_can_be_expected():
    assert run(FakeNode([(301, {'x-release-version': V}, '')]), checks=[{'path': '/old', 'status': 301, 'body': ''}])['passed']


@pytest.mark.parametrize('checks, message', [
    ([{'path': 'health'}], "check #1: path 'health' must start with /"),
    ([{'path': '/'}, {'path': '/a b'}], "check #2: path '/a b' must start with / and contain no whitespace"),
    ([{'path': '/\n'}], r"check #1: path '/\n' must start with /"),
    ([{'path': None}], 'check #1: path None must start with /'),
    ([{'path': '/', 'status': 99}], 'check #1 (/): status 99 must be a whole number 100-599'),
    ([{'path': '/', 'status': 600}], 'check #1 (/): status 600 must be a whole number 100-599'),
    ([{'path': '/', 'status': '200'}], "check #1 (/): status '200' must be a whole number 100-599"),
    ([{'path': '/', 'status': True}], 'check #1 (/): status True must be a whole number 100-599'),
    ([{'path': '/', 'body': '(unclosed'}], "check #1 (/): body '(unclosed' is not a valid regular expression"),
    ([{'path': '/', 'body': 5}], 'check #1 (/): body 5 must be a regular expression'),
    ([{'path': '/', 'bdy': 'x'}], "check #1 {'path': '/', 'bdy': 'x'}: unknown key(s) 'bdy'"),
    (['/'], "check #1 must be a dict with path, status, body; got '/'"),
    ([], 'checks must be a non-empty list'),
])
def test_invalid_check_is_refused_before_any_request(checks, message):
    node = FakeNode([OK])
    with pytest.raises(ValidationError) as e:
        run(node, checks=checks)
    assert message in str(e.value)
    assert node.urls == []


@pytest.mark.parametrize('kwargs, message', [
    (dict(passes=0), 'passes must be a whole number >= 1; got 0'),
    (dict(deadline=-1), 'deadline must be a number >= 0; got -1'),
    (dict(interval=-0.1), 'interval must be a number >= 0; got -0.1'),
    (dict(base_url='127.0.0.1'), "base_url '127.0.0.1' must be http://host[:port]"),
])
def test_invalid_numbers_and_url(kwargs, message):
    with pytest.raises(ValidationError) as e:
        run(FakeNode([OK]), **kwargs)
    assert message in str(e.value)
