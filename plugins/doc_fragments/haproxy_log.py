# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Where the modules that read HAProxy's per-request log find it (module_utils/haproxy.py LOG_ARGUMENT_SPEC).
    DOCUMENTATION = r"""
options:
  log_source:
    description:
      - Where HAProxy's log is. C(journal) asks C(journalctl) for the entries tagged O(log_identifier)
        since O(since); C(file) reads the last O(max_log_lines) lines of O(log_path), from its end.
      - With C(journal) a request's time is when HAProxy logged it (its end); with C(file) it is
        when HAProxy accepted it, read in this host's time zone.
    type: str
    choices: [journal, file]
    default: journal
  log_path:
    description: HAProxy's log file, for O(log_source=file).
    type: path
    default: /var/log/haproxy.log
  log_identifier:
    description: The syslog identifier HAProxy logs under, for O(log_source=journal).
    type: str
    default: haproxy
  max_log_lines:
    description: Read at most this many of the newest log lines, to bound time and memory on a busy host.
    type: int
    default: 200000
"""
