# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math
import random
from collections import Counter
from fractions import Fraction

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.daylight.release.plugins.filter.canary_verdict import FilterModule, canary_verdict
from ansible_collections.daylight.release.plugins.module_utils import canary as cy
from ansible_collections.daylight.release.plugins.module_utils.errors import ValidationError

BASELINE = ['web2', 'web3']


# ---------------------------------------------------------------- helpers

def sample(servers, requests, errors, latencies=(), down=False, retries=0):
    return {'servers': list(servers), 'requests': requests, 'errors': errors, 'retries': retries,
            'latencies_ms': sorted(latencies), 'down': down}


def lognormal(seed, n, median, sigma=0.3):
    rng = random.Random(seed)
    return sorted(rng.lognormvariate(math.log(median), sigma) for _i in range(n))


def server(req=0, e5=0, econ=0, wretr=0, wredis=0, chkdown=0, status='UP'):
    return {'status': status, 'req_tot': req, 'hrsp_5xx': e5, 'econ': econ, 'eresp': 0, 'wretr': wretr,
            'wredis': wredis, 'chkdown': chkdown, 'scur': 0, 'qcur': 0, 'weight': 1, 'check_status': 'L7OK'}


def lb(name, before, after, requests=None, log_error=None, start=1764000000.5, seconds=300.0):
    """One window item; requests=None means the access log could not be read (log_error says why)."""
    after_reading = {'now': start + seconds, 'servers': after, 'backend': {},
                     'requests': requests or {},
                     'log': {'source': 'journal', 'read': requests is not None, 'lines': 0,
                             'error': None if requests is not None else log_error or 'journalctl failed'}}
    return {'lb': name, 'before': {'now': start, 'servers': before, 'backend': {}}, 'after': after_reading}


def logged(requests, errors, latencies=()):
    return {'requests': requests, 'errors': errors, 'statuses': {'2xx': requests - errors, '5xx': errors},
            'latencies_ms': sorted(latencies)}


def hypergeometric_tail(errors_a, n_a, errors_b, n_b):
    """P(X >= errors_a), exact, summed independently of the module (math.comb, Fractions)."""
    n, k = n_a + n_b, errors_a + errors_b
    total = sum(Fraction(math.comb(k, x) * math.comb(n - k, n_a - x), math.comb(n, n_a))
                for x in range(errors_a, min(k, n_a) + 1))
    return float(total)


def naive_mann_whitney(a, b):
    """U by counting pairs and the tie-corrected, continuity-corrected z, the O(n^2) way."""
    u = sum(1.0 if x > y else 0.5 if x == y else 0.0 for x in a for y in b)
    n_a, n_b = len(a), len(b)
    n = n_a + n_b
    ties = sum(t ** 3 - t for t in Counter(list(a) + list(b)).values())
    sigma = math.sqrt(n_a * n_b / 12.0 * ((n + 1) - ties / (n * (n - 1))))
    return u, (u - 0.5 - n_a * n_b / 2.0) / sigma


# ---------------------------------------------------------------- statistics

@pytest.mark.parametrize('values, q, expected', [
    ([1, 2, 3, 4], 50, 2.5),
    ([1, 2, 3, 4], 25, 1.75),
    ([1, 2, 3, 4], 0, 1),
    ([1, 2, 3, 4], 100, 4),
    ([15, 20, 35, 40, 50], 40, 29.0),   # rank 1.6: 20 + 0.6 * 15
    ([15, 20, 35, 40, 50], 99, 49.6),   # rank 3.96: 40 + 0.96 * 10
    ([7], 99, 7),
    ([], 50, None),
])
def test_percentile(values, q, expected):
    result = cy.percentile(values, q)
    assert result == expected if expected is None else result == pytest.approx(expected)


@pytest.mark.parametrize('q', [-1, 101, '50', None])
def test_percentile_rejects_q(q):
    with pytest.raises(ValidationError, match='percentile q must be a number from 0 to 100'):
        cy.percentile([1, 2], q)


@pytest.mark.parametrize('counts, z, p_value', [
    # 30/100 vs 20/100: pooled 0.25, se = sqrt(0.25 * 0.75 * 0.02) = 0.0612372, z = 0.1 / se;
    # normal table: P(Z >= 1.633) = 1 - (0.94845 + 0.3 * (0.94950 - 0.94845)) = 0.05124.
    ((30, 100, 20, 100), 1.6329932, 0.0512352),
    ((20, 100, 30, 100), -1.6329932, 0.9487648),
    ((5, 100, 5, 100), 0.0, 0.5),
    ((0, 0, 3, 100), None, 1.0),     # no requests on a side
    ((0, 100, 0, 200), None, 1.0),   # pooled ratio 0
    ((50, 50, 80, 80), None, 1.0),   # pooled ratio 1
])
def test_two_proportion_test(counts, z, p_value):
    result = cy.two_proportion_test(*counts)
    assert result['z'] == (None if z is None else pytest.approx(z, abs=1e-6))
    assert result['p_value'] == pytest.approx(p_value, abs=1e-6)


