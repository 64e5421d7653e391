# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: new_log_findings
short_description: Which error log signatures are new on the canary, against the baseline nodes
version_added: 0.2.0
description:
  - Takes what M(daylight.release.log_findings) returned on the canary and on each baseline node (the nodes still
    on the old release) for the same window, and sorts the canary's signatures of the window.
  - A signature is V(new) when the canary logged it at least O(min_count) times and no baseline node logged it, in
    the window or in the lookback before it; any new signature makes the verdict V(fail).
  - A signature also on a baseline node is V(known), one logged fewer than O(min_count) times V(rare), one
    matching O(ignore) V(ignored); none of them fail the canary.
  - With an empty O(baselines) every signature of the canary counts as not on the baseline.
author: daylight.release maintainers (@daylight)
positional: _input, baselines, min_count, ignore, also_ignore
options:
  _input:
    description: The registered result of M(daylight.release.log_findings) on the canary.
    type: dict
    required: true
  baselines:
    description: The registered results of M(daylight.release.log_findings) on the baseline nodes.
    type: list
    elements: dict
    required: true
  min_count:
    description: Times a signature must be in the canary's window to be new.
    type: int
    default: 2
  ignore:
    description:
      - Python regular expressions searched (C(re.search)) in the signatures; a match is ignored.
      - Signatures are masked (C(<n>), C(<path>), ...) and start with the Apache module and level, as in
        C([php:warn] PHP Deprecated:). Write the pattern against the signature, not the raw line.
      - The default ignores Apache's own lines on a graceful reload, which the canary has just had
        (C(AH00094), C(AH00163), C(AH00169), C(AH00171), C(AH00493), C(AH00558)). A list given replaces it; add
        those to keep them ignored.
    type: list
    elements: str
    default: ['\bAH0(?:0094|0163|0169|0171|0493|0558)\b']
  also_ignore:
    description:
      - More patterns, as O(ignore), ignored on top of O(ignore); with the default O(ignore), Apache's reload
        lines stay ignored.
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Judge the canary's error log against the baseline's
  ansible.builtin.set_fact:
    findings: >-
      {{ (error_logs.results | selectattr('item', 'eq', 'web1') | first)
         | daylight.release.new_log_findings(error_logs.results | rejectattr('item', 'eq', 'web1') | list) }}

- name: Stop when the canary logs something the old release does not
  ansible.builtin.assert:
    that: findings.verdict == 'pass'
    fail_msg: "{{ findings.summary }}"

- name: Count a single occurrence, and ignore PHP's deprecation notices as well as reload noise
  ansible.builtin.set_fact:
    findings: >-
      {{ canary_log | daylight.release.new_log_findings(baseline_logs, 1,
                                                        ['AH0(?:0094|0163|0169|0171|0493|0558)', 'PHP Deprecated']) }}
"""

RETURN = r"""
_value:
  description: The canary's signatures of the window, sorted; each list most frequent first.
  type: dict
  contains:
    verdict:
      description: V(fail) when a signature is new, else V(pass).
      type: str
    summary:
      description: One line for the operator; on V(fail) each new signature with its count and an example line.
      type: str
    new:
      description: New signatures, each with C(signature), C(count) (in the canary's window) and C(example).
      type: list
      elements: dict
    known:
      description: Signatures a baseline node logged too; the keys of RV(_value.new) and C(baseline_count).
      type: list
      elements: dict
    rare:
      description: Signatures not on the baseline but logged fewer than O(min_count) times; the keys of RV(_value.new).
      type: list
      elements: dict
    ignored:
      description: Signatures matching O(ignore); the keys of RV(_value.new).
      type: list
      elements: dict
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.daylight.release.plugins.module_utils.errors import DaylightError
from ansible_collections.daylight.release.plugins.module_utils.log_findings import (
    DEFAULT_IGNORE,
    DEFAULT_MIN_COUNT,
    findings,
)


def _signatures(name, result):
    if not isinstance(result, dict) or not isinstance(result.get('signatures'), dict):
        if isinstance(result, dict) and result.get('failed'):
            raise AnsibleFilterError('new_log_findings: log_findings failed on the %s: %s' % (name, result.get('msg')))
        raise AnsibleFilterError('new_log_findings: the %s must be the registered result of '
                                 'daylight.release.log_findings (with signatures), got %r' % (name, result))
    return result['signatures']


def new_log_findings(canary, baselines, min_count=DEFAULT_MIN_COUNT, ignore=None, also_ignore=None):
    if isinstance(baselines, (str, dict)) or not isinstance(baselines, (list, tuple)):
        raise AnsibleFilterError('new_log_findings: baselines must be a list of registered log_findings results, '
                                 'got %r' % (baselines,))
    if also_ignore is not None and not isinstance(also_ignore, (list, tuple)):
        raise AnsibleFilterError('new_log_findings: also_ignore must be a list of regular expressions, got %r' % (also_ignore,))
    baseline_signatures = [_signatures('baseline #%d' % number, result) for number, result in enumerate(baselines, 1)]
    try:
        return findings(_signatures('canary', canary), baseline_signatures, min_count,
                        list(DEFAULT_IGNORE if ignore is None else ignore) + list(also_ignore or []))
    except DaylightError as e:
        raise AnsibleFilterError('new_log_findings: %s' % e)


class FilterModule(object):
    def filters(self):
        return {'new_log_findings': new_log_findings}
