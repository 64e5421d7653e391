# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""daylight.release.progress, run by a real ansible-playbook on local connections.

The plays are named as playbooks/release.yml names them and the roles are stand-ins with the real
roles' names and files (haproxy_backend drain.yml/enable.yml, apache_docroot, smoke_test), so the
callback sees what it sees in a release, in a few seconds and without the lab.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import subprocess
import sys
import textwrap

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')

ROLES = {
    ('haproxy_backend', 'drain.yml'): 0.3,
    ('haproxy_backend', 'enable.yml'): 0.2,
    ('apache_docroot', 'main.yml'): 0.4,
    ('smoke_test', 'main.yml'): 0.1,
}

TURN = """\
    - name: Drain the node
      ansible.builtin.include_role:
        name: haproxy_backend
        tasks_from: drain
    - name: Swap the docroot and reload Apache
      ansible.builtin.include_role:
        name: apache_docroot
    - name: Smoke-test the node
      ansible.builtin.include_role:
        name: smoke_test
      vars:
        smoke_fails: "{{ inventory_hostname == broken_node | default('') }}"
    - name: Enable the node
      ansible.builtin.include_role:
        name: haproxy_backend
        tasks_from: enable
"""

PLAYBOOK = """\
- name: Check the request and that every host answers
  hosts: a
  gather_facts: false
  tasks:
    - name: Nothing to see
      ansible.builtin.debug:
        msg: not a batch

- name: Release the canary and judge it under live traffic
  hosts: a
  gather_facts: false
  tasks:
""" + TURN + """\
    - name: Judge the canary
      ansible.builtin.set_fact:
        canary_analysis_verdict:
          summary: "pass: canary a is no worse than b, c"

- name: Roll the release through the other nodes
  hosts: b:c
  gather_facts: false
  serial: 1
  tasks:
    - name: Switch the node
      block:
""" + textwrap.indent(TURN, '    ') + """\
      rescue:
        - name: Record why the release stops
          ansible.builtin.debug:
            msg: stopped
"""


def make_project(tmp_path):
    for (role, name), seconds in ROLES.items():
        tasks = tmp_path / 'roles' / role / 'tasks'
        os.makedirs(str(tasks), exist_ok=True)
        body = '- name: Work\n  ansible.builtin.command: sleep %s\n  changed_when: false\n' % seconds
        if role == 'smoke_test':
            body += '- name: Check\n  ansible.builtin.fail:\n    msg: smoke test failed\n  when: smoke_fails | bool\n'
        (tasks / name).write_text(body)
    (tmp_path / 'playbook.yml').write_text(PLAYBOOK)
    (tmp_path / 'inventory.ini').write_text('[web]\na\nb\nc\n\n[web:vars]\nansible_connection=local\n'
                                            'ansible_python_interpreter=%s\n' % sys.executable)
    (tmp_path / 'ansible.cfg').write_text(textwrap.dedent("""\
        [defaults]
        collections_path = {collections}
        roles_path = {roles}
        stdout_callback = ansible.builtin.default
        retry_files_enabled = false
        """).format(collections=os.path.join(REPO, '.build', 'collections'), roles=str(tmp_path / 'roles')))


def run(tmp_path, *extra, enabled=True):
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith('ANSIBLE_'))
    env.update(ANSIBLE_CONFIG=str(tmp_path / 'ansible.cfg'), ANSIBLE_NOCOLOR='1', ANSIBLE_HOME=str(tmp_path / 'home'),
               ANSIBLE_LOCAL_TEMP=str(tmp_path / 'tmp'))
    if enabled:
        env['ANSIBLE_CALLBACKS_ENABLED'] = 'daylight.release.progress'
    proc = subprocess.run([ANSIBLE_PLAYBOOK, '-i', 'inventory.ini', 'playbook.yml'] + list(extra), cwd=str(tmp_path),
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                          timeout=180, check=False)
    return proc.returncode, proc.stdout


def progress_lines(out):
    return [line for line in out.splitlines() if line.startswith('daylight.release: ')]


def seconds(line, step):
    return float(re.search(r'\b%s (\d+\.\d) s' % re.escape(step), line).group(1))


def test_one_line_per_batch_with_each_steps_seconds_and_the_verdict(tmp_path):
    make_project(tmp_path)
    rc, out = run(tmp_path)
    assert rc == 0, out
    lines = progress_lines(out)
    assert [line.split(':')[1].strip() for line in lines] == ['canary a', 'batch 1 b', 'batch 2 c'], lines
    canary = lines[0]
    # Measured from the tasks, so at least the stand-ins' sleeps, and not much more.
    for step, at_least in (('drain', 0.3), ('swap+reload', 0.4), ('smoke', 0.1), ('enable', 0.2)):
        assert at_least <= seconds(canary, step) < at_least + 3, (step, canary)
    assert seconds(canary, 'total') >= 1.0
    assert canary.endswith('; live window pass: canary a is no worse than b, c'), canary
    assert 'dark launch' not in canary and 'FAILED' not in ' '.join(lines)


def test_a_failed_turn_names_the_task_that_failed(tmp_path):
    make_project(tmp_path)
    rc, out = run(tmp_path, '-e', 'broken_node=b')
    assert rc == 0, out  # rescued, as in release.yml
    lines = progress_lines(out)
    assert lines[1].startswith('daylight.release: batch 1 b: ') and lines[1].endswith("FAILED: 'smoke_test : Check' on b"), lines
    assert 'enable' not in lines[1] and 'FAILED' not in lines[2], lines


def test_nothing_is_printed_unless_enabled(tmp_path):
    make_project(tmp_path)
    rc, out = run(tmp_path, enabled=False)
    assert rc == 0 and progress_lines(out) == [], out
