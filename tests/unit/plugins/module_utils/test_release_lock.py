# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import json
import multiprocessing
import os

import pytest

from ansible_collections.daylight.release.plugins.module_utils import release_lock
from ansible_collections.daylight.release.plugins.module_utils.errors import (
    ApplyError,
    ConflictError,
    ValidationError,
)
from ansible_collections.daylight.release.plugins.module_utils.release_lock import (
    acquire,
    describe_holder,
    release,
    render,
)


def holder(run_id, **extra):
    h = {'id': run_id, 'user': 'root', 'controller': 'ctl1', 'pid': 4242, 'since': '2026-11-23T14:00:05Z',
         'action': 'release', 'version': '2.1.0'}
    h.update(extra)
    return h


OURS = holder('ours', user='alice', pid=1111)
THEIRS = holder('theirs', user='bob', controller='ctl2', pid=2222, version='2.0.9')


@pytest.fixture
def lock(tmp_path):
    return str(tmp_path / '.lock')


def listing(path):
    return sorted(os.listdir(os.path.dirname(path)))


def write(path, data):
    with open(path, 'wb') as f:
        f.write(data)


def content(path):
    with open(path, 'rb') as f:
        return f.read()


# ---------------------------------------------------------------- describe_holder

@pytest.mark.parametrize('given, line', [
    (holder('3f2a'), 'root on ctl1 (pid 4242) since 2026-11-23T14:00:05Z: release 2.1.0, run 3f2a'),
    (holder('9b', action='rollback', version='2.0.0'),
     'root on ctl1 (pid 4242) since 2026-11-23T14:00:05Z: rollback 2.0.0, run 9b'),
    ({'id': 'x', 'who': 'carol'}, 'carol: run x'),
    ({'id': 'x'}, 'someone: run x'),
    ({'unreadable': 'the lock file is empty'}, 'an unreadable lock file (the lock file is empty)'),
    (None, 'nobody'),
])
def test_describe_holder(given, line):
    assert describe_holder(given) == line


# ---------------------------------------------------------------- acquire

def test_acquire_free_lock(lock):
    changed, result = acquire(lock, OURS)
    assert changed is True
    assert result['acquired'] is True
    assert result['holder'] == OURS
    assert result['previous_holder'] is None
    assert json.loads(content(lock).decode()) == OURS
    assert listing(lock) == ['.lock']  # the temporary file is gone


def test_reacquire_by_the_same_run_is_no_change(lock):
    acquire(lock, OURS)
    before = content(lock)
    # A re-run may carry other details (a new since); the id decides, the file is kept.
    changed, result = acquire(lock, dict(OURS, since='2026-11-23T15:00:00Z'))
    assert changed is False
    assert result['acquired'] is True
    assert result['holder'] == OURS
    assert result['previous_holder'] is None  # nothing was taken over
    assert content(lock) == before
    assert listing(lock) == ['.lock']


def test_held_by_another_run_is_reported_not_failed(lock):
    write(lock, render(THEIRS).encode())
    before = os.stat(lock)
    changed, result = acquire(lock, OURS)
    assert changed is False
    assert result['acquired'] is False
    assert result['holder'] == THEIRS
    assert result['previous_holder'] is None
    assert content(lock) == render(THEIRS).encode()
    after = os.stat(lock)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert listing(lock) == ['.lock']


@pytest.mark.parametrize('data, why', [
    (b'', 'the lock file is empty'),
    (b'  \n', 'the lock file is empty'),
    (b'{"id": "half', 'not JSON: '),
    (b'["a", "list"]', 'no holder id in ["a", "list"]'),
    (b'{"user": "root"}', 'no holder id in {"user": "root"}'),
    (b'{"id": ""}', 'no holder id in {"id": ""}'),
    (b'\xff\xfe', 'not JSON: '),
])
def test_unreadable_lock_is_reported_and_kept(lock, data, why):
    write(lock, data)
    changed, result = acquire(lock, OURS)
    assert changed is False
    assert result['acquired'] is False
    assert list(result['holder']) == ['unreadable']
    assert result['holder']['unreadable'].startswith(why)
    assert content(lock) == data
    assert listing(lock) == ['.lock']


def test_break_lock_moves_the_old_lock_aside(lock):
    write(lock, render(THEIRS).encode())
    changed, result = acquire(lock, OURS, break_lock=True)
    assert changed is True
    assert result['acquired'] is True
    assert result['holder'] == OURS
    assert result['previous_holder'] == THEIRS
    assert json.loads(content(lock).decode()) == OURS
    assert content(lock + '.broken.ours') == render(THEIRS).encode()
    assert listing(lock) == ['.lock', '.lock.broken.ours']


def test_break_lock_breaks_an_unreadable_lock(lock):
    write(lock, b'')
    changed, result = acquire(lock, OURS, break_lock=True)
    assert changed is True and result['acquired'] is True
    assert result['previous_holder'] == {'unreadable': 'the lock file is empty'}
    assert json.loads(content(lock).decode()) == OURS


