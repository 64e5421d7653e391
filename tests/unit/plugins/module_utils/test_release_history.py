# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import pytest

from ansible_collections.daylight.release.plugins.module_utils import release_history
from ansible_collections.daylight.release.plugins.module_utils.errors import (
    ApplyError,
    ConflictError,
    ValidationError,
)
from ansible_collections.daylight.release.plugins.module_utils.release_history import (
    finish,
    read,
    read_history,
    render,
    rollback_target,
    start,
    went_live,
)

NOW = '2026-11-23T14:30:00Z'
LEGACY = [{'version': '1.0.0', 'live_at': '2026-10-01T09:00:00Z'},
          {'version': '2.0.0', 'live_at': '2026-10-02T09:00:00Z'}]


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    monkeypatch.setattr(release_history, 'utc_now', lambda: NOW)


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / '.history.json')


def attempt(run_id, version, previous, result='completed', action='release', **extra):
    a = {'id': run_id, 'action': action, 'version': version, 'previous': previous, 'who': 'root',
         'controller': 'ctl1', 'started': '2026-11-01T10:00:00Z',
         'finished': None if result == 'running' else '2026-11-01T10:10:00Z',
         'result': result, 'nodes': {}, 'note': ''}
    a.update(extra)
    return a


def write(path, data):
    with open(path, 'wb') as f:
        f.write(data if isinstance(data, bytes) else json.dumps(data).encode())


def content(path):
    with open(path, 'rb') as f:
        return f.read()


def listing(path):
    return sorted(os.listdir(os.path.dirname(path)))


# ---------------------------------------------------------------- reading

def test_missing_file_is_an_empty_history(path):
    assert read(path) == []
    assert read_history(path) == (False, {
        'history': [], 'attempt': None,
        'diff': {'before_header': path, 'after_header': path, 'before': '', 'after': ''}})
    assert listing(path) == []


def test_legacy_entries_are_normalised(path):
    write(path, LEGACY)
    assert read(path) == [
        {'id': 'legacy-1', 'action': 'release', 'version': '1.0.0', 'previous': None, 'who': None,
         'controller': None, 'started': '2026-10-01T09:00:00Z', 'finished': '2026-10-01T09:00:00Z',
         'result': 'completed', 'nodes': {}, 'note': ''},
        {'id': 'legacy-2', 'action': 'release', 'version': '2.0.0', 'previous': '1.0.0', 'who': None,
         'controller': None, 'started': '2026-10-02T09:00:00Z', 'finished': '2026-10-02T09:00:00Z',
         'result': 'completed', 'nodes': {}, 'note': ''},
    ]
    assert content(path) == json.dumps(LEGACY).encode()  # reading never rewrites


CORRUPT = [
    (b'[{"version": "2.0.0", "live_at": ', 'not JSON: '),
    (b'', 'not JSON: '),
    (b'{"version": "2.0.0"}', 'it holds a JSON dict, not a list of attempts'),
    (b'[{"version": "1.0.0"}, "2.0.0"]', 'entry 2 is a str, not an attempt'),
    (b'[{"live_at": "2026-10-01T09:00:00Z"}]', 'entry 1 has no version'),
    (b'[{"id": "a", "version": "2.0.0", "result": "done"}]', "entry 1 (id a) has result 'done', not one of"),
    (b'\xff[]', 'not UTF-8: '),
]


@pytest.mark.parametrize('data, why', CORRUPT)
@pytest.mark.parametrize('operation', ['read', 'start', 'finish'])
def test_unreadable_history_fails_and_is_never_overwritten(path, data, why, operation):
    write(path, data)
    with pytest.raises(ConflictError) as exc:
        if operation == 'read':
            read_history(path)
        elif operation == 'start':
            start(path, {'id': 'new', 'version': '2.1.0'})
        else:
            finish(path, 'a', 'completed')
    message = str(exc.value)
    assert message.startswith('the release history %s cannot be read (%s' % (path, why))
    assert message.endswith('). It is not overwritten: repair it, or move it aside to start a new history, '
                            'then run again.')
    assert content(path) == data
    assert listing(path) == ['.history.json']


def test_unreadable_directory_in_the_way(path):
    os.mkdir(path)
    with pytest.raises(ConflictError, match='cannot be read \\(Is a directory\\)'):
        read(path)


# ---------------------------------------------------------------- start

