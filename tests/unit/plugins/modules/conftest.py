# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a module's main() in-process and return exactly what it passed to exit_json/fail_json."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args


class _Returned(Exception):
    def __init__(self, status, result):
        super(_Returned, self).__init__(status)
        self.status, self.result = status, result


@pytest.fixture
def run_module(monkeypatch):
    """run_module(main, **args) -> ('exit' | 'fail', result dict).

    exit_json/fail_json would call sys.exit; they raise instead, so the test sees the result.
    Module options go in as keyword arguments, with _ansible_check_mode/_ansible_diff as usual.
    """
    def exit_json(self, **kwargs):
        raise _Returned('exit', kwargs)

    def fail_json(self, **kwargs):
        raise _Returned('fail', kwargs)

    monkeypatch.setattr(basic.AnsibleModule, 'exit_json', exit_json)
    monkeypatch.setattr(basic.AnsibleModule, 'fail_json', fail_json)

    def run(main, **args):
        with patch_module_args(args), pytest.raises(_Returned) as returned:
            main()
        return returned.value.status, returned.value.result
    return run
