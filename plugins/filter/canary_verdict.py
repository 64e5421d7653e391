# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: canary_verdict
short_description: Judge the canary against the nodes still on the old release, over the same window
version_added: 0.2.0
description:
  - Takes the window of traffic that M(daylight.release.haproxy_traffic) read on each load balancer
    before and after the canary served, sums it into one sample for the canary and one for the
    baseline (the nodes still on the old release, over the same seconds), and says whether the
    canary is worse.
  - A difference only counts when it is both significant (one-sided tests at O(alpha)) and large
    enough to matter (O(max_error_increase), O(max_p50_increase_ms)), so a healthy canary is rarely
    failed on noise. Too little canary traffic gives V(inconclusive), not V(pass).
  - Errors are compared with a two-proportion z-test, or Fisher's exact test when an expected cell
    count is below 5; latencies (from the access log) with a Mann-Whitney U test and the medians.
  - "Rules: the canary down (status not UP, or taken down by health checks) fails. Errors fail when
    significant and at least O(max_error_increase) above the baseline's ratio, or when the success
    ratio is below O(min_success_ratio) while the baseline meets it. Latency fails when significant
    and the median is at least O(max_p50_increase_ms) above the baseline's, or when p99 is above
    O(max_p99_ms) and more than O(max_p50_increase_ms) above the baseline's p99. A floor the
    baseline breaks too is noted as the estate's, not blamed on the canary. With fewer than
    O(min_requests) canary requests the verdict is V(inconclusive), unless the canary is down or
    already fails clearly (Fisher p < O(alpha) with at least 3 errors)."
  - When a load balancer's access log could not be read, its HAProxy counters give requests and
    errors, and latency cannot be judged from it (HAProxy's rolling averages are not a
    distribution). Counters reset by an HAProxy reload are counted from zero. Connection failures
    (C(econ)) and redispatches (C(wredis)) count as errors of the server they happened on.
  - The full rules are the docstring of C(judge) in C(plugins/module_utils/canary.py).
author: daylight.release maintainers (@daylight)
positional: _input, canary, baseline, settings
options:
  _input:
    description:
      - The window, one item per load balancer, each a dict with C(lb) (its name), C(before) and
        C(after) (the readings of M(daylight.release.haproxy_traffic) before and after the window).
    type: list
    elements: dict
    required: true
  canary:
    description: The canary's server name in the HAProxy backend.
    type: str
    required: true
  baseline:
    description:
      - Server names of the nodes still on the old release and serving.
      - May be empty; the canary is then judged against the floors only.
    type: list
    elements: str
    required: true
  settings:
    description: Thresholds; any left out keep their default. Unknown keys are an error.
    type: dict
    default: {}
    suboptions:
      min_requests:
        description: Canary requests needed for a conclusive verdict.
        type: int
        default: 200
      alpha:
        description: Significance level of the one-sided tests.
        type: float
        default: 0.05
      max_error_increase:
        description: Absolute increase of the error ratio over the baseline's that counts (0.005 is 0.5 points).
        type: float
        default: 0.005
      min_success_ratio:
        description: Floor for the canary's success ratio (Flagger's default).
        type: float
        default: 0.99
      max_p50_increase_ms:
        description:
          - Increase of the median latency over the baseline's that counts, in milliseconds.
          - Also the margin by which the canary's p99 must exceed the baseline's to fail on O(max_p99_ms).
        type: float
        default: 100
      max_p99_ms:
        description: Floor for the canary's 99th percentile latency, in milliseconds (Flagger's default).
        type: float
        default: 500
      min_latency_samples:
        description: Latencies needed on each side to judge latency at all.
        type: int
        default: 20
      proceed_on_inconclusive:
        description: The value of RV(_value.proceed) when the verdict is V(inconclusive).
        type: bool
        default: false
"""

EXAMPLES = r"""
- name: Judge the canary web1 against web2 and web3
  ansible.builtin.set_fact:
    canary: "{{ window | daylight.release.canary_verdict('web1', ['web2', 'web3']) }}"

- name: Stop the release when the canary is not good enough
  ansible.builtin.assert:
    that: canary.proceed
    fail_msg: "{{ canary.summary }}: {{ canary.reasons | join('; ') }}"
    success_msg: "{{ canary.summary }}"

- name: A quieter estate needs fewer requests; let an inconclusive canary through
  ansible.builtin.set_fact:
    canary: >-
      {{ window | daylight.release.canary_verdict('web1', ['web2', 'web3'],
                                                   {'min_requests': 100, 'proceed_on_inconclusive': true}) }}
"""

RETURN = r"""
_value:
  description: The verdict.
  type: dict
  contains:
    verdict:
      description: V(pass), V(fail) or V(inconclusive).
      type: str
    proceed:
      description:
        - Whether the release should go on.
        - V(true) on pass, V(false) on fail, O(settings.proceed_on_inconclusive) when inconclusive.
      type: bool
    reasons:
      description: Why, naming the figures; the failures on V(fail), the checks passed on V(pass).
      type: list
      elements: str
    notes:
      description: What limited the analysis (unreadable logs, counter resets, no baseline, a floor the estate breaks).
      type: list
      elements: str
    summary:
      description: One line for the operator.
      type: str
    canary:
      description:
        - The canary's figures, keys C(servers), C(requests), C(errors), C(error_ratio) (0.01 % resolution,
          null without requests), C(retries), C(latency_samples), C(p50_ms), C(p95_ms), C(p99_ms)
          (whole ms, null without latencies) and C(down).
      type: dict
    baseline:
      description: The baseline's figures, the same keys as RV(_value.canary).
      type: dict
    errors_test:
      description:
        - C(method) (V(two-proportion z-test) or V(Fisher exact)), C(p_value) (4 significant digits) and C(z)
          (null for Fisher).
        - All null when a side had no requests.
      type: dict
    latency_test:
      description: C(method) (V(Mann-Whitney U)), C(p_value), C(u) and C(z); null when latency was not compared.
      type: dict
    window_seconds:
      description: The longest window over the load balancers, in seconds.
      type: float
    load_balancers:
      description: The load balancers' names, in window order.
      type: list
      elements: str
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.daylight.release.plugins.module_utils.canary import analyse
from ansible_collections.daylight.release.plugins.module_utils.errors import DaylightError


def canary_verdict(window, canary, baseline, settings=None):
    try:
        return analyse(window, canary, baseline, settings or {})
    except DaylightError as e:
        raise AnsibleFilterError(str(e))


class FilterModule(object):
    def filters(self):
        return {'canary_verdict': canary_verdict}
