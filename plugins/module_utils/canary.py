# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Canary analysis: is the canary worse than the nodes still on the old release?

Kayenta's principle: the canary is judged against a baseline of nodes that
serve the old release over the same seconds, behind the same load balancers,
so a bad hour for the whole estate is not blamed on the release. A difference
only counts when it is both statistically significant and large enough to
matter (the effect-size guards keep false alarms well under alpha), and a
verdict needs evidence: too little canary traffic gives "inconclusive".

Input: a window, one item per load balancer, as read by the
daylight.release.haproxy_traffic module before and after the window::

    [{"lb": "lb1", "before": reading, "after": reading}, ...]

    reading = {"now": 1764000000.5,
               "servers": {"web1": {"status": "UP", "req_tot": 120, "hrsp_5xx": 0,
                                    "econ": 0, "eresp": 0, "wretr": 0, "wredis": 0,
                                    "chkdown": 0, ...}, ...},
               # after-reading only:
               "requests": {"web1": {"requests": 240, "errors": 3,
                                     "statuses": {"2xx": 237, "5xx": 3},
                                     "latencies_ms": [3, 4, 4, 5, ...]}, ...},
               "log": {"source": "journal", "read": true, "lines": 700, "error": null}}

samples_from_window() sums that into one sample for the canary and one for
the baseline; judge() gives the verdict (its docstring holds the rules);
analyse() does both. Pure Python (math only): it runs on the controller and
on any target Python.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import bisect
import math
import time
from collections import Counter

from ansible_collections.daylight.release.plugins.module_utils.errors import ValidationError
from ansible_collections.daylight.release.plugins.module_utils.haproxy import (
    SLOWEST_KEPT,
    counter_delta,
    describe_slow_request,
)

DEFAULTS = {
    'min_requests': 200,            # canary requests needed for a conclusive verdict
    'alpha': 0.05,                  # significance level of the one-sided tests
    'max_error_increase': 0.005,    # absolute error-ratio increase over the baseline that counts
    'min_success_ratio': 0.99,      # floor (Flagger's default)
    'max_p50_increase_ms': 100,     # median increase over the baseline that counts
    'max_p99_ms': 500,              # floor (Flagger's default)
    'min_latency_samples': 20,      # latencies needed on each side to judge latency
    'proceed_on_inconclusive': False,
}

COUNTER_KEYS = ('req_tot', 'hrsp_5xx', 'econ', 'eresp', 'wretr', 'wredis', 'chkdown')
Z_TEST = 'two-proportion z-test'
FISHER = 'Fisher exact'
MANN_WHITNEY = 'Mann-Whitney U'
MIN_CLEAR_ERRORS = 3  # errors a small canary sample needs before it can fail on them
_EPSILON = 1e-12  # so 0.007 - 0.002 still counts as an increase of 0.005


# ---------------------------------------------------------------- statistics

def _count(name, value):
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError('%s must be a whole number, got %r' % (name, value))
    if value < 0:
        raise ValidationError('%s is %d; counts cannot be negative (a bug upstream: counter deltas never are)'
                              % (name, value))
    return value


def _counts(errors_a, n_a, errors_b, n_b):
    for name, errors, n in (('a', errors_a, n_a), ('b', errors_b, n_b)):
        _count('errors_%s' % name, errors)
        _count('n_%s' % name, n)
        if errors > n:
            raise ValidationError('errors_%s (%d) is greater than n_%s (%d)' % (name, errors, name, n))