def test_break_lock_on_a_free_lock_just_takes_it(lock):
    changed, result = acquire(lock, OURS, break_lock=True)
    assert changed is True and result['acquired'] is True
    assert listing(lock) == ['.lock']


def test_break_lock_never_breaks_a_lock_taken_during_the_task(lock, monkeypatch):
    """The lock seen first is replaced before our rename: we put the new one back and do not hold it."""
    write(lock, render(THEIRS).encode())
    newcomer = holder('newcomer', pid=3333)
    real_read = release_lock.read_lock
    calls = []

    def read_then_replace(path):
        found = real_read(path)
        if not calls:
            # Another run released THEIRS and took the lock right after our first read.
            os.unlink(lock)
            write(lock, render(newcomer).encode())
        calls.append(path)
        return found
    monkeypatch.setattr(release_lock, 'read_lock', read_then_replace)
    changed, result = acquire(lock, OURS, break_lock=True)
    assert changed is False
    assert result['acquired'] is False
    assert result['holder'] == newcomer
    assert result['previous_holder'] is None
    assert content(lock) == render(newcomer).encode()
    assert listing(lock) == ['.lock']  # moved aside and put back


@pytest.mark.parametrize('break_lock, existing, acquired', [
    (False, None, True),
    (False, THEIRS, False),
    (True, THEIRS, True),
    (False, OURS, True),
])
def test_check_mode_writes_nothing(lock, break_lock, existing, acquired):
    if existing:
        write(lock, render(existing).encode())
    before = listing(lock), existing and content(lock)
    changed, result = acquire(lock, OURS, break_lock=break_lock, check_mode=True)
    assert result['acquired'] is acquired
    assert changed is (acquired and existing is not OURS)
    assert result['holder'] == (OURS if acquired else THEIRS)
    assert result['previous_holder'] == (THEIRS if break_lock else None)
    assert (listing(lock), existing and content(lock)) == before


def test_diff(lock):
    dummy, result = acquire(lock, OURS)
    assert result['diff'] == {'before_header': lock, 'after_header': lock, 'before': '', 'after': render(OURS)}
    os.unlink(lock)
    write(lock, render(THEIRS).encode())
    dummy, result = acquire(lock, OURS, break_lock=True, check_mode=True)
    assert result['diff']['before'] == render(THEIRS)
    assert result['diff']['after'] == render(OURS)


def test_link_error_with_two_links_is_success(lock, monkeypatch):
    """NFS: the server linked, the reply was lost, the retransmission failed."""
    real_link = os.link

    def link_then_fail(src, dst):
        real_link(src, dst)
        raise OSError(errno.EIO, 'Input/output error')
    monkeypatch.setattr(release_lock.os, 'link', link_then_fail)
    changed, result = acquire(lock, OURS)
    assert changed is True and result['acquired'] is True
    assert json.loads(content(lock).decode()) == OURS
    assert listing(lock) == ['.lock']


def test_link_error_without_link_fails_and_cleans_up(lock, monkeypatch):
    def failing_link(src, dst):
        raise OSError(errno.EIO, 'Input/output error')
    monkeypatch.setattr(release_lock.os, 'link', failing_link)
    with pytest.raises(ApplyError) as exc:
        acquire(lock, OURS)
    assert 'cannot create the release lock %s: ' % lock in str(exc.value)
    assert 'Input/output error' in str(exc.value)
    assert listing(lock) == []


@pytest.mark.parametrize('bad', [None, {}, {'id': ''}, {'id': 7}, 'ours'])
def test_holder_needs_an_id(lock, bad):
    with pytest.raises(ValidationError, match='holder must be a dict with a non-empty string id'):
        acquire(lock, bad)
    assert listing(lock) == []


def test_missing_directory(tmp_path):
    lock = str(tmp_path / 'not-mounted' / '.lock')
    with pytest.raises(ValidationError, match='is the share mounted'):
        acquire(lock, OURS)


def test_temporary_name_cannot_escape_the_directory(lock):
    changed, dummy = acquire(lock, dict(OURS, id='../../etc/x'))
    assert changed
    assert listing(lock) == ['.lock']


# ---------------------------------------------------------------- release

def test_release_own_lock(lock):
    acquire(lock, OURS)
    changed, result = release(lock, 'ours')
    assert changed is True
    assert result['acquired'] is False
    assert result['holder'] is None
    assert result['previous_holder'] == OURS
    assert listing(lock) == []


def test_release_missing_lock_is_no_change(lock):
    changed, result = release(lock, 'ours')
    assert changed is False and result['holder'] is None and result['previous_holder'] is None