def test_start_first_attempt(path):
    changed, result = start(path, {'id': 'r1', 'version': '1.0.0', 'user': 'alice', 'controller': 'ctl1',
                                   'since': '2026-11-23T14:00:05Z', 'pid': 4242})
    assert changed is True
    expected = {'id': 'r1', 'action': 'release', 'version': '1.0.0', 'previous': None, 'who': 'alice',
                'controller': 'ctl1', 'started': '2026-11-23T14:00:05Z', 'finished': None, 'result': 'running',
                'nodes': {}, 'note': '', 'user': 'alice', 'since': '2026-11-23T14:00:05Z', 'pid': 4242}
    assert result['attempt'] == expected
    assert result['history'] == [expected]
    assert json.loads(content(path).decode()) == [expected]
    assert content(path).decode() == render([expected])
    assert listing(path) == ['.history.json']  # no temporary file left


def test_start_previous_defaults_to_the_last_completed_version(path):
    write(path, [attempt('a', '2.0.0', '1.0.0'), attempt('b', '2.1.0', '2.0.0', result='stopped')])
    dummy, result = start(path, {'id': 'c', 'version': '2.1.0'})
    assert result['attempt']['previous'] == '2.0.0'
    dummy, result = start(path, {'id': 'd', 'version': '2.1.0', 'previous': '1.9.0', 'started': 'T'})
    assert result['attempt']['previous'] == '1.9.0' and result['attempt']['started'] == 'T'


def test_start_marks_running_attempts_of_other_runs_interrupted(path):
    write(path, [attempt('a', '2.0.0', '1.0.0'), attempt('b', '2.1.0', '2.0.0', result='running'),
                 attempt('c', '2.1.1', '2.0.0', result='running', note='canary only')])
    changed, result = start(path, {'id': 'd', 'version': '2.1.1'})
    assert changed
    by_id = dict((a['id'], a) for a in read(path))
    why = 'not finished: its controller stopped before the end; superseded by run d'
    assert by_id['a']['result'] == 'completed'
    assert (by_id['b']['result'], by_id['b']['note'], by_id['b']['finished']) == ('interrupted', why, None)
    assert (by_id['c']['result'], by_id['c']['note']) == ('interrupted', 'canary only; ' + why)
    assert by_id['d']['result'] == 'running'
    assert [a['id'] for a in read(path)] == ['a', 'b', 'c', 'd']


def test_start_again_with_the_same_id_is_no_change(path):
    write(path, [attempt('a', '2.0.0', '1.0.0'), attempt('b', '2.1.0', '2.0.0', result='running')])
    before = content(path)
    changed, result = start(path, {'id': 'b', 'version': '2.1.0'})
    assert changed is False
    assert result['attempt']['id'] == 'b' and result['attempt']['result'] == 'running'
    assert content(path) == before


def test_start_on_a_legacy_history_rewrites_it_normalised(path):
    write(path, LEGACY)
    dummy, result = start(path, {'id': 'r3', 'version': '2.1.0'})
    stored = json.loads(content(path).decode())
    assert [a['id'] for a in stored] == ['legacy-1', 'legacy-2', 'r3']
    assert stored == result['history']
    assert result['attempt']['previous'] == '2.0.0'


@pytest.mark.parametrize('entry, message', [
    ({'version': '2.1.0'}, 'entry must be a dict with a non-empty id and version'),
    ({'id': 'x'}, 'entry must be a dict with a non-empty id and version'),
    ('x', 'entry must be a dict with a non-empty id and version'),
    ({'id': 'x', 'version': '2.1.0', 'action': 'deploy'}, "entry x has action 'deploy', not one of release, rollback"),
])
def test_start_validates_the_entry(path, entry, message):
    with pytest.raises(ValidationError) as exc:
        start(path, entry)
    assert message in str(exc.value)
    assert listing(path) == []


def test_start_check_mode_writes_nothing(path):
    write(path, [attempt('a', '2.0.0', '1.0.0', result='running')])
    before = content(path)
    changed, result = start(path, {'id': 'b', 'version': '2.1.0'}, check_mode=True)
    assert changed is True
    assert [(a['id'], a['result']) for a in result['history']] == [('a', 'interrupted'), ('b', 'running')]
    assert result['diff']['before'] == before.decode()
    assert json.loads(result['diff']['after']) == result['history']
    assert content(path) == before
    assert listing(path) == ['.history.json']


# ---------------------------------------------------------------- finish

def test_finish_records_the_outcome(path):
    start(path, {'id': 'r1', 'version': '2.1.0', 'previous': '2.0.0'})
    changed, result = finish(path, 'r1', 'completed', nodes={'web1': '2.1.0 live'}, note='all good')
    assert changed is True
    a = result['attempt']
    assert (a['result'], a['finished'], a['nodes'], a['note']) == ('completed', NOW, {'web1': '2.1.0 live'}, 'all good')
    assert read(path) == result['history'] == [a]


