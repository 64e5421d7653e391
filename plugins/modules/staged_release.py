#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: staged_release
short_description: Stage a release package on the share in one run, or say whether it is staged
version_added: 0.3.0
description:
  - Without O(src) or O(package), only looks, and returns RV(staged) and the release's manifest. Fails when the
    version is staged from another package (its manifest records another sha256) or when its directory has no
    manifest.
  - With O(src) (the package on the controller), looks first; when the release is not staged yet, transfers the
    package once into the connection's temporary directory on the host and stages it from there, then removes
    it. No copy task is needed, and the package does not go through a second copy onto the share.
  - With O(package) (the package already on this host, for example copied with M(ansible.builtin.copy)), checks
    its sha256 against O(sha256), extracts it into a temporary directory under C(RELEASES_DIR/.incoming) (the
    same filesystem), writes the manifest C(.daylight-release.json) (version, sha256, package name, time), and
    renames the directory to C(RELEASES_DIR/VERSION) with one rename(2), so the release appears whole or not
    at all. The copied package is removed afterwards.
  - Every member of the package must stay inside the release directory (no absolute paths, no C(..), no link
    pointing out, no devices); files get mode 0644 (0755 when executable), directories 0755, and the owner of
    the task, whatever the package recorded.
  - M(ansible.builtin.unarchive), M(ansible.builtin.copy) and M(ansible.builtin.file) can do each step, but as
    about eight module runs, each a round trip to the host (the staging's cost was those runs, not the copy);
    and none of them refuses a version staged from another package.
  - Releases are immutable. A version already staged from the same package changes nothing.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - daylight.release.attributes
  - daylight.release.attributes.action
options:
  releases_dir:
    description: The releases' directory on the share; each release is C(RELEASES_DIR/VERSION).
    type: path
    required: true
  version:
    description: The release's version, which names its directory.
    type: str
    required: true
  sha256:
    description: The package's sha256, as checked on the controller against its checksum file.
    type: str
    required: true
  src:
    description:
      - The package (a tar archive, usually gzipped) on the controller; a relative path is looked for in the
        role's or playbook's C(files/), as M(ansible.builtin.copy) does.
      - Transferred only when the release is not staged yet (and not in check mode).
      - Mutually exclusive with O(package).
    type: path
  package:
    description:
      - The package (a tar archive, usually gzipped) already on this host; it is removed once staged.
      - Without O(src) or O(package), the module only looks.
    type: path
  package_name:
    description:
      - The package's file name on the controller, recorded in the manifest. Defaults to the file name of O(src)
        or O(package).
    type: str
seealso:
  - module: ansible.builtin.unarchive
  - module: ansible.builtin.copy
author:
  - daylight.release maintainers (@daylight)
"""

EXAMPLES = r"""
- name: Stage the package on the share (transferred only when it is not staged yet)
  daylight.release.staged_release:
    releases_dir: /srv/daylight/releases
    version: 2.0.0
    sha256: "{{ package_sha256 }}"
    src: build/packages/demo-app-2.0.0.tar.gz
  run_once: true

- name: Look for the release on the share
  daylight.release.staged_release:
    releases_dir: /srv/daylight/releases
    version: 2.0.0
    sha256: "{{ package_sha256 }}"
  register: staged
"""

RETURN = r"""
staged:
  description: Whether the release is on the share now (in check mode, whether it would be).
  returned: always
  type: bool
  sample: true
manifest:
  description: The release's manifest, or null when it is not staged.
  returned: always
  type: dict
  sample: {"version": "2.0.0", "sha256": "9f86d0...", "package": "demo-app-2.0.0.tar.gz", "staged_at": "2026-12-02T14:00:00Z"}
path:
  description: The release's directory.
  returned: always
  type: str
  sample: /srv/daylight/releases/2.0.0
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.daylight.release.plugins.module_utils.errors import DaylightError
from ansible_collections.daylight.release.plugins.module_utils.staging import stage, staged


def main():
    module = AnsibleModule(
        argument_spec=dict(
            releases_dir=dict(type='path', required=True),
            version=dict(type='str', required=True),
            sha256=dict(type='str', required=True),
            src=dict(type='path'),
            package=dict(type='path'),
            package_name=dict(type='str'),
        ),
        mutually_exclusive=[('src', 'package')],
        supports_check_mode=True,
    )
    p = module.params
    if p['src']:
        # The action plugin turns src into package; src reaching the host means it did not run.
        module.fail_json(msg='src is handled on the controller by the daylight.release.staged_release action plugin, '
                             'which did not run: call the module by that name, or copy the package and give package')
    path = os.path.join(p['releases_dir'], p['version'])
    sha256 = p['sha256'].strip().lower()
    try:
        if p['package']:
            changed, manifest = stage(p['releases_dir'], p['version'], p['package'], sha256,
                                      p['package_name'] or os.path.basename(p['package']), check_mode=module.check_mode)
        else:
            changed, manifest = False, staged(p['releases_dir'], p['version'], sha256)
    except DaylightError as e:
        module.fail_json(msg=str(e), path=path)

    result = dict(changed=changed, staged=manifest is not None, manifest=manifest, path=path)
    if module._diff and changed:
        result['diff'] = dict(before_header=path, after_header=path, before='',
                              after='release %s staged from %s (sha256 %s)\n' % (p['version'], manifest['package'], sha256))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
