#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: log_findings
short_description: "Count the signatures of a web node's Apache/PHP error log lines over a window"
version_added: 0.2.0
description:
  - Runs on a web node. Reads the Apache error log (where mod_php writes PHP's warnings and errors) from its end
    and reduces each line of the window to a signature; returns each signature with its count and one example line.
  - "A signature is the message with what varies between requests masked: numbers (C(<n>)), hex ids and hashes
    (C(<hex>)), UUIDs (C(<uuid>)), long letter-digit ids (C(<id>)), file and URL paths (C(<path>)), URLs
    (C(<url>)), IP addresses with their port (C(<ip>)) and quoted values (C(\"<q>\")), after the Apache module and
    level; the words, PHP's variable and function names and Apache's message ids (C(AH00035)) are kept. For example
    C([php:warn] PHP Warning: Undefined variable $x in <path> on line <n>). The date, pid, client and referer are
    left out. Of a message with a stack trace only the first line counts."
  - Counts the window from O(since) to O(until) (C(count)) and, separately, the O(lookback_seconds) before it
    (C(lookback_count)). Run it on the canary and on the baseline nodes with the same times, and compare with the
    filter P(daylight.release.new_log_findings#filter). A signature on the canary in the window that no baseline
    node logged, in the window or in the lookback, is new.
  - Changes nothing. It reads for real in check mode too. A log that cannot be read fails the task, since
    nothing could be said about the node.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Only reads the log, so it reads for real in check mode too.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  path:
    description: Apache's error log (C(ErrorLog)); PHP's messages are there with mod_php.
    type: path
    default: /var/log/apache2/error.log
  since:
    description: Start of the window, in epoch seconds on this host's clock.
    type: float
    required: true
  until:
    description: End of the window, in epoch seconds on this host's clock. Default is now.
    type: float
  lookback_seconds:
    description:
      - Seconds before O(since) counted separately as C(signatures[].lookback_count), so what a baseline node
        logs now and then is known even when it did not log it in the window.
    type: float
    default: 3600
  max_lines:
    description: Read at most this many of the newest lines, to bound time and memory on a node with a busy log.
    type: int
    default: 100000
notes:
  - Apache writes local time; it is read in this host's time zone.
  - Needs read access to the log, usually through become.
seealso:
  - plugin: daylight.release.new_log_findings
    plugin_type: filter
  - module: daylight.release.dark_launch
author:
  - daylight.release maintainers (@daylight)
"""

EXAMPLES = r"""
- name: Count the error log signatures of the canary and the baseline over the same seconds
  daylight.release.log_findings:
    since: "{{ window_start }}"
    until: "{{ window_end }}"
  delegate_to: "{{ item }}"
  loop: "{{ [canary] + baseline }}"
  register: error_logs
  become: true

- name: Fail on log findings new on the canary
  vars:
    findings: >-
      {{ (error_logs.results | selectattr('item', 'eq', canary) | first)
         | daylight.release.new_log_findings(error_logs.results | rejectattr('item', 'eq', canary) | list) }}
  ansible.builtin.assert:
    that: findings.verdict == 'pass'
    fail_msg: "{{ findings.summary }}"
    success_msg: "{{ findings.summary }}"
"""

RETURN = r"""
signatures:
  description:
    - Signature to C(count) (lines in the window), C(lookback_count) (lines in the lookback before it) and
      C(example) (the first line in the window, else in the lookback; at most 1000 characters).
    - At most the 2000 most frequent; RV(distinct) says how many there were.
  returned: always
  type: dict
  sample:
    "[php:warn] PHP Warning: Undefined variable $x in <path> on line <n>":
      count: 14
      lookback_count: 0
      example: "[Mon Nov 23 20:01:02.123456 2026] [php:warn] [pid 123:tid 456] [client 10.89.0.85:41234] PHP Warning:
        Undefined variable $x in /srv/daylight/releases/2.0.0/index.php on line 12"
lines:
  description: Lines counted in the window.
  returned: always
  type: int
  sample: 14
lookback_lines:
  description: Lines counted in the lookback.
  returned: always
  type: int
  sample: 3
distinct:
  description: Signatures found, before keeping the 2000 most frequent.
  returned: always
  type: int
  sample: 2
truncated:
  description: Whether the O(max_lines) lines read all came after the start of the lookback, so older lines were not counted.
  returned: always
  type: bool
  sample: false
since:
  description: O(since).
  returned: always
  type: float
  sample: 1764000000.0
until:
  description: End of the window (O(until), or the time the log was read).
  returned: always
  type: float
  sample: 1764000300.0
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.daylight.release.plugins.module_utils.errors import DaylightError
from ansible_collections.daylight.release.plugins.module_utils.log_findings import count_signatures, read_window


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', default='/var/log/apache2/error.log'),
            since=dict(type='float', required=True),
            until=dict(type='float'),
            lookback_seconds=dict(type='float', default=3600),
            max_lines=dict(type='int', default=100000),
        ),
        # Read-only, so check mode reads for real.
        supports_check_mode=True,
    )
    p = module.params
    until = p['until'] if p['until'] is not None else time.time()
    if p['lookback_seconds'] < 0:
        module.fail_json(msg='lookback_seconds must be 0 or more, got %g' % p['lookback_seconds'])
    try:
        entries, truncated = read_window(p['path'], p['since'] - p['lookback_seconds'], until, p['max_lines'])
    except DaylightError as e:
        module.fail_json(msg=str(e), path=p['path'])
    signatures, distinct = count_signatures(entries, p['since'])
    window = sum(1 for entry in entries if entry['time'] >= p['since'])
    if truncated:
        module.warn('the last %d lines of %s do not reach back to %s: older lines of the window were not counted; '
                    'raise max_lines' % (p['max_lines'], p['path'], p['since'] - p['lookback_seconds']))
    module.exit_json(changed=False, signatures=signatures, lines=window, lookback_lines=len(entries) - window,
                     distinct=distinct, truncated=truncated, since=p['since'], until=until)


if __name__ == '__main__':
    main()
