# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import pytest

from ansible_collections.daylight.release.plugins.module_utils.release_lock import render
from ansible_collections.daylight.release.plugins.modules import release_lock

OURS = {'id': 'ours', 'user': 'alice', 'controller': 'ctl1', 'pid': 1111, 'since': '2026-11-23T14:00:05Z',
        'action': 'release', 'version': '2.1.0'}
THEIRS = {'id': 'theirs', 'user': 'bob', 'controller': 'ctl2', 'pid': 2222, 'since': '2026-11-23T13:00:00Z',
          'action': 'rollback', 'version': '2.0.0'}


@pytest.fixture
def run(run_module):
    def call(args, check_mode=False, diff=False):
        return run_module(release_lock.main, _ansible_check_mode=check_mode, _ansible_diff=diff, **args)
    return call


@pytest.fixture
def lock(tmp_path):
    return str(tmp_path / '.lock')


def put(path, holder):
    with open(path, 'w') as f:
        f.write(render(holder))


def snapshot(path):
    directory = os.path.dirname(path)
    files = {}
    for name in sorted(os.listdir(directory)):
        with open(os.path.join(directory, name), 'rb') as f:
            files[name] = f.read()
    return files


def test_acquire(lock, run):
    kind, result = run(dict(path=lock, holder=OURS))
    assert kind == 'exit'
    assert result['changed'] is True
    assert result['acquired'] is True
    assert result['holder'] == OURS
    assert result['previous_holder'] is None
    assert result['path'] == lock
    assert 'diff' not in result
    with open(lock) as f:
        assert json.load(f) == OURS


def test_held_by_another_run_exits_with_its_holder(lock, run):
    put(lock, THEIRS)
    before = snapshot(lock)
    kind, result = run(dict(path=lock, holder=OURS))
    assert kind == 'exit'
    assert (result['changed'], result['acquired'], result['holder']) == (False, False, THEIRS)
    assert snapshot(lock) == before


@pytest.mark.parametrize('existing, args', [
    (None, dict(holder=OURS)),
    (THEIRS, dict(holder=OURS, break_lock=True)),
    (OURS, dict(state='absent', id='ours')),
    (THEIRS, dict(state='absent', break_lock=True)),
])
def test_check_mode_with_diff_writes_nothing(lock, run, existing, args):
    if existing:
        put(lock, existing)
    before = snapshot(lock)
    kind, result = run(dict(path=lock, **args), check_mode=True, diff=True)
    assert kind == 'exit'
    assert result['changed'] is True
    assert result['diff']['before'] == (render(existing) if existing else '')
    assert result['diff']['after'] == ('' if args.get('state') == 'absent' else render(OURS))
    assert snapshot(lock) == before


def test_diff_mode_without_check_mode(lock, run):
    kind, result = run(dict(path=lock, holder=OURS), diff=True)
    assert result['diff'] == {'before_header': lock, 'after_header': lock, 'before': '', 'after': render(OURS)}


def test_release_own_lock_by_holder_id(lock, run):
    put(lock, OURS)
    kind, result = run(dict(path=lock, state='absent', holder=OURS))
    assert kind == 'exit'
    assert (result['changed'], result['acquired'], result['holder'], result['previous_holder']) == (
        True, False, None, OURS)
    assert not os.path.exists(lock)


def test_release_of_another_runs_lock_fails_naming_it(lock, run):
    put(lock, THEIRS)
    before = snapshot(lock)
    kind, result = run(dict(path=lock, state='absent', id='ours'))
    assert kind == 'fail'
    assert result['msg'] == ('release lock %s is held by bob from ctl2 since 2026-11-23T13:00:00Z (rollback 2.0.0, '
                             'run theirs), not by this run (ours): not removed' % lock)
    assert result['path'] == lock
    assert snapshot(lock) == before


@pytest.mark.parametrize('args, message', [
    (dict(), 'state is present but all of the following are missing: holder'),
    (dict(holder={'user': 'root'}), 'holder must be a dict with a non-empty string id'),
    (dict(state='absent'), 'id is required to remove the release lock'),
])
def test_fail_messages(lock, run, args, message):
    kind, result = run(dict(path=lock, **args))
    assert kind == 'fail'
    assert message in result['msg']
    assert not os.path.exists(lock)
