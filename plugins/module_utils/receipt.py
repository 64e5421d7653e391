# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The visitors' receipt: what real visitors saw before, during and after a release, from the load
balancers' own logs.

Each load balancer counts its log into named time windows (count_windows, run by
daylight.release.haproxy_traffic on the load balancer); the controller adds the load balancers'
counts together and judges them (receipt, through the daylight.release.visitor_receipt filter).
Latencies travel as histograms, so that several load balancers' percentiles can be merged: each
latency is kept to two significant digits (1234 ms counts as 1300 ms), at most 5 % off.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math

from ansible_collections.daylight.release.plugins.module_utils.errors import ValidationError
from ansible_collections.daylight.release.plugins.module_utils.haproxy import log_status_class

# Judged against the window before the release, as the canary's live window is against its baseline.
DEFAULT_RULES = {
    # Percentage points of errors more than before, and at least this many errors, make a window worse.
    'error_points': 0.5,
    'min_errors': 3,
    # A p95 more than ratio x before and more than margin_ms above it makes a window worse.
    'p95_ratio': 1.5,
    'p95_margin_ms': 50,
    # Below this many requests a window says too little to judge (and "before" is no baseline).
    'min_requests': 20,
}


def bucket(ms):
    """The histogram bucket of a latency: the latency rounded up to two significant digits."""
    ms = int(ms)
    if ms < 100:
        return max(ms, 0)
    scale = 10 ** (len(str(ms)) - 2)
    return int(math.ceil(ms / float(scale)) * scale)


def check_windows(windows):
    """The windows as (name, start, end) tuples, or ValidationError naming the bad one."""
    checked, seen = [], set()
    for i, window in enumerate(windows or []):
        if not isinstance(window, dict) or 'name' not in window:
            raise ValidationError('windows[%d]: expected a dict with name, start and end, got %r' % (i, window))
        name = window['name']
        if not isinstance(name, str) or not name:
            raise ValidationError('windows[%d]: the name must be a non-empty string, got %r' % (i, name))
        if name in seen:
            raise ValidationError('windows[%d]: the name %r is used twice' % (i, name))
        try:
            start, end = float(window['start']), float(window['end'])
        except (KeyError, TypeError, ValueError):
            raise ValidationError('window %r: start and end must be epoch seconds, got %r and %r'
                                  % (name, window.get('start'), window.get('end')))
        if end < start:
            raise ValidationError('window %r: it ends (%s) before it starts (%s)' % (name, end, start))
        seen.add(name)
        checked.append((name, start, end))
    return checked


def _empty():
    return {'requests': 0, 'errors': 0, 'statuses': {}, 'latency_ms': {}}


def count_windows(entries, windows, is_error):
    """Per window name, the requests, errors, status classes and latency histogram of `entries`.

    :arg entries: parsed log entries (haproxy.parse_log_line) of one backend.
    :arg windows: check_windows() tuples; a request counts in every window its time falls in.
    :arg is_error: entry -> bool, what counts against the estate (haproxy.is_server_error).
    """
    counted = dict((name, _empty()) for name, _start, _end in windows)
    for entry in entries:
        for name, start, end in windows:
            if not start <= entry['time'] <= end:
                continue
            figures = counted[name]
            figures['requests'] += 1
            if is_error(entry):
                figures['errors'] += 1
            status = log_status_class(entry['status'])
            figures['statuses'][status] = figures['statuses'].get(status, 0) + 1
            if entry['ta'] >= 0:
                key = str(bucket(entry['ta']))
                figures['latency_ms'][key] = figures['latency_ms'].get(key, 0) + 1
    return counted


def merge(readings):
    """One load balancer's count_windows() result after another, added up per window."""
    merged = {}
    for reading in readings:
        for name, figures in (reading or {}).items():
            total = merged.setdefault(name, _empty())
            total['requests'] += figures.get('requests', 0)
            total['errors'] += figures.get('errors', 0)
            for key in ('statuses', 'latency_ms'):
                for value, count in figures.get(key, {}).items():
                    total[key][str(value)] = total[key].get(str(value), 0) + count
    return merged