@pytest.mark.parametrize('counts', [
    (3, 4, 1, 4),        # the lady tasting tea: 17/70
    (10, 12, 1, 800),
    (0, 12, 1, 800),
    (3, 400, 0, 800),
    (8, 400, 1, 800),
    (2, 400, 40, 800),   # far below the mode: p near 1
    (9, 412, 1, 830),
    (12, 12, 0, 5),
])
def test_fisher_matches_the_exact_hypergeometric_sum(counts):
    assert cy.fisher_exact_greater(*counts) == pytest.approx(hypergeometric_tail(*counts), rel=1e-9)


def test_fisher_known_value_and_degenerate_cases():
    assert cy.fisher_exact_greater(3, 4, 1, 4) == pytest.approx(17 / 70.0)
    assert cy.fisher_exact_greater(0, 0, 1, 10) == 1.0
    assert cy.fisher_exact_greater(1, 10, 0, 0) == 1.0
    assert cy.fisher_exact_greater(0, 400, 0, 800) == 1.0


@pytest.mark.parametrize('call', [
    lambda: cy.fisher_exact_greater(-1, 10, 0, 10),
    lambda: cy.two_proportion_test(1, 10, 11, 10),
    lambda: cy.two_proportion_test(1.5, 10, 1, 10),
])
def test_statistics_reject_impossible_counts(call):
    with pytest.raises(ValidationError):
        call()


def test_mann_whitney_textbook_example():
    # scipy.stats.mannwhitneyu's example: U = 17; z = (17 - 0.5 - 10) / sqrt(5 * 4 * 10 / 12) = 1.592168,
    # so the one-sided p is half scipy's asymptotic two-sided 0.11134688653314041.
    result = cy.mann_whitney_u([19, 22, 16, 29, 24], [20, 11, 17, 12])
    assert result['u'] == 17
    assert result['z'] == pytest.approx(1.592168, abs=1e-6)
    assert result['p_value'] == pytest.approx(0.11134688653314041 / 2, rel=1e-6)


@pytest.mark.parametrize('a, b', [
    ([1, 2, 2, 3, 5, 5, 5], [2, 3, 3, 4, 5]),                  # ties across samples
    ([10, 10, 10, 12], [10, 11, 11, 11, 13, 13]),
    ([3.5, 7.25, 7.25, 9.0], [1.0, 7.25, 2.0]),
])
def test_mann_whitney_matches_pair_counting(a, b):
    u, z = naive_mann_whitney(a, b)
    result = cy.mann_whitney_u(a, b)
    assert result['u'] == pytest.approx(u)
    assert result['z'] == pytest.approx(z)
    assert result['p_value'] == pytest.approx(0.5 * math.erfc(z / math.sqrt(2)))


def test_mann_whitney_random_against_pair_counting():
    rng = random.Random(7)
    for _i in range(20):
        a = [rng.randint(1, 15) for _j in range(rng.randint(1, 30))]
        b = [rng.randint(1, 15) for _j in range(rng.randint(2, 30))]
        if len(set(a + b)) < 2:
            continue
        u, z = naive_mann_whitney(a, b)
        result = cy.mann_whitney_u(a, b)
        assert (result['u'], result['z']) == (pytest.approx(u), pytest.approx(z))


@pytest.mark.parametrize('a, b, expected', [
    ([], [1, 2], {'u': None, 'z': None, 'p_value': None}),
    ([1], [], {'u': None, 'z': None, 'p_value': None}),
    ([4, 4], [4, 4, 4], {'u': 3.0, 'z': 0.0, 'p_value': 1.0}),   # all tied: no evidence either way
])
def test_mann_whitney_degenerate(a, b, expected):
    assert cy.mann_whitney_u(a, b) == expected


def test_mann_whitney_direction():
    slow, fast = lognormal(1, 50, 400), lognormal(2, 50, 100)
    assert cy.mann_whitney_u(slow, fast)['p_value'] < 1e-6
    assert cy.mann_whitney_u(fast, slow)['p_value'] > 0.999


# ---------------------------------------------------------------- judge

HEALTHY_C, HEALTHY_B = lognormal(10, 400, 100), lognormal(11, 800, 100)

