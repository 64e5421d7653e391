# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Questions the playbooks ask of the release history (daylight.release.release_history).

Two filters share this file, so (as in ansible.builtin's core.py) each one's
documentation is in an adjacent YAML file named after it: rollback_target.yml
and went_live.yml; ansible-doc reads those.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.daylight.release.plugins.module_utils import release_history
from ansible_collections.daylight.release.plugins.module_utils.errors import DaylightError


def rollback_target(history, serving):
    """{'version': V, 'reason': why}; AnsibleFilterError with the operator's message otherwise."""
    try:
        return release_history.rollback_target(history, serving)
    except DaylightError as e:
        raise AnsibleFilterError(str(e))


def went_live(history, version):
    try:
        return release_history.went_live(history, version)
    except DaylightError as e:
        raise AnsibleFilterError(str(e))


class FilterModule(object):
    def filters(self):
        return {
            'rollback_target': rollback_target,
            'went_live': went_live,
        }
