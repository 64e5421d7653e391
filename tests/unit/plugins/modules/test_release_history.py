# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import pytest

from ansible_collections.daylight.release.plugins.modules import release_history

LEGACY = [{'version': '1.0.0', 'live_at': '2026-10-01T09:00:00Z'},
          {'version': '2.0.0', 'live_at': '2026-10-02T09:00:00Z'}]


@pytest.fixture
def run(run_module):
    def call(args, check_mode=False, diff=False):
        return run_module(release_history.main, _ansible_check_mode=check_mode, _ansible_diff=diff, **args)
    return call


@pytest.fixture
def path(tmp_path):
    p = str(tmp_path / '.history.json')
    with open(p, 'w') as f:
        json.dump(LEGACY, f)
    return p


def snapshot(path):
    directory = os.path.dirname(path)
    files = {}
    for name in sorted(os.listdir(directory)):
        with open(os.path.join(directory, name), 'rb') as f:
            files[name] = f.read()
    return files


def test_read(path, run):
    before = snapshot(path)
    kind, result = run(dict(path=path), diff=True)
    assert kind == 'exit'
    assert result['changed'] is False
    assert [a['id'] for a in result['history']] == ['legacy-1', 'legacy-2']
    assert result['attempt'] is None
    assert 'diff' not in result
    assert snapshot(path) == before


def test_start_and_finish(path, run):
    kind, result = run(dict(path=path, state='start', entry={'id': 'r3', 'version': '2.1.0', 'user': 'alice'}))
    assert kind == 'exit' and result['changed'] is True
    assert result['attempt']['result'] == 'running' and result['attempt']['who'] == 'alice'
    kind, result = run(dict(path=path, state='finish', id='r3', result='rolled back', nodes={'web1': 'smoke 500'},
                            note='smoke test failed on web1'))
    assert kind == 'exit' and result['changed'] is True
    with open(path) as f:
        stored = json.load(f)
    assert stored == result['history']
    assert (stored[-1]['result'], stored[-1]['nodes'], stored[-1]['note']) == (
        'rolled back', {'web1': 'smoke 500'}, 'smoke test failed on web1')


@pytest.mark.parametrize('args', [
    dict(state='start', entry={'id': 'r3', 'version': '2.1.0'}),
    dict(state='finish', id='legacy-2', result='stopped'),
])
def test_check_mode_with_diff_writes_nothing(path, run, args):
    before = snapshot(path)
    kind, result = run(dict(path=path, **args), check_mode=True, diff=True)
    assert kind == 'exit'
    assert result['changed'] is True
    assert json.loads(result['diff']['before']) == LEGACY
    assert json.loads(result['diff']['after']) == result['history']
    assert snapshot(path) == before


def test_corrupt_history_fails_and_is_kept(path, run):
    with open(path, 'w') as f:
        f.write('[{"version": "2.0.0", "live_')
    before = snapshot(path)
    kind, result = run(dict(path=path, state='start', entry={'id': 'r3', 'version': '2.1.0'}))
    assert kind == 'fail'
    assert result['msg'].startswith('the release history %s cannot be read (not JSON: ' % path)
    assert result['msg'].endswith('It is not overwritten: repair it, or move it aside to start a new history, '
                                  'then run again.')
    assert snapshot(path) == before


@pytest.mark.parametrize('args, message', [
    (dict(state='finish', id='nope', result='completed'),
     'no attempt with id nope in {path}: was the history moved during the release?'),
    (dict(state='finish', id='legacy-2'), 'state is finish but all of the following are missing: result'),
    (dict(state='start'), 'state is start but all of the following are missing: entry'),
    (dict(state='start', entry={'id': 'x'}), 'entry must be a dict with a non-empty id and version'),
])
def test_fail_messages(path, run, args, message):
    before = snapshot(path)
    kind, result = run(dict(path=path, **args))
    assert kind == 'fail'
    assert message.format(path=path) in result['msg']
    assert snapshot(path) == before