JUDGE_CASES = [
    # id, canary, baseline, settings, verdict, proceed, text expected in reasons + notes
    ('identical', sample(['web1'], 400, 1, HEALTHY_C), sample(BASELINE, 800, 2, HEALTHY_B), {},
     'pass', True, 'no significant increase'),
    ('clearly worse errors', sample(['web1'], 400, 8, HEALTHY_C), sample(BASELINE, 800, 0, HEALTHY_B), {},
     'fail', False, 'canary web1 answered 8 of 400 requests with errors (2.0%) against 0 of 800 (0.0%) on the '
                    'baseline web2, web3 (Fisher exact p='),
    ('slightly worse within noise', sample(['web1'], 1000, 3, HEALTHY_C), sample(BASELINE, 2000, 4, HEALTHY_B), {},
     'pass', True, 'no significant increase'),
    ('significant but small', sample(['web1'], 100000, 400, HEALTHY_C), sample(BASELINE, 200000, 400, HEALTHY_B),
     {}, 'pass', True, 'significant but an increase of only 0.2 points, below the allowed 0.5'),
    ('+300 ms median', sample(['web1'], 200, 0, lognormal(3, 200, 400)), sample(BASELINE, 400, 0, lognormal(4, 400, 100)),
     {}, 'fail', False, 'above the allowed increase of 100 ms'),
    ('+5 ms median', sample(['web1'], 200, 0, lognormal(5, 200, 105)), sample(BASELINE, 400, 0, lognormal(6, 400, 100)),
     {}, 'pass', True, 'within the allowed increase of 100 ms'),
    ('p99 above floor and baseline', sample(['web1'], 400, 0, [100] * 392 + [900] * 8),
     sample(BASELINE, 800, 0, [100] * 800), {}, 'fail', False,
     "canary web1's p99 latency was 900 ms, above the floor of 500 ms and more than 100 ms above the baseline's 100 ms"),
    ('estate above the p99 floor', sample(['web1'], 400, 0, [100] * 392 + [900] * 8),
     sample(BASELINE, 800, 0, [100] * 784 + [880] * 16), {}, 'pass', True, 'the estate itself is above the p99 floor'),
    ('p99 above the floor, within the margin', sample(['web1'], 400, 0, [100] * 392 + [560] * 8),
     sample(BASELINE, 800, 0, [100] * 784 + [480] * 16), {}, 'pass', True,
     "canary web1's p99 of 560 ms is above the floor of 500 ms but within 100 ms of the baseline's 480 ms: not failed"),
    ('no traffic', sample(['web1'], 0, 0), sample(BASELINE, 800, 1, HEALTHY_B), {},
     'inconclusive', False, 'canary web1 served no requests in the window, 200 needed for a verdict: inconclusive'),
    ('no traffic, proceed anyway', sample(['web1'], 0, 0), sample(BASELINE, 800, 1, HEALTHY_B),
     {'proceed_on_inconclusive': True}, 'inconclusive', True, 'served no requests'),
    ('tiny and failing', sample(['web1'], 12, 10), sample(BASELINE, 800, 1, HEALTHY_B), {},
     'fail', False, 'failing clearly on few requests'),
    ('tiny and clean', sample(['web1'], 12, 0), sample(BASELINE, 800, 1, HEALTHY_B), {},
     'inconclusive', False, 'canary web1 served only 12 requests in the window, 200 needed for a verdict'),
    ('tiny with 2 errors is not clear', sample(['web1'], 12, 2), sample(BASELINE, 800, 0), {},
     'inconclusive', False, 'served only 12 requests'),
    ('tiny and down', sample(['web1'], 12, 0, down=True), sample(BASELINE, 800, 1), {},
     'fail', False, 'canary web1 went down during the window'),
    ('baseline below the floor too', sample(['web1'], 400, 8, HEALTHY_C), sample(BASELINE, 800, 20, HEALTHY_B), {},
     'pass', True, 'the estate itself is below the floor'),
    ('below the floor the baseline meets', sample(['web1'], 400, 5, HEALTHY_C), sample(BASELINE, 800, 4, HEALTHY_B),
     {}, 'fail', False, "canary web1's success ratio was 98.8% (5 errors in 400 requests), below the floor of 99.0% "
                        'that the baseline web2, web3 meets (99.5%)'),
    ('no baseline traffic, floors only', sample(['web1'], 400, 1, HEALTHY_C), sample(BASELINE, 0, 0), {},
     'pass', True, 'no baseline traffic in the window'),
    ('no baseline traffic, below the floor', sample(['web1'], 400, 8, HEALTHY_C), sample(BASELINE, 0, 0), {},
     'fail', False, 'below the floor of 99.0% (no baseline traffic to compare with)'),
    ('canary down', sample(['web1'], 400, 0, HEALTHY_C, down=True), sample(BASELINE, 800, 0, HEALTHY_B), {},
     'fail', False, 'canary web1 went down during the window'),
    ('no latencies', sample(['web1'], 400, 0), sample(BASELINE, 800, 0, HEALTHY_B), {},
     'pass', True, 'latency was not judged: no latency samples from canary web1'),
    ('too few latencies', sample(['web1'], 400, 0, HEALTHY_C[:5]), sample(BASELINE, 800, 0, HEALTHY_B), {},
     'pass', True, 'latency was not judged: 5 canary and 800 baseline latency samples, 20 needed on each side'),
    ('settings lower min_requests', sample(['web1'], 150, 0, HEALTHY_C[:150]), sample(BASELINE, 800, 1, HEALTHY_B),
     {'min_requests': 100}, 'pass', True, 'no significant increase'),
]


