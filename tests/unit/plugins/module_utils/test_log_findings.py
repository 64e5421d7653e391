# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import time

import pytest

from ansible_collections.daylight.release.plugins.module_utils import log_findings as lf
from ansible_collections.daylight.release.plugins.module_utils.errors import UnavailableError, ValidationError

DAYS = ('Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun')
MONTHS = ('Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec')  # not %b: locale


def stamp(epoch):
    """Apache 2.4's error log date for `epoch`, in this host's zone: 'Mon Nov 23 20:01:02.123456 2026'."""
    t = time.localtime(epoch)
    fields = (DAYS[t.tm_wday], MONTHS[t.tm_mon - 1], t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, round(epoch % 1 * 1e6), t.tm_year)
    return '%s %s %02d %02d:%02d:%02d.%06d %d' % fields


@pytest.fixture
def utc():
    old = os.environ.get('TZ')
    os.environ['TZ'] = 'UTC'
    time.tzset()
    yield
    if old is None:
        del os.environ['TZ']
    else:
        os.environ['TZ'] = old
    time.tzset()


WARNING = ('[Mon Nov 23 20:01:02.123456 2026] [php:warn] [pid 123:tid 456] [client 10.89.0.85:41234] PHP Warning:  '
           'Undefined variable $x in /srv/daylight/releases/2.0.0/index.php on line 12, referer: http://shop.example/')


# --- parsing --------------------------------------------------------------------------------------

@pytest.mark.parametrize('line, expected', [
    (WARNING, {'time': 1795464062.123456, 'module': 'php', 'level': 'warn', 'pid': 123, 'client': '10.89.0.85:41234',
               'referer': 'http://shop.example/',
               'message': 'PHP Warning:  Undefined variable $x in /srv/daylight/releases/2.0.0/index.php on line 12'}),
    # An APR error before [client ...]; no referer.
    ('[Fri Sep 09 10:42:29.902022 2026] [core:error] [pid 35708:tid 4328636416] (13)Permission denied: '
     '[client 72.15.99.187:1234] AH00035: access to /x denied',
     {'time': 1788950549.902022, 'module': 'core', 'level': 'error', 'pid': 35708, 'client': '72.15.99.187:1234',
      'referer': None, 'message': '(13)Permission denied: AH00035: access to /x denied'}),
    # prefork: no tid, no client, a day below 10 padded with a space, no microseconds.
    ('[Tue Nov  3 08:00:00 2026] [mpm_prefork:notice] [pid 1] AH00163: Apache/2.4.62 (Debian) configured -- '
     'resuming normal operations',
     {'time': 1793692800.0, 'module': 'mpm_prefork', 'level': 'notice', 'pid': 1, 'client': None, 'referer': None,
      'message': 'AH00163: Apache/2.4.62 (Debian) configured -- resuming normal operations'}),
    # Apache 2.2's format: no module, no pid.
    ('[Tue Nov 03 08:00:00 2026] [error] [client 10.0.0.1] File does not exist: /var/www/favicon.ico',
     {'time': 1793692800.0, 'module': None, 'level': 'error', 'pid': None, 'client': '10.0.0.1', 'referer': None,
      'message': 'File does not exist: /var/www/favicon.ico'}),
    # php-fpm behind mod_proxy_fcgi: PHP's message unwrapped.
    ("[Tue Nov 03 08:00:00.5 2026] [proxy_fcgi:error] [pid 9:tid 9] [client 10.0.0.1:1] AH01071: Got error "
     "'PHP message: PHP Warning:  Undefined variable $y in /srv/b.php on line 4', referer: http://x/",
     {'time': 1793692800.5, 'module': 'proxy_fcgi', 'level': 'error', 'pid': 9, 'client': '10.0.0.1:1',
      'referer': 'http://x/', 'message': 'PHP message: PHP Warning:  Undefined variable $y in /srv/b.php on line 4'}),
    # Not Apache's format: kept whole, without a time.
    ('AH00558: apache2: Could not reliably determine the server\'s fully qualified domain name',
     {'time': None, 'module': None, 'level': None, 'pid': None, 'client': None, 'referer': None,
      'message': 'AH00558: apache2: Could not reliably determine the server\'s fully qualified domain name'}),
    ('PHP   1. {main}() /srv/a.php:0', {'time': None, 'module': None, 'level': None, 'pid': None, 'client': None,
                                        'referer': None, 'message': 'PHP   1. {main}() /srv/a.php:0'}),
])
def test_parse_error_line(utc, line, expected):
    entry = lf.parse_error_line(line + '\n')
    assert entry.pop('line') == line
    assert entry == dict(expected, time=pytest.approx(expected['time']) if expected['time'] else None)


