# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import time

import pytest

from ansible.module_utils import basic

from ansible_collections.daylight.release.plugins.modules import log_findings

T = 1764000000.0
DAYS = ('Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun')
MONTHS = ('Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec')  # not %b: locale
SIG_X = '[php:warn] PHP Warning: Undefined variable $x in <path> on line <n>'
SIG_SEGV = '[core:notice] AH00052: child pid <n> exit signal Segmentation fault (<n>)'


def line_at(epoch, message, level='php:warn'):
    t = time.localtime(epoch)  # Apache writes this host's local time
    return '[%s %s %02d %02d:%02d:%02d.000000 %d] [%s] [pid 1:tid 2] [client 10.0.0.1:1] %s' % (
        DAYS[t.tm_wday], MONTHS[t.tm_mon - 1], t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, t.tm_year, level, message)


X = 'PHP Warning:  Undefined variable $x in /srv/daylight/releases/2.0.0/index.php on line %d'
SEGV = 'AH00052: child pid %d exit signal Segmentation fault (11)'


@pytest.fixture
def error_log(tmp_path):
    path = tmp_path / 'error.log'
    path.write_text('\n'.join([
        line_at(T - 400, X % 1),                    # before the lookback
        line_at(T - 100, SEGV % 7, 'core:notice'),  # in the lookback
        line_at(T + 10, X % 2),
        line_at(T + 20, X % 3),
        line_at(T + 100, X % 4),                    # after the window
    ]) + '\n')
    return str(path)


@pytest.fixture
def warnings(monkeypatch):
    said = []
    monkeypatch.setattr(basic.AnsibleModule, 'warn', lambda self, message: said.append(message))
    return said


@pytest.fixture
def run(run_module):
    def call(args, check_mode=False):
        return run_module(log_findings.main, _ansible_check_mode=check_mode, **args)
    return call


@pytest.mark.parametrize('check_mode', [False, True])
def test_counts_the_window_and_the_lookback(run, error_log, warnings, check_mode):
    kind, result = run(dict(path=error_log, since=T, until=T + 60, lookback_seconds=300), check_mode=check_mode)
    assert kind == 'exit', result
    assert result == {
        'changed': False,
        'signatures': {SIG_X: {'count': 2, 'lookback_count': 0, 'example': line_at(T + 10, X % 2)},
                       SIG_SEGV: {'count': 0, 'lookback_count': 1, 'example': line_at(T - 100, SEGV % 7, 'core:notice')}},
        'lines': 2, 'lookback_lines': 1, 'distinct': 2, 'truncated': False, 'since': T, 'until': T + 60,
    }
    assert warnings == []


def test_until_defaults_to_now(run, error_log):
    before = time.time()
    kind, result = run(dict(path=error_log, since=T))
    assert kind == 'exit', result
    assert result['until'] >= before
    assert result['signatures'][SIG_X]['count'] == 3


def test_warns_when_the_lines_read_do_not_reach_back(run, error_log, warnings):
    kind, result = run(dict(path=error_log, since=T, until=T + 60, lookback_seconds=300, max_lines=2))
    assert kind == 'exit', result
    assert result['truncated'] is True and result['lines'] == 1
    assert warnings == ['the last 2 lines of %s do not reach back to %s: older lines of the window were not counted; '
                        'raise max_lines' % (error_log, T - 300)]


@pytest.mark.parametrize('args, message', [
    (dict(since=T, until=T - 1), r'since \(1764000000.0\) is after until \(1763999999.0\)'),
    (dict(since=T, lookback_seconds=-1), 'lookback_seconds must be 0 or more, got -1'),
])
def test_bad_options(run, error_log, args, message):
    kind, result = run(dict(args, path=error_log, lookback_seconds=args.get('lookback_seconds', 0)))
    assert kind == 'fail'
    assert re.search(message, result['msg']), result['msg']


def test_unreadable_log_fails_with_where_to_look(run, tmp_path):
    kind, result = run(dict(path=str(tmp_path / 'nope.log'), since=T))
    assert kind == 'fail'
    assert result['msg'] == ('cannot read the error log %s: No such file or directory (is ErrorLog elsewhere in the '
                             'Apache configuration?)' % (tmp_path / 'nope.log'))
