# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: haproxy_stats
short_description: Parse the output of HAProxy's C(show stat) into one dict per row
version_added: 0.1.0
description:
  - Turns the CSV that HAProxy's stats socket answers to C(show stat) into a list of dicts keyed
    by the header's column names (C(pxname), C(svname), C(status), C(scur), C(hrsp_5xx),
    C(req_tot), ...). Values stay strings, as HAProxy writes them.
  - The header is the first line starting with C(#). Lines that are empty or do not have the header's
    number of columns are skipped.
  - Reads the text only; the module M(daylight.release.haproxy_traffic) reads the socket and the log itself
    and returns the counters as numbers.
author: daylight.release maintainers (@daylight)
options:
  _input:
    description: The text HAProxy answered to C(show stat).
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Count the 5xx responses of backend web
  ansible.builtin.debug:
    msg: >-
      {{ show_stat.stdout | daylight.release.haproxy_stats | selectattr('pxname', 'eq', 'web')
         | selectattr('svname', 'eq', 'BACKEND') | map(attribute='hrsp_5xx') | map('int') | sum }}
"""

RETURN = r"""
_value:
  description: One dict per proxy or server row.
  type: list
  elements: dict
"""

from ansible_collections.daylight.release.plugins.module_utils.haproxy import parse_show_stat


def haproxy_stats(text):
    return parse_show_stat(text)


class FilterModule(object):
    def filters(self):
        return {'haproxy_stats': haproxy_stats}
