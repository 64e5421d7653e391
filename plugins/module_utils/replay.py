# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Dark launch: replay recent real requests to the drained canary and to a baseline node, and compare.

While the canary is drained (after its smoke test, before it is enabled) no
visitor reaches it. We take a sample of the requests the load balancers logged
in the last minutes, send each one to the canary and to a node still on the old
release, and compare the two answers request by request:

- sample_requests() picks the requests from parsed HAProxy log entries
  (haproxy.parse_log_line) or from samples already taken on other load
  balancers: safe methods only, de-duplicated, most frequent first, bounded.
  Only the method and the path leave the log: HAProxy's httplog has no
  headers or cookies, and query strings that look like credentials are dropped.
- requests_from_paths() turns the operator's fallback paths into requests.
- replay() sends them at a bounded rate, without cookies, credentials or
  redirects, and times every answer.
- compare() gives the verdict (its docstring holds the rules).

Pure Python (urllib): it runs on a load balancer, under Python 3.8.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import time

from http.client import HTTPException
from urllib.error import HTTPError
from urllib.request import Request

from ansible_collections.daylight.release.plugins.module_utils.canary import percentile
from ansible_collections.daylight.release.plugins.module_utils.errors import ValidationError
from ansible_collections.daylight.release.plugins.module_utils.haproxy import parse_log_line
from ansible_collections.daylight.release.plugins.module_utils.smoke import MAX_BODY, direct_opener, error_text

USER_AGENT = 'daylight.release dark launch'
DEFAULT_METHODS = ('GET', 'HEAD')
# Safe methods only: the log has no request bodies, and a replay must change nothing on the estate.
SAFE_METHODS = ('GET', 'HEAD', 'OPTIONS')
MAX_PATH = 2048  # longer URLs are rare, often refused by one side only, and not worth the noise

DEFAULT_THRESHOLDS = {
    'max_new_5xx': 0,             # requests the canary fails (5xx or no answer) where the baseline did not
    'max_mismatch_ratio': 0.02,   # share of requests answered in another status class
    'max_p50_increase_ms': 100,   # median latency increase over the baseline on the same requests
    'max_p95_increase_ms': 200,   # 95th percentile latency increase over the baseline on the same requests
    'min_requests': 20,           # requests the baseline answered, needed for a conclusive verdict
}

CANARY, BASELINE = 'canary', 'baseline'

# Printable ASCII without space. HAProxy writes characters it will not log as '#XX', so a '#' means
# the logged path is not what the client sent (a real fragment is never sent to a server).
_PATH_RE = re.compile(r'^/[\x21-\x22\x24-\x7e]*$')
# Query parameter names that carry secrets: replaying them could log someone in or spend a one-time token.
_CREDENTIAL_RE = re.compile(r'pass|pwd|token|secret|sess|auth|api_?key|access_?key|private_?key|^key$|signature|^sig$'
                            r'|jwt|otp|ticket|nonce|credential', re.IGNORECASE)
_BASE_URL_RE = re.compile(r'^https?://[^\s/@?#]+$')
_HOST_RE = re.compile(r'^[^\s/@]+$')


# ---------------------------------------------------------------- which requests

def _whole(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValidationError('%s must be a whole number of at least %d, got %r' % (name, minimum, value))
    return value


def _positive(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValidationError('%s must be a number above 0, got %r' % (name, value))
    return value


def check_methods(methods):
    """The methods as a tuple of upper-case names; only SAFE_METHODS are allowed."""
    if isinstance(methods, str) or not isinstance(methods, (list, tuple)) or not methods:
        raise ValidationError('methods must be a non-empty list such as [GET, HEAD], got %r' % (methods,))
    wanted = tuple(str(m).upper() for m in methods)
    unsafe = [m for m in wanted if m not in SAFE_METHODS]
    if unsafe:
        raise ValidationError('methods %s cannot be replayed: the log has no request bodies and the dark launch must '
                              'not change anything; use %s' % (', '.join(unsafe), ', '.join(SAFE_METHODS)))
    return wanted


def compile_patterns(name, patterns):
    """Regular expressions compiled, naming the one that does not compile."""
    if isinstance(patterns, str) or not isinstance(patterns, (list, tuple)):
        raise ValidationError('%s must be a list of regular expressions, got %r' % (name, patterns))
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern))
        except (re.error, TypeError) as e:
            raise ValidationError('%s: %r is not a valid regular expression: %s' % (name, pattern, e))
    return compiled


