# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.daylight.release.plugins.filter.counter_delta import FilterModule, counter_delta


def test_delta_and_reset():
    before = {'req_tot': 500, 'hrsp_5xx': 1, 'scur': 4, 'status': 'UP'}
    after = {'req_tot': 20, 'hrsp_5xx': 3, 'scur': 0, 'status': 'UP'}
    assert counter_delta(before, after) == {'delta': {'req_tot': 20, 'hrsp_5xx': 2}, 'reset': ['req_tot']}
    assert counter_delta(before, after, ['hrsp_5xx']) == {'delta': {'hrsp_5xx': 2}, 'reset': []}


@pytest.mark.parametrize('before, after, keys, message', [
    (None, {}, None, 'needs two dicts of counters, got NoneType and dict'),
    ({'req_tot': 1}, {}, ['req_tot'], 'counter_delta: counter req_tot is missing from the after reading'),
])
def test_errors(before, after, keys, message):
    with pytest.raises(AnsibleFilterError, match=message):
        counter_delta(before, after, keys)


def test_registered_as_a_filter():
    assert FilterModule().filters()['counter_delta'] is counter_delta