@pytest.mark.parametrize('canary, baseline, settings, verdict, proceed, text',
                         [case[1:] for case in JUDGE_CASES], ids=[case[0] for case in JUDGE_CASES])
def test_judge(canary, baseline, settings, verdict, proceed, text):
    result = cy.judge(canary, baseline, settings)
    assert (result['verdict'], result['proceed']) == (verdict, proceed), result
    assert text in ' | '.join(result['reasons'] + result['notes']), result
    assert result['summary'].startswith(verdict + ':')
    assert result['reasons']


def test_judge_reason_names_the_figures():
    result = cy.judge(sample(['web1'], 412, 9), sample(BASELINE, 830, 1))
    assert result['verdict'] == 'fail'
    reason = result['reasons'][0]
    p = result['errors_test']['p_value']
    assert result['errors_test'] == {'method': 'Fisher exact', 'p_value': p, 'z': None}
    assert p == float('%.4g' % hypergeometric_tail(9, 412, 1, 830))
    assert reason == ('canary web1 answered 9 of 412 requests with errors (2.2%%) against 1 of 830 (0.1%%) on the '
                      'baseline web2, web3 (Fisher exact p=%s): above the allowed increase of 0.5 points' % ('%.4g' % p))
    assert result['summary'] == 'fail: canary web1: errors 2.2% vs 0.1%; success 97.8% below the floor 99.0%'


def test_judge_uses_the_z_test_with_enough_errors():
    result = cy.judge(sample(['web1'], 4000, 120), sample(BASELINE, 8000, 40))
    assert result['errors_test']['method'] == 'two-proportion z-test'
    assert result['errors_test']['z'] > 10 and result['errors_test']['p_value'] < 1e-20
    assert result['verdict'] == 'fail'


def test_judge_figures_and_shape():
    result = cy.judge(sample(['web1'], 400, 1, [10, 20, 30, 40] * 10, retries=2),
                      sample(BASELINE, 800, 0, [10, 20, 30, 41] * 10))
    assert sorted(result) == ['baseline', 'canary', 'errors_test', 'latency_test', 'notes', 'proceed', 'reasons',
                              'summary', 'verdict']
    assert result['canary'] == {'servers': ['web1'], 'requests': 400, 'errors': 1, 'error_ratio': 0.0025,
                                'retries': 2, 'latency_samples': 40, 'p50_ms': 25, 'p95_ms': 40, 'p99_ms': 40,
                                'down': False}
    assert result['baseline']['error_ratio'] == 0.0 and result['baseline']['servers'] == BASELINE
    assert result['latency_test']['method'] == 'Mann-Whitney U'
    assert sorted(result['latency_test']) == ['method', 'p_value', 'u', 'z']


def test_judge_no_requests_gives_empty_figures():
    result = cy.judge(sample(['web1'], 0, 0), sample(BASELINE, 0, 0))
    assert result['canary']['error_ratio'] is None and result['canary']['p50_ms'] is None
    assert result['errors_test'] == {'method': None, 'p_value': None, 'z': None}
    assert result['latency_test'] is None