# --- masking --------------------------------------------------------------------------------------

@pytest.mark.parametrize('message, expected', [
    ('PHP Warning:  Undefined variable $x in /srv/daylight/releases/2.0.0/index.php on line 12',
     'PHP Warning: Undefined variable $x in <path> on line <n>'),
    ('PHP Warning:  Undefined array key "id" in /srv/a.php on line 3',
     'PHP Warning: Undefined array key "<q>" in <path> on line <n>'),
    ('PHP Warning:  Undefined array key 7 in /srv/a.php on line 3',
     'PHP Warning: Undefined array key <n> in <path> on line <n>'),
    ('PHP Warning:  include(/srv/daylight/releases/2.0.0/inc/missing.php): Failed to open stream: No such file or '
     'directory in /srv/daylight/releases/2.0.0/index.php on line 5',
     'PHP Warning: include(<path>): Failed to open stream: No such file or directory in <path> on line <n>'),
    ('PHP Fatal error:  Allowed memory size of 134217728 bytes exhausted (tried to allocate 20480 bytes) in '
     '/srv/a.php on line 9',
     'PHP Fatal error: Allowed memory size of <n> bytes exhausted (tried to allocate <n> bytes) in <path> on line <n>'),
    # Only the first line of a message with a stack trace.
    ('PHP Fatal error:  Uncaught Exception: boom 42 in /srv/lib/cart.php:17\\nStack trace:\\n#0 /srv/x.php(3): '
     'foo()\\n#1 {main}\\n  thrown in /srv/lib/cart.php on line 17',
     'PHP Fatal error: Uncaught Exception: boom <n> in <path>:<n>'),
    ('PHP Fatal error:  Uncaught Error: Call to undefined function cart_total() in /srv/a.php:3',
     'PHP Fatal error: Uncaught Error: Call to undefined function cart_total() in <path>:<n>'),
    ("PHP Warning:  mysqli::__construct(): (HY000/2002): Connection refused to 10.89.0.5:3306",
     'PHP Warning: mysqli::__construct(): (HY000/<n>): Connection refused to <ip>'),
    ("PHP Warning:  session_start(): Session ID 'k3j4h5g6f7d8s9a0q1w2e3r4' rejected",
     "PHP Warning: session_start(): Session ID '<q>' rejected"),
    # Single quotes are values only when they stand alone: the apostrophe of can't is text.
    ("PHP Warning:  can't open 'db.ini' or 'db.local.ini'", "PHP Warning: can't open '<q>' or '<q>'"),
    ('object at 0x7fa3b2c1e0d0, hash d41d8cd98f00b204e9800998ecf8427e, id 123e4567-e89b-12d3-a456-426614174000',
     'object at <hex>, hash <hex>, id <uuid>'),
    ('token a1B2c3D4e5F6g7H8i9J0 for sess_a1B2c3D4e5F6g7H8i9J0', 'token <id> for sess_<id>'),
    ('AH01630: client denied by server configuration: /var/www/html/private/',
     'AH01630: client denied by server configuration: <path>'),
    ('AH00052: child pid 4321 exit signal Segmentation fault (11)',
     'AH00052: child pid <n> exit signal Segmentation fault (<n>)'),
    ('AH00163: Apache/2.4.62 (Debian) configured -- resuming normal operations',
     'AH00163: Apache/<n> (Debian) configured -- resuming normal operations'),
    ('Got http://shop.example/cart?id=3 from "https://x/y"', 'Got <url> from "<q>"'),
    # Names with digits keep them: Apache's ids, charsets, PHP variables; I/O, 1/2 and </div> are no paths.
    ('AH00035 utf8mb4 sha256 $row2 I/O 1/2 </div> 12ms -3', 'AH00035 utf8mb4 sha256 $row2 I/O <n>/<n> </div> <n>ms -<n>'),
    ('  spaces\tand\ttabs  ', 'spaces and tabs'),
    ('', ''),
])
def test_signature_masks_what_varies(message, expected):
    assert lf.signature(message) == expected


