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
  - Lines that are empty or do not have the header's number of columns are skipped.
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

import csv
import io


def haproxy_stats(text):
    lines = [line for line in (text or '').splitlines() if line.strip()]
    if not lines:
        return []
    header = lines[0].lstrip('#').strip().split(',')
    rows = []
    for values in csv.reader(io.StringIO('\n'.join(lines[1:]))):
        if len(values) >= len(header) - 1:  # HAProxy ends every line with a comma
            rows.append(dict(zip(header, values)))
    return rows


class FilterModule(object):
    def filters(self):
        return {'haproxy_stats': haproxy_stats}
