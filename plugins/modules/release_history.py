#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: release_history
short_description: Read and record release and rollback attempts in the history on the share
version_added: 0.1.0
description:
  - Keeps the release history on the share every web node mounts (for example
    C(/srv/daylight/releases/.history.json)), a JSON list of attempts, oldest first.
  - "An attempt is a dict with C(id), C(action) (V(release) or V(rollback)), C(version), C(previous)
    (the version the estate served before, or null), C(who), C(controller), C(started),
    C(finished) (null while running), C(result) (V(running), V(completed), V(stopped),
    V(rolled back) or V(interrupted)), C(nodes) (node name to outcome) and C(note)."
  - Entries written by older versions of this collection, C({version, live_at}), are read as
    completed releases with ids C(legacy-1), C(legacy-2), ... and each one's C(previous) set to
    the version of the entry before it. The file is rewritten in the current format on the next
    O(state=start) or O(state=finish).
  - A history that cannot be read or parsed, or is not a list of attempts, fails the task for
    every O(state) and is never overwritten, so a rollback never goes by a history that lost
    its past.
  - Writes are atomic (temporary file in the same directory, fsync, rename, fsync of the
    directory). Run it on one web node (C(run_once)) while holding the
    M(daylight.release.release_lock), so there is one writer at a time.
  - The filters P(daylight.release.rollback_target#filter) and P(daylight.release.went_live#filter)
    answer questions about the RV(history) it returns.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - daylight.release.attributes
options:
  path:
    description:
      - The history file. Its directory must exist. A missing file is an empty history.
    type: path
    required: true
  state:
    description:
      - V(read) returns the history and changes nothing.
      - V(start) appends O(entry) as a V(running) attempt. Attempts still V(running) under another
        id are marked V(interrupted) (their controller stopped before the end). If an attempt
        with O(entry)'s C(id) is there already, nothing changes.
      - V(finish) records the outcome of the attempt O(id). Finishing it again with the same
        outcome changes nothing.
    type: str
    choices: [read, start, finish]
    default: read
  entry:
    description:
      - For O(state=start), the attempt to record. Must contain a non-empty C(id) and C(version).
      - C(action) defaults to V(release). C(previous) defaults to the version of the last completed
        attempt; pass what the nodes actually serve when you know it.
      - C(who) defaults to C(user) and C(started) to C(since), so the dict of the
        P(daylight.release.release_run#lookup) lookup can be passed as it is, combined with
        C(action), C(version) and C(previous).
      - Other keys are copied into the attempt. C(result) and C(finished) are always set by the module.
    type: dict
  id:
    description:
      - For O(state=finish), the C(id) of the attempt to finish.
    type: str
  result:
    description:
      - For O(state=finish), how the attempt ended.
      - V(completed) means every node serves the attempt's C(version); only completed attempts
        count for P(daylight.release.rollback_target#filter) and P(daylight.release.went_live#filter).
    type: str
    choices: [completed, stopped, rolled back]
  nodes:
    description:
      - For O(state=finish), node name to outcome, for example C(web1) to C(2.1.0 live).
      - Kept from O(state=start) when not given.
    type: dict
  note:
    description:
      - For O(state=finish), a line for the operator, for example why the attempt stopped.
      - Kept when not given.
    type: str
  keep:
    description:
      - How many attempts to keep, newest first, when the history is written.
    type: int
    default: 500
seealso:
  - module: daylight.release.release_lock
  - plugin: daylight.release.rollback_target
    plugin_type: filter
  - plugin: daylight.release.went_live
    plugin_type: filter
author:
  - daylight.release maintainers (@daylight)
"""

EXAMPLES = r"""
- name: Record the start of the release
  daylight.release.release_history:
    path: /srv/daylight/releases/.history.json
    state: start
    entry: "{{ release_run | combine({'action': 'release', 'version': release_version, 'previous': serving_before}) }}"
  run_once: true

- name: Record that it went live everywhere
  daylight.release.release_history:
    path: /srv/daylight/releases/.history.json
    state: finish
    id: "{{ release_run.id }}"
    result: completed
    nodes: "{{ dict(ansible_play_hosts_all | zip(ansible_play_hosts_all | map('extract', hostvars, 'release_outcome'))) }}"
  run_once: true

- name: Read the history and find the release to roll back to
  daylight.release.release_history:
    path: /srv/daylight/releases/.history.json
  register: history
  run_once: true

- name: Go back to the release served before the last completed one
  ansible.builtin.set_fact:
    rollback_to: "{{ (history.history | daylight.release.rollback_target(serving)).version }}"
  run_once: true
"""

RETURN = r"""
history:
  description:
    - The attempts after the task (or as they would be, in check mode), oldest first, legacy entries
      normalised.
  returned: always
  type: list
  elements: dict
  sample:
    - id: legacy-1
      action: release
      version: 2.0.0
      previous: null
      who: null
      controller: null
      started: "2026-10-02T09:12:40Z"
      finished: "2026-10-02T09:12:40Z"
      result: completed
      nodes: {}
      note: ""
    - id: 3f2a9c0e5b7d4e1f8a6b2c3d4e5f6a7b
      action: release
      version: 2.1.0
      previous: 2.0.0
      who: root
      controller: ctl1
      started: "2026-11-23T14:00:05Z"
      finished: null
      result: running
      nodes: {}
      note: ""
attempt:
  description: The attempt started or finished (or found already there); null for O(state=read).
  returned: always
  type: dict
path:
  description: The history file, as given.
  returned: always
  type: str
  sample: /srv/daylight/releases/.history.json
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.daylight.release.plugins.module_utils.errors import DaylightError
from ansible_collections.daylight.release.plugins.module_utils.release_history import (
    FINISHED,
    finish,
    read_history,
    start,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', required=True),
            state=dict(type='str', choices=['read', 'start', 'finish'], default='read'),
            entry=dict(type='dict'),
            id=dict(type='str'),
            result=dict(type='str', choices=list(FINISHED)),
            nodes=dict(type='dict'),
            note=dict(type='str'),
            keep=dict(type='int', default=500),
        ),
        required_if=[
            ('state', 'start', ['entry']),
            ('state', 'finish', ['id', 'result']),
        ],
        supports_check_mode=True,
    )
    p = module.params
    try:
        if p['state'] == 'start':
            changed, result = start(p['path'], p['entry'], keep=p['keep'], check_mode=module.check_mode)
        elif p['state'] == 'finish':
            changed, result = finish(p['path'], p['id'], p['result'], nodes=p['nodes'], note=p['note'],
                                     keep=p['keep'], check_mode=module.check_mode)
        else:
            changed, result = read_history(p['path'])
    except DaylightError as e:
        module.fail_json(msg=str(e), path=p['path'])

    diff = result.pop('diff')
    if module._diff and changed:
        result['diff'] = diff
    module.exit_json(changed=changed, path=p['path'], **result)


if __name__ == '__main__':
    main()