def test_signature_is_bounded():
    assert len(lf.signature('word ' * 1000)) == lf.MAX_SIGNATURE


@pytest.mark.parametrize('lines', [
    # The same warning on other requests, lines, releases and clients is one signature.
    [WARNING,
     WARNING.replace('12', '99').replace('2.0.0', '2.0.1').replace('10.89.0.85:41234', '10.89.0.9:1'),
     WARNING.replace(', referer: http://shop.example/', '').replace('pid 123:tid 456', 'pid 7:tid 8')],
    ['[Mon Nov 23 20:01:02.1 2026] [php:error] [pid 1] [client 1.1.1.1:1] PHP Fatal error:  Allowed memory size of '
     '%d bytes exhausted (tried to allocate %d bytes) in /srv/%s.php on line %d' % (a, b, f, n)
     for a, b, f, n in ((134217728, 20480, 'a', 1), (268435456, 65536, 'lib/b', 200))],
])
def test_one_problem_one_signature(lines):
    assert len(set(lf.entry_signature(lf.parse_error_line(line)) for line in lines)) == 1


@pytest.mark.parametrize('a, b', [
    # Different variables, levels, modules or messages are different problems.
    (WARNING, WARNING.replace('$x', '$y')),
    (WARNING, WARNING.replace('[php:warn]', '[php:error]')),
    (WARNING, WARNING.replace('Undefined variable', 'Undefined property')),
])
def test_different_problems_different_signatures(a, b):
    assert lf.entry_signature(lf.parse_error_line(a)) != lf.entry_signature(lf.parse_error_line(b))


@pytest.mark.parametrize('line, expected', [
    (WARNING, '[php:warn] PHP Warning: Undefined variable $x in <path> on line <n>'),
    ('[Tue Nov 03 08:00:00 2026] [error] [client 10.0.0.1] File does not exist: /var/www/favicon.ico',
     '[error] File does not exist: <path>'),
    ('PHP Warning:  raw stderr in /srv/a.php on line 2', 'PHP Warning: raw stderr in <path> on line <n>'),
    ('[Tue Nov 03 08:00:00 2026] [php:warn] [pid 1]  ', ''),
])
def test_entry_signature_starts_with_the_level(line, expected):
    assert lf.entry_signature(lf.parse_error_line(line)) == expected


# --- reading a window -------------------------------------------------------------------------------

T = 1764000000.0


def line_at(epoch, message, level='php:warn'):
    return '[%s] [%s] [pid 1:tid 2] [client 10.0.0.1:1] %s' % (stamp(epoch), level, message)


def write_log(tmp_path, lines):
    path = tmp_path / 'error.log'
    path.write_text(''.join(line + '\n' for line in lines))
    return str(path)


