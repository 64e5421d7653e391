# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the action plugins' tests share: a real ansible-playbook run in a project directory of its own.

Each test's playbook keeps the task's result in the file named by the `result_path` variable.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')


def _write_ansible_cfg(directory, **settings):
    """directory/ansible.cfg finding this collection from the checkout, with settings added to [defaults]."""
    defaults = dict(collections_path=os.path.join(REPO, '.build', 'collections'),
                    stdout_callback='ansible.builtin.default', retry_files_enabled='false', **settings)
    (directory / 'ansible.cfg').write_text(u'[defaults]\n' + u''.join(u'%s = %s\n' % item for item in defaults.items()))


def _run_playbook(directory, extra_vars, *options):
    """(rc, output, the task's result or None) of directory/playbook.yml with directory/inventory.ini."""
    result_path = directory / 'result.json'
    if result_path.exists():
        result_path.unlink()
    argv = [ANSIBLE_PLAYBOOK, '-i', 'inventory.ini', 'playbook.yml',
            '-e', json.dumps(dict(extra_vars, result_path=str(result_path)))] + list(options)
    proc = subprocess.run(argv, cwd=str(directory), capture_output=True, text=True, check=False,
                          env=dict(os.environ, ANSIBLE_CONFIG=str(directory / 'ansible.cfg')))
    result = json.loads(result_path.read_text()) if result_path.exists() else None
    return proc.returncode, proc.stdout + proc.stderr, result


@pytest.fixture
def write_ansible_cfg():
    return _write_ansible_cfg


@pytest.fixture
def run_playbook():
    return _run_playbook
