# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The staged_release action plugin (src: the package on the controller), run by a real ansible-playbook.

The connection is local: the "host" is this machine, so the transfer is a local copy into Ansible's
temporary directory, but the plugin's path (look, transfer, stage, temporary directory removed) is
the one it takes over SSH.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os
import sys
import tarfile

import pytest

PLAYBOOK = """\
- name: Stage
  hosts: node
  gather_facts: false
  tasks:
    - name: Stage the package
      daylight.release.staged_release: "{{ stage_args }}"
      register: staged

    - name: Keep the result
      ansible.builtin.copy:
        content: "{{ staged | to_json }}"
        dest: "{{ result_path }}"
        mode: "0600"
      check_mode: false
"""


@pytest.fixture
def project(tmp_path, write_ansible_cfg):
    src = tmp_path / 'src'
    src.mkdir()
    (src / 'index.php').write_text(u'<?php echo "2.0.0";')
    package = tmp_path / 'demo-app-2.0.0.tar.gz'
    with tarfile.open(str(package), 'w:gz') as tar:
        tar.add(str(src), arcname='.')
    (tmp_path / 'releases').mkdir()
    (tmp_path / 'remote-tmp').mkdir()
    (tmp_path / 'playbook.yml').write_text(PLAYBOOK)
    (tmp_path / 'inventory.ini').write_text(u'node ansible_connection=local ansible_python_interpreter=%s\n'
                                            % sys.executable)
    write_ansible_cfg(tmp_path, remote_tmp=tmp_path / 'remote-tmp')
    return {'dir': tmp_path, 'package': str(package), 'releases': str(tmp_path / 'releases'),
            'sha256': hashlib.sha256(package.read_bytes()).hexdigest()}


@pytest.fixture
def stage(project, run_playbook):
    def stage_with(check=False, **args):
        """(rc, output, the task's result) of one run staging with args."""
        stage_args = dict(releases_dir=project['releases'], version='2.0.0', sha256=project['sha256'], **args)
        return run_playbook(project['dir'], {'stage_args': stage_args}, *(['--check'] if check else []))
    return stage_with


def leftovers(project):
    return os.listdir(str(project['dir'] / 'remote-tmp'))


def test_stages_from_the_controller_once_and_leaves_no_copy_behind(project, stage):
    rc, out, result = stage(src=project['package'])
    assert rc == 0, out
    assert result['changed'] is True and result['staged'] is True, result
    assert result['manifest']['package'] == 'demo-app-2.0.0.tar.gz' and result['manifest']['sha256'] == project['sha256']
    release = os.path.join(project['releases'], '2.0.0')
    with open(os.path.join(release, 'index.php')) as f:
        assert f.read() == '<?php echo "2.0.0";'
    # the transferred package went with the temporary directory; nothing half-staged is left beside the releases
    assert leftovers(project) == []
    incoming = os.path.join(project['releases'], '.incoming')
    assert sorted(os.listdir(project['releases'])) == ['.incoming', '2.0.0'] and os.listdir(incoming) == []

    # Again: staged already, so nothing is transferred and nothing changes.
    os.rename(project['package'], project['package'] + '.moved')  # a transfer would now fail
    os.symlink(os.devnull, project['package'])
    rc, out, result = stage(src=project['package'])
    assert rc == 0, out
    assert result['changed'] is False and result['staged'] is True, result


def test_check_mode_transfers_and_writes_nothing(project, stage):
    rc, out, result = stage(check=True, src=project['package'])
    assert rc == 0, out
    assert result['changed'] is True and result['staged'] is True, result
    assert os.listdir(project['releases']) == [] and leftovers(project) == []


def test_a_package_whose_sha256_differs_is_refused_and_nothing_is_staged(project, stage):
    with open(project['package'], 'ab') as f:
        f.write(b'\0')  # the package changed after its checksum was taken
    rc, out, result = stage(src=project['package'])
    assert rc != 0
    assert 'sha256' in out and project['sha256'] in out, out
    assert not os.path.exists(os.path.join(project['releases'], '2.0.0'))
    assert leftovers(project) == []


def test_src_and_package_together_are_refused(project, stage):
    rc, out, dummy = stage(src=project['package'], package='/tmp/elsewhere.tar.gz')
    assert rc != 0
    assert 'give src (a package on the controller) or package (a package already on the host), not both' in out, out


def test_a_missing_src_is_named(project, stage):
    missing = str(project['dir'] / 'nope.tar.gz')
    rc, out, dummy = stage(src=missing)
    assert rc != 0
    assert 'the package %s is not on the controller' % missing in out, out
    assert os.listdir(project['releases']) == []
