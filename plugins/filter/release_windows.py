# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: release_windows
short_description: A release's time windows (before, canary, each batch, going back) and each node's step seconds
version_added: 0.2.0
description:
  - Reads the turns the role C(daylight.release.release_node) records on each node (C(release_node_turns) - the
    version, the batch, and when each step began, in the controller's epoch seconds) and gives the windows the
    visitors' receipt is counted in, and how long each node's steps took on its way to O(version).
  - "Windows: C(before) (O(before_seconds) up to the first turn), then the canary (C(canary web1)) or C(batch 1),
    each later batch (C(batch 2 web3, web4)), and C(going back ...) when switched nodes went back; each ends where
    the next begins (so the canary's window holds its live watch), the last where its turns ended. The caller adds
    the window after the release, from RV(_value.last_end)."
  - "Steps: C(drain), C(swap_reload), C(smoke), C(dark_launch) (when the node had one), C(enable), each from its
    own start to the next step's, and C(total); a failed turn's last step runs until the node was put back."
author: daylight.release maintainers (@daylight)
positional: _input, version, canary, before_seconds
options:
  _input:
    description: Node name to its C(release_node_turns) (a node without turns may map to an empty list).
    type: dict
    required: true
  version:
    description: The release the run moved to; other turns count as going back.
    type: str
    required: true
  canary:
    description: The canary's node name; the first batch is named after it when it held that node alone.
    type: str
    default: ""
  before_seconds:
    description: How long the window before the release is.
    type: float
    default: 60
"""

EXAMPLES = r"""
- name: Work out the windows of the release
  vars:
    turns: >-
      {{ dict(ansible_play_hosts | zip(ansible_play_hosts | map('extract', hostvars)
                                       | map(attribute='release_node_turns', default=[]))) }}
  ansible.builtin.set_fact:
    timeline: "{{ turns | daylight.release.release_windows(release_version, groups['release_canary'] | first, 60) }}"
  run_once: true

- name: Say how long web2's turn took
  ansible.builtin.debug:
    msg: "drain {{ timeline.steps.web2.drain }} s, total {{ timeline.steps.web2.total }} s"
"""

RETURN = r"""
_value:
  description: The windows, the steps and when the last turn ended.
  type: dict
  contains:
    windows:
      description: Dicts with C(name), C(start) and C(end) (epoch seconds), in time order; empty without turns.
      type: list
      elements: dict
    steps:
      description: Node name to its step seconds (C(drain), C(swap_reload), C(smoke), C(dark_launch), C(enable), C(total)).
      type: dict
    last_end:
      description: When the last turn ended (epoch seconds); null without turns.
      type: float
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.daylight.release.plugins.module_utils.errors import DaylightError
from ansible_collections.daylight.release.plugins.module_utils.receipt import release_windows as windows_of


def release_windows(turns, version, canary='', before_seconds=60):
    if not isinstance(turns, dict):
        raise AnsibleFilterError('release_windows expects node names mapped to their release_node_turns, got %r' % (turns,))
    try:
        return windows_of(turns, version, canary or '', before_seconds)
    except DaylightError as e:
        raise AnsibleFilterError(str(e))


class FilterModule(object):
    def filters(self):
        return {'release_windows': release_windows}
