# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.daylight.release.plugins.filter.log_findings import FilterModule, new_log_findings

SIG_X = '[php:warn] PHP Warning: Undefined variable $x in <path> on line <n>'
SIG_Y = '[php:warn] PHP Warning: Undefined variable $y in <path> on line <n>'
RELOAD = '[mpm_prefork:notice] AH00163: Apache/<n> (Debian) configured -- resuming normal operations'


def result(item, **signatures):
    """A registered log_findings result in a loop: name=(count, lookback_count)."""
    names = {'x': SIG_X, 'y': SIG_Y, 'reload': RELOAD}
    return {'item': item, 'changed': False, 'lines': 0, 'signatures': dict(
        (names[name], {'count': c, 'lookback_count': b, 'example': 'line of %s' % name})
        for name, (c, b) in signatures.items())}


def test_new_known_and_ignored_from_registered_results():
    canary = result('web1', x=(3, 0), y=(4, 0), reload=(2, 0))
    findings = new_log_findings(canary, [result('web2', y=(0, 1)), result('web3')])
    assert findings['verdict'] == 'fail'
    assert findings['new'] == [{'signature': SIG_X, 'count': 3, 'example': 'line of x'}]
    assert findings['known'] == [{'signature': SIG_Y, 'count': 4, 'example': 'line of y', 'baseline_count': 1}]
    assert findings['ignored'] == [{'signature': RELOAD, 'count': 2, 'example': 'line of reload'}]
    assert findings['summary'] == 'fail: 1 error log signature(s) new on the canary: 3 x %s (e.g. line of x)' % SIG_X


@pytest.mark.parametrize('min_count, ignore, verdict', [
    (4, None, 'pass'),           # 3 times is rare with min_count 4
    (1, ['Undefined variable \\$x', 'AH00163'], 'pass'),
    (1, ['Undefined variable \\$x'], 'fail'),  # a list replaces the default: the reload line counts again
    (1, [], 'fail'),
])
def test_min_count_and_ignore(min_count, ignore, verdict):
    canary = result('web1', x=(3, 0), reload=(1, 0))
    assert new_log_findings(canary, [result('web2')], min_count, ignore)['verdict'] == verdict


def test_also_ignore_adds_to_the_default():
    canary = result('web1', x=(3, 0), reload=(2, 0))
    findings = new_log_findings(canary, [result('web2')], 2, None, ['Undefined variable \\$x'])
    assert findings['verdict'] == 'pass'
    assert [f['signature'] for f in findings['ignored']] == [SIG_X, RELOAD]


def test_also_ignore_must_be_a_list():
    with pytest.raises(AnsibleFilterError, match='also_ignore must be a list of regular expressions'):
        new_log_findings(result('web1'), [result('web2')], 2, None, 'PHP Deprecated')


@pytest.mark.parametrize('canary, baselines, min_count, message', [
    ({'failed': True, 'msg': 'cannot read the error log /x'}, [], 2, 'log_findings failed on the canary: cannot read'),
    (result('web1'), [{'skipped': True}], 2, r'the baseline #1 must be the registered result of '
                                             r'daylight.release.log_findings \(with signatures\)'),
    (result('web1'), result('web2'), 2, 'baselines must be a list of registered log_findings results'),
    (result('web1'), [result('web2')], 0, 'new_log_findings: min_count must be a whole number of at least 1'),
])
def test_errors_name_the_problem(canary, baselines, min_count, message):
    with pytest.raises(AnsibleFilterError, match=message):
        new_log_findings(canary, baselines, min_count)


def test_registered_as_a_filter():
    assert FilterModule().filters()['new_log_findings'] is new_log_findings