def _unfit(path):
    """Why a path is not replayed ('invalid' or 'credentials'), or None."""
    if not isinstance(path, str) or len(path) > MAX_PATH or not _PATH_RE.match(path):
        return 'invalid'
    query = path.partition('?')[2]
    for pair in re.split(r'[&;]', query) if query else ():
        if _CREDENTIAL_RE.search(pair.partition('=')[0]):
            return 'credentials'
    return None


def log_entries(lines, backend, since, until):
    """The parse_log_line() entries of `backend` with since <= time <= until; other lines are skipped."""
    entries = []
    for line in lines:
        entry = parse_log_line(line)
        if entry is not None and entry['backend'] == backend and since <= entry['time'] <= until:
            entries.append(entry)
    return entries


def sample_requests(entries, limit, methods=DEFAULT_METHODS, exclude=()):
    """The requests to replay: de-duplicated, most frequent first, then most recent, at most `limit`.

    :arg entries: dicts with method and path, either haproxy.parse_log_line
        entries (one per request; `time` is when it was seen) or requests this
        function returned before, e.g. on each load balancer (their `count` and
        `last_seen` add up when merged).
    :arg methods: methods kept, from SAFE_METHODS.
    :arg exclude: regular expressions; a path any of them matches (re.search) is left out.
    :returns: (requests, dropped). requests: [{'method', 'path', 'count',
        'last_seen'}], nothing else of the request is kept. dropped: how many
        entries were left out, by reason: method (not in `methods`), invalid
        (not starting with '/', not printable ASCII, too long, or escaped by
        HAProxy), credentials (a query parameter named like a secret),
        excluded (by `exclude`), over_limit (distinct requests beyond `limit`).
    :raises ValidationError: bad limit, methods, exclude or entries.
    """
    _whole('limit', limit, 1)
    methods = check_methods(methods)
    patterns = compile_patterns('exclude', exclude)
    dropped = {'method': 0, 'invalid': 0, 'credentials': 0, 'excluded': 0, 'over_limit': 0}
    merged = {}
    for number, entry in enumerate(entries, 1):
        if not isinstance(entry, dict):
            raise ValidationError('request #%d must be a dict with method and path, got %r' % (number, entry))
        if entry.get('method') not in methods:
            dropped['method'] += 1
            continue
        path = entry.get('path')
        reason = _unfit(path)
        if reason is None and any(p.search(path) for p in patterns):
            reason = 'excluded'
        if reason:
            dropped[reason] += 1
            continue
        count = _whole('count of request #%d (%s)' % (number, path), entry.get('count', 1), 1)
        seen = entry.get('last_seen', entry.get('time'))
        if seen is not None and (isinstance(seen, bool) or not isinstance(seen, (int, float))):
            raise ValidationError('last_seen of request #%d (%s) must be epoch seconds, got %r' % (number, path, seen))
        key = (entry['method'], path)
        if key in merged:
            merged[key]['count'] += count
            if seen is not None and (merged[key]['last_seen'] is None or seen > merged[key]['last_seen']):
                merged[key]['last_seen'] = seen
        else:
            merged[key] = {'method': key[0], 'path': path, 'count': count, 'last_seen': seen}
    ordered = sorted(merged.values(), key=lambda r: (-r['count'], -(r['last_seen'] or 0), r['path'], r['method']))
    dropped['over_limit'] = max(0, len(ordered) - limit)
    return ordered[:limit], dropped


