# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: visitor_receipt
short_description: What real visitors saw before, during and after a release, from the load balancers' logs
version_added: 0.2.0
description:
  - Adds up the windows that M(daylight.release.haproxy_traffic) counted on each load balancer
    (its O(daylight.release.haproxy_traffic#module:windows)) and gives a row per window, in the order of
    O(windows) - requests, requests per second, errors, p50 and p95 latency - and whether visitors had it
    worse than in the first window, the one before the release.
  - Checks can all pass while visitors still have it worse (a page the smoke test does not ask for, a slower
    estate once every node runs the release); the receipt says so.
  - "A window is worse when its error ratio is more than O(rules.error_points) points above the first window's
    with at least O(rules.min_errors) errors, or when its p95 is both more than O(rules.p95_ratio) times and more
    than O(rules.p95_margin_ms) above the first window's. Windows with fewer than O(rules.min_requests) requests
    are not judged, and nothing is when the first window has fewer."
  - Percentiles come from the load balancers' merged histograms (latencies kept to two significant digits).
author: daylight.release maintainers (@daylight)
positional: _input, windows, rules
options:
  _input:
    description:
      - The registered results of M(daylight.release.haproxy_traffic) looped over the load balancers, each
        with C(windows) and C(log); a result without C(windows), or whose log was not read, is named in the
        summary as not read (by its loop C(item)).
    type: list
    elements: dict
    required: true
  windows:
    description: The windows given to the module (C(name), C(start), C(end)), the one before the release first.
    type: list
    elements: dict
    required: true
  rules:
    description: When a window counts as worse; any left out keep their default. Unknown keys are an error.
    type: dict
    default: {}
    suboptions:
      error_points:
        description: Percentage points of errors above the first window's that count.
        type: float
        default: 0.5
      min_errors:
        description: Fewer errors than this in a window never make it worse.
        type: int
        default: 3
      p95_ratio:
        description: A p95 above this many times the first window's counts (with O(rules.p95_margin_ms)).
        type: float
        default: 1.5
      p95_margin_ms:
        description: A p95 more than this many milliseconds above the first window's counts (with O(rules.p95_ratio)).
        type: float
        default: 50
      min_requests:
        description: Windows with fewer requests are not judged.
        type: int
        default: 20
"""

EXAMPLES = r"""
- name: Count the windows on every load balancer
  daylight.release.haproxy_traffic:
    backend: web
    windows: "{{ windows }}"
  delegate_to: "{{ item }}"
  loop: "{{ groups['loadbalancers'] }}"
  register: counted
  run_once: true

- name: Say what visitors saw
  ansible.builtin.debug:
    msg: "{{ (counted.results | daylight.release.visitor_receipt(windows)).summary }}"

- name: Be stricter about latency
  ansible.builtin.set_fact:
    receipt: "{{ counted.results | daylight.release.visitor_receipt(windows, {'p95_ratio': 1.2, 'p95_margin_ms': 20}) }}"
"""

RETURN = r"""
_value:
  description: The receipt.
  type: dict
  contains:
    rows:
      description:
        - One per window, in order, with C(window), C(start), C(end) (epoch seconds), C(seconds), C(requests),
          C(per_second), C(errors),
          C(error_pct) (null without requests), C(p50_ms), C(p95_ms) (null without latencies) and C(statuses).
      type: list
      elements: dict
    worse:
      description: Why visitors had it worse, one reason per window and figure; empty when they did not.
      type: list
      elements: str
    judged:
      description: False when the first window had too few requests to compare with.
      type: bool
    summary:
      description: One paragraph for the operator, the figures of every window and the verdict.
      type: str
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.daylight.release.plugins.module_utils.errors import DaylightError
from ansible_collections.daylight.release.plugins.module_utils.receipt import receipt


def visitor_receipt(results, windows, rules=None):
    readings, unread = [], []
    for result in results or []:
        if not isinstance(result, dict):
            raise AnsibleFilterError('visitor_receipt expects the registered results of haproxy_traffic, got %r' % (result,))
        if isinstance(result.get('windows'), dict) and (result.get('log') or {}).get('read'):
            readings.append(result['windows'])
        else:
            unread.append(str(result.get('item', 'a load balancer')))
    try:
        return receipt(readings, windows, rules or {}, unread=unread)
    except DaylightError as e:
        raise AnsibleFilterError(str(e))


class FilterModule(object):
    def filters(self):
        return {'visitor_receipt': visitor_receipt}
