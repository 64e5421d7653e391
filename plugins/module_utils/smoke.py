# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Smoke-test a web node: N passing rounds in a row within a deadline in seconds.

A freshly reloaded Apache can answer one request right and the next one wrong
(old workers, a cold opcache), so a single good answer proves little. A round
asks every check once; the node passes when `passes` rounds in a row pass. Any
failed round starts the count again.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import time

from http.client import HTTPException
from urllib.error import HTTPError, URLError
from urllib.request import HTTPRedirectHandler, ProxyHandler, Request, build_opener

from ansible_collections.daylight.release.plugins.module_utils.errors import ValidationError

VERSION_HEADER = 'x-release-version'
MAX_BODY = 1024 * 1024  # a check's regex looks at the first MiB; a huge page must not eat the node's memory


class _NoRedirect(HTTPRedirectHandler):
    # A check expecting 301 must see the 301, not the page it points at.
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def direct_opener():
    """A urllib opener that asks the node itself: no proxy (whatever http_proxy says), no redirects, no cookies."""
    return build_opener(ProxyHandler({}), _NoRedirect())


def http_get(url, timeout):
    """GET `url` -> (status, headers with lower-cased names, body text).

    Any HTTP status is an answer, not an exception. No proxy (the node is asked
    directly, whatever http_proxy says) and no redirects. Connection errors and
    timeouts raise OSError (URLError is one) or http.client.HTTPException.
    """
    opener = direct_opener()
    request = Request(url, headers={'User-Agent': 'daylight.release smoke_check', 'Cache-Control': 'no-cache'})
    try:
        response = opener.open(request, timeout=timeout)
    except HTTPError as e:
        response = e
    try:
        status = response.getcode()
        headers = dict((name.lower(), value) for name, value in response.headers.items())
        body = response.read(MAX_BODY)
    finally:
        response.close()
    charset = response.headers.get_content_charset() or 'utf-8'
    try:
        text = body.decode(charset, 'replace')
    except LookupError:  # an unknown charset name in Content-Type
        text = body.decode('utf-8', 'replace')
    return status, headers, text


def error_text(e):
    """Why a request got no answer, as a person reads it ('[Errno 111] Connection refused', 'timed out')."""
    reason = e.reason if isinstance(e, URLError) else e
    text = str(reason)
    return text if text else type(reason).__name__


def validate_checks(checks):
    """Checks as dicts {path, status, body} with defaults filled in and each regex compiled.

    :raises ValidationError: naming the first bad check, before any request is made.
    """
    if not isinstance(checks, list) or not checks:
        raise ValidationError('checks must be a non-empty list of {path, status, body}; got %r' % (checks,))
    out = []
    for i, check in enumerate(checks, 1):
        if not isinstance(check, dict):
            raise ValidationError('check #%d must be a dict with path, status, body; got %r' % (i, check))
        unknown = sorted(set(check) - set(('path', 'status', 'body')), key=str)
        if unknown:
            raise ValidationError('check #%d %r: unknown key(s) %s; expected path, status, body'
                                  % (i, check, ', '.join(repr(k) for k in unknown)))
        path = check.get('path')
        # Whitespace would not survive into the request line, so the check could never mean what it says.
        if not isinstance(path, str) or not path.startswith('/') or re.search(r'[\s\x00-\x1f\x7f]', path):
            raise ValidationError('check #%d: path %r must start with / and contain no whitespace' % (i, path))
        status = check.get('status')
        status = 200 if status is None else status
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            raise ValidationError('check #%d (%s): status %r must be a whole number 100-599' % (i, path, status))
        body = check.get('body')
        body = '.' if body is None else body
        if not isinstance(body, str):
            raise ValidationError('check #%d (%s): body %r must be a regular expression (a string)' % (i, path, body))
        try:
            pattern = re.compile(body)
        except re.error as e:
            raise ValidationError('check #%d (%s): body %r is not a valid regular expression: %s' % (i, path, body, e))
        out.append({'path': path, 'status': status, 'body': body, 'regex': pattern})
    return out


