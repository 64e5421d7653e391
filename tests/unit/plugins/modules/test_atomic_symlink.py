# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from ansible_collections.daylight.release.plugins.modules import atomic_symlink


@pytest.fixture
def run(run_module):
    def call(args, check_mode=False, diff=False):
        return run_module(atomic_symlink.main, _ansible_check_mode=check_mode, _ansible_diff=diff, **args)
    return call


@pytest.fixture
def site(tmp_path):
    for name in ('r1', 'r2'):
        (tmp_path / 'releases' / name).mkdir(parents=True)
    os.symlink('releases/r1', str(tmp_path / 'current'))
    return tmp_path


def test_changed(site, run):
    link = str(site / 'current')
    kind, result = run(dict(path=link, target='releases/r2', expect_current='releases/r1',
                            confine_to=str(site / 'releases')))
    assert kind == 'exit'
    assert result['changed'] is True
    assert result['previous_target'] == 'releases/r1'
    assert result['target'] == 'releases/r2'
    assert result['path'] == link
    assert 'diff' not in result
    assert os.readlink(link) == 'releases/r2'


def test_unchanged(site, run):
    kind, result = run(dict(path=str(site / 'current'), target='releases/r1'))
    assert kind == 'exit' and result['changed'] is False


def test_check_mode_with_diff_writes_nothing(site, run):
    link = str(site / 'current')
    kind, result = run(dict(path=link, target='releases/r2'), check_mode=True, diff=True)
    assert kind == 'exit'
    assert result['changed'] is True
    assert result['diff']['before'] == '%s -> releases/r1\n' % link
    assert result['diff']['after'] == '%s -> releases/r2\n' % link
    assert os.readlink(link) == 'releases/r1'
    assert sorted(os.listdir(str(site))) == ['current', 'releases']


def test_fail_json_message(site, run):
    link = str(site / 'current')
    kind, result = run(dict(path=link, target='releases/r2', expect_current='releases/r0'))
    assert kind == 'fail'
    assert 'expected %s to point at releases/r0, but it points at releases/r1' % link in result['msg']
    assert result['path'] == link
    assert os.readlink(link) == 'releases/r1'
