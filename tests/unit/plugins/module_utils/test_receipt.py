# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.daylight.release.plugins.module_utils.errors import ValidationError
from ansible_collections.daylight.release.plugins.module_utils.receipt import (
    bucket,
    check_windows,
    count_windows,
    merge,
    percentile,
    receipt,
    release_windows,
    step_seconds,
)

WINDOWS = [{'name': 'before', 'start': 0, 'end': 60}, {'name': 'canary', 'start': 60, 'end': 90},
           {'name': 'after', 'start': 90, 'end': 120}]


@pytest.mark.parametrize('ms, expected', [
    (0, 0), (7, 7), (99, 99), (100, 100), (101, 110), (123, 130), (995, 1000), (1000, 1000), (1234, 1300),
    (30001, 31000), (-1, 0),
])
def test_bucket_keeps_two_significant_digits_rounding_up(ms, expected):
    assert bucket(ms) == expected


@pytest.mark.parametrize('windows, message', [
    ([{'start': 0, 'end': 1}], 'windows[0]: expected a dict with name, start and end'),
    ([{'name': '', 'start': 0, 'end': 1}], 'windows[0]: the name must be a non-empty string'),
    ([{'name': 'a', 'start': 0, 'end': 1}, {'name': 'a', 'start': 1, 'end': 2}], "windows[1]: the name 'a' is used twice"),
    ([{'name': 'a', 'start': 'soon', 'end': 1}], "window 'a': start and end must be epoch seconds, got 'soon' and 1"),
    ([{'name': 'a', 'end': 1}], "window 'a': start and end must be epoch seconds, got None and 1"),
    ([{'name': 'a', 'start': 5, 'end': 1}], "window 'a': it ends (1.0) before it starts (5.0)"),
])
def test_bad_windows_are_named(windows, message):
    with pytest.raises(ValidationError) as e:
        check_windows(windows)
    assert str(e.value).startswith(message)


def entry(t, status=200, ta=10, termination='----'):
    return {'time': t, 'status': status, 'ta': ta, 'termination': termination}


def is_error(e):
    return e['status'] >= 500


def test_count_windows_puts_each_request_in_every_window_it_falls_in():
    windows = check_windows([{'name': 'all', 'start': 0, 'end': 100}, {'name': 'late', 'start': 50, 'end': 100}])
    counted = count_windows([entry(10), entry(60, status=503, ta=123), entry(70, status=-1, ta=-1), entry(200)],
                            windows, is_error)
    assert counted['all'] == {'requests': 3, 'errors': 1, 'statuses': {'2xx': 1, '5xx': 1, '-1': 1},
                              'latency_ms': {'10': 1, '130': 1}}
    assert counted['late'] == {'requests': 2, 'errors': 1, 'statuses': {'5xx': 1, '-1': 1}, 'latency_ms': {'130': 1}}


def test_merge_adds_load_balancers_up():
    lb1 = {'before': {'requests': 2, 'errors': 1, 'statuses': {'2xx': 1, '5xx': 1}, 'latency_ms': {'10': 2}}}
    lb2 = {'before': {'requests': 1, 'errors': 0, 'statuses': {'2xx': 1}, 'latency_ms': {'10': 1, '20': 1}},
           'after': {'requests': 1, 'errors': 0, 'statuses': {'2xx': 1}, 'latency_ms': {'5': 1}}}
    assert merge([lb1, lb2, None]) == {
        'before': {'requests': 3, 'errors': 1, 'statuses': {'2xx': 2, '5xx': 1}, 'latency_ms': {'10': 3, '20': 1}},
        'after': {'requests': 1, 'errors': 0, 'statuses': {'2xx': 1}, 'latency_ms': {'5': 1}},
    }


@pytest.mark.parametrize('histogram, fraction, expected', [
    ({}, 0.5, None),
    ({'10': 1}, 0.95, 10),
    ({'10': 50, '20': 50}, 0.5, 10),
    ({'10': 50, '20': 51}, 0.5, 20),
    ({'10': 95, '900': 5}, 0.95, 10),
    ({'10': 94, '900': 6}, 0.95, 900),
    ({'900': 1, '10': 1, '30': 0}, 0.95, 900),  # order of keys does not matter, empty buckets neither
])
def test_percentile_from_a_histogram(histogram, fraction, expected):
    assert percentile(histogram, fraction) == expected