@pytest.mark.parametrize('canary, baseline, settings, message', [
    (sample(['web1'], -3, 0), sample(BASELINE, 800, 0), {}, 'canary sample: requests is -3; counts cannot be negative'),
    (sample(['web1'], 400, 0), sample(BASELINE, 800, -1), {}, 'baseline sample: errors is -1'),
    (sample(['web1'], 400, 0, retries=-2), sample(BASELINE, 800, 0), {}, 'canary sample: retries is -2'),
    (sample(['web1'], 10, 11), sample(BASELINE, 800, 0), {}, 'canary sample: 11 errors in 10 requests'),
    (sample(['web1'], 10, 0, [-1]), sample(BASELINE, 800, 0), {}, 'latencies are numbers >= 0'),
    (sample(['web1'], 400, 0), sample(BASELINE, 800, 0), {'alpah': 0.1}, "unknown setting(s) 'alpah'"),
    (sample(['web1'], 400, 0), sample(BASELINE, 800, 0), {'alpha': 2}, 'setting alpha must be a number'),
    (sample(['web1'], 400, 0), sample(BASELINE, 800, 0), {'min_requests': 0},
     'setting min_requests must be a whole number at least 1, got 0'),
    (sample(['web1'], 400, 0), sample(BASELINE, 800, 0), {'proceed_on_inconclusive': 'maybe'},
     'setting proceed_on_inconclusive must be true or false'),
])
def test_judge_rejects_bugs_and_bad_settings(canary, baseline, settings, message):
    with pytest.raises(ValidationError) as e:
        cy.judge(canary, baseline, settings)
    assert message in str(e.value)


def test_settings_defaults_and_strings():
    assert cy.settings_with_defaults(None) == cy.DEFAULTS
    merged = cy.settings_with_defaults({'min_requests': '100', 'alpha': '0.01', 'proceed_on_inconclusive': 'yes'})
    assert (merged['min_requests'], merged['alpha'], merged['proceed_on_inconclusive']) == (100, 0.01, True)


# ---------------------------------------------------------------- samples_from_window

def test_log_read_on_two_lbs_is_summed():
    window = [
        lb('lb1', {'web1': server(100), 'web2': server(100)}, {'web1': server(300), 'web2': server(300)},
           {'web1': logged(200, 2, [5, 9]), 'web2': logged(200, 0, [4, 6])}),
        lb('lb2', {'web1': server(0), 'web2': server(0)}, {'web1': server(210), 'web2': server(190)},
           {'web1': logged(210, 1, [3, 7]), 'web2': logged(190, 1, [8])}, seconds=301.5),
    ]
    canary, baseline, notes = cy.samples_from_window(window, 'web1', ['web2'])
    assert canary == {'servers': ['web1'], 'requests': 410, 'errors': 3, 'retries': 0,
                      'latencies_ms': [3, 5, 7, 9], 'slowest': [], 'slow': None, 'down': False}
    assert (baseline['requests'], baseline['errors'], baseline['latencies_ms']) == (390, 1, [4, 6, 8])
    assert notes == []
    result = cy.analyse(window, 'web1', ['web2'])
    assert result['window_seconds'] == 301.5 and result['load_balancers'] == ['lb1', 'lb2']


def test_a_slow_canary_names_its_slowest_requests_across_load_balancers():
    """A latency failure says which requests were slow and where their time went (queue, connect, answer)."""
    def slow(ta, tc, at):
        return {'time': 1764000100.0 + at, 'path': '/cart', 'status': 200, 'termination': '----', 'ta': ta, 'tw': 0,
                'tc': tc, 'tr': ta - tc}

    def slow_log(requests, latencies, slowest):
        return dict(logged(requests, 0, latencies), slowest=slowest)

    window = [
        lb('lb1', {'web1': server(0), 'web2': server(0)}, {'web1': server(200), 'web2': server(400)},
           {'web1': slow_log(200, [50] * 196 + [700, 720, 900, 910], [slow(910, 880, 1), slow(900, 0, 2),
                                                                      slow(720, 700, 3)]),
            'web2': slow_log(400, [50] * 400, [slow(50, 0, 4)])}),
        lb('lb2', {'web1': server(0), 'web2': server(0)}, {'web1': server(200), 'web2': server(400)},
           {'web1': slow_log(200, [50] * 198 + [950, 40], [slow(950, 930, 5), slow(50, 0, 6)]),
            'web2': slow_log(400, [50] * 400, [])}),
    ]
    canary, dummy, dummy = cy.samples_from_window(window, 'web1', ['web2'])
    # the three slowest of both load balancers, slowest first, each saying where it came from
    assert [(r['ta'], r['lb']) for r in canary['slowest']] == [(950, 'lb2'), (910, 'lb1'), (900, 'lb1')]
    result = cy.analyse(window, 'web1', ['web2'])
    assert result['verdict'] == 'fail'
    reason = [r for r in result['reasons'] if 'p99 latency' in r][0]
    assert reason.endswith('; slowest: 950 ms for /cart at 16:01:45.000 UTC via lb2 (queue 0 ms, connect 930 ms, '
                           'answer 20 ms; status 200, ----); 910 ms for /cart at 16:01:41.000 UTC via lb1 (queue 0 ms, '
                           'connect 880 ms, answer 30 ms; status 200, ----); 900 ms for /cart at 16:01:42.000 UTC via '
                           'lb1 (queue 0 ms, connect 0 ms, answer 900 ms; status 200, ----)'), reason


