#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: toggle_bands
short_description: Push feature toggle bands to a web node's toggle file
version_added: 0.1.0
description:
  - Every web session carries a random number from 1 to 100 in a long-lived cookie. Per feature,
    bands map ranges of that number to a group (for example C(1-10) sees C(new-checkout), C(11-100)
    sees C(control)). This module validates the bands and writes them to the JSON toggle file the
    PHP application reads, so features move between groups without a deploy.
  - Every number from 1 to 100 must be in exactly one band of each feature; overlaps, gaps and
    out-of-range bands fail the task, naming the bad range, and leave the file untouched.
  - The file is replaced atomically (temporary file in the same directory, fsync, rename), so the
    application reads either the old or the new bands.
  - The file's C(serial) grows by one only when the bands change, so re-running a play is a no-op.
  - The result's RV(summary) lists which cookie numbers move from which group to which.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - daylight.release.attributes
options:
  path:
    description:
      - The toggle file. Its directory must exist.
    type: path
    default: /etc/daylight/toggles.json
  features:
    description:
      - Dict of feature name to spec. Feature and group names must match C(^[a-z][a-z0-9_-]{0,62}$).
      - Each spec has either C(bands) or C(percent).
      - C(bands) is a dict of range to group. A range is C(a-b) or a single C(n), whole numbers
        from 1 to 100. The ranges must cover 1 to 100 exactly once.
      - C(percent) is a dict of group to a whole percentage from 0 to 100, summing to at most 100.
        Groups take consecutive numbers in the order given, starting at 1; the remaining numbers
        go to the group named by C(rest) (default C(control)), which must not also have a
        percentage. Raising a percentage only adds numbers to that group, taken from the groups
        after it; put a group last to take its new numbers from C(rest) alone.
      - C(salt) (optional string matching C(^[A-Za-z0-9._:-]{0,64}$), default empty) shuffles the
        cookie numbers before the bands are applied, so different features do not pick the same
        sessions. Changing it reshuffles who sees what.
    type: dict
    required: true
  serial:
    description:
      - Serial to write when the bands change. Must be greater than the file's current serial.
      - Default is the current serial plus one, or 1 for a new file.
      - Ignored when the bands do not change; the file keeps its serial.
    type: int
  validate_only:
    description:
      - Only validate and normalise O(features); neither read nor write O(path).
      - Lets a role check the bands once, before it touches any web node.
    type: bool
    default: false
notes:
  - The file format and the salt permutation are documented in the module_utils
    C(daylight.release.toggle_bands) docstrings, for readers in other languages.
seealso:
  - module: daylight.release.atomic_symlink
author:
  - daylight.release maintainers (@daylight)
"""

EXAMPLES = r"""
- name: Validate the bands once on the controller before touching any node
  daylight.release.toggle_bands:
    features: "{{ feature_toggles_features }}"
    validate_only: true
  delegate_to: localhost
  run_once: true

- name: Show the new checkout to 10% and the new search to 25% of sessions
  daylight.release.toggle_bands:
    path: /etc/daylight/toggles.json
    features:
      checkout:
        bands:
          "1-10": new-checkout
          "11-100": control
      search:
        salt: search-2024
        percent:
          new-search: 25
        rest: control
"""

RETURN = r"""
path:
  description: The toggle file.
  returned: unless O(validate_only)
  type: str
  sample: /etc/daylight/toggles.json
serial:
  description:
    - The file's serial after the task (or as it would be, in check mode).
    - With O(validate_only), the given O(serial), or null.
  returned: always
  type: int
  sample: 7
checksum:
  description:
    - C(sha256:) followed by the hex SHA-256 of the compact, key-sorted JSON of the object
      with the single key C(features), exactly as stored in the file's C(checksum).
  returned: always
  type: str
  sample: "sha256:820e8374e5fbe25fe3074f976342e16f995d39d261cc14008a757d60d88c3423"
summary:
  description: Per feature, which cookie numbers move from which group to which. Empty when nothing changes.
  returned: always
  type: list
  elements: str
  sample: ["checkout: 11-25 control -> new-checkout"]
features:
  description: The normalised features, bands sorted, adjacent bands of one group merged.
  returned: always
  type: dict
  sample:
    checkout:
      salt: ""
      bands:
        - {from: 1, to: 10, group: new-checkout}
        - {from: 11, to: 100, group: control}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.daylight.release.plugins.module_utils.errors import (
    DaylightError,
)
from ansible_collections.daylight.release.plugins.module_utils.toggle_bands import (
    checksum,
    normalize,
    push,
)


def main():
    module = AnsibleModule(
        argument_spec={
            'path': {'type': 'path', 'default': '/etc/daylight/toggles.json'},
            'features': {'type': 'dict', 'required': True},
            'serial': {'type': 'int'},
            'validate_only': {'type': 'bool', 'default': False},
        },
        supports_check_mode=True,
    )
    p = module.params
    try:
        normalised = normalize(p['features'])
        if p['validate_only']:
            module.exit_json(changed=False, serial=p['serial'], checksum=checksum(normalised), summary=[],
                             features=normalised['features'])
        changed, result = push(p['path'], normalised, serial=p['serial'], check_mode=module.check_mode)
    except DaylightError as e:
        module.fail_json(msg=str(e), path=p['path'])

    diff = result.pop('diff')
    if module._diff:
        result['diff'] = diff
    module.exit_json(changed=changed, **result)


if __name__ == '__main__':
    main()