def test_finish_again_is_no_change(path, monkeypatch):
    start(path, {'id': 'r1', 'version': '2.1.0'})
    finish(path, 'r1', 'stopped', nodes={'web1': 'canary 5xx'})
    before = content(path)
    monkeypatch.setattr(release_history, 'utc_now', lambda: '2026-11-23T15:00:00Z')
    changed, result = finish(path, 'r1', 'stopped', nodes={'web1': 'canary 5xx'})
    assert changed is False
    assert result['attempt']['finished'] == NOW
    assert content(path) == before
    changed, dummy = finish(path, 'r1', 'rolled back')
    assert changed is True
    assert read(path)[0]['nodes'] == {'web1': 'canary 5xx'}  # kept when not given


def test_finish_unknown_id(path):
    start(path, {'id': 'r1', 'version': '2.1.0'})
    before = content(path)
    with pytest.raises(ConflictError) as exc:
        finish(path, 'r2', 'completed')
    assert str(exc.value) == 'no attempt with id r2 in %s: was the history moved during the release?' % path
    assert content(path) == before


def test_finish_on_a_missing_history(path):
    with pytest.raises(ConflictError, match='no attempt with id r1 in'):
        finish(path, 'r1', 'completed')
    assert listing(path) == []


@pytest.mark.parametrize('result', ['running', 'interrupted', 'done', None])
def test_finish_validates_the_result(path, result):
    with pytest.raises(ValidationError, match='result must be one of completed, stopped, rolled back'):
        finish(path, 'r1', result)


def test_finish_check_mode_writes_nothing(path):
    start(path, {'id': 'r1', 'version': '2.1.0'})
    before = content(path)
    changed, result = finish(path, 'r1', 'completed', check_mode=True)
    assert changed is True and result['attempt']['result'] == 'completed'
    assert content(path) == before


# ---------------------------------------------------------------- keep and atomic writes

def test_keep_keeps_the_newest_attempts(path):
    write(path, [attempt('a%d' % i, '1.%d.0' % i, '1.%d.0' % (i - 1)) for i in range(1, 6)])
    dummy, result = start(path, {'id': 'new', 'version': '2.0.0'}, keep=3)
    assert [a['id'] for a in result['history']] == ['a4', 'a5', 'new']
    assert [a['id'] for a in read(path)] == ['a4', 'a5', 'new']
    dummy, result = finish(path, 'new', 'completed', keep=2)
    assert [a['id'] for a in read(path)] == ['a5', 'new']


@pytest.mark.parametrize('keep', [0, -1, True, '3'])
def test_keep_must_be_positive(path, keep):
    with pytest.raises(ValidationError, match='keep must be a whole number of at least 1'):
        start(path, {'id': 'x', 'version': '1'}, keep=keep)


def test_write_keeps_the_file_mode(path):
    write(path, [])
    os.chmod(path, 0o640)
    start(path, {'id': 'x', 'version': '1'})
    assert os.stat(path).st_mode & 0o777 == 0o640


def test_failed_rename_keeps_the_old_history_and_no_temp_file(path, monkeypatch):
    write(path, LEGACY)
    before = content(path)

    def failing_rename(src, dst):
        raise OSError(28, 'No space left on device')
    monkeypatch.setattr(release_history.os, 'rename', failing_rename)
    with pytest.raises(ApplyError) as exc:
        start(path, {'id': 'x', 'version': '2.1.0'})
    assert 'cannot write the release history %s: ' % path in str(exc.value)
    assert 'No space left on device' in str(exc.value)
    assert content(path) == before
    assert listing(path) == ['.history.json']


# ---------------------------------------------------------------- rollback_target

ALL_ON = {'web1': '2.1.0', 'web2': '2.1.0', 'web3': '2.1.0'}
RELEASED = [attempt('a', '2.0.0', '1.0.0'), attempt('b', '2.1.0', '2.0.0')]