def test_read_window_keeps_the_window_and_dates_continuation_lines(tmp_path):
    path = write_log(tmp_path, [
        'PHP Warning: no date before me, so I am left out',
        line_at(T - 10, 'before'),
        line_at(T, 'first'),
        'PHP Stack trace:',  # takes the date of the line before: in the window
        '',
        line_at(T + 60.5, 'last'),
        line_at(T + 61, 'after'),
        'continuation of after',
    ])
    entries, truncated = lf.read_window(path, T, T + 60.5)
    assert [(e['time'], e['message']) for e in entries] == [(T, 'first'), (T, 'PHP Stack trace:'), (T + 60.5, 'last')]
    assert truncated is False


@pytest.mark.parametrize('max_lines, truncated', [(3, True), (5, False), (100, False)])
def test_read_window_says_when_the_lines_read_do_not_reach_back(tmp_path, max_lines, truncated):
    path = write_log(tmp_path, [line_at(T + i, 'line %d' % i) for i in range(-1, 4)])
    entries, was_truncated = lf.read_window(path, T, T + 10, max_lines)
    assert was_truncated is truncated
    assert len(entries) == min(max_lines, 4)


def test_read_window_missing_file_says_where_to_look(tmp_path):
    with pytest.raises(UnavailableError, match=r'cannot read the error log .*/nope.log: No such file or directory '
                                               r'\(is ErrorLog elsewhere in the Apache configuration\?\)'):
        lf.read_window(str(tmp_path / 'nope.log'), T, T + 1)


@pytest.mark.parametrize('args, message', [
    ((T + 1, T), r'since \(1764000001.0\) is after until \(1764000000.0\)'),
    (('yesterday', T), "since must be epoch seconds, got 'yesterday'"),
    ((T, T, 0), 'max_lines must be a whole number of at least 1, got 0'),
])
def test_read_window_bad_arguments(tmp_path, args, message):
    with pytest.raises(ValidationError, match=message):
        lf.read_window(write_log(tmp_path, []), *args)


# --- counting ---------------------------------------------------------------------------------------

SIG_X = '[php:warn] PHP Warning: Undefined variable $x in <path> on line <n>'
SIG_Y = '[php:warn] PHP Warning: Undefined variable $y in <path> on line <n>'


def entries_at(*timed):
    return [lf.parse_error_line(line_at(epoch, message)) for epoch, message in timed]


def test_count_signatures_window_and_lookback_with_one_example():
    x = 'PHP Warning:  Undefined variable $x in /srv/a.php on line %d'
    y = 'PHP Warning:  Undefined variable $y in /srv/a.php on line 1'
    entries = entries_at((T - 5, x % 1), (T - 4, y), (T, x % 2), (T + 1, x % 3))
    signatures, distinct = lf.count_signatures(entries, T)
    assert signatures == {
        SIG_X: {'count': 2, 'lookback_count': 1, 'example': line_at(T, x % 2)},  # the first in the window
        SIG_Y: {'count': 0, 'lookback_count': 1, 'example': line_at(T - 4, y)},  # only in the lookback
    }
    assert distinct == 2


def test_count_signatures_keeps_the_most_frequent():
    entries = entries_at(*[(T, 'PHP Warning:  Undefined variable $v%s' % name) for name in 'abbccc'])
    signatures, distinct = lf.count_signatures(entries, T, limit=2)
    assert sorted(signatures) == ['[php:warn] PHP Warning: Undefined variable $vb',
                                  '[php:warn] PHP Warning: Undefined variable $vc']
    assert distinct == 3


# --- findings ---------------------------------------------------------------------------------------

def counts(**by_name):
    """{signature: {count, lookback_count, example}} from name=(count, lookback_count)."""
    return dict((NAMES[name], {'count': c, 'lookback_count': b, 'example': 'line of %s' % name})
                for name, (c, b) in by_name.items())


NAMES = {'x': SIG_X, 'y': SIG_Y,
         'reload': '[mpm_prefork:notice] AH00163: Apache/<n> (Debian) configured -- resuming normal operations',
         'segv': '[core:notice] AH00052: child pid <n> exit signal Segmentation fault (<n>)',
         'deprecated': '[php:info] PHP Deprecated: strftime() is deprecated in <path> on line <n>'}