def test_release_refuses_another_runs_lock(lock):
    write(lock, render(THEIRS).encode())
    with pytest.raises(ConflictError) as exc:
        release(lock, 'ours')
    assert str(exc.value) == (
        'release lock %s is held by bob from ctl2 since 2026-11-23T14:00:05Z (release 2.0.9, run theirs), '
        'not by this run (ours): not removed' % lock)
    assert content(lock) == render(THEIRS).encode()
    assert listing(lock) == ['.lock']


def test_release_refuses_an_unreadable_lock(lock):
    write(lock, b'garbage')
    with pytest.raises(ConflictError) as exc:
        release(lock, 'ours')
    assert 'release lock %s cannot be read (not JSON: ' % lock in str(exc.value)
    assert 'not known to be held by this run (ours): not removed' in str(exc.value)
    assert 'break_lock=true' in str(exc.value)
    assert content(lock) == b'garbage'


@pytest.mark.parametrize('existing', [THEIRS, None])
def test_release_with_break_lock_removes_whoever_holds_it(lock, existing):
    write(lock, render(existing).encode() if existing else b'')
    changed, result = release(lock, None, break_lock=True)
    assert changed is True
    assert result['previous_holder'] == (existing or {'unreadable': 'the lock file is empty'})
    assert listing(lock) == []


def test_release_needs_an_id(lock):
    with pytest.raises(ValidationError, match='id is required'):
        release(lock, None)


@pytest.mark.parametrize('run_id, break_lock', [('ours', False), (None, True)])
def test_release_check_mode_writes_nothing(lock, run_id, break_lock):
    acquire(lock, OURS)
    changed, result = release(lock, run_id, break_lock=break_lock, check_mode=True)
    assert changed is True and result['holder'] is None
    assert result['diff']['before'] == render(OURS) and result['diff']['after'] == ''
    assert json.loads(content(lock).decode()) == OURS
    assert listing(lock) == ['.lock']


# ---------------------------------------------------------------- races

def _racer(lock, run_id, break_lock, barrier, results):
    """Runs in its own process. Waits after its first read, so every racer decided on the same state."""
    real_read = release_lock.read_lock
    first = []

    def read_then_wait(path):
        found = real_read(path)
        if not first:
            first.append(path)
            barrier.wait(timeout=30)
        return found
    release_lock.read_lock = read_then_wait  # this process only: it is a fork
    try:
        changed, result = acquire(lock, holder(run_id, pid=os.getpid()), break_lock=break_lock)
        previous = (result['previous_holder'] or {}).get('id')
        results.put((run_id, result['acquired'], result['holder'].get('id'), previous, None))
    except Exception as e:  # reported, so the parent's assertion shows it
        results.put((run_id, None, None, None, repr(e)))


def _race(lock, run_ids, break_lock):
    ctx = multiprocessing.get_context('fork')
    barrier, results = ctx.Barrier(len(run_ids)), ctx.Queue()
    procs = [ctx.Process(target=_racer, args=(lock, run_id, break_lock, barrier, results)) for run_id in run_ids]
    for p in procs:
        p.start()
    outcomes = sorted(results.get(timeout=60) for dummy in procs)
    for p in procs:
        p.join(timeout=30)
    assert [outcome[-1] for outcome in outcomes] == [None] * len(run_ids)
    return outcomes


def test_twenty_runs_race_for_a_free_lock(lock):
    outcomes = _race(lock, ['run-%02d' % i for i in range(20)], break_lock=False)
    winners = [run_id for run_id, acquired, dummy, dummy, dummy in outcomes if acquired]
    assert len(winners) == 1
    assert [seen for dummy, dummy, seen, dummy, dummy in outcomes] == winners * 20  # everyone sees the winner
    assert [previous for dummy, dummy, dummy, previous, dummy in outcomes] == [None] * 20
    assert json.loads(content(lock).decode())['id'] == winners[0]
    assert listing(lock) == ['.lock']


@pytest.mark.parametrize('round_', range(10))
def test_two_breakers_race_and_exactly_one_wins(lock, round_):
    write(lock, render(THEIRS).encode())
    outcomes = _race(lock, ['breaker-a', 'breaker-b'], break_lock=True)
    winners = [run_id for run_id, acquired, dummy, dummy, dummy in outcomes if acquired]
    assert len(winners) == 1
    assert [seen for dummy, dummy, seen, dummy, dummy in outcomes] == winners * 2
    # The winner took over from THEIRS; the loser took over nothing.
    assert sorted((run_id == winners[0], previous) for run_id, dummy, dummy, previous, dummy in outcomes) == [
        (False, None), (True, 'theirs')]
    assert json.loads(content(lock).decode())['id'] == winners[0]
    # THEIRS was moved aside exactly once (by either breaker: the other may then win the free lock).
    broken = [name for name in listing(lock) if name != '.lock']
    assert len(broken) == 1 and broken[0] in ('.lock.broken.breaker-a', '.lock.broken.breaker-b')
    assert content(os.path.join(os.path.dirname(lock), broken[0])) == render(THEIRS).encode()