def _stall_window(first, last, over_ms=500, baseline_requests=400):
    """A canary with 6 of 400 requests at 600-660 ms (p99 over the 500 ms floor), the slow ones logged between
    first and last (seconds into the window), half on each load balancer."""
    start = 1764000100.0

    def canary_log(latencies, at):
        slow = [ms for ms in latencies if ms > over_ms]
        return dict(logged(len(latencies), 0, latencies),
                    slow={'over_ms': over_ms, 'requests': len(slow), 'first': start + at[0], 'last': start + at[1]})

    def baseline_log():
        return dict(logged(baseline_requests, 0, [50] * baseline_requests),
                    slow={'over_ms': over_ms, 'requests': 0, 'first': None, 'last': None})

    return [
        lb('lb1', {'web1': server(0), 'web2': server(0)}, {'web1': server(200), 'web2': server(baseline_requests)},
           {'web1': canary_log([50] * 197 + [600, 620, 630], (first, first + 0.01)), 'web2': baseline_log()},
           start=start),
        lb('lb2', {'web1': server(0), 'web2': server(0)}, {'web1': server(200), 'web2': server(baseline_requests)},
           {'web1': canary_log([50] * 197 + [640, 650, 660], (last - 0.01, last)), 'web2': baseline_log()},
           start=start),
    ]


def test_a_canary_slow_at_one_moment_is_noted_not_failed():
    """A node that stalls once (requests over the floor all ending within a second) is not a slower release."""
    window = _stall_window(3.20, 3.26)
    canary, dummy, dummy = cy.samples_from_window(window, 'web1', ['web2'])
    assert canary['slow'] == {'over_ms': 500, 'requests': 6, 'first': 1764000103.2, 'last': 1764000103.26}
    result = cy.analyse(window, 'web1', ['web2'])
    assert result['verdict'] == 'pass', result['reasons']
    assert result['canary']['p99_ms'] > 500
    note = [n for n in result['notes'] if 'stall' in n]
    assert note and note[0].startswith("canary web1's p99 of %d ms is above the floor of 500 ms and more than 100 ms "
                                       "above the baseline's 50 ms, but its 6 requests over 500 ms all ended within "
                                       "0.06 s, at 16:01:43 UTC: one stall of the node, not a slower release: not "
                                       "failed" % result['canary']['p99_ms']), result['notes']


@pytest.mark.parametrize('first, last', [(1.0, 2.0), (0.5, 4.5)])
def test_a_canary_slow_along_the_window_still_fails_on_p99(first, last):
    result = cy.analyse(_stall_window(first, last), 'web1', ['web2'])
    assert result['verdict'] == 'fail'
    reason = [r for r in result['reasons'] if "p99 latency was" in r]
    assert reason and ("above the baseline's 50 ms; its 6 requests over 500 ms ended over %.1f s (from 16:01:4%d to "
                       "16:01:4%d UTC)" % (last - first, first, last)) in reason[0], result['reasons']


def test_a_stall_with_no_baseline_traffic_is_noted_not_failed():
    window = _stall_window(3.20, 3.26, baseline_requests=0)
    result = cy.analyse(window, 'web1', ['web2'], {'min_requests': 100})
    assert result['verdict'] == 'pass', result['reasons']
    assert any('one stall of the node' in n for n in result['notes']), result['notes']
    result = cy.analyse(_stall_window(0.5, 4.5, baseline_requests=0), 'web1', ['web2'], {'min_requests': 100})
    assert result['verdict'] == 'fail'
    assert '(no baseline traffic to compare with); its 6 requests over 500 ms ended over 4.0 s' in result['reasons'][0]


def test_slow_counted_against_another_threshold_is_not_used():
    """slow requests counted over 400 ms say nothing about the 500 ms floor: the p99 rule holds as it is."""
    window = _stall_window(3.20, 3.26, over_ms=400)
    assert cy.samples_from_window(window, 'web1', ['web2'])[0]['slow']['over_ms'] == 400
    assert cy.analyse(window, 'web1', ['web2'])['verdict'] == 'fail'
    # one load balancer counted without slow_ms (an older module): nothing is known of when they came
    del window[1]['after']['requests']['web1']['slow']
    assert cy.samples_from_window(window, 'web1', ['web2'])[0]['slow'] is None
    assert cy.analyse(window, 'web1', ['web2'])['verdict'] == 'fail'


def test_a_malformed_slow_count_is_a_bug_named():
    window = _stall_window(3.20, 3.26)
    window[0]['after']['requests']['web1']['slow']['first'] = None
    with pytest.raises(ValidationError) as e:
        cy.samples_from_window(window, 'web1', ['web2'])
    assert 'window: lb1 slow of web1 must be {over_ms, requests, first, last}' in str(e.value)


