# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: release_run
short_description: Describe this release run, for the release lock and the release history
version_added: 0.1.0
description:
  - Returns one dict that identifies this run of a playbook - a new random C(id), the controller,
    the user, the pid of the C(ansible-playbook) process and the start time - to pass as the
    O(daylight.release.release_lock#module:holder) of the release lock and in the
    O(daylight.release.release_history#module:entry) of the release history.
  - The P(daylight.release.lock_holder_state#filter) filter uses C(controller) and C(pid) to tell
    whether a run that holds the lock is still running.
  - Every evaluation makes a new C(id). Evaluate it once with M(ansible.builtin.set_fact), not in
    C(vars), where it is evaluated again every time it is used.
  - Takes no terms.
author: daylight.release maintainers (@daylight)
options:
  who:
    description:
      - The user to record, for example the name of the person behind a shared account.
      - Defaults to the operating system user running the playbook.
    type: str
notes:
  - C(pid) is found by walking up from the process evaluating the lookup through its parents, as
    long as a parent's command line contains C(ansible), taking the outermost one. That is the
    C(ansible-playbook) process (or a wrapper whose command line contains C(ansible)).
    Without C(/proc), it is the pid of the process evaluating the lookup.
"""

EXAMPLES = r"""
- name: Describe this run once
  ansible.builtin.set_fact:
    release_run: "{{ lookup('daylight.release.release_run') | combine({'action': 'release', 'version': release_version}) }}"
  run_once: true

- name: Record who really runs it from the shared deploy account
  ansible.builtin.set_fact:
    release_run: "{{ lookup('daylight.release.release_run', who=lookup('ansible.builtin.env', 'SUDO_USER') or omit) }}"
  run_once: true
"""

RETURN = r"""
_raw:
  description: One dict describing this run.
  type: list
  elements: dict
  contains:
    id:
      description: A new random id for this run (uuid4, 32 hex digits).
      type: str
      sample: 3f2a9c0e5b7d4e1f8a6b2c3d4e5f6a7b
    controller:
      description: The controller's hostname.
      type: str
      sample: ctl1
    user:
      description: O(who), or the operating system user running the playbook.
      type: str
      sample: root
    pid:
      description: The pid of the C(ansible-playbook) process.
      type: int
      sample: 4242
    since:
      description: When the lookup was evaluated, UTC, C(YYYY-MM-DDTHH:MM:SSZ).
      type: str
      sample: "2026-11-23T14:00:05Z"
"""

# Imports after the docs, as ansible-doc expects; ruff.toml only exempts modules and filters.
import datetime  # noqa: E402
import getpass  # noqa: E402
import os  # noqa: E402
import socket  # noqa: E402
import uuid  # noqa: E402

from ansible.errors import AnsibleLookupError  # noqa: E402
from ansible.plugins.lookup import LookupBase  # noqa: E402

_PROC = '/proc'


def _parent(pid):
    """The parent pid of `pid` from /proc/<pid>/stat, or None."""
    try:
        with open('%s/%d/stat' % (_PROC, pid), 'rb') as f:
            stat = f.read().decode('utf-8', 'replace')
    except OSError:
        return None
    # The command name in parentheses may itself contain spaces and ')': split after the last one.
    fields = stat[stat.rfind(')') + 2:].split()
    try:
        return int(fields[1])
    except (IndexError, ValueError):
        return None


def _is_ansible(pid):
    try:
        with open('%s/%d/cmdline' % (_PROC, pid), 'rb') as f:
            return b'ansible' in f.read()
    except OSError:
        return False


def playbook_pid(start=None):
    """The outermost ancestor of `start` (default: this process) whose parents run ansible."""
    pid = start or os.getpid()
    seen = set()
    while pid not in seen:
        seen.add(pid)
        parent = _parent(pid)
        if not parent or parent <= 1 or not _is_ansible(parent):
            break
        pid = parent
    return pid


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def release_run(who=None):
    return {
        'id': uuid.uuid4().hex,
        'controller': socket.gethostname(),
        'user': who or getpass.getuser(),
        'pid': playbook_pid(),
        'since': utc_now(),
    }


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        if terms:
            raise AnsibleLookupError('daylight.release.release_run takes no terms, got %r; '
                                     'name the user with who=NAME' % (terms,))
        self.set_options(var_options=variables, direct=kwargs)
        return [release_run(self.get_option('who'))]