def _check_number(name, value, minimum, strict=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum or (strict and value == minimum):
        raise ValidationError('%s must be a number %s %s; got %r' % (name, '>' if strict else '>=', minimum, value))


def _run_check(check, base_url, expected_version, request_timeout, fetch):
    result = {'path': check['path'], 'expected_status': check['status'], 'pattern': check['body'],
              'status': 0, 'version': None, 'body_matched': False, 'error': None}
    try:
        status, headers, body = fetch(base_url + check['path'], request_timeout)
    except (OSError, HTTPException) as e:
        result['error'] = error_text(e)
    else:
        result['status'] = status
        result['version'] = headers.get(VERSION_HEADER)
        result['body_matched'] = check['regex'].search(body) is not None
    result['passed'] = (result['error'] is None
                        and result['status'] == check['status']
                        and (not expected_version or result['version'] == expected_version)
                        and result['body_matched'])
    return result


def run_smoke_test(checks, base_url, expected_version, passes, deadline, interval, request_timeout,
                   fetch=None, clock=None, sleep=None):
    """Ask the node until `passes` rounds in a row pass or `deadline` seconds are over.

    A round GETs base_url + path for every check once. A check passes when the
    status is check's status (default 200), the X-Release-Version header equals
    `expected_version` (unless that is empty) and the body matches the regex
    check's body (re.search, default '.'). A failed round resets the count.

    The first round always runs. No round starts at or after the deadline (nor
    when the pause before it would reach the deadline); a round already started
    runs all its checks, so the total can overrun the deadline by at most one
    round of requests (each bounded by `request_timeout`).

    :arg fetch: fetch(url, timeout) -> (status, headers with lower-cased names,
        body text); raising OSError or HTTPException means no answer (status 0).
    :arg clock: seconds, monotonic (default time.monotonic); sleep: default time.sleep.
    :returns: dict passed, rounds, consecutive, seconds, last_failure (the first
        failed check of the most recent failed round, or None) and results (the
        last round's per-check results).
    :raises ValidationError: a bad check or number; nothing was requested.
    """
    checks = validate_checks(checks)
    if not isinstance(base_url, str) or not re.match(r'https?://[^\s/]+', base_url):
        raise ValidationError('base_url %r must be http://host[:port] or https://host[:port]' % (base_url,))
    base_url = base_url.rstrip('/')  # paths start with '/'
    if isinstance(passes, bool) or not isinstance(passes, int) or passes < 1:
        raise ValidationError('passes must be a whole number >= 1; got %r' % (passes,))
    _check_number('deadline', deadline, 0)
    _check_number('interval', interval, 0)
    _check_number('request_timeout', request_timeout, 0, strict=True)
    fetch = fetch or http_get
    clock = clock or time.monotonic
    sleep = sleep or time.sleep

    start = clock()
    rounds = consecutive = 0
    last_failure = None
    while True:
        rounds += 1
        results = [_run_check(check, base_url, expected_version, request_timeout, fetch) for check in checks]
        failed = [r for r in results if not r['passed']]
        if failed:
            consecutive = 0
            last_failure = dict((key, failed[0][key]) for key in
                                ('path', 'status', 'version', 'body_matched', 'error', 'expected_status', 'pattern'))
        else:
            consecutive += 1
        elapsed = clock() - start
        if consecutive >= passes or elapsed + interval >= deadline:
            break
        sleep(interval)
    return {
        'passed': consecutive >= passes,
        'rounds': rounds,
        'consecutive': consecutive,
        'seconds': round(clock() - start, 3),
        'last_failure': last_failure,
        'results': results,
    }


def failure_message(result, base_url, expected_version, passes):
    """The one line an operator reads when run_smoke_test() did not pass."""
    head = ('smoke test failed on %s after %d rounds in %s s (%d passes in a row needed)'
            % (base_url, result['rounds'], result['seconds'], passes))
    f = result['last_failure']
    if f is None:
        # Every round passed, there just was no time for enough of them.
        return '%s: only %d passed in a row before the deadline; raise the deadline or lower the interval' % (
            head, result['consecutive'])
    if f['error'] is not None:
        what = '%s got no answer: %s' % (f['path'], f['error'])
    else:
        if not expected_version:
            version = "version '%s' (not checked)" % (f['version'] or '',)
        else:
            version = "version '%s' (expected %s)" % (f['version'] or '', expected_version)
        what = '%s answered status %s%s, %s, body %s /%s/' % (
            f['path'], f['status'], '' if f['status'] == f['expected_status'] else ' (expected %s)' % f['expected_status'],
            version, 'matched' if f['body_matched'] else 'did not match', f['pattern'])
    return '%s: %s' % (head, what)
