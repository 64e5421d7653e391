# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# ruff: noqa: UP001, UP009, UP010, UP031 -- boilerplate required by ansible-test sanity

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import pytest
from ansible.module_utils import basic
from ansible_collections.daylight.release.plugins.modules import toggle_bands

try:
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core < 2.19
    import contextlib

    from ansible.module_utils.common.text.converters import to_bytes

    @contextlib.contextmanager
    def patch_module_args(args):
        old = basic._ANSIBLE_ARGS
        basic._ANSIBLE_ARGS = to_bytes(json.dumps({'ANSIBLE_MODULE_ARGS': args}))
        try:
            yield
        finally:
            basic._ANSIBLE_ARGS = old

CHECKOUT = {'checkout': {'bands': {'1-10': 'new-checkout', '11-100': 'control'}}}


def read(path):
    with open(path, 'rb') as f:
        return f.read()


class Exited(Exception):
    pass


class Failed(Exception):
    pass


@pytest.fixture(autouse=True)
def patched(monkeypatch):
    # Raise instead of sys.exit, so a test sees exactly what the module returned.
    def exit_json(self, **kwargs):
        raise Exited(kwargs)

    def fail_json(self, **kwargs):
        raise Failed(kwargs)

    monkeypatch.setattr(basic.AnsibleModule, 'exit_json', exit_json)
    monkeypatch.setattr(basic.AnsibleModule, 'fail_json', fail_json)


def run(expect=Exited, **args):
    with patch_module_args(args), pytest.raises(expect) as e:
        toggle_bands.main()
    return e.value.args[0]


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / 'toggles.json')


def test_writes_the_file_then_is_idempotent(path):
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


def test_change_bumps_serial_and_returns_diff(path):
    run(path=path, features=CHECKOUT)
    result = run(path=path, features={'checkout': {'percent': {'new-checkout': 25}}}, _ansible_diff=True)
    assert result['changed'] and result['serial'] == 2
    assert result['summary'] == ['checkout: 11-25 control -> new-checkout']
    assert result['diff']['before_header'] == '%s (serial 1)' % path
    assert result['diff']['after'] == read(path).decode()


def test_check_mode_writes_nothing(path):
    result = run(path=path, features=CHECKOUT, _ansible_check_mode=True, _ansible_diff=True)
    assert result['changed'] and result['serial'] == 1
    assert result['diff']['before'] == '' and '"serial": 1' in result['diff']['after']
    assert not os.path.exists(path)

    run(path=path, features=CHECKOUT)
    before = read(path)
    result = run(path=path, features={'checkout': {'bands': {'1-100': 'control'}}}, _ansible_check_mode=True)
    assert result['changed'] and result['serial'] == 2
    assert read(path) == before


def test_invalid_bands_fail_and_leave_the_file_alone(path):
    run(path=path, features=CHECKOUT)
    before = read(path)
    result = run(Failed, path=path,
                 features={'checkout': {'bands': {'1-10': 'control', '5-20': 'new-checkout', '21-100': 'control'}}})
    assert result['msg'] == "feature 'checkout': band 5-20 (new-checkout) overlaps band 1-10 (control) at 5-10"
    assert read(path) == before
    assert os.listdir(os.path.dirname(path)) == ['toggles.json']


def test_validate_only_touches_nothing(tmp_path):
    missing = str(tmp_path / 'nowhere' / 'toggles.json')
    result = run(path=missing, features=CHECKOUT, validate_only=True)
    assert not result['changed'] and result['serial'] is None and result['summary'] == []
    assert result['features']['checkout']['bands'][1] == {'from': 11, 'to': 100, 'group': 'control'}
    assert not os.path.exists(os.path.dirname(missing))
    assert 'numbers 41-50' in run(Failed, features={'c': {'bands': {'1-40': 'a', '51-100': 'b'}}},
                                  validate_only=True)['msg']


def test_unwritable_directory_fails_with_path(tmp_path):
    missing = str(tmp_path / 'nowhere' / 'toggles.json')
    assert run(Failed, path=missing, features=CHECKOUT)['msg'].startswith('cannot write %s: ' % missing)


def test_serial_that_does_not_grow_fails(path):
    run(path=path, features=CHECKOUT, serial=10)
    msg = run(Failed, path=path, features={'checkout': {'bands': {'1-100': 'control'}}}, serial=3)['msg']
    assert msg == 'serial 3 is not greater than the current serial 10 of %s' % path