def reading(before=(100, 0, 40), canary=(50, 0, 40), after=(50, 0, 40)):
    """One load balancer's windows: (requests, errors, latency of each request)."""
    def window(requests, errors, ms):
        return {'requests': requests, 'errors': errors, 'statuses': {'2xx': requests - errors, '5xx': errors},
                'latency_ms': {str(ms): requests}}
    return {'before': window(*before), 'canary': window(*canary), 'after': window(*after)}


def test_a_quiet_release_is_no_worse():
    result = receipt([reading(), reading()], WINDOWS)
    assert result['judged'] is True and result['worse'] == []
    before = result['rows'][0]
    assert before == {'window': 'before', 'start': 0, 'end': 60, 'seconds': 60.0, 'requests': 200, 'per_second': 3.3, 'errors': 0,
                      'error_pct': 0.0, 'p50_ms': 40, 'p95_ms': 40, 'statuses': {'2xx': 200, '5xx': 0}}
    assert [r['window'] for r in result['rows']] == ['before', 'canary', 'after']
    assert result['summary'] == ("Visitors (load balancers' logs): before 200 requests, 0 errors, p95 40 ms; "
                                 "canary 100 requests, 0 errors, p95 40 ms; after 100 requests, 0 errors, p95 40 ms. "
                                 "no worse for visitors than before the release.")


def test_errors_after_the_release_make_it_worse_even_when_checks_passed():
    result = receipt([reading(after=(100, 3, 40))], WINDOWS)
    assert result['worse'] == ['after: 3 errors in 100 requests (3.00 %, 0.00 % before)']
    assert 'WORSE for visitors: after: 3 errors' in result['summary']


@pytest.mark.parametrize('errors, worse', [(2, False), (3, True)])
def test_a_few_errors_are_not_enough(errors, worse):
    assert bool(receipt([reading(canary=(50, errors, 40))], WINDOWS)['worse']) is worse


@pytest.mark.parametrize('after_ms, worse', [
    (59, False),   # 1.5 x 40 = 60: not above
    (89, False),   # above 1.5 x, but not 50 ms more
    (91, True),    # 91 > 60 and 91 - 40 > 50 (bucketed to 91)
])
def test_a_slower_p95_needs_both_the_ratio_and_the_margin(after_ms, worse):
    result = receipt([reading(after=(50, 0, after_ms))], WINDOWS)
    assert bool(result['worse']) is worse
    if worse:
        assert result['worse'] == ['after: p95 %d ms (40 ms before)' % after_ms]


def test_too_little_traffic_before_is_not_judged():
    result = receipt([reading(before=(19, 0, 40), after=(50, 40, 900))], WINDOWS)
    assert result['judged'] is False and result['worse'] == []
    assert 'not judged: 19 requests before the release, fewer than 20.' in result['summary']


def test_a_quiet_window_is_not_judged_but_others_are():
    result = receipt([reading(canary=(10, 5, 900), after=(50, 5, 40))], WINDOWS)
    assert result['worse'] == ['after: 5 errors in 50 requests (10.00 %, 0.00 % before)']


def test_a_window_nobody_counted_is_a_row_of_zeros_and_unread_load_balancers_are_named():
    result = receipt([{'before': reading()['before']}], WINDOWS, unread=['lb2'])
    assert result['rows'][2]['requests'] == 0 and result['rows'][2]['p95_ms'] is None
    assert result['rows'][2]['error_pct'] is None
    assert result['summary'].endswith('Not read: lb2.')
    assert 'after 0 requests, 0 errors, p95 -' in result['summary']


