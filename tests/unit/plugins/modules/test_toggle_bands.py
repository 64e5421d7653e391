# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import pytest
from ansible_collections.daylight.release.plugins.modules import toggle_bands

CHECKOUT = {'checkout': {'bands': {'1-10': 'new-checkout', '11-100': 'control'}}}


def read(path):
    with open(path, 'rb') as f:
        return f.read()


@pytest.fixture
def run(run_module):
    def call(expect='exit', **args):
        status, result = run_module(toggle_bands.main, **args)
        assert status == expect, result
        return result
    return call


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / 'toggles.json')


def test_writes_the_file_then_is_idempotent(path, run):
    first = run(path=path, features=CHECKOUT)
    assert first['changed'] and first['serial'] == 1
    assert first['summary'] == ['checkout: added (1-10 new-checkout, 11-100 control)']
    assert first['checksum'].startswith('sha256:') and 'diff' not in first
    written = read(path).decode()
    assert json.loads(written)['features']['checkout']['bands'][0] == {'from': 1, 'to': 10, 'group': 'new-checkout'}
    assert os.stat(path).st_mode & 0o777 == 0o644

    second = run(path=path, features=CHECKOUT, serial=50)
    assert not second['changed'] and second['serial'] == 1 and second['summary'] == []
    assert second['checksum'] == first['checksum']
    assert read(path).decode() == written


def test_change_bumps_serial_and_returns_diff(path, run):
    run(path=path, features=CHECKOUT)
    result = run(path=path, features={'checkout': {'percent': {'new-checkout': 25}}}, _ansible_diff=True)
    assert result['changed'] and result['serial'] == 2
    assert result['summary'] == ['checkout: 11-25 control -> new-checkout']
    assert result['diff']['before_header'] == '%s (serial 1)' % path
    assert result['diff']['after'] == read(path).decode()


def test_check_mode_writes_nothing(path, run):
    result = run(path=path, features=CHECKOUT, _ansible_check_mode=True, _ansible_diff=True)
    assert result['changed'] and result['serial'] == 1
    assert result['diff']['before'] == '' and '"serial": 1' in result['diff']['after']
    assert not os.path.exists(path)

    run(path=path, features=CHECKOUT)
    before = read(path)
    result = run(path=path, features={'checkout': {'bands': {'1-100': 'control'}}}, _ansible_check_mode=True)
    assert result['changed'] and result['serial'] == 2
    assert read(path) == before


def test_invalid_bands_fail_and_leave_the_file_alone(path, run):
    run(path=path, features=CHECKOUT)
    before = read(path)
    result = run('fail', path=path,
                 features={'checkout': {'bands': {'1-10': 'control', '5-20': 'new-checkout', '21-100': 'control'}}})
    assert result['msg'] == "feature 'checkout': band 5-20 (new-checkout) overlaps band 1-10 (control) at 5-10"
    assert read(path) == before
    assert os.listdir(os.path.dirname(path)) == ['toggles.json']


def test_validate_only_touches_nothing(tmp_path, run):
    missing = str(tmp_path / 'nowhere' / 'toggles.json')
    result = run(path=missing, features=CHECKOUT, validate_only=True)
    assert not result['changed'] and result['serial'] is None and result['summary'] == []
    assert result['features']['checkout']['bands'][1] == {'from': 11, 'to': 100, 'group': 'control'}
    assert not os.path.exists(os.path.dirname(missing))
    assert 'numbers 41-50' in run('fail', features={'c': {'bands': {'1-40': 'a', '51-100': 'b'}}},
                                  validate_only=True)['msg']


def test_unwritable_directory_fails_with_path(tmp_path, run):
    missing = str(tmp_path / 'nowhere' / 'toggles.json')
    assert run('fail', path=missing, features=CHECKOUT)['msg'].startswith('cannot write %s: ' % missing)


def test_serial_that_does_not_grow_fails(path, run):
    run(path=path, features=CHECKOUT, serial=10)
    msg = run('fail', path=path, features={'checkout': {'bands': {'1-100': 'control'}}}, serial=3)['msg']
    assert msg == 'serial 3 is not greater than the current serial 10 of %s' % path