def percentile(histogram, fraction):
    """The latency at `fraction` (0.95 for p95) of a histogram {ms: count}, or None when it is empty."""
    points = sorted((int(ms), count) for ms, count in histogram.items() if count > 0)
    total = sum(count for _ms, count in points)
    if not total:
        return None
    rank = max(1, int(math.ceil(fraction * total)))
    seen = 0
    for ms, count in points:
        seen += count
        if seen >= rank:
            return ms
    return points[-1][0]


def _row(name, start, end, figures):
    seconds = max(end - start, 0.0)
    requests = figures['requests']
    return {
        'window': name,
        'start': round(start, 3),
        'end': round(end, 3),
        'seconds': round(seconds, 1),
        'requests': requests,
        'per_second': round(requests / seconds, 1) if seconds > 0 else None,
        'errors': figures['errors'],
        'error_pct': round(100.0 * figures['errors'] / requests, 2) if requests else None,
        'p50_ms': percentile(figures['latency_ms'], 0.50),
        'p95_ms': percentile(figures['latency_ms'], 0.95),
        'statuses': dict(sorted(figures['statuses'].items())),
    }


def _worse(row, before, rules):
    """Why a window was worse for visitors than the one before the release ([] when it was not)."""
    why = []
    if row['requests'] < rules['min_requests']:
        return why
    extra_points = (row['error_pct'] or 0) - (before['error_pct'] or 0)
    if row['errors'] >= rules['min_errors'] and extra_points > rules['error_points']:
        why.append('%s: %d errors in %d requests (%.2f %%, %.2f %% before)'
                   % (row['window'], row['errors'], row['requests'], row['error_pct'], before['error_pct'] or 0))
    if row['p95_ms'] is not None and before['p95_ms'] is not None:
        if row['p95_ms'] > before['p95_ms'] * rules['p95_ratio'] and row['p95_ms'] - before['p95_ms'] > rules['p95_margin_ms']:
            why.append('%s: p95 %d ms (%d ms before)' % (row['window'], row['p95_ms'], before['p95_ms']))
    return why


def rules_with_defaults(rules=None):
    merged = dict(DEFAULT_RULES)
    for key, value in (rules or {}).items():
        if key not in DEFAULT_RULES:
            raise ValidationError('receipt rule %r is unknown; the rules are %s' % (key, ', '.join(sorted(DEFAULT_RULES))))
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValidationError('receipt rule %s must be a number >= 0, got %r' % (key, value))
        merged[key] = value
    return merged


def receipt(readings, windows, rules=None, unread=()):
    """The receipt: a row per window, in the windows' order, and whether visitors had it worse.

    :arg readings: each load balancer's count_windows() result.
    :arg windows: the windows the load balancers counted, the first being the one before the release.
    :arg unread: load balancers whose log could not be read (named in the summary).
    :returns: dict with rows, worse (the reasons, [] when none), judged (False when the window before
        the release had too few requests to compare with) and summary (one sentence).
    """
    windows = check_windows(windows)
    rules = rules_with_defaults(rules)
    if not windows:
        raise ValidationError('the receipt needs at least one window (the one before the release)')
    merged = merge(readings)
    rows = [_row(name, start, end, merged.get(name, _empty())) for name, start, end in windows]
    before, judged, worse = rows[0], rows[0]['requests'] >= rules['min_requests'], []
    if judged:
        for row in rows[1:]:
            worse.extend(_worse(row, before, rules))
    figures = '; '.join('%s %d requests, %d errors, p95 %s' % (
        row['window'], row['requests'], row['errors'], '-' if row['p95_ms'] is None else '%d ms' % row['p95_ms'])
        for row in rows)
    if not judged:
        verdict = 'not judged: %d requests before the release, fewer than %d' % (before['requests'], rules['min_requests'])
    elif worse:
        verdict = 'WORSE for visitors: ' + '; '.join(worse)
    else:
        verdict = 'no worse for visitors than before the release'
    summary = 'Visitors (load balancers\' logs): %s. %s.' % (figures, verdict)
    if unread:
        summary += ' Not read: %s.' % ', '.join(unread)
    return {'rows': rows, 'worse': worse, 'judged': judged, 'summary': summary}


