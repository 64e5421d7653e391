#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: atomic_symlink
short_description: Swap a symlink to a new target atomically
version_added: 0.1.0
description:
  - Points a symlink such as a docroot's C(current) at a new target in one rename(2), so
    every reader sees either the old or the new target and never a missing path.
  - M(ansible.builtin.file) with O(ansible.builtin.file#module:state=link) also replaces a link
    atomically (a temporary link renamed over it), but it cannot refuse a link that moved meanwhile
    (no compare-and-swap) nor keep the target inside a directory; during a non-atomic swap Apache serves
    errors. This module creates the new link under a temporary name in the same directory,
    renames it over O(path) and fsyncs the directory.
  - Refuses to replace a real file or directory at O(path); it never deletes data.
  - The target must already exist, so a release must be staged before it is switched to.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - daylight.release.attributes
options:
  path:
    description:
      - The symlink to create or replace.
      - Its parent directory must exist.
    type: path
    required: true
  target:
    description:
      - What the link points at, stored exactly as given.
      - A relative target is interpreted relative to the directory of O(path), as the kernel does.
      - Must exist.
    type: str
    required: true
  expect_current:
    description:
      - Compare-and-swap guard. The link must currently point at this target, compared both as
        the stored string and as the resolved path, otherwise the task fails and nothing is changed.
      - The empty string means the link must not exist yet.
      - Not checked when the link already points at O(target), so re-running a play is idempotent.
    type: str
  confine_to:
    description:
      - A directory the target must lie strictly inside after resolving C(..) and symlinks.
      - Guards against a variable pointing the docroot somewhere unexpected.
    type: path
seealso:
  - module: ansible.builtin.file
author:
  - daylight.release maintainers (@daylight)
"""

EXAMPLES = r"""
- name: Switch the docroot to the staged release, only if nobody switched it meanwhile
  daylight.release.atomic_symlink:
    path: /srv/www/shop/current
    target: /srv/www/shop/releases/{{ release_id }}
    confine_to: /srv/www/shop/releases
    expect_current: /srv/www/shop/releases/{{ previous_release_id }}

- name: Create the link on a fresh host (fails if it already exists elsewhere)
  daylight.release.atomic_symlink:
    path: /srv/www/shop/current
    target: releases/{{ release_id }}
    confine_to: /srv/www/shop/releases
    expect_current: ""
"""

RETURN = r"""
previous_target:
  description: The link's target before the task, as stored; null if the link did not exist.
  returned: always
  type: str
  sample: /srv/www/shop/releases/20240501-1200
target:
  description: The target the link points at now (or would, in check mode).
  returned: always
  type: str
  sample: /srv/www/shop/releases/20240502-0930
path:
  description: Absolute path of the symlink.
  returned: always
  type: str
  sample: /srv/www/shop/current
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.daylight.release.plugins.module_utils.atomic_symlink import swap_symlink
from ansible_collections.daylight.release.plugins.module_utils.errors import DaylightError


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', required=True),
            target=dict(type='str', required=True),
            expect_current=dict(type='str'),
            confine_to=dict(type='path'),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        changed, result = swap_symlink(
            p['path'], p['target'],
            expect_current=p['expect_current'],
            confine_to=p['confine_to'],
            check_mode=module.check_mode,
        )
    except DaylightError as e:
        module.fail_json(msg=str(e), path=p['path'])

    diff = result.pop('diff')
    if module._diff:
        result['diff'] = diff
    module.exit_json(changed=changed, **result)


if __name__ == '__main__':
    main()