def requests_from_paths(paths, exclude=()):
    """The operator's fallback paths as GET requests, in their order, without duplicates or excluded ones.

    :returns: (requests, excluded_paths).
    :raises ValidationError: a path that is not replayable, naming it; the
        operator wrote it, so it is not silently dropped.
    """
    if isinstance(paths, str) or not isinstance(paths, (list, tuple)):
        raise ValidationError('paths must be a list of paths such as [/, /search?q=shoes], got %r' % (paths,))
    patterns = compile_patterns('exclude', exclude)
    requests, excluded, seen = [], [], set()
    for path in paths:
        reason = _unfit(path)
        if reason == 'invalid':
            raise ValidationError('path %r cannot be replayed: it must start with / and be printable ASCII without '
                                  'spaces or #, at most %d characters' % (path, MAX_PATH))
        if reason == 'credentials':
            raise ValidationError('path %r has a query parameter named like a credential; the dark launch never '
                                  'replays credentials: remove it from paths' % (path,))
        if path in seen:
            continue
        seen.add(path)
        if any(p.search(path) for p in patterns):
            excluded.append(path)
        else:
            requests.append({'method': 'GET', 'path': path, 'count': 1, 'last_seen': None})
    return requests, excluded


# ---------------------------------------------------------------- replay

def http_request(method, url, headers, timeout):
    """Send one request and return its HTTP status; the body is read (up to MAX_BODY) so the time is the whole answer.

    No proxy, no redirects followed (a 301 is the answer), no cookie jar, no
    credentials. Connection errors and timeouts raise OSError or HTTPException.
    """
    request = Request(url, headers=headers, method=method)
    try:
        response = direct_opener().open(request, timeout=timeout)
    except HTTPError as e:
        response = e
    try:
        read = 0
        while read < MAX_BODY:
            chunk = response.read(65536)
            if not chunk:
                break
            read += len(chunk)
    finally:
        response.close()
    return response.getcode()


def check_base_url(name, url):
    """`url` without a trailing slash; it must be scheme://host[:port], so the logged paths append as they are."""
    if not isinstance(url, str) or not _BASE_URL_RE.match(url.rstrip('/')):
        raise ValidationError('%s %r must be http://host[:port] or https://host[:port], without a path or credentials'
                              % (name, url))
    return url.rstrip('/')


