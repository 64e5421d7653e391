# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The report_files action plugin, run by a real ansible-playbook for a host that is not the controller.

The host's connection is ssh to an address that does not exist: the files are written on the
controller, and the run never tries the host.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import subprocess
import sys
import textwrap

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')

PLAYBOOK = """\
- name: Report
  hosts: node
  gather_facts: false
  tasks:
    - name: Write the report
      daylight.release.report_files:
        dir: "{{ report_dir }}"
        files:
          - name: "{{ version }}.json"
            content: "{{ {'version': version} | to_nice_json }}\\n"
          - name: "{{ version }}.md"
            content: |
              # Release {{ version }}
      register: written

    - name: Keep the result
      ansible.builtin.copy:
        content: "{{ written | to_json }}"
        dest: "{{ result_path }}"
        mode: "0600"
      delegate_to: localhost
      check_mode: false
"""


@pytest.fixture
def project(tmp_path):
    (tmp_path / 'playbook.yml').write_text(PLAYBOOK)
    (tmp_path / 'inventory.ini').write_text(u'node ansible_host=192.0.2.1 ansible_connection=ssh\n'
                                            u'localhost ansible_connection=local ansible_python_interpreter=%s\n'
                                            % sys.executable)
    (tmp_path / 'ansible.cfg').write_text(textwrap.dedent(u"""\
        [defaults]
        collections_path = {collections}
        stdout_callback = ansible.builtin.default
        retry_files_enabled = false
        """).format(collections=os.path.join(REPO, '.build', 'collections')))
    return tmp_path


def run(project, version='2.1.0', *options):
    result_path = project / 'result.json'
    if result_path.exists():
        result_path.unlink()
    argv = [ANSIBLE_PLAYBOOK, '-i', 'inventory.ini', 'playbook.yml', '-e',
            json.dumps({'report_dir': str(project / 'reports'), 'version': version,
                        'result_path': str(result_path)})] + list(options)
    proc = subprocess.run(argv, cwd=str(project), capture_output=True, text=True, check=False,
                          env=dict(os.environ, ANSIBLE_CONFIG=str(project / 'ansible.cfg')))
    result = json.loads(result_path.read_text()) if result_path.exists() else None
    return proc.returncode, proc.stdout + proc.stderr, result


def test_writes_on_the_controller_once_then_changes_nothing(project):
    rc, out, result = run(project)
    assert rc == 0, out
    reports = project / 'reports'
    assert result['changed'] is True and result['written'] == [str(reports / '2.1.0.json'), str(reports / '2.1.0.md')]
    assert json.loads((reports / '2.1.0.json').read_text()) == {'version': '2.1.0'}
    assert (reports / '2.1.0.md').read_text() == '# Release 2.1.0\n'
    rc, out, result = run(project)
    assert rc == 0, out
    assert result['changed'] is False and result['written'] == [], result


def test_check_mode_with_diff_shows_the_text_and_writes_nothing(project):
    rc, out, result = run(project, '2.2.0', '--check', '--diff')
    assert rc == 0, out
    assert result['changed'] is True and not (project / 'reports').exists()
    assert '+# Release 2.2.0' in out, out


def test_a_file_name_with_a_slash_is_refused_naming_it(project):
    rc, out, dummy = run(project, '../2.3.0')
    assert rc != 0
    assert "report_files: '../2.3.0.json' is not a file name" in ' '.join(out.split()), out
    assert not (project / '2.3.0.json').exists()
