# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.daylight.release.plugins.modules import atomic_symlink


class ModuleExit(Exception):
    def __init__(self, kwargs):
        super(ModuleExit, self).__init__(kwargs)
        self.result = kwargs


class ModuleFail(ModuleExit):
    pass


@pytest.fixture(autouse=True)
def no_exit(monkeypatch):
    # exit_json/fail_json call sys.exit; raise instead so the test sees the result.
    def exit_json(self, **kwargs):
        raise ModuleExit(kwargs)

    def fail_json(self, **kwargs):
        raise ModuleFail(kwargs)
    monkeypatch.setattr(basic.AnsibleModule, 'exit_json', exit_json)
    monkeypatch.setattr(basic.AnsibleModule, 'fail_json', fail_json)


def run(args, check_mode=False, diff=False):
    args = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
    with patch_module_args(args):
        with pytest.raises(ModuleExit) as exc:
            atomic_symlink.main()
    return exc.type, exc.value.result


@pytest.fixture
def site(tmp_path):
    for name in ('r1', 'r2'):
        (tmp_path / 'releases' / name).mkdir(parents=True)
    os.symlink('releases/r1', str(tmp_path / 'current'))
    return tmp_path


def test_changed(site):
    link = str(site / 'current')
    kind, result = run(dict(path=link, target='releases/r2', expect_current='releases/r1',
                            confine_to=str(site / 'releases')))
    assert kind is ModuleExit
    assert result['changed'] is True
    assert result['previous_target'] == 'releases/r1'
    assert result['target'] == 'releases/r2'
    assert result['path'] == link
    assert 'diff' not in result
    assert os.readlink(link) == 'releases/r2'


def test_unchanged(site):
    kind, result = run(dict(path=str(site / 'current'), target='releases/r1'))
    assert kind is ModuleExit and result['changed'] is False


def test_check_mode_with_diff_writes_nothing(site):
    link = str(site / 'current')
    kind, result = run(dict(path=link, target='releases/r2'), check_mode=True, diff=True)
    assert kind is ModuleExit
    assert result['changed'] is True
    assert result['diff']['before'] == '%s -> releases/r1\n' % link
    assert result['diff']['after'] == '%s -> releases/r2\n' % link
    assert os.readlink(link) == 'releases/r1'
    assert sorted(os.listdir(str(site))) == ['current', 'releases']


def test_fail_json_message(site):
    link = str(site / 'current')
    kind, result = run(dict(path=link, target='releases/r2', expect_current='releases/r0'))
    assert kind is ModuleFail
    assert 'expected %s to point at releases/r0, but it points at releases/r1' % link in result['msg']
    assert result['path'] == link
    assert os.readlink(link) == 'releases/r1'
