#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: smoke_check
short_description: "Check a web node directly: N passes in a row within a deadline"
version_added: 0.1.0
description:
  - Runs on the web node being tested and asks it over HTTP, not through the load balancer.
  - A round requests every page in O(checks) once. A page passes when the status is its C(status),
    the C(X-Release-Version) header equals O(expected_version) and the body matches its C(body)
    regular expression. The node passes when O(passes) rounds in a row pass; a failed round starts
    the count again, so a node that answers right only some of the time fails.
  - Keeps trying for O(deadline) seconds, pausing O(interval) seconds between rounds. No round
    starts after the deadline; a round already started finishes, so the task can overrun the
    deadline by up to one round of requests.
  - Requests go straight to O(base_url), ignoring C(http_proxy) and friends, and redirects are
    not followed, so a check can expect a 3xx status.
  - Never changes anything. It is read-only, so it also runs, for real, in check mode.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Read-only, so it sends the same requests in check mode and reports the real result.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  base_url:
    description:
      - Scheme, host and port of the node as seen from the node itself; each check's C(path) is appended.
    type: str
    default: http://127.0.0.1
  checks:
    description:
      - Pages to request in every round.
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description: Path of the page, starting with C(/).
        type: str
        required: true
      status:
        description: Expected HTTP status, 100-599.
        type: int
        default: 200
      body:
        description: Python regular expression the body must contain (C(re.search)).
        type: str
        default: "."
  expected_version:
    description:
      - Release every page must report in its C(X-Release-Version) header.
      - The empty string skips the header check.
    type: str
    default: ""
  passes:
    description: Rounds in a row that must pass.
    type: int
    default: 3
  deadline:
    description: Seconds to keep trying, from the first request, before the node counts as failed.
    type: float
    default: 20
  interval:
    description: Seconds to pause between rounds.
    type: float
    default: 0.2
  request_timeout:
    description: Seconds one request may take before it counts as no answer.
    type: float
    default: 5
seealso:
  - module: ansible.builtin.uri
author:
  - daylight.release maintainers (@daylight)
"""

EXAMPLES = r"""
- name: Check the node serves release 2.0.0 three times in a row within 20 seconds
  daylight.release.smoke_check:
    expected_version: 2.0.0
    checks:
      - path: /
        body: daylight demo app
      - path: /probe.php
        status: 200
        body: '"consistent":true'
"""

RETURN = r"""
passed:
  description: Whether O(passes) rounds in a row passed before the deadline.
  returned: always
  type: bool
  sample: true
rounds:
  description: Rounds run.
  returned: always
  type: int
  sample: 5
consecutive:
  description: Passing rounds in a row at the end.
  returned: always
  type: int
  sample: 3
seconds:
  description: Seconds from the first request to the end.
  returned: always
  type: float
  sample: 1.318
last_failure:
  description:
    - The first failing page of the most recent failed round; null if no round failed.
    - C(status) is 0 and C(error) says why when the node did not answer.
  returned: always
  type: dict
  sample:
    path: /probe.php
    status: 503
    version: 1.0.0
    body_matched: false
    error: null
    expected_status: 200
    pattern: '"consistent":true'
results:
  description: The last round, one entry per check, with the keys of RV(last_failure) and C(passed).
  returned: always
  type: list
  elements: dict
  sample:
    - path: /
      status: 200
      version: 2.0.0
      body_matched: true
      error: null
      expected_status: 200
      pattern: daylight demo app
      passed: true
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.daylight.release.plugins.module_utils.errors import DaylightError
from ansible_collections.daylight.release.plugins.module_utils.smoke import failure_message, run_smoke_test


def main():
    module = AnsibleModule(
        argument_spec=dict(
            base_url=dict(type='str', default='http://127.0.0.1'),
            checks=dict(type='list', elements='dict', required=True, options=dict(
                path=dict(type='str', required=True),
                status=dict(type='int', default=200),
                body=dict(type='str', default='.'),
            )),
            expected_version=dict(type='str', default=''),
            passes=dict(type='int', default=3, no_log=False),
            deadline=dict(type='float', default=20.0),
            interval=dict(type='float', default=0.2),
            request_timeout=dict(type='float', default=5.0),
        ),
        # Read-only: check mode runs the real requests, so a --check release still proves the nodes.
        supports_check_mode=True,
    )
    p = module.params
    try:
        result = run_smoke_test(
            p['checks'], p['base_url'], p['expected_version'], p['passes'], p['deadline'],
            p['interval'], p['request_timeout'],
        )
    except DaylightError as e:
        module.fail_json(msg=str(e), changed=False, base_url=p['base_url'])

    if not result['passed']:
        module.fail_json(msg=failure_message(result, p['base_url'], p['expected_version'], p['passes']),
                         changed=False, **result)
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