def test_a_healthy_canary_reason_names_no_slow_request():
    window = [lb('lb1', {'web1': server(0), 'web2': server(0)}, {'web1': server(300), 'web2': server(300)},
                 {'web1': dict(logged(300, 0, [50] * 300), slowest=[{'time': 1764000100.0, 'path': '/', 'status': 200,
                                                                     'termination': '----', 'ta': 50, 'tw': 0,
                                                                     'tc': 0, 'tr': 50}]),
                  'web2': logged(300, 0, [50] * 300)})]
    result = cy.analyse(window, 'web1', ['web2'])
    assert result['verdict'] == 'pass' and 'slowest' not in ' '.join(result['reasons'] + result['notes'])


def test_unreadable_log_uses_counters_and_no_latencies():
    window = [
        lb('lb1', {'web1': server(0), 'web2': server(0)}, {'web1': server(200), 'web2': server(200)},
           {'web1': logged(200, 1, [5]), 'web2': logged(200, 0, [4])}),
        lb('lb2', {'web1': server(1000, 3), 'web2': server(1000, 0)}, {'web1': server(1150, 7), 'web2': server(1100, 1)},
           log_error='permission denied on the journal'),
    ]
    canary, baseline, notes = cy.samples_from_window(window, 'web1', ['web2'])
    assert (canary['requests'], canary['errors'], canary['latencies_ms']) == (350, 5, [5])
    assert (baseline['requests'], baseline['errors'], baseline['latencies_ms']) == (300, 1, [4])
    assert notes == ['lb2: access log not read (permission denied on the journal): requests and errors from its '
                     'HAProxy counters, latency cannot be judged from lb2']


def test_counter_reset_counts_from_zero():
    # lb1 reloaded: req_tot fell from 5000 to 150, so 150 requests were counted since.
    window = [lb('lb1', {'web1': server(5000, 40), 'web2': server(9000, 10)},
                 {'web1': server(150, 1), 'web2': server(300, 0)}, log_error='no access log configured')]
    canary, baseline, notes = cy.samples_from_window(window, 'web1', ['web2'])
    assert (canary['requests'], canary['errors']) == (150, 1)
    assert (baseline['requests'], baseline['errors']) == (300, 0)
    assert 'lb1 counters were reset during the window (HAProxy reloaded): counted from zero' in notes
    result = cy.analyse(window, 'web1', ['web2'], {'min_requests': 100})
    assert result['canary']['error_ratio'] >= 0 and result['baseline']['error_ratio'] >= 0
    assert 'lb1 counters were reset during the window (HAProxy reloaded): counted from zero' in result['notes']


def test_connection_failures_count_as_errors():
    window = [lb('lb1', {'web1': server(0), 'web2': server(0)},
                 {'web1': server(400, 0, econ=3, wretr=5, wredis=2), 'web2': server(800)},
                 {'web1': logged(400, 1), 'web2': logged(800, 0)})]
    canary, _baseline, _notes = cy.samples_from_window(window, 'web1', ['web2'])
    assert (canary['requests'], canary['errors'], canary['retries']) == (400, 1 + 3 + 2, 5)


def test_refused_connections_never_exceed_requests():
    window = [lb('lb1', {'web1': server(0), 'web2': server(0)}, {'web1': server(0, econ=50), 'web2': server(800)},
                 {'web2': logged(800, 0)})]
    canary, _baseline, notes = cy.samples_from_window(window, 'web1', ['web2'])
    assert (canary['requests'], canary['errors']) == (50, 50)
    assert 'lb1: canary web1 had 50 failures but only 0 requests counted: each failure counted as a request' in notes


def test_canary_missing_from_one_lbs_log_counts_zero():
    window = [
        lb('lb1', {'web1': server(0), 'web2': server(0)}, {'web1': server(300), 'web2': server(300)},
           {'web1': logged(300, 0, [5]), 'web2': logged(300, 0, [6])}),
        lb('lb2', {'web1': server(0), 'web2': server(0)}, {'web1': server(0), 'web2': server(250)},
           {'web2': logged(250, 1, [7])}),
    ]
    canary, baseline, _notes = cy.samples_from_window(window, 'web1', ['web2'])
    assert (canary['requests'], canary['latencies_ms']) == (300, [5])
    assert (baseline['requests'], baseline['errors']) == (550, 1)


