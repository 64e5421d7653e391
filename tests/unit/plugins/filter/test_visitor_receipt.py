# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.daylight.release.plugins.filter.visitor_receipt import FilterModule

visitor_receipt = FilterModule().filters()['visitor_receipt']
WINDOWS = [{'name': 'before', 'start': 0, 'end': 10}, {'name': 'batch 1', 'start': 10, 'end': 20}]


def counted(lb, requests, errors, read=True):
    window = {'requests': requests, 'errors': errors, 'statuses': {'2xx': requests - errors, '5xx': errors},
              'latency_ms': {'20': requests}}
    return {'item': lb, 'windows': {'before': window, 'batch 1': window} if read else {},
            'log': {'read': read, 'error': None if read else 'journalctl failed'}}


def test_load_balancers_are_added_up_and_the_unread_one_named():
    result = visitor_receipt([counted('lb1', 40, 0), counted('lb2', 30, 0), counted('lb3', 99, 99, read=False)], WINDOWS)
    assert [r['requests'] for r in result['rows']] == [70, 70]
    assert result['worse'] == [] and result['summary'].endswith('Not read: lb3.')


def test_an_unreachable_load_balancer_is_named_not_read():
    result = visitor_receipt([counted('lb1', 40, 0), {'item': 'lb2', 'unreachable': True, 'msg': 'ssh: timeout'}], WINDOWS)
    assert result['summary'].endswith('Not read: lb2.')


def test_bad_input_is_a_filter_error():
    with pytest.raises(AnsibleFilterError, match='registered results of haproxy_traffic'):
        visitor_receipt(['lb1'], WINDOWS)
    with pytest.raises(AnsibleFilterError, match="window 'x': it ends"):
        visitor_receipt([], [{'name': 'x', 'start': 2, 'end': 1}])


def test_release_windows_filter_names_bad_input():
    from ansible_collections.daylight.release.plugins.filter.release_windows import FilterModule as Windows
    release_windows = Windows().filters()['release_windows']
    with pytest.raises(AnsibleFilterError, match='node names mapped to their release_node_turns'):
        release_windows([], '2.0')
    with pytest.raises(AnsibleFilterError, match='before_seconds must be a number'):
        release_windows({}, '2.0', 'web1', 'a minute')
    turns = {'web1': [{'version': '2.0', 'batch': ['web1'], 'marks': {'start': 10, 'end': 20}}]}
    assert [w['name'] for w in release_windows(turns, '2.0', 'web1', 5)['windows']] == ['before', 'canary web1']
