# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.daylight.release.plugins.filter.release_history import (
    FilterModule,
    rollback_target,
    went_live,
)

LEGACY = [{'version': '1.0.0', 'live_at': '2026-10-01T09:00:00Z'},
          {'version': '2.0.0', 'live_at': '2026-10-02T09:00:00Z'}]


def test_rollback_target():
    assert rollback_target(LEGACY, {'web1': '2.0.0', 'web2': '2.0.0'})['version'] == '1.0.0'


@pytest.mark.parametrize('history, serving, message', [
    ([], {'web1': '2.0.0'}, 'the release history has no completed release: name the release to go back to with '
                            '-e release_version=V'),
    (LEGACY, {'web1': '2.0.0', 'web2': '1.0.0'}, 'the estate serves 2.0.0 on web1 and 1.0.0 on web2, not 2.0.0 alone'),
    ('nonsense', {'web1': '2.0.0'}, 'the release history is not a list of attempts'),
])
def test_rollback_target_errors_are_filter_errors(history, serving, message):
    with pytest.raises(AnsibleFilterError) as exc:
        rollback_target(history, serving)
    assert message in exc.value.message


def test_went_live():
    assert went_live(LEGACY, '2.0.0') is True
    assert went_live(LEGACY, '2.1.0') is False
    with pytest.raises(AnsibleFilterError, match='not a list of attempts'):
        went_live({'version': '2.0.0'}, '2.0.0')


def test_registered_as_filters():
    assert FilterModule().filters() == {'rollback_target': rollback_target, 'went_live': went_live}