def found(name, count, **extra):
    item = {'signature': NAMES[name], 'count': count, 'example': 'line of %s' % name}
    item.update(extra)
    return item


@pytest.mark.parametrize('canary, baselines, kwargs, expected', [
    # On the canary only, often enough: new.
    (counts(x=(5, 0)), [counts(y=(3, 0))], {}, {'new': [found('x', 5)]}),
    # Below min_count: rare, not a failure; min_count 1 makes it new.
    (counts(x=(1, 0)), [counts()], {}, {'rare': [found('x', 1)]}),
    (counts(x=(1, 0)), [counts()], {'min_count': 1}, {'new': [found('x', 1)]}),
    (counts(x=(2, 0)), [counts()], {'min_count': 3}, {'rare': [found('x', 2)]}),
    # On any baseline node, in the window or only in its lookback: known.
    (counts(x=(9, 0)), [counts(), counts(x=(0, 1))], {}, {'known': [found('x', 9, baseline_count=1)]}),
    (counts(x=(9, 0)), [counts(x=(2, 3)), counts(x=(1, 0))], {}, {'known': [found('x', 9, baseline_count=6)]}),
    # Only in the canary's own lookback (before this release served): not judged.
    (counts(x=(0, 7)), [counts()], {}, {}),
    # Apache's reload lines are ignored by default; a crash is not.
    (counts(reload=(2, 0), segv=(2, 0)), [counts()], {}, {'ignored': [found('reload', 2)], 'new': [found('segv', 2)]}),
    # A list given replaces the default.
    (counts(reload=(2, 0), deprecated=(4, 0)), [counts()], {'ignore': ['PHP Deprecated']},
     {'new': [found('reload', 2)], 'ignored': [found('deprecated', 4)]}),
    (counts(reload=(2, 0)), [counts()], {'ignore': []}, {'new': [found('reload', 2)]}),
    # Most frequent first, then by signature.
    (counts(x=(2, 0), y=(3, 0), segv=(2, 0)), [], {},
     {'new': [found('y', 3), found('segv', 2), found('x', 2)]}),
])
def test_findings(canary, baselines, kwargs, expected):
    result = lf.findings(canary, baselines, **kwargs)
    for key in ('new', 'known', 'rare', 'ignored'):
        assert result[key] == expected.get(key, []), key
    assert result['verdict'] == ('fail' if expected.get('new') else 'pass')


def test_findings_summary_prints_each_new_signature_with_its_count_and_an_example():
    result = lf.findings(counts(x=(5, 0), y=(2, 0)), [counts(segv=(1, 0))])
    assert result['summary'] == ('fail: 2 error log signature(s) new on the canary: 5 x %s (e.g. line of x); '
                                 '2 x %s (e.g. line of y)' % (SIG_X, SIG_Y))
    result = lf.findings(counts(x=(5, 0), y=(1, 0)), [counts(x=(0, 1))])
    assert result['summary'] == ('pass: no error log signature new on the canary (1 known from the baseline, 1 seen '
                                 'fewer than 2 times, 0 ignored)')


@pytest.mark.parametrize('canary, baselines, kwargs, message', [
    ([], [], {}, 'canary signatures must be a dict'),
    ({'s': {'count': '3'}}, [], {}, "canary signatures: signature 's' needs whole-number count"),
    ({}, {}, {}, 'baselines must be a list'),
    ({}, [{'s': {'count': 1, 'lookback_count': -1}}], {}, "baseline #1 signatures: signature 's' needs"),
    ({}, [], {'min_count': 0}, 'min_count must be a whole number of at least 1'),
    ({}, [], {'ignore': ['[']}, r"ignore: '\[' is not a valid regular expression"),
])
def test_findings_bad_input(canary, baselines, kwargs, message):
    with pytest.raises(ValidationError, match=message):
        lf.findings(canary, baselines, **kwargs)