# A node's turn, as roles/release_node records it: when each step began, and when the turn ended.
STEPS = (('drain', 'start'), ('swap_reload', 'swap'), ('smoke', 'smoke'), ('dark_launch', 'dark_launch'),
         ('enable', 'enable'))


def step_seconds(marks):
    """Each step's seconds of one turn, from the marks of the steps it reached, and the total.

    A step lasts from its mark to the next mark the turn has (a failed turn's last step runs until the
    turn ended, its putting back included).
    """
    reached = [(step, float(marks[mark])) for step, mark in STEPS if isinstance(marks.get(mark), (int, float))]
    if not reached or not isinstance(marks.get('end'), (int, float)):
        return {}
    bounds = [t for _step, t in reached] + [float(marks['end'])]
    seconds = dict((step, round(bounds[i + 1] - t, 1)) for i, (step, t) in enumerate(reached))
    seconds['total'] = round(bounds[-1] - bounds[0], 1)
    return seconds


def _turn_times(turn):
    marks = turn.get('marks') or {}
    start, end = marks.get('start'), marks.get('end')
    if not isinstance(start, (int, float)) or not isinstance(end, (int, float)):
        return None
    return float(start), float(end)


def release_windows(turns, version, canary='', before_seconds=60):
    """The windows of a release for the receipt, and each node's step seconds on its way to `version`.

    :arg turns: node name -> the list of turns roles/release_node recorded (dicts with version, batch,
        marks, failed).
    :arg canary: the canary's name; the first batch is called after it when it is that node alone.
    :returns: dict with windows (before, the canary or batch 1, each later batch, going back when
        nodes went back; each window ends where the next begins, the last where its turns ended), steps
        (node -> step_seconds of its last turn to `version`), and last_end (when the last turn ended,
        None without turns). The caller adds the window after the release, from last_end.
    """
    if not _is_number(before_seconds) or before_seconds < 0:
        raise ValidationError('before_seconds must be a number of seconds >= 0, got %r' % (before_seconds,))
    batches, back, steps = {}, [], {}
    for node in sorted(turns or {}):
        for turn in turns[node] or []:
            times = _turn_times(turn)
            if times is None:
                continue
            if turn.get('version') == version:
                key = tuple(sorted(turn.get('batch') or [node]))
                batches.setdefault(key, []).append(times)
                steps[node] = step_seconds(turn['marks'])
            else:
                back.append((node, times))
    segments, number = [], 0
    for i, (nodes, times) in enumerate(sorted(batches.items(), key=lambda b: min(t[0] for t in b[1]))):
        if i == 0 and canary and list(nodes) == [canary]:
            name = 'canary %s' % canary
        else:
            number += 1
            name = 'batch %d %s' % (number, ', '.join(nodes))
        segments.append((name, min(t[0] for t in times), max(t[1] for t in times)))
    if back:
        segments.append(('going back %s' % ', '.join(sorted(set(n for n, _t in back))),
                         min(t[0] for _n, t in back), max(t[1] for _n, t in back)))
    segments.sort(key=lambda s: s[1])
    if not segments:
        return {'windows': [], 'steps': steps, 'last_end': None}
    first = segments[0][1]
    windows = [{'name': 'before', 'start': first - before_seconds, 'end': first}]
    for i, (name, start, end) in enumerate(segments):
        until = segments[i + 1][1] if i + 1 < len(segments) else end
        windows.append({'name': name, 'start': start, 'end': max(until, start)})
    return {'windows': windows, 'steps': steps, 'last_end': max(s[2] for s in segments)}


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)