def _upper_tail(z):
    """P(Z >= z) for a standard normal Z; erfc keeps precision far into the tail."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def percentile(sorted_values, q):
    """The q-th percentile (q in 0..100) of an ascending list, or None when it is empty.

    Linear interpolation between the closest ranks (numpy's default): rank
    h = (n - 1) * q / 100, value = x[floor(h)] + (h - floor(h)) * (x[floor(h) + 1] - x[floor(h)]).
    """
    if isinstance(q, bool) or not isinstance(q, (int, float)) or not 0 <= q <= 100:
        raise ValidationError('percentile q must be a number from 0 to 100, got %r' % (q,))
    if not sorted_values:
        return None
    h = (len(sorted_values) - 1) * q / 100.0
    lo = int(math.floor(h))
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (h - lo) * (sorted_values[hi] - sorted_values[lo])


def two_proportion_test(errors_a, n_a, errors_b, n_b):
    """One-sided z-test, H1: a's error ratio is greater than b's; pooled standard error.

    :returns: {'z': float or None, 'p_value': float}; z is None and p_value 1.0
        when the test is undefined (a side without requests, or a pooled ratio
        of 0 or 1: no errors anywhere, or nothing but errors).
    """
    _counts(errors_a, n_a, errors_b, n_b)
    if not n_a or not n_b:
        return {'z': None, 'p_value': 1.0}
    pooled = (errors_a + errors_b) / (n_a + n_b)
    if pooled <= 0 or pooled >= 1:
        return {'z': None, 'p_value': 1.0}
    se = math.sqrt(pooled * (1 - pooled) * (1.0 / n_a + 1.0 / n_b))
    z = (errors_a / n_a - errors_b / n_b) / se
    return {'z': z, 'p_value': _upper_tail(z)}


def _log_comb(n, k):
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def fisher_exact_greater(errors_a, n_a, errors_b, n_b):
    """One-sided Fisher exact test, H1: a's error ratio is greater than b's.

    With the margins fixed, a's errors X follow a hypergeometric law: of
    N = n_a + n_b requests, K = errors_a + errors_b are errors, n_a are a's.
    p = P(X >= errors_a) = sum over x of C(K, x) C(N - K, n_a - x) / C(N, n_a),
    summed in log space (lgamma) so large counts neither overflow nor underflow.
    1.0 when a side has no requests.
    """
    _counts(errors_a, n_a, errors_b, n_b)
    if not n_a or not n_b:
        return 1.0
    n, k = n_a + n_b, errors_a + errors_b
    lowest = max(0, n_a - (n - k))
    if errors_a <= lowest:
        return 1.0  # the whole support: nothing can be less extreme
    log_total = _log_comb(n, n_a)
    logs = [_log_comb(k, x) + _log_comb(n - k, n_a - x) - log_total for x in range(errors_a, min(k, n_a) + 1)]
    top = max(logs)
    p = math.exp(top) * math.fsum(math.exp(value - top) for value in logs)
    return min(1.0, p)


def mann_whitney_u(a, b):
    """One-sided Mann-Whitney U test, H1: values in a tend to be larger (slower) than in b.

    U = R_a - n_a (n_a + 1) / 2, R_a being a's rank sum in the pooled sample
    with tied values given the average of their ranks. That equals the number
    of pairs (x in a, y in b) with x > y, ties counting one half, which is how
    it is computed: a binary search in sorted b per value of a, O(n log n).
    Normal approximation with the tie correction and a continuity correction
    (as scipy.stats.mannwhitneyu(a, b, alternative='greater', method='asymptotic')):
    z = (U - 0.5 - n_a n_b / 2) / sqrt(n_a n_b / 12 * ((n + 1) - sum(t^3 - t) / (n (n - 1)))),
    t running over the sizes of the groups of tied values.

    :returns: {'u': float, 'z': float, 'p_value': float}; all None when a
        sample is empty; z 0.0 and p_value 1.0 when every value is the same.
    """
    n_a, n_b = len(a), len(b)
    if not n_a or not n_b:
        return {'u': None, 'z': None, 'p_value': None}
    ordered = sorted(b)
    u = 0.0
    for x in a:
        below = bisect.bisect_left(ordered, x)
        u += below + (bisect.bisect_right(ordered, x, below) - below) / 2.0
    n = n_a + n_b
    ties = sum(t ** 3 - t for t in Counter(list(a) + ordered).values() if t > 1)
    variance = n_a * n_b / 12.0 * ((n + 1) - ties / float(n * (n - 1)))
    if variance <= 0:
        return {'u': u, 'z': 0.0, 'p_value': 1.0}
    z = (u - 0.5 - n_a * n_b / 2.0) / math.sqrt(variance)
    return {'u': u, 'z': z, 'p_value': _upper_tail(z)}


# ---------------------------------------------------------------- window -> samples

def _new_sample(servers):
    return {'servers': list(servers), 'requests': 0, 'errors': 0, 'retries': 0, 'latencies_ms': [], 'slowest': [],
            'slow': None, 'down': False}


def _check_slow(where, slow):
    """haproxy_traffic's slow_ms count as given, or ValidationError naming where it came from."""
    def number(key):
        return not isinstance(slow.get(key), bool) and isinstance(slow.get(key), (int, float))
    if not isinstance(slow, dict) or not number('over_ms') or (
            _count('%s requests' % where, slow.get('requests')) and not (number('first') and number('last'))):
        raise ValidationError('%s must be {over_ms, requests, first, last} with the times of the first and the last '
                              'slow request, got %r' % (where, slow))
    return slow


def _merge_slow(merged, slow):
    """A sample's slow count with one more reading's added; None when they were counted over other thresholds."""
    merged = merged or {'over_ms': slow['over_ms'], 'requests': 0, 'first': None, 'last': None}
    if merged['over_ms'] != slow['over_ms']:
        return None
    merged['requests'] += slow['requests']
    if slow['requests']:
        merged['first'] = slow['first'] if merged['first'] is None else min(merged['first'], slow['first'])
        merged['last'] = slow['last'] if merged['last'] is None else max(merged['last'], slow['last'])
    return merged


def _check_names(canary, baseline):
    if not isinstance(canary, str) or not canary:
        raise ValidationError('canary must be a server name, got %r' % (canary,))
    if not isinstance(baseline, (list, tuple)) or not all(isinstance(name, str) and name for name in baseline):
        raise ValidationError('baseline must be a list of server names, got %r' % (baseline,))
    if canary in baseline:
        raise ValidationError('canary %s is also in the baseline %s; the baseline is the nodes still on the old release'
                              % (canary, ', '.join(baseline)))


def _check_reading(lb, which, reading):
    if not isinstance(reading, dict) or not isinstance(reading.get('servers'), dict):
        raise ValidationError('window: %s %s-reading must be a dict with a servers dict, got %r' % (lb, which, reading))
    now = reading.get('now')
    if isinstance(now, bool) or not isinstance(now, (int, float)):
        raise ValidationError('window: %s %s-reading has no time (now), got %r' % (lb, which, now))


def _check_window(window):
    if not isinstance(window, (list, tuple)) or not window:
        raise ValidationError('window must be a non-empty list with one item per load balancer, got %r' % (window,))
    for i, entry in enumerate(window, 1):
        if not isinstance(entry, dict) or sorted(set(entry) & {'lb', 'before', 'after'}) != ['after', 'before', 'lb']:
            raise ValidationError('window item #%d must be a dict with keys lb, before, after; got %r' % (i, entry))
        _check_reading(entry['lb'], 'before', entry['before'])
        _check_reading(entry['lb'], 'after', entry['after'])


def _latencies(where, values):
    if not isinstance(values, (list, tuple)):
        raise ValidationError('%s must be a list, got %r' % (where, values))
    try:
        # min() runs in C: thousands of latencies per window are checked at no cost.
        negative = bool(values) and min(values) < 0
    except TypeError:
        negative = True
    if negative:
        bad = [v for v in values if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0]
        raise ValidationError('%s holds %r; latencies are numbers >= 0' % (where, bad[0] if bad else values))
    return values


def samples_from_window(window, canary, baseline):
    """Sum a window into (canary_sample, baseline_sample, notes).

    Per load balancer and server: with the after-reading's access log read
    (log.read true), requests, errors and latencies come from
    after.requests[server] (a server absent there served 0 requests); else
    requests = delta req_tot, errors = delta hrsp_5xx and there are no
    latencies (HAProxy's rolling averages are not a distribution, so latency
    cannot be judged from that load balancer). Either way errors also get the
    connection-level failures delta econ + delta wredis (wretr is reported as
    retries, not added: it overlaps econ). Deltas come from counter_delta(), so
    a counter reset by an HAProxy reload counts from zero, never negative.

    A sample is {"servers": [...], "requests": n, "errors": n, "retries": n,
    "latencies_ms": sorted list, "slowest": [...], "slow": {over_ms, requests,
    first, last} or None, "down": bool}. down: a server's status in an
    after-reading does not start with "UP", or its chkdown grew. slow sums
    haproxy_traffic's slow_ms counts; None unless every log read has one, for
    the same over_ms.
    """
    _check_window(window)
    _check_names(canary, baseline)
    samples = {'canary': _new_sample([canary]), 'baseline': _new_sample(baseline)}
    notes = []
    slow_known = {'canary': True, 'baseline': True}
    for entry in window:
        lb, before, after = entry['lb'], entry['before'], entry['after']
        log = after.get('log') if isinstance(after.get('log'), dict) else {}
        log_read = log.get('read') is True
        if not log_read:
            notes.append('%s: access log not read (%s): requests and errors from its HAProxy counters, '
                         'latency cannot be judged from %s' % (lb, log.get('error') or 'no reason given', lb))
        logged = (after.get('requests') or {}) if log_read else {}
        reset = False
        for role, names in (('canary', [canary]), ('baseline', baseline)):
            sample = samples[role]
            for server in names:
                now = after['servers'].get(server)
                if not isinstance(now, dict):
                    notes.append('%s has no server %s: nothing counted from %s for it' % (lb, server, lb))
                    continue
                then = before['servers'].get(server)
                if not isinstance(then, dict):
                    notes.append('%s: %s %s appeared during the window: its counters counted from zero'
                                 % (lb, role, server))
                    then = dict((key, 0) for key in COUNTER_KEYS)
                delta, reset_keys = counter_delta(then, now, COUNTER_KEYS)
                reset = reset or bool(reset_keys)
                if log_read:
                    seen = logged.get(server) or {}
                    requests = _count('window: %s requests of %s' % (lb, server), seen.get('requests', 0))
                    errors = _count('window: %s errors of %s' % (lb, server), seen.get('errors', 0))
                    where = 'window: %s latencies_ms of %s' % (lb, server)
                    sample['latencies_ms'].extend(_latencies(where, seen.get('latencies_ms') or []))
                    sample['slowest'].extend(dict(slow, lb=lb) for slow in seen.get('slowest') or []
                                             if isinstance(slow, dict) and isinstance(slow.get('ta'), int))
                    if slow_known[role]:
                        # A reading without the count (a module run without slow_ms) leaves it unknown.
                        slow = seen.get('slow')
                        sample['slow'] = None if slow is None else _merge_slow(
                            sample['slow'], _check_slow('window: %s slow of %s' % (lb, server), slow))
                        slow_known[role] = sample['slow'] is not None
                else:
                    requests, errors = delta['req_tot'], delta['hrsp_5xx']
                errors += delta['econ'] + delta['wredis']
                if errors > requests:
                    # A refused connection may never reach the log or req_tot; it was still a request lost.
                    notes.append('%s: %s %s had %d failures but only %d requests counted: each failure counted '
                                 'as a request' % (lb, role, server, errors, requests))
                    requests = errors
                sample['requests'] += requests
                sample['errors'] += errors
                sample['retries'] += delta['wretr']
                status = str(now.get('status') or '')
                if not status.startswith('UP') or delta['chkdown'] > 0:
                    sample['down'] = True
                    notes.append('%s: %s %s was down in the window (status %s at the end; health checks took it '
                                 'down %d time(s))' % (lb, role, server, status or 'unknown', delta['chkdown']))
        if reset:
            notes.append('%s counters were reset during the window (HAProxy reloaded): counted from zero' % lb)
    for role, sample in samples.items():
        if not slow_known[role]:
            sample['slow'] = None
        sample['latencies_ms'].sort()
        sample['slowest'] = sorted(sample['slowest'], key=lambda slow: -slow['ta'])[:SLOWEST_KEPT]
    return samples['canary'], samples['baseline'], notes


# ---------------------------------------------------------------- verdict

def _number(name, value, low, high, whole=False):
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            pass
    if isinstance(value, float) and whole and value.is_integer():
        value = int(value)
    kinds = (int,) if whole else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high:
        limits = 'at least %s' % low if high == float('inf') else 'from %s to %s' % (low, high)
        raise ValidationError('setting %s must be a %s %s, got %r'
                              % (name, 'whole number' if whole else 'number', limits, value))
    return value


def _boolean(name, value):
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ('true', 'yes', 'on', '1'):
        return True
    if text in ('false', 'no', 'off', '0'):
        return False
    raise ValidationError('setting %s must be true or false, got %r' % (name, value))


def settings_with_defaults(settings=None):
    """The settings merged over DEFAULTS and checked; unknown keys are an error (a typo would be ignored)."""
    if settings is None:
        settings = {}
    if not isinstance(settings, dict):
        raise ValidationError('settings must be a dict, got %s' % type(settings).__name__)
    unknown = sorted(set(settings) - set(DEFAULTS), key=str)
    if unknown:
        raise ValidationError('unknown setting(s) %s; expected %s'
                              % (', '.join(repr(k) for k in unknown), ', '.join(sorted(DEFAULTS))))
    merged = dict(DEFAULTS)
    merged.update((key, value) for key, value in settings.items() if value is not None)
    return {
        'min_requests': _number('min_requests', merged['min_requests'], 1, float('inf'), whole=True),
        'alpha': _number('alpha', merged['alpha'], 1e-12, 0.5),
        'max_error_increase': _number('max_error_increase', merged['max_error_increase'], 0, 1),
        'min_success_ratio': _number('min_success_ratio', merged['min_success_ratio'], 0, 1),
        'max_p50_increase_ms': _number('max_p50_increase_ms', merged['max_p50_increase_ms'], 0, float('inf')),
        'max_p99_ms': _number('max_p99_ms', merged['max_p99_ms'], 0, float('inf')),
        'min_latency_samples': _number('min_latency_samples', merged['min_latency_samples'], 1, float('inf'),
                                       whole=True),
        'proceed_on_inconclusive': _boolean('proceed_on_inconclusive', merged['proceed_on_inconclusive']),
    }


def _check_sample(role, sample):
    if not isinstance(sample, dict):
        raise ValidationError('%s sample must be a dict, got %r' % (role, sample))
    servers = sample.get('servers') or []
    if isinstance(servers, str) or not isinstance(servers, (list, tuple)):
        raise ValidationError('%s sample: servers must be a list of names, got %r' % (role, servers))
    requests = _count('%s sample: requests' % role, sample.get('requests', 0))
    errors = _count('%s sample: errors' % role, sample.get('errors', 0))
    retries = _count('%s sample: retries' % role, sample.get('retries', 0))
    if errors > requests:
        raise ValidationError('%s sample: %d errors in %d requests; errors cannot outnumber requests'
                              % (role, errors, requests))
    latencies = sample.get('latencies_ms') or []
    _latencies('%s sample: latencies_ms' % role, latencies)
    slowest = sample.get('slowest') or []
    if not isinstance(slowest, (list, tuple)) or not all(isinstance(slow, dict) for slow in slowest):
        raise ValidationError('%s sample: slowest must be a list of requests (dicts), got %r' % (role, slowest))
    slow = sample.get('slow')
    if slow is not None:
        slow = _check_slow('%s sample: slow' % role, slow)
    return {'servers': [str(s) for s in servers], 'requests': requests, 'errors': errors, 'retries': retries,
            'latencies_ms': sorted(latencies), 'slowest': list(slowest), 'slow': slow,
            'down': bool(sample.get('down'))}


# Slow requests that all ended within this many seconds are one moment: the node stalled once (a busy
# host, a paused VM, a page fault storm), which is no evidence about the release.
ONE_MOMENT_SECONDS = 1.0


def _slow_over(sample, over_ms):
    """The sample's slow count when it counted requests over exactly over_ms and found some, else None."""
    slow = sample['slow']
    return slow if slow is not None and slow['over_ms'] == over_ms and slow['requests'] else None


def _spread(sample, over_ms):
    """'; its N requests over X ms ended over S s (from T to T UTC)' for a p99 failure, or ''."""
    slow = _slow_over(sample, over_ms)
    if slow is None:
        return ''
    return ('; its %d request%s over %s ended over %.1f s (from %s to %s UTC)'
            % (slow['requests'], '' if slow['requests'] == 1 else 's', _ms(over_ms), slow['last'] - slow['first'],
               time.strftime('%H:%M:%S', time.gmtime(slow['first'])),
               time.strftime('%H:%M:%S', time.gmtime(slow['last']))))


def _one_moment(sample, over_ms):
    """A note's words when every request of the sample slower than over_ms ended within one moment, else None."""
    slow = _slow_over(sample, over_ms)
    if slow is None or slow['last'] - slow['first'] >= ONE_MOMENT_SECONDS:
        return None
    return ('its %d request%s over %s all ended within %.2f s, at %s UTC: one stall of the node, not a slower '
            'release' % (slow['requests'], '' if slow['requests'] == 1 else 's', _ms(over_ms),
                         slow['last'] - slow['first'], time.strftime('%H:%M:%S', time.gmtime(slow['last']))))


def _slowest(sample):
    """'; slowest: ...' naming the sample's slowest requests and where their time went, or ''."""
    try:
        lines = [describe_slow_request(slow, slow.get('lb')) for slow in sample['slowest']]
    except (KeyError, TypeError, ValueError):
        return ''  # a reading from an older module: the verdict stands without the detail
    return '; slowest: %s' % '; '.join(lines) if lines else ''


def _ratio(errors, requests):
    return errors / requests if requests else None


def _pct(ratio):
    """0.0215 -> '2.2%'; two decimals below 0.1 % so a small ratio does not read as none."""
    value = ratio * 100
    return ('%.2f%%' if 0 < value < 0.1 else '%.1f%%') % value


def _points(ratio):
    return ('%.2f' if 0 < ratio * 100 < 0.1 else '%.1f') % (ratio * 100)


def _sig(value, digits=4):
    return None if value is None else float('%.*g' % (digits, value))


def _p(value):
    return '%.4g' % value


def _ms(value):
    return '%d ms' % int(round(value))


def _whole_ms(value):
    return None if value is None else int(round(value))


def _figures(sample, p50, p99):
    ratio = _ratio(sample['errors'], sample['requests'])
    return {
        'servers': sample['servers'],
        'requests': sample['requests'],
        'errors': sample['errors'],
        # 0.01 % resolution: a healthy 0.05 % must not read as 0.
        'error_ratio': None if ratio is None else round(ratio, 4),
        'retries': sample['retries'],
        'latency_samples': len(sample['latencies_ms']),
        'p50_ms': _whole_ms(p50),
        'p95_ms': _whole_ms(percentile(sample['latencies_ms'], 95)),
        'p99_ms': _whole_ms(p99),
        'down': sample['down'],
    }


def judge(canary_sample, baseline_sample, settings=None):
    """Verdict on the canary against the baseline. These rules are the contract.

    settings (see DEFAULTS): min_requests 200, alpha 0.05, max_error_increase
    0.005, min_success_ratio 0.99, max_p50_increase_ms 100, max_p99_ms 500,
    min_latency_samples 20, proceed_on_inconclusive False.

    1. Canary down (status not UP, or health checks took it down): fail.
    2. Errors. The one-sided test is the two-proportion z-test, or Fisher's
       exact test when an expected cell count of the 2x2 table is below 5.
       Fail when p < alpha AND canary error ratio - baseline error ratio >=
       max_error_increase.
       Fail when the canary's success ratio is below min_success_ratio and it
       is worse than the baseline's: the baseline meets the floor, or (when the
       baseline breaks the floor too) the test gives p < alpha. A floor the
       baseline breaks and the canary is not measurably worse on is noted as
       "the estate itself is below the floor", not blamed on the canary.
       With no baseline traffic (0 requests) there is no test: the canary is
       judged on the floors only (success ratio and p99), and a note says so.
    3. Latency, only with >= min_latency_samples latencies on both sides (else
       a note and no latency judgement; with no baseline traffic the p99 floor
       alone is applied to the canary). Fail when the one-sided Mann-Whitney U
       test gives p < alpha AND canary p50 - baseline p50 >=
       max_p50_increase_ms. Fail when canary p99 > max_p99_ms AND canary p99 >
       baseline p99 + max_p50_increase_ms; a p99 floor the baseline breaks too,
       without that margin, is noted, not blamed on the canary. A p99 over the
       floor is not failed, only noted, when the sample's "slow" count (its
       requests over max_p99_ms) shows they all ended within
       ONE_MOMENT_SECONDS: the node stalled once; a slower release is slow all
       along the window. Without that count (None) the p99 rule holds as is.
    4. Fewer than min_requests canary requests: "inconclusive", unless the
       canary is down or its errors are already significant by Fisher's test
       (p < alpha) with at least 3 canary errors: then "fail" (a canary failing
       clearly on few requests is not let through). Other findings on so little
       traffic become notes.
    5. Otherwise pass. proceed: pass True, fail False, inconclusive
       proceed_on_inconclusive. reasons: the failures (fail), the checks that
       ran and passed (pass), the missing traffic (inconclusive). A canary
       without any latency gets a note and "latency not judged" in a pass's
       summary.

    Decisions use unrounded values; the figures are rounded for reading:
    error ratios to 0.01 %, milliseconds to whole numbers, p-values to 4
    significant digits, z to 3 decimals.

    Negative counts (or more errors than requests) raise ValidationError: they
    can only come from a bug, counter_delta never returns them.

    :returns: {"verdict": "pass"|"fail"|"inconclusive", "proceed": bool,
        "reasons": [str], "notes": [str], "canary": figures, "baseline": figures,
        "errors_test": {"method", "p_value", "z"},
        "latency_test": {"method", "p_value", "u", "z"} or None, "summary": str}
        with figures = {servers, requests, errors, error_ratio, retries,
        latency_samples, p50_ms, p95_ms, p99_ms, down}. errors_test has method,
        p_value and z None when a side had no requests (no test was possible).
    """
    s = settings_with_defaults(settings)
    c = _check_sample('canary', canary_sample)
    b = _check_sample('baseline', baseline_sample)
    alpha = s['alpha']
    cname = 'canary %s' % (', '.join(c['servers']) or '(unnamed)')
    bname = 'the baseline %s' % (', '.join(b['servers']) or '(no servers)')
    notes = []
    failures = []   # (reason, short form for the summary)
    passes = []     # reasons the checks that ran were passed

    c_lat, b_lat = c['latencies_ms'], b['latencies_ms']
    c_p50, b_p50 = percentile(c_lat, 50), percentile(b_lat, 50)
    c_p99, b_p99 = percentile(c_lat, 99), percentile(b_lat, 99)
    c_ratio, b_ratio = _ratio(c['errors'], c['requests']), _ratio(b['errors'], b['requests'])
    no_baseline = b['requests'] == 0

    if c['down']:
        failures.append(('%s went down during the window (status not UP on a load balancer, or health checks '
                         'took it down)' % cname, 'went down'))

    # ---- errors
    errors_test = {'method': None, 'p_value': None, 'z': None}
    fisher_p = None
    if c['requests'] and not no_baseline:
        n, k = c['requests'] + b['requests'], c['errors'] + b['errors']
        expected = min(c['requests'], b['requests']) * min(k, n - k) / float(n)
        fisher_p = fisher_exact_greater(c['errors'], c['requests'], b['errors'], b['requests'])
        if expected < 5:
            errors_test = {'method': FISHER, 'p_value': fisher_p, 'z': None}
        else:
            z_test = two_proportion_test(c['errors'], c['requests'], b['errors'], b['requests'])
            errors_test = {'method': Z_TEST, 'p_value': z_test['p_value'], 'z': z_test['z']}
        comparison = ('%s answered %d of %d requests with errors (%s) against %d of %d (%s) on %s (%s p=%s)'
                      % (cname, c['errors'], c['requests'], _pct(c_ratio), b['errors'], b['requests'],
                         _pct(b_ratio), bname, errors_test['method'], _p(errors_test['p_value'])))
        increase = c_ratio - b_ratio
        significant = errors_test['p_value'] < alpha
        if significant and increase >= s['max_error_increase'] - _EPSILON:
            failures.append(('%s: above the allowed increase of %s points' % (comparison, _points(s['max_error_increase'])),
                             'errors %s vs %s' % (_pct(c_ratio), _pct(b_ratio))))
        elif significant:
            passes.append('%s: significant but an increase of only %s points, below the allowed %s'
                          % (comparison, _points(max(increase, 0)), _points(s['max_error_increase'])))
        else:
            passes.append('%s: no significant increase' % comparison)
    elif c['requests']:
        notes.append('no baseline traffic in the window (%s served 0 requests): %s judged against the floors '
                     'only (success ratio %s, p99 %s)' % (bname, cname, _pct(s['min_success_ratio']),
                                                          _ms(s['max_p99_ms'])))

    if c['requests']:
        c_success = 1 - c_ratio
        floor = _pct(s['min_success_ratio'])
        floor_text = ('%s\'s success ratio was %s (%d errors in %d requests), below the floor of %s'
                      % (cname, _pct(c_success), c['errors'], c['requests'], floor))
        if c_success < s['min_success_ratio'] - _EPSILON:
            b_success = None if no_baseline else 1 - b_ratio
            if b_success is None:
                failures.append(('%s (no baseline traffic to compare with)' % floor_text,
                                 'success %s below the floor %s' % (_pct(c_success), floor)))
            elif b_success >= s['min_success_ratio'] - _EPSILON:
                failures.append(('%s that %s meets (%s)' % (floor_text, bname, _pct(b_success)),
                                 'success %s below the floor %s' % (_pct(c_success), floor)))
            elif c_success < b_success and errors_test['p_value'] < alpha:
                failures.append(('%s, and worse than %s (%s, %s p=%s)'
                                 % (floor_text, bname, _pct(b_success), errors_test['method'],
                                    _p(errors_test['p_value'])),
                                 'success %s below the floor %s' % (_pct(c_success), floor)))
        elif no_baseline:
            passes.append('%s answered %d of %d requests with errors (%s): a success ratio of %s meets the floor of %s'
                          % (cname, c['errors'], c['requests'], _pct(c_ratio), _pct(c_success), floor))
        if not no_baseline and 1 - b_ratio < s['min_success_ratio'] - _EPSILON:
            notes.append('the estate itself is below the floor: %s had a success ratio of %s, under %s; '
                         'not blamed on the canary' % (bname, _pct(1 - b_ratio), floor))

    # ---- latency
    latency_test = None
    latency_judged = False
    need = s['min_latency_samples']
    margin = s['max_p50_increase_ms']
    p99_floor = s['max_p99_ms']
    if not c_lat:
        notes.append('latency was not judged: no latency samples from %s (access log not read, or no requests)'
                     % cname)
    elif no_baseline and len(c_lat) >= need:
        latency_judged = True
        stall = _one_moment(c, p99_floor) if c_p99 > p99_floor else None
        if stall:
            notes.append('%s\'s p99 of %s is above the floor of %s, but %s: not failed%s'
                         % (cname, _ms(c_p99), _ms(p99_floor), stall, _slowest(c)))
        elif c_p99 > p99_floor:
            failures.append(('%s\'s p99 latency was %s, above the floor of %s (no baseline traffic to compare with)%s%s'
                             % (cname, _ms(c_p99), _ms(p99_floor), _spread(c, p99_floor), _slowest(c)),
                             'p99 %s' % _ms(c_p99)))
        else:
            passes.append('latency: %s p99 %s is within the floor of %s' % (cname, _ms(c_p99), _ms(p99_floor)))
    elif len(c_lat) < need or len(b_lat) < need:
        notes.append('latency was not judged: %d canary and %d baseline latency samples, %d needed on each side'
                     % (len(c_lat), len(b_lat), need))
    else:
        latency_judged = True
        mwu = mann_whitney_u(c_lat, b_lat)
        latency_test = {'method': MANN_WHITNEY, 'p_value': _sig(mwu['p_value']), 'u': mwu['u'],
                        'z': None if mwu['z'] is None else round(mwu['z'], 3)}
        comparison = ('%s answered with a median of %s against %s on %s (%s p=%s, %d and %d samples)'
                      % (cname, _ms(c_p50), _ms(b_p50), bname, MANN_WHITNEY, _p(mwu['p_value']),
                         len(c_lat), len(b_lat)))
        if mwu['p_value'] < alpha and c_p50 - b_p50 >= margin - _EPSILON:
            failures.append(('%s: above the allowed increase of %s%s' % (comparison, _ms(margin), _slowest(c)),
                             'median %s vs %s' % (_ms(c_p50), _ms(b_p50))))
        else:
            passes.append('%s: within the allowed increase of %s' % (comparison, _ms(margin)))
        stall = _one_moment(c, p99_floor) if c_p99 > p99_floor and c_p99 > b_p99 + margin else None
        if stall:
            notes.append('%s\'s p99 of %s is above the floor of %s and more than %s above the baseline\'s %s, but %s: '
                         'not failed%s' % (cname, _ms(c_p99), _ms(p99_floor), _ms(margin), _ms(b_p99), stall,
                                           _slowest(c)))
        elif c_p99 > p99_floor and c_p99 > b_p99 + margin:
            reason = ('%s\'s p99 latency was %s, above the floor of %s and more than %s above the baseline\'s %s%s%s'
                      % (cname, _ms(c_p99), _ms(p99_floor), _ms(margin), _ms(b_p99), _spread(c, p99_floor),
                         _slowest(c)))
            failures.append((reason, 'p99 %s vs %s' % (_ms(c_p99), _ms(b_p99))))
        elif b_p99 > p99_floor:
            notes.append('the estate itself is above the p99 floor: %s had a p99 of %s (canary %s), over %s; '
                         'not blamed on the canary' % (bname, _ms(b_p99), _ms(c_p99), _ms(p99_floor)))
        elif c_p99 > p99_floor:
            notes.append('%s\'s p99 of %s is above the floor of %s but within %s of the baseline\'s %s: not failed'
                         % (cname, _ms(c_p99), _ms(p99_floor), _ms(margin), _ms(b_p99)))

    # ---- verdict
    if c['requests'] < s['min_requests']:
        few = ('%s served %s in the window, %d needed for a verdict'
               % (cname, 'only %d requests' % c['requests'] if c['requests'] else 'no requests', s['min_requests']))
        decisive = []
        if c['down']:
            decisive.append(failures[0])
        clear = fisher_p is not None and fisher_p < alpha and c['errors'] >= MIN_CLEAR_ERRORS
        if clear:
            decisive.append(('%s answered %d of %d requests with errors (%s) against %d of %d (%s) on %s '
                             '(%s p=%s): failing clearly on few requests (%s)'
                             % (cname, c['errors'], c['requests'], _pct(c_ratio), b['errors'], b['requests'],
                                _pct(b_ratio), bname, FISHER, _p(fisher_p), few),
                             'errors %s vs %s on few requests' % (_pct(c_ratio), _pct(b_ratio))))
        for reason, short in failures:
            # The clear-errors reason already names the error figures.
            if (reason, short) not in decisive and not (clear and short.startswith(('errors', 'success'))):
                notes.append('on the little traffic seen: %s' % reason)
        if decisive:
            verdict, reasons, shorts = 'fail', [r for r, _s in decisive], [sh for _r, sh in decisive]
        else:
            verdict, reasons, shorts = 'inconclusive', ['%s: inconclusive' % few], []
    elif failures:
        verdict, reasons, shorts = 'fail', [r for r, _s in failures], [sh for _r, sh in failures]
    else:
        verdict, reasons, shorts = 'pass', passes, []

    canary_figures = _figures(c, c_p50, c_p99)
    baseline_figures = _figures(b, b_p50, b_p99)
    if verdict == 'fail':
        summary = 'fail: %s: %s' % (cname, '; '.join(shorts))
    elif verdict == 'inconclusive':
        summary = ('inconclusive: %s served %d of the %d requests needed for a verdict (%s)'
                   % (cname, c['requests'], s['min_requests'],
                      'proceeding: proceed_on_inconclusive is set' if s['proceed_on_inconclusive']
                      else 'not proceeding'))
    elif no_baseline:
        summary = 'pass: %s is within the floors; no baseline traffic to compare with (%s)' % (
            cname, _brief(canary_figures, None))
    else:
        summary = 'pass: %s is no worse than %s (%s)' % (cname, bname, _brief(canary_figures, baseline_figures))
    if verdict == 'pass' and not latency_judged:
        summary += '; latency not judged'
    errors_test['p_value'] = _sig(errors_test['p_value'])
    errors_test['z'] = None if errors_test['z'] is None else round(errors_test['z'], 3)
    return {
        'verdict': verdict,
        'proceed': {'pass': True, 'fail': False}.get(verdict, s['proceed_on_inconclusive']),
        'reasons': reasons,
        'notes': notes,
        'canary': canary_figures,
        'baseline': baseline_figures,
        'errors_test': errors_test,
        'latency_test': latency_test,
        'summary': summary,
    }


def _brief(c, b):
    """'canary 400 requests, 0.2% errors, p50 103 ms, p99 199 ms; baseline ...' for the summary."""
    def side(name, f):
        text = '%s %d requests, %s errors' % (name, f['requests'],
                                              _pct(f['errors'] / f['requests']) if f['requests'] else 'no')
        if f['p50_ms'] is not None:
            text += ', p50 %d ms, p99 %d ms' % (f['p50_ms'], f['p99_ms'])
        return text
    return side('canary', c) if b is None else '%s; %s' % (side('canary', c), side('baseline', b))


def analyse(window, canary, baseline, settings=None):
    """samples_from_window() + judge(): the verdict with the window's notes first, plus
    window_seconds (the longest after.now - before.now over the load balancers) and
    load_balancers (their names, in window order)."""
    canary_sample, baseline_sample, notes = samples_from_window(window, canary, baseline)
    verdict = judge(canary_sample, baseline_sample, settings)
    verdict['notes'] = notes + verdict['notes']
    verdict['window_seconds'] = round(max(entry['after']['now'] - entry['before']['now'] for entry in window), 1)
    verdict['load_balancers'] = [entry['lb'] for entry in window]
    return verdict
