# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Log findings that are new on the canary: Apache/PHP error log lines reduced to signatures.

A release that starts warning about an undefined variable may still answer
200 everywhere, so status codes and latency miss it; its error log does not.
Each line is reduced to a signature (the message with its numbers, ids,
paths, addresses and quoted values masked, the words kept), so the same
problem on different requests counts as one. A signature the canary logs in
its window that no baseline node logged, in the same window or in the
minutes before it, is new: the release brought it.

- parse_error_line(): one Apache 2.4 error log line (mod_php writes PHP's
  warnings there).
- signature(), entry_signature(): the masking.
- read_window(): the entries of a time window, read from the end of the file.
- count_signatures(): {signature: {count, lookback_count, example}} for one
  node, what the log_findings module returns.
- findings(): canary against baselines, what the new_log_findings filter returns.

Pure Python: it runs on the web nodes and on the controller.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import re
import time

from ansible_collections.daylight.release.plugins.module_utils.errors import UnavailableError, ValidationError
from ansible_collections.daylight.release.plugins.module_utils.haproxy import MONTHS, tail_lines
from ansible_collections.daylight.release.plugins.module_utils.replay import compile_patterns

DEFAULT_MIN_COUNT = 2  # once can be a request cut by the reload; twice is the code
# Apache's own lines on a graceful reload or restart, which the canary has just had and the baseline has not:
# AH00094 command line, AH00163 resuming normal operations, AH00169 caught SIGTERM, AH00171 graceful restart
# requested, AH00493 SIGUSR1 received, AH00558 could not determine the server's fully qualified domain name.
DEFAULT_IGNORE = (r'\bAH0(?:0094|0163|0169|0171|0493|0558)\b',)
MAX_SIGNATURE = 400   # characters; what follows is rarely what tells two problems apart
MAX_EXAMPLE = 1000    # characters of the example line returned
MAX_SIGNATURES = 2000  # per node, the most frequent; bounds what a flood of unmasked variety sends back

# Apache 2.4's default ErrorLogFormat:
#   [Mon Nov 23 20:01:02.123456 2026] [php:warn] [pid 123:tid 456] [client 10.89.0.85:41234] message, referer: URL
# Apache 2.2 had no module name, some lines have no pid, and an APR error ("(13)Permission denied: ")
# may come before [client ...].
_LINE_RE = re.compile(
    r'^\[(?:[A-Z][a-z]{2} )?(?P<month>[A-Z][a-z]{2}) +(?P<day>\d{1,2}) (?P<hms>\d{2}:\d{2}:\d{2})'
    r'(?:\.(?P<us>\d{1,6}))? (?P<year>\d{4})\] '
    r'\[(?:(?P<module>[^:\]\s]+):)?(?P<level>[a-z]+\d?)\] '
    r'(?:\[pid (?P<pid>\d+)(?::tid \d+)?\] )?'
    r'(?P<rest>.*)$'
)
_CLIENT_RE = re.compile(r'\[client ([^\]]*)\] ')
_REFERER_RE = re.compile(r', referer: \S*$')
# php-fpm behind mod_proxy_fcgi wraps PHP's messages in one quoted value, which masking would blank out.
_FPM_RE = re.compile(r"^AH01071: Got error '(.*)'$")

_ALNUM = r'[A-Za-z0-9]'
# In order: a later mask must not see what an earlier one replaced (a URL holds a path, a path holds numbers).
_MASKS = tuple((re.compile(pattern), mask) for pattern, mask in (
    (r'\b[A-Za-z][A-Za-z0-9+.-]*://[^\s\'"<>]*', '<url>'),
    (r'"[^"]*"', '"<q>"'),
    # Not the apostrophe of "Can't": a quote starts and ends a value only next to a non-letter.
    (r"(?<!\w)'[^']*'(?!\w)", "'<q>'"),
    (r'\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b', '<ip>'),
    (r'\b[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}\b', '<uuid>'),
    (r'\b0x[0-9a-fA-F]+\b', '<hex>'),
    # /a/b/c.php, but not I/O, 1/2 or </div>
    (r'(?<![\w/<>])/[\w.@%+~=!/-]*', '<path>'),
    # Long hex (hashes) and long letter-digit mixes (session ids), not words or plain numbers.
    (r'(?<!%s)(?=[0-9a-fA-F]*[a-fA-F])(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{8,}(?!%s)' % (_ALNUM, _ALNUM), '<hex>'),
    (r'(?<!%s)(?=%s*\d)(?=%s*[A-Za-z])%s{16,}(?!%s)' % (_ALNUM, _ALNUM, _ALNUM, _ALNUM, _ALNUM), '<id>'),
    # Numbers, but not inside names: AH00035, utf8mb4, $row2 keep theirs.
    (r'(?<![\w$])\d+(?:\.\d+)*', '<n>'),
    (r'\s+', ' '),
))