def replay(requests, targets, rate, timeout, host_header=None, max_seconds=None, fetch=None, clock=None, sleep=None):
    """Send every request to every target, paced to at most `rate` requests per second overall.

    Targets take turns going first (request 1: canary then baseline, request
    2: baseline then canary, ...), so neither is always the one to wake a cold
    cache. Requests carry only a User-Agent (USER_AGENT) and, when given, the
    Host header: no cookies, no credentials. Redirects are not followed.

    :arg targets: {name: base_url}, e.g. {'canary': 'http://web1', 'baseline': 'http://web2'}.
    :arg rate: requests per second over all targets; a request is sent no
        sooner than 1/rate seconds after the previous one, so a slow answer is
        never made up for with a burst.
    :arg timeout: seconds per request; no answer in time is status 0.
    :arg max_seconds: no request is sent to the first target after this many
        seconds (its pair still goes to the others); what was answered is returned.
    :arg fetch: fetch(method, url, headers, timeout) -> status; raising
        OSError or HTTPException means no answer. Default http_request.
    :arg clock: seconds, monotonic (default time.monotonic); sleep: default time.sleep.
    :returns: {'results': [{'method', 'path', 'answers': {name: {'status',
        'ms', 'error'}}}], 'seconds', 'complete'}; status 0 and error text when
        there was no answer; complete is false when max_seconds cut the replay short.
    """
    if not isinstance(targets, dict) or not targets:
        raise ValidationError('targets must be a dict of name to base URL, got %r' % (targets,))
    urls = dict((name, check_base_url('%s URL' % name, url)) for name, url in targets.items())
    _positive('rate', rate)
    _positive('timeout', timeout)
    if max_seconds is not None:
        _positive('max_seconds', max_seconds)
    headers = {'User-Agent': USER_AGENT}
    if host_header:
        if not isinstance(host_header, str) or not _HOST_RE.match(host_header):
            raise ValidationError('host_header %r must be a host name, optionally with :port' % (host_header,))
        headers['Host'] = host_header
    fetch = fetch or http_request
    clock = clock or time.monotonic
    sleep = sleep or time.sleep

    names = list(urls)
    gap = 1.0 / rate
    start = clock()
    last_sent = None
    results = []
    for index, request in enumerate(requests):
        if max_seconds is not None and clock() - start >= max_seconds:
            break
        turn = index % len(names)
        answers = {}
        for name in names[turn:] + names[:turn]:
            if last_sent is not None:
                wait = last_sent + gap - clock()
                if wait > 0:
                    sleep(wait)
            last_sent = clock()
            try:
                status, error = fetch(request['method'], urls[name] + request['path'], dict(headers), timeout), None
            except (OSError, HTTPException) as e:
                status, error = 0, error_text(e)
            answers[name] = {'status': status, 'ms': round((clock() - last_sent) * 1000.0, 1), 'error': error}
        results.append({'method': request['method'], 'path': request['path'], 'answers': answers})
    return {'results': results, 'seconds': round(clock() - start, 3), 'complete': len(results) == len(requests)}


# ---------------------------------------------------------------- verdict