@pytest.mark.parametrize('after, note', [
    (server(400, status='DOWN'),
     'lb1: canary web1 was down in the window (status DOWN at the end; health checks took it down 0 time(s))'),
    (server(400, status='MAINT'), 'status MAINT at the end'),
    (server(400, chkdown=1, status='UP 1/3'), 'status UP 1/3 at the end; health checks took it down 1 time(s)'),
])
def test_canary_down(after, note):
    window = [lb('lb1', {'web1': server(0), 'web2': server(0)}, {'web1': after, 'web2': server(800)},
                 {'web1': logged(400, 0), 'web2': logged(800, 0)})]
    canary, _baseline, notes = cy.samples_from_window(window, 'web1', ['web2'])
    assert canary['down'] is True
    assert any(note in n for n in notes), notes
    assert cy.analyse(window, 'web1', ['web2'])['verdict'] == 'fail'


def test_server_missing_or_new_on_one_lb():
    window = [lb('lb1', {'web2': server(0)}, {'web1': server(20), 'web2': server(800)},
                 {'web1': logged(20, 0), 'web2': logged(800, 0)}),
              lb('lb2', {'web2': server(0)}, {'web2': server(100)}, {'web2': logged(100, 0)})]
    canary, _baseline, notes = cy.samples_from_window(window, 'web1', ['web2'])
    assert canary['requests'] == 20
    assert 'lb1: canary web1 appeared during the window: its counters counted from zero' in notes
    assert 'lb2 has no server web1: nothing counted from lb2 for it' in notes


@pytest.mark.parametrize('window, canary, baseline, message', [
    ([], 'web1', BASELINE, 'window must be a non-empty list'),
    ([{'lb': 'lb1'}], 'web1', BASELINE, 'window item #1 must be a dict with keys lb, before, after'),
    ([{'lb': 'lb1', 'before': {'servers': {}}, 'after': {'now': 1, 'servers': {}}}], 'web1', BASELINE,
     'lb1 before-reading has no time (now)'),
    ([lb('lb1', {}, {})], 'web1', 'web2', 'baseline must be a list of server names'),
    ([lb('lb1', {}, {})], 'web2', BASELINE, 'canary web2 is also in the baseline'),
])
def test_bad_windows(window, canary, baseline, message):
    with pytest.raises(ValidationError) as e:
        cy.analyse(window, canary, baseline)
    assert message in str(e.value)


# ---------------------------------------------------------------- filter

def test_filter():
    window = [lb('lb1', {'web1': server(0), 'web2': server(0)}, {'web1': server(400), 'web2': server(800)},
                 {'web1': logged(400, 0, HEALTHY_C), 'web2': logged(800, 1, HEALTHY_B)})]
    assert FilterModule().filters()['canary_verdict'] is canary_verdict
    result = canary_verdict(window, 'web1', ['web2'])
    assert (result['verdict'], result['proceed'], result['load_balancers']) == ('pass', True, ['lb1'])
    assert canary_verdict(window, 'web1', ['web2'], {'min_requests': 1000})['verdict'] == 'inconclusive'
    with pytest.raises(AnsibleFilterError, match="unknown setting"):
        canary_verdict(window, 'web1', ['web2'], {'min_request': 10})


# ---------------------------------------------------------------- simulation

# Lognormal latencies around 80 ms (sigma 0.5, p99 about 255 ms), drawn once: a window picks from them.
LATENCY_POOL = lognormal(99, 20000, 80, 0.5)


def binomial(rng, n, ratio):
    """A binomial draw by inverting its CDF with one uniform number (400 Bernoulli draws cost too much here)."""
    u, cumulative = rng.random(), 0.0
    for k in range(n + 1):
        cumulative += math.comb(n, k) * ratio ** k * (1 - ratio) ** (n - k)
        if u < cumulative or k == n:
            return k


def simulated_window(rng, canary_error_ratio):
    """One LB, log read: 400 canary and 800 baseline requests with the same latency distribution."""
    def figures(n, ratio):
        return logged(n, binomial(rng, n, ratio), rng.choices(LATENCY_POOL, k=n))
    after = {'web1': figures(400, canary_error_ratio), 'web2': figures(800, 0.001)}
    return [lb('lb1', {'web1': server(0), 'web2': server(0)},
               {'web1': server(400), 'web2': server(800)}, after)]


def test_simulated_false_alarms_and_power():
    # Over 20000 windows: false alarms 0.3 % (alpha is 5 %: the effect-size guards), power against
    # 2 % errors 96 % (the misses are the windows where the canary happened to get <= 3 errors).
    rng = random.Random(20240601)
    healthy = Counter(cy.analyse(simulated_window(rng, 0.001), 'web1', ['web2'])['verdict'] for _i in range(200))
    failing = Counter(cy.analyse(simulated_window(rng, 0.02), 'web1', ['web2'])['verdict'] for _i in range(200))
    assert healthy['fail'] <= 2, healthy
    assert failing['fail'] >= 190, failing
