#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: report_files
short_description: Write a release report's files on the controller, each only when its text changed
version_added: 0.3.0
description:
  - Writes each of O(files) into O(dir) on the controller (the machine running C(ansible-playbook), or the AWX
    job's execution environment), whatever host the task runs for. Creates O(dir) (mode 0755) when missing.
  - A file is replaced atomically (a temporary file in O(dir), renamed over it), mode 0644, and only when its
    text differs; a second run with the same texts changes nothing.
  - This is an action plugin; nothing runs on the host. M(ansible.builtin.file) and M(ansible.builtin.copy)
    delegated to C(localhost) do the same as one module run each (a Python start-up) for the directory and
    for every file, at the end of every release while the operator waits.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - daylight.release.attributes
  - daylight.release.attributes.action
options:
  dir:
    description: Absolute path of the directory on the controller.
    type: path
    required: true
  files:
    description: The files to write.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: The file's name in O(dir), a plain name (no C(/)).
        type: str
        required: true
      content:
        description: The text the file must hold (written as UTF-8).
        type: str
        required: true
author:
  - daylight.release maintainers (@daylight)
"""

EXAMPLES = r"""
- name: Write the release's report
  daylight.release.report_files:
    dir: "{{ lookup('ansible.builtin.env', 'HOME') }}/.daylight-release/reports"
    files:
      - name: 2.1.0-run42.json
        content: "{{ report | to_nice_json }}\n"
      - name: 2.1.0-run42.md
        content: "# Release 2.1.0: {{ report.result }}\n"
  run_once: true
"""

RETURN = r"""
dir:
  description: O(dir).
  returned: success
  type: str
  sample: /root/.daylight-release/reports
paths:
  description: The files' paths, in name order.
  returned: success
  type: list
  elements: str
  sample: [/root/.daylight-release/reports/2.1.0-run42.json, /root/.daylight-release/reports/2.1.0-run42.md]
written:
  description: The files written (in check mode, that would be written), because absent or different.
  returned: success
  type: list
  elements: str
  sample: [/root/.daylight-release/reports/2.1.0-run42.md]
"""