def parse_error_line(line):
    """One Apache error log line as a dict.

    :returns: {'time': epoch seconds (the line's local time read in this
        host's zone) or None, 'module', 'level', 'pid' (int), 'client',
        'referer', 'message', 'line'}. A line that is not in Apache's format
        (a program's stderr, an old format) is kept whole as the message,
        with time, module, level, pid, client and referer None. php-fpm's
        "AH01071: Got error 'PHP message: ...'" is unwrapped to PHP's message.
    """
    line = line.rstrip('\r\n')
    entry = {'time': None, 'module': None, 'level': None, 'pid': None, 'client': None, 'referer': None,
             'message': line, 'line': line}
    match = _LINE_RE.match(line)
    if match is None:
        return entry
    month = MONTHS.get(match.group('month'))
    if month is not None:
        hour, minute, second = (int(x) for x in match.group('hms').split(':'))
        # Apache writes local time; mktime reads it in this host's zone (DST decided by the C library).
        stamp = time.mktime((int(match.group('year')), month, int(match.group('day')), hour, minute, second,
                             0, 0, -1))
        entry['time'] = stamp + int((match.group('us') or '0').ljust(6, '0')) / 1e6
    message = match.group('rest')
    client = _CLIENT_RE.search(message)
    if client:
        entry['client'] = client.group(1)
        message = message[:client.start()] + message[client.end():]
    referer = _REFERER_RE.search(message)
    if referer:
        entry['referer'] = referer.group(0)[len(', referer: '):]
        message = message[:referer.start()]
    fpm = _FPM_RE.match(message)
    entry.update(module=match.group('module'), level=match.group('level'),
                 pid=int(match.group('pid')) if match.group('pid') else None,
                 message=fpm.group(1) if fpm else message)
    return entry


def signature(message):
    """The message with what varies between requests masked, so one problem is one signature.

    Masked: URLs (<url>), quoted values ("<q>", '<q>'), IPv4 addresses with
    their port (<ip>), UUIDs (<uuid>), 0x numbers and long hex strings (<hex>),
    long letter-digit ids (<id>), file and URL paths (<path>), numbers (<n>).
    Kept: the words, PHP's variable and function names ($x, foo()) and Apache's
    message ids (AH01630). Whitespace is collapsed. Only the first line of a
    message with escaped newlines counts (PHP's "Uncaught ...\\nStack trace:
    ..."): the stack trace tells how, not what. At most MAX_SIGNATURE characters.
    """
    text = message.split('\\n', 1)[0]
    for pattern, mask in _MASKS:
        text = pattern.sub(mask, text)
    return text.strip()[:MAX_SIGNATURE]


def entry_signature(entry):
    """'[php:warn] PHP Warning: Undefined variable $x in <path> on line <n>': the level, then signature()."""
    text = signature(entry['message'])
    if not text or entry['level'] is None:
        return text
    level = entry['level'] if entry['module'] is None else '%s:%s' % (entry['module'], entry['level'])
    return '[%s] %s' % (level, text)


