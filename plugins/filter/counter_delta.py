# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: counter_delta
short_description: What HAProxy's counters grew by between two readings, surviving a reload
version_added: 0.1.0
description:
  - Subtracts a reading of cumulative counters (for example one server of the C(servers) that
    M(daylight.release.haproxy_traffic) returns) from a later one, key by key.
  - HAProxy's counters restart from zero when HAProxy is reloaded or restarted. A counter that is
    lower after than before was reset; its delta is then its value after (counted since the reset)
    and it is listed in C(reset). A delta is never negative.
  - A reload resets every counter at once, but one that grew past its old value afterwards cannot be
    told from one that was not reset; treat the whole window as possibly under-counted when C(reset)
    is not empty.
  - The canary analysis and the toggle ramp use the same function, so both count a reload the same way.
author: daylight.release maintainers (@daylight)
options:
  _input:
    description: The earlier reading, a dict of counter name to whole number.
    type: dict
    required: true
  after:
    description: The later reading, same keys.
    type: dict
    required: true
  keys:
    description:
      - The counters to compare.
      - Default is every key whose value is a whole number in both readings, except the gauges
        C(scur), C(qcur) and C(weight), which go up and down.
    type: list
    elements: str
"""

EXAMPLES = r"""
- name: Requests and 5xx responses of web1 during the window, even across a reload
  vars:
    window: "{{ before.servers.web1 | daylight.release.counter_delta(after.servers.web1) }}"
  ansible.builtin.debug:
    msg: "{{ window.delta.req_tot }} requests, {{ window.delta.hrsp_5xx }} 5xx, reset: {{ window.reset }}"

- name: Only the counters the canary judges
  ansible.builtin.set_fact:
    canary_window: "{{ before.servers.web1 | daylight.release.counter_delta(after.servers.web1, ['req_tot', 'hrsp_5xx']) }}"
"""

RETURN = r"""
_value:
  description: The deltas, and the counters found reset.
  type: dict
  contains:
    delta:
      description: Counter name to how much it grew in the window (never negative).
      type: dict
      sample: {req_tot: 412, hrsp_5xx: 0, econ: 0}
    reset:
      description: Sorted names of the counters that were lower after than before.
      type: list
      elements: str
      sample: []
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.daylight.release.plugins.module_utils.errors import DaylightError
from ansible_collections.daylight.release.plugins.module_utils.haproxy import counter_delta as _counter_delta


def counter_delta(before, after, keys=None):
    if not isinstance(before, dict) or not isinstance(after, dict):
        raise AnsibleFilterError('counter_delta needs two dicts of counters, got %s and %s'
                                 % (type(before).__name__, type(after).__name__))
    try:
        delta, reset = _counter_delta(before, after, keys)
    except DaylightError as e:
        raise AnsibleFilterError('counter_delta: %s' % e)
    return {'delta': delta, 'reset': reset}


class FilterModule(object):
    def filters(self):
        return {'counter_delta': counter_delta}