def test_rules_are_checked():
    with pytest.raises(ValidationError, match="receipt rule 'p99' is unknown; the rules are error_points"):
        receipt([], WINDOWS, {'p99': 1})
    with pytest.raises(ValidationError, match='receipt rule min_errors must be a number >= 0'):
        receipt([], WINDOWS, {'min_errors': -1})
    with pytest.raises(ValidationError, match='at least one window'):
        receipt([], [])
    assert receipt([reading(after=(50, 0, 59))], WINDOWS, {'p95_ratio': 1.2, 'p95_margin_ms': 10})['worse']


def turn(version, batch, start, end, failed=False, **marks):
    marks.update(start=start, end=end)
    return {'version': version, 'batch': batch, 'marks': marks, 'failed': failed}


def test_step_seconds_run_from_each_mark_to_the_next():
    assert step_seconds({'start': 100, 'swap': 100.9, 'smoke': 102.0, 'enable': 102.8, 'end': 104.2}) == {
        'drain': 0.9, 'swap_reload': 1.1, 'smoke': 0.8, 'enable': 1.4, 'total': 4.2}
    assert step_seconds({'start': 100, 'swap': 101, 'smoke': 102, 'dark_launch': 103, 'enable': 108, 'end': 109}) == {
        'drain': 1.0, 'swap_reload': 1.0, 'smoke': 1.0, 'dark_launch': 5.0, 'enable': 1.0, 'total': 9.0}


def test_a_failed_turns_last_step_runs_until_it_was_put_back():
    assert step_seconds({'start': 100, 'swap': 101, 'smoke': 102, 'end': 110}) == {
        'drain': 1.0, 'swap_reload': 1.0, 'smoke': 8.0, 'total': 10.0}
    assert step_seconds({'start': 100}) == {} and step_seconds({}) == {}


def test_windows_of_a_release_canary_then_batches_each_ending_where_the_next_begins():
    turns = {
        'web1': [turn('2.0', ['web1'], 100, 110)],                       # the canary, then its live watch
        'web2': [turn('2.0', ['web2', 'web3'], 130, 135, swap=131)],
        'web3': [turn('2.0', ['web2', 'web3'], 130.5, 136)],
        'web4': [turn('2.0', ['web4'], 137, 140)],
        'web5': [],
    }
    result = release_windows(turns, '2.0', 'web1', 30)
    assert result['windows'] == [
        {'name': 'before', 'start': 70, 'end': 100},
        {'name': 'canary web1', 'start': 100, 'end': 130},
        {'name': 'batch 1 web2, web3', 'start': 130, 'end': 137},
        {'name': 'batch 2 web4', 'start': 137, 'end': 140},
    ]
    assert result['last_end'] == 140 and sorted(result['steps']) == ['web1', 'web2', 'web3', 'web4']
    assert result['steps']['web2'] == {'drain': 1.0, 'swap_reload': 4.0, 'total': 5.0}


def test_windows_of_a_release_that_went_back():
    turns = {
        'web1': [turn('2.0', ['web1'], 100, 110), turn('1.0', ['web1'], 150, 153)],
        'web2': [turn('2.0', ['web2'], 130, 140, failed=True)],
        'web3': [],
    }
    names = [(w['name'], w['start'], w['end']) for w in release_windows(turns, '2.0', 'web1', 60)['windows']]
    assert names == [('before', 40, 100), ('canary web1', 100, 130), ('batch 1 web2', 130, 150),
                     ('going back web1', 150, 153)]


def test_windows_without_a_canary_and_without_turns():
    turns = {'web1': [turn('1.0', ['web1', 'web2'], 10, 12)], 'web2': [turn('1.0', ['web1', 'web2'], 10, 13)]}
    assert [w['name'] for w in release_windows(turns, '1.0', '', 5)['windows']] == ['before', 'batch 1 web1, web2']
    # A canary named but not alone in the first batch: numbered batches from 1.
    assert [w['name'] for w in release_windows(turns, '1.0', 'web1', 5)['windows']] == ['before', 'batch 1 web1, web2']
    assert release_windows({'web1': []}, '1.0') == {'windows': [], 'steps': {}, 'last_end': None}
    with pytest.raises(ValidationError, match='before_seconds must be a number'):
        release_windows({}, '1.0', '', -1)
