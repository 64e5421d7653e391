#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: release_lock
short_description: Take or release the lock that lets one release run at a time
version_added: 0.1.0
description:
  - Takes or removes a lock file on the share every web node mounts (for example
    C(/srv/daylight/releases/.lock)), so two controllers never release or roll back at once.
  - The lock file holds the holder as JSON, with at least a non-empty C(id). Pass the dict the
    P(daylight.release.release_run#lookup) lookup returns, with C(action) and C(version) added.
  - Taking the lock has no check-then-write race, also on NFS. The holder is written to a unique
    temporary file in the lock's directory, fsynced and hard-linked to O(path); link(2) is atomic
    on NFS and fails when the lock exists. If the link reports another error but the temporary
    file has two links, the link did happen (a retransmitted NFS request) and the lock is taken.
    The temporary file is always removed.
  - A lock held by another run is not an error for O(state=present). The task returns
    RV(acquired=false) and that run's RV(holder), so the playbook can decide (for example with
    the P(daylight.release.lock_holder_state#filter) filter) whether the holder is gone, and say so.
  - Run it on one web node (C(run_once)); every node sees the same file on the share.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - daylight.release.attributes
options:
  path:
    description:
      - The lock file. Its directory must exist.
    type: path
    required: true
  state:
    description:
      - V(present) takes the lock for O(holder). If it already holds O(holder)'s C(id), nothing
        changes, so re-running a play is idempotent. If another run holds it, nothing changes and
        RV(acquired) is false.
      - V(absent) removes the lock if the run O(id) holds it. A missing lock is no change. A lock
        held by another run fails the task, naming its holder, and is kept.
    type: str
    choices: [present, absent]
    default: present
  holder:
    description:
      - What to record in the lock. Free-form, but must contain a non-empty string C(id) that
        identifies this run.
      - Required for O(state=present).
      - With O(state=absent), its C(id) is used when O(id) is not given.
    type: dict
  id:
    description:
      - With O(state=absent), the id of the run releasing the lock.
      - Defaults to the C(id) of O(holder).
    type: str
  break_lock:
    description:
      - With O(state=present), take the lock even if another run holds it. The old lock is renamed
        to C(<path>.broken.<id>) (one rename, so of two runs breaking it at once only one gets
        the lock) and kept there as a record. Only the lock found when the task starts is broken,
        never one another run takes during the task.
      - With O(state=absent), remove the lock whoever holds it.
      - Only for a lock whose run is known to be gone.
    type: bool
    default: false
notes:
  - The lock is advisory; it only works if every release and rollback playbook takes it.
  - Of two runs breaking the same lock at once, exactly one gets it. With three or more in the same
    instant, a late breaker may move the winner's fresh lock aside; it puts it back, and if yet
    another run took the lock in that moment, the late breaker fails naming the file to move back.
seealso:
  - module: daylight.release.release_history
  - plugin: daylight.release.release_run
    plugin_type: lookup
  - plugin: daylight.release.lock_holder_state
    plugin_type: filter
author:
  - daylight.release maintainers (@daylight)
"""

EXAMPLES = r"""
- name: Describe this run once (a lookup in vars would make a new id every time it is used)
  ansible.builtin.set_fact:
    release_run: "{{ lookup('daylight.release.release_run') | combine({'action': 'release', 'version': release_version}) }}"
  run_once: true

- name: Take the release lock
  daylight.release.release_lock:
    path: /srv/daylight/releases/.lock
    holder: "{{ release_run }}"
  run_once: true
  register: release_lock

- name: Stop when another release is running
  ansible.builtin.fail:
    msg: >-
      another run holds the release lock: {{ release_lock.holder | daylight.release.lock_holder_line }}
      (seen from this controller, that run is {{ release_lock.holder | daylight.release.lock_holder_state }}).
      If that run is gone, run again with -e break_lock=true.
  when: not release_lock.acquired
  run_once: true

- name: Release the lock at the end of the run
  daylight.release.release_lock:
    path: /srv/daylight/releases/.lock
    state: absent
    id: "{{ release_run.id }}"
  run_once: true
"""

RETURN = r"""
path:
  description: The lock file, as given.
  returned: always
  type: str
  sample: /srv/daylight/releases/.lock
acquired:
  description:
    - Whether this run holds the lock after the task (or would, in check mode).
    - Always false for O(state=absent).
  returned: always
  type: bool
  sample: false
holder:
  description:
    - The lock's holder after the task (or as it would be, in check mode); null when there is no lock.
    - When another run holds it, that run's holder. A lock file that cannot be read or parsed is
      reported as a dict with the single key C(unreadable), saying why.
  returned: always
  type: dict
  sample:
    id: 3f2a9c0e5b7d4e1f8a6b2c3d4e5f6a7b
    user: root
    controller: ctl1
    pid: 4242
    since: "2026-11-23T14:00:05Z"
    action: release
    version: 2.1.0
previous_holder:
  description:
    - The holder whose lock this task broke (O(break_lock)) or removed (O(state=absent)), or would, in
      check mode. Null when the task displaced no lock, so a playbook can report a lock taken over.
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.daylight.release.plugins.module_utils.errors import DaylightError
from ansible_collections.daylight.release.plugins.module_utils.release_lock import acquire, release


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', required=True),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
            holder=dict(type='dict'),
            id=dict(type='str'),
            break_lock=dict(type='bool', default=False),
        ),
        required_if=[('state', 'present', ['holder'])],
        supports_check_mode=True,
    )
    p = module.params
    try:
        if p['state'] == 'present':
            changed, result = acquire(p['path'], p['holder'], break_lock=p['break_lock'],
                                      check_mode=module.check_mode)
        else:
            run_id = p['id'] or (p['holder'] or {}).get('id')
            changed, result = release(p['path'], run_id, break_lock=p['break_lock'],
                                      check_mode=module.check_mode)
    except DaylightError as e:
        module.fail_json(msg=str(e), path=p['path'])

    diff = result.pop('diff')
    if module._diff:
        result['diff'] = diff
    module.exit_json(changed=changed, path=p['path'], **result)


if __name__ == '__main__':
    main()
