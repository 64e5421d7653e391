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
import sys

import pytest

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
def project(tmp_path, write_ansible_cfg):
    (tmp_path / 'playbook.yml').write_text(PLAYBOOK)
    (tmp_path / 'inventory.ini').write_text(u'node ansible_host=192.0.2.1 ansible_connection=ssh\n'
                                            u'localhost ansible_connection=local ansible_python_interpreter=%s\n'
                                            % sys.executable)
    write_ansible_cfg(tmp_path)
    return tmp_path


@pytest.fixture
def run(project, run_playbook):
    def run_version(version='2.1.0', *options):
        return run_playbook(project, {'report_dir': str(project / 'reports'), 'version': version}, *options)
    return run_version


def test_writes_on_the_controller_once_then_changes_nothing(project, run):
    rc, out, result = run()
    assert rc == 0, out
    reports = project / 'reports'
    assert result['changed'] is True and result['written'] == [str(reports / '2.1.0.json'), str(reports / '2.1.0.md')]
    assert json.loads((reports / '2.1.0.json').read_text()) == {'version': '2.1.0'}
    assert (reports / '2.1.0.md').read_text() == '# Release 2.1.0\n'
    rc, out, result = run()
    assert rc == 0, out
    assert result['changed'] is False and result['written'] == [], result


def test_check_mode_with_diff_shows_the_text_and_writes_nothing(project, run):
    rc, out, result = run('2.2.0', '--check', '--diff')
    assert rc == 0, out
    assert result['changed'] is True and not (project / 'reports').exists()
    assert '+# Release 2.2.0' in out, out


def test_a_file_name_with_a_slash_is_refused_naming_it(project, run):
    rc, out, dummy = run('../2.3.0')
    assert rc != 0
    assert "report_files: '../2.3.0.json' is not a file name" in ' '.join(out.split()), out
    assert not (project / '2.3.0.json').exists()