@pytest.mark.parametrize('history, serving, version, reason', [
    pytest.param(RELEASED, ALL_ON, '2.0.0',
                 'every node serves 2.1.0, the last completed release (run b, finished 2026-11-01T10:10:00Z); '
                 'the estate served 2.0.0 before it', id='after a completed release'),
    pytest.param(RELEASED + [attempt('c', '2.2.0', '2.1.0', result='stopped')], ALL_ON, '2.0.0', None,
                 id='after a halted release'),
    pytest.param(RELEASED + [attempt('c', '2.2.0', '2.1.0', result='rolled back'),
                             attempt('d', '2.2.0', '2.1.0', result='interrupted'),
                             attempt('e', '2.2.0', '2.1.0', result='running')], ALL_ON, '2.0.0', None,
                 id='unfinished attempts do not count'),
    pytest.param(RELEASED + [attempt('c', '2.0.0', '2.1.0', action='rollback')],
                 {'web1': '2.0.0', 'web2': '2.0.0'}, '2.1.0',
                 'every node serves 2.0.0 since the last completed attempt, a rollback from 2.1.0 (run c, finished '
                 '2026-11-01T10:10:00Z); going back to 2.1.0 undoes it', id='after a rollback: undo it'),
    pytest.param(RELEASED + [attempt('c', '2.1.0', '2.1.0')], ALL_ON, '2.0.0', None,
                 id='a re-run that changed nothing is skipped'),
    pytest.param(RELEASED + [attempt('c', '2.1.0', None)], ALL_ON, '2.0.0', None,
                 id='a re-run that found no previous release is skipped'),
    pytest.param(LEGACY, {'web1': '2.0.0'}, '1.0.0',
                 'every node serves 2.0.0, the last completed release (run legacy-2, finished 2026-10-02T09:00:00Z); '
                 'the estate served 1.0.0 before it', id='legacy history'),
])
def test_rollback_target(history, serving, version, reason):
    target = rollback_target(history, serving)
    assert target['version'] == version
    if reason:
        assert target['reason'] == reason


def test_rollback_twice_undoes_the_first():
    history = list(RELEASED)
    serving = dict(ALL_ON)
    for run_id, back_to in (('c', '2.0.0'), ('d', '2.1.0'), ('e', '2.0.0')):
        target = rollback_target(history, serving)['version']
        assert target == back_to
        history.append(attempt(run_id, target, serving['web1'], action='rollback'))
        serving = dict.fromkeys(serving, target)


@pytest.mark.parametrize('history, serving, error, message', [
    pytest.param(RELEASED, {'web1': '2.0.0', 'web2': '2.0.0', 'web3': '2.1.0'}, ConflictError,
                 'the estate serves 2.0.0 on web1, web2 and 2.1.0 on web3, not 2.1.0 alone (the last completed '
                 'release): nodes were switched outside a recorded release since release 2.1.0 (run b, finished '
                 '2026-11-01T10:10:00Z), so it is not clear which release to go back to; name the release with '
                 '-e release_version=V', id='estate mixed'),
    pytest.param(RELEASED + [attempt('c', '2.2.0', '2.1.0', result='stopped')],
                 {'web10': '2.1.0', 'web2': '2.2.0', 'web1': '2.1.0', 'web3': None}, ConflictError,
                 'the estate serves 2.1.0 on web1, web10, 2.2.0 on web2 and nothing on web3, not 2.1.0 alone (the '
                 'last completed release): the newest attempt, release 2.2.0 (run c), ended stopped, so it is not '
                 'clear which release to go back to; name the release with -e release_version=V',
                 id='estate mixed after a halted release'),
    pytest.param([], ALL_ON, ValidationError,
                 'the release history has no completed release: name the release to go back to with '
                 '-e release_version=V', id='empty history'),
    pytest.param([attempt('a', '2.0.0', '1.0.0', result='stopped')], ALL_ON, ValidationError,
                 'the release history has no completed release: name the release to go back to with '
                 '-e release_version=V', id='nothing completed'),
    pytest.param(LEGACY[:1], {'web1': '1.0.0'}, ValidationError,
                 'the history does not say which release the estate served before release 1.0.0 (run legacy-1, '
                 'finished 2026-10-01T09:00:00Z): name the release to go back to with -e release_version=V',
                 id='first release has no previous'),
    pytest.param(RELEASED, {}, ValidationError,
                 'no web node reported the release it serves, so it cannot be checked that the estate serves 2.1.0 '
                 '(the last completed release): name the release to go back to with -e release_version=V',
                 id='no nodes'),
    pytest.param({'version': '2.0.0'}, ALL_ON, ValidationError,
                 'the release history is not a list of attempts (it holds a JSON dict, not a list of attempts)',
                 id='not a list'),
])
def test_rollback_target_refuses(history, serving, error, message):
    with pytest.raises(error) as exc:
        rollback_target(history, serving)
    assert str(exc.value) == message


# ---------------------------------------------------------------- went_live

@pytest.mark.parametrize('history, version, expected', [
    (RELEASED, '2.1.0', True),
    (RELEASED, '1.0.0', False),  # only ever "previous", never recorded as live
    (RELEASED + [attempt('c', '2.2.0', '2.1.0', result='stopped')], '2.2.0', False),
    (RELEASED + [attempt('c', '2.2.0', '2.1.0', result='running')], '2.2.0', False),
    (RELEASED + [attempt('c', '1.0.0', '2.1.0', action='rollback')], '1.0.0', True),
    (LEGACY, '1.0.0', True),
    ([], '1.0.0', False),
])
def test_went_live(history, version, expected):
    assert went_live(history, version) is expected