def thresholds_with_defaults(thresholds=None):
    """The thresholds merged over DEFAULT_THRESHOLDS and checked; unknown keys are an error (a typo would be ignored)."""
    if thresholds is None:
        thresholds = {}
    if not isinstance(thresholds, dict):
        raise ValidationError('thresholds must be a dict, got %r' % (thresholds,))
    unknown = sorted(set(thresholds) - set(DEFAULT_THRESHOLDS), key=str)
    if unknown:
        raise ValidationError('unknown threshold(s) %s; expected %s'
                              % (', '.join(repr(k) for k in unknown), ', '.join(sorted(DEFAULT_THRESHOLDS))))
    merged = dict(DEFAULT_THRESHOLDS)
    merged.update((key, value) for key, value in thresholds.items() if value is not None)
    for name in ('max_new_5xx', 'min_requests'):
        _whole('threshold %s' % name, merged[name], 0 if name == 'max_new_5xx' else 1)
    for name in ('max_mismatch_ratio', 'max_p50_increase_ms', 'max_p95_increase_ms'):
        value = merged[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValidationError('threshold %s must be a number of at least 0, got %r' % (name, value))
    if merged['max_mismatch_ratio'] > 1:
        raise ValidationError('threshold max_mismatch_ratio is a share from 0 to 1 (0.02 is 2%%), got %r'
                              % (merged['max_mismatch_ratio'],))
    return merged


def status_class(status):
    """'2xx', '5xx', ... or 'none' when there was no answer (status 0)."""
    return 'none' if status <= 0 else '%dxx' % (status // 100)


def _failed(status):
    return status <= 0 or status >= 500


def _answer(answer):
    return {'status': answer['status'], 'ms': answer['ms'], 'error': answer['error']}


def _answer_text(answer):
    if answer['status'] <= 0:
        return 'no answer (%s)' % (answer['error'] or 'unknown error')
    return '%d in %d ms' % (answer['status'], int(round(answer['ms'])))


def describe(item):
    """'GET /cart: canary 500 in 12 ms, baseline 200 in 9 ms' for messages."""
    return '%s %s: canary %s, baseline %s' % (item['method'], item['path'], _answer_text(item[CANARY]),
                                              _answer_text(item[BASELINE]))


def _whole_ms(value):
    return None if value is None else int(round(value))


def _pct(ratio):
    return '%.1f%%' % (ratio * 100)


def compare(results, thresholds=None, worst=10):
    """Judge the canary's answers against the baseline's on the same requests.

    Only requests the baseline answered are judged (a baseline that does not
    answer says nothing about the canary); `judged` counts them. Rules, each a
    reason to fail:

    - new 5xx: requests the canary answered with a 5xx or not at all while the
      baseline answered without a 5xx; more than max_new_5xx fails.
    - status class: requests answered in another class than the baseline's
      (200 against 404, 302 against 200, ...), except where the canary fixes a
      baseline 5xx; a share of the judged requests above max_mismatch_ratio fails.
    - latency: over the requests both answered, the canary's p50 more than
      max_p50_increase_ms above the baseline's, or its p95 more than
      max_p95_increase_ms above. Only judged with at least min_requests of them.

    With fewer than min_requests judged requests the verdict is 'inconclusive'
    unless a 5xx or status class rule already fails: those are facts about
    single requests, not statistics.

    :arg results: replay()'s results, with answers from 'canary' and 'baseline'.
    :arg worst: how many requests to list in `worst`.
    :returns: {'verdict': 'pass'|'fail'|'inconclusive', 'reasons': [...] (why,
        for fail and inconclusive), 'notes': [...], 'summary': one line,
        'requests', 'judged', 'new_5xx', 'fixed_5xx', 'mismatches',
        'mismatch_ratio', 'canary'/'baseline': {'answered', 'no_answer',
        'errors_5xx', 'statuses': {'2xx': n, ..., 'none': n}, 'p50_ms',
        'p95_ms'} (percentiles over the requests both answered, whole ms),
        'worst': [{'method', 'path', 'problem', 'canary': {'status', 'ms',
        'error'}, 'baseline': {...}}], new 5xx first, then status classes, then
        the largest slowdowns}.
    """
    s = thresholds_with_defaults(thresholds)
    _whole('worst', worst, 0)
    figures = {}
    for side in (CANARY, BASELINE):
        figures[side] = {'answered': 0, 'no_answer': 0, 'errors_5xx': 0, 'statuses': {}, 'p50_ms': None, 'p95_ms': None}
    judged = new_5xx = fixed_5xx = mismatches = 0
    latencies = {CANARY: [], BASELINE: []}
    ranked = []
    for number, result in enumerate(results, 1):
        answers = result.get('answers') if isinstance(result, dict) else None
        if not isinstance(answers, dict) or CANARY not in answers or BASELINE not in answers:
            raise ValidationError('result #%d must have answers from canary and baseline, got %r' % (number, result))
        canary, baseline = answers[CANARY], answers[BASELINE]
        for side, answer in ((CANARY, canary), (BASELINE, baseline)):
            f = figures[side]
            key = status_class(answer['status'])
            f['statuses'][key] = f['statuses'].get(key, 0) + 1
            if answer['status'] <= 0:
                f['no_answer'] += 1
            else:
                f['answered'] += 1
                if answer['status'] >= 500:
                    f['errors_5xx'] += 1
        if baseline['status'] <= 0:
            continue
        judged += 1
        problem, delta = None, 0.0
        if _failed(canary['status']) and not _failed(baseline['status']):
            new_5xx += 1
            problem = 'canary 5xx' if canary['status'] > 0 else 'canary no answer'
        if _failed(baseline['status']) and not _failed(canary['status']):
            fixed_5xx += 1
        elif status_class(canary['status']) != status_class(baseline['status']):
            mismatches += 1
            problem = problem or 'status class'
        if canary['status'] > 0:
            latencies[CANARY].append(canary['ms'])
            latencies[BASELINE].append(baseline['ms'])
            delta = canary['ms'] - baseline['ms']
        if problem is None and delta > 0:
            problem = 'slower'
        if problem:
            rank = {'canary 5xx': 3, 'canary no answer': 3, 'status class': 2, 'slower': 1}[problem]
            ranked.append((rank, delta, {'method': result['method'], 'path': result['path'], 'problem': problem,
                                         CANARY: _answer(canary), BASELINE: _answer(baseline)}))
    ranked.sort(key=lambda r: (-r[0], -r[1]))
    worst_items = [item for _rank, _delta, item in ranked[:worst]]
    examples = dict((rank, describe(item)) for rank, _delta, item in reversed(ranked))

    paired = len(latencies[CANARY])
    for side in (CANARY, BASELINE):
        ordered = sorted(latencies[side])
        figures[side]['p50_ms'] = _whole_ms(percentile(ordered, 50))
        figures[side]['p95_ms'] = _whole_ms(percentile(ordered, 95))

    failures, notes = [], []
    if new_5xx > s['max_new_5xx']:
        failures.append('the canary answered %d of %d requests with a 5xx or not at all where the baseline did not '
                        '(at most %d allowed), e.g. %s' % (new_5xx, judged, s['max_new_5xx'], examples[3]))
    ratio = mismatches / float(judged) if judged else 0.0
    if mismatches and ratio > s['max_mismatch_ratio']:
        details = (mismatches, judged, _pct(ratio), _pct(s['max_mismatch_ratio']), examples.get(2) or examples[3])
        failures.append('the canary answered %d of %d requests (%s) in another status class than the baseline (at '
                        'most %s allowed), e.g. %s' % details)
    latency_judged = paired >= s['min_requests']
    if latency_judged:
        for q, limit in ((50, s['max_p50_increase_ms']), (95, s['max_p95_increase_ms'])):
            c_ms = percentile(sorted(latencies[CANARY]), q)
            b_ms = percentile(sorted(latencies[BASELINE]), q)
            if c_ms - b_ms > limit:
                failures.append('the canary\'s p%d was %d ms against the baseline\'s %d ms on the same %d requests: '
                                '%d ms slower, more than the %d ms allowed'
                                % (q, round(c_ms), round(b_ms), paired, round(c_ms - b_ms), limit))
    else:
        notes.append('latency not judged: both answered %d requests, %d needed' % (paired, s['min_requests']))
    if len(results) > judged:
        notes.append('%d of %d requests not judged: the baseline gave no answer' % (len(results) - judged, len(results)))
    if fixed_5xx:
        notes.append('the canary answered %d requests without the 5xx the baseline gave' % fixed_5xx)

    c, b = figures[CANARY], figures[BASELINE]
    if failures:
        verdict, reasons = 'fail', failures
        summary = 'fail: %s' % '; '.join(failures)
    elif judged < s['min_requests']:
        verdict = 'inconclusive'
        if not results:
            reasons = ['nothing was replayed: no request was sampled from the logs and no fallback path was given']
        elif not judged:
            reasons = ['the baseline answered none of the %d requests replayed; check baseline_url and host_header'
                       % len(results)]
        else:
            reasons = ['only %d requests could be judged, %d needed for a verdict (%d new 5xx and %d status class '
                       'mismatches on those)' % (judged, s['min_requests'], new_5xx, mismatches)]
        summary = 'inconclusive: %s' % reasons[0]
    else:
        verdict, reasons = 'pass', []
        summary = ('pass: the canary answered %d requests like the baseline (%d status class mismatches; p50 %s vs %s '
                   'ms, p95 %s vs %s ms)' % (judged, mismatches, c['p50_ms'], b['p50_ms'], c['p95_ms'], b['p95_ms']))
    return {
        'verdict': verdict,
        'reasons': reasons,
        'notes': notes,
        'summary': summary,
        'requests': len(results),
        'judged': judged,
        'new_5xx': new_5xx,
        'fixed_5xx': fixed_5xx,
        'mismatches': mismatches,
        'mismatch_ratio': round(ratio, 4),
        CANARY: c,
        BASELINE: b,
        'worst': worst_items,
    }
