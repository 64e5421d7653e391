# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters about the release lock's holder, run on the controller.

Two filters share this file, so (as in ansible.builtin's core.py) each one's
documentation is in an adjacent YAML file named after it: lock_holder_state.yml
and lock_holder_line.yml; ansible-doc reads those.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import socket

from ansible_collections.daylight.release.plugins.module_utils.release_lock import describe_holder

_PROC = '/proc'


def _cmdline(pid):
    """The process's command line, or None if there is no such process."""
    try:
        with open('%s/%d/cmdline' % (_PROC, pid), 'rb') as f:
            return f.read().replace(b'\0', b' ').decode('utf-8', 'replace')
    except OSError:
        return None


def lock_holder_state(holder, controller=None):
    """'alive', 'gone' or 'unknown': whether the run that holds the lock still runs."""
    if not isinstance(holder, dict) or 'unreadable' in holder:
        return 'unknown'
    here = controller or socket.gethostname()
    if not holder.get('controller') or holder['controller'] != here:
        return 'unknown'  # another controller's processes cannot be seen from here
    try:
        pid = int(holder.get('pid'))
    except (TypeError, ValueError):
        return 'unknown'
    if pid <= 0 or not os.path.isdir('%s/self' % _PROC):
        return 'unknown'
    cmdline = _cmdline(pid)
    # A zombie has an empty command line; a reused pid runs another program: both are gone.
    return 'alive' if cmdline and 'ansible' in cmdline else 'gone'


def lock_holder_line(holder):
    """One readable line about the holder, e.g. for a fail message."""
    return describe_holder(holder)


class FilterModule(object):
    def filters(self):
        return {
            'lock_holder_state': lock_holder_state,
            'lock_holder_line': lock_holder_line,
        }