def _epoch(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError('%s must be epoch seconds, got %r' % (name, value))
    return value


def read_window(path, since, until, max_lines=100000):
    """The entries of the error log `path` logged from `since` to `until` (epoch seconds), oldest first.

    Reads the last max_lines lines, from the end of the file. A line without a
    date (a program's stderr, a continuation) takes the date of the line before
    it; one with no dated line before it in what was read is left out.

    :returns: (entries, truncated). truncated: the max_lines lines read all
        come after `since`, so older lines of the window were not read.
    :raises ValidationError: bad times or max_lines.
    :raises UnavailableError: the file cannot be read.
    """
    _epoch('since', since)
    _epoch('until', until)
    if since > until:
        raise ValidationError('since (%s) is after until (%s)' % (since, until))
    if isinstance(max_lines, bool) or not isinstance(max_lines, int) or max_lines < 1:
        raise ValidationError('max_lines must be a whole number of at least 1, got %r' % (max_lines,))
    try:
        lines = tail_lines(path, max_lines)
    except OSError as e:
        hint = {errno.ENOENT: ' (is ErrorLog elsewhere in the Apache configuration?)',
                errno.EACCES: ' (run the task with become)'}.get(e.errno, '')
        raise UnavailableError('cannot read the error log %s: %s%s' % (path, e.strerror or e, hint))
    entries = []
    current = first = None
    for line in lines:
        if not line.strip():
            continue
        entry = parse_error_line(line)
        if entry['time'] is None:
            entry['time'] = current
        else:
            current = entry['time']
            first = current if first is None else first
        if entry['time'] is not None and since <= entry['time'] <= until:
            entries.append(entry)
    truncated = len(lines) >= max_lines and first is not None and first > since
    return entries, truncated


def count_signatures(entries, window_start, limit=MAX_SIGNATURES):
    """Signature counts of one node: in the window (time >= window_start) and in the lookback before it.

    :arg entries: read_window() entries, oldest first.
    :returns: (signatures, distinct). signatures: {signature: {'count': in the
        window, 'lookback_count': before it, 'example': the first line in the
        window, or before it when none}}, at most `limit`, the most frequent.
        distinct: how many signatures there were before the limit.
    """
    counts = {}
    for entry in entries:
        key = entry_signature(entry)
        if not key:
            continue
        item = counts.setdefault(key, {'count': 0, 'lookback_count': 0, 'example': None})
        in_window = entry['time'] >= window_start
        item['count' if in_window else 'lookback_count'] += 1
        if item['example'] is None or (in_window and item['count'] == 1):
            item['example'] = entry['line'][:MAX_EXAMPLE]
    distinct = len(counts)
    if distinct > limit:
        kept = sorted(counts, key=lambda k: (-counts[k]['count'], -counts[k]['lookback_count'], k))[:limit]
        counts = dict((key, counts[key]) for key in kept)
    return counts, distinct


def _check_signatures(name, signatures):
    if not isinstance(signatures, dict):
        raise ValidationError('%s must be a dict of signature to {count, lookback_count, example}, got %r'
                              % (name, signatures))
    for key, item in signatures.items():
        count = item.get('count') if isinstance(item, dict) else None
        lookback = item.get('lookback_count', 0) if isinstance(item, dict) else None
        if any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in (count, lookback)):
            raise ValidationError('%s: signature %r needs whole-number count and lookback_count, got %r'
                                  % (name, key, item))
    return signatures


def _check_min_count(min_count):
    if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
        raise ValidationError('min_count must be a whole number of at least 1, got %r' % (min_count,))
    return min_count


def findings(canary, baselines, min_count=DEFAULT_MIN_COUNT, ignore=DEFAULT_IGNORE):
    """Which of the canary's signatures are new, known from the baseline, too rare to count, or ignored.

    :arg canary: count_signatures() of the canary; only its window counts.
    :arg baselines: count_signatures() of each baseline node; window and
        lookback both count, so a problem the old release has now and then
        is known even when it did not happen in these seconds.
    :arg min_count: times a signature must be in the canary's window to be new.
    :arg ignore: regular expressions searched in the signature (re.search).
    :returns: {'verdict': 'fail' when anything is new, else 'pass', 'new',
        'rare', 'ignored': [{'signature', 'count', 'example'}], 'known': the
        same plus 'baseline_count', each most frequent first, 'summary': one line}.
    """
    _check_signatures('canary signatures', canary)
    if isinstance(baselines, (str, dict)) or not isinstance(baselines, (list, tuple)):
        raise ValidationError('baselines must be a list with the signatures of each baseline node, got %r'
                              % (baselines,))
    _check_min_count(min_count)
    patterns = compile_patterns('ignore', ignore)
    on_baseline = {}
    for number, baseline in enumerate(baselines, 1):
        for key, item in _check_signatures('baseline #%d signatures' % number, baseline).items():
            on_baseline[key] = on_baseline.get(key, 0) + item['count'] + item.get('lookback_count', 0)
    result = {'new': [], 'known': [], 'rare': [], 'ignored': []}
    for key, item in canary.items():
        if not item['count']:
            continue  # only in the canary's lookback: before this release served
        found = {'signature': key, 'count': item['count'], 'example': item.get('example')}
        if any(p.search(key) for p in patterns):
            result['ignored'].append(found)
        elif on_baseline.get(key):
            found['baseline_count'] = on_baseline[key]
            result['known'].append(found)
        elif item['count'] >= min_count:
            result['new'].append(found)
        else:
            result['rare'].append(found)
    for items in result.values():
        items.sort(key=lambda f: (-f['count'], f['signature']))
    if result['new']:
        result['verdict'] = 'fail'
        result['summary'] = 'fail: %d error log signature(s) new on the canary: %s' % (
            len(result['new']), '; '.join('%d x %s (e.g. %s)' % (f['count'], f['signature'], f['example'])
                                          for f in result['new']))
    else:
        result['verdict'] = 'pass'
        counts = (len(result['known']), len(result['rare']), min_count, len(result['ignored']))
        result['summary'] = ('pass: no error log signature new on the canary (%d known from the baseline, %d seen '
                             'fewer than %d times, %d ignored)' % counts)
    return result
