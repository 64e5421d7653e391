# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import multiprocessing
import os

import pytest

from ansible_collections.daylight.release.plugins.module_utils import atomic_symlink
from ansible_collections.daylight.release.plugins.module_utils.atomic_symlink import swap_symlink
from ansible_collections.daylight.release.plugins.module_utils.errors import (
    ApplyError,
    ConflictError,
    ValidationError,
)


@pytest.fixture
def site(tmp_path):
    """/srv/www/shop-like layout: releases/r1, releases/r2 and a `current` path (absent)."""
    for name in ('r1', 'r2'):
        (tmp_path / 'releases' / name).mkdir(parents=True)
    return tmp_path


def listing(directory):
    return sorted(os.listdir(str(directory)))


def test_creates_new_link(site):
    link = str(site / 'current')
    target = str(site / 'releases' / 'r1')
    changed, result = swap_symlink(link, target)
    assert changed
    assert os.readlink(link) == target
    assert result['previous_target'] is None
    assert result['path'] == link and result['target'] == target
    assert listing(site) == ['current', 'releases']


def test_swaps_existing_link(site):
    link = str(site / 'current')
    os.symlink(str(site / 'releases' / 'r1'), link)
    changed, result = swap_symlink(link, str(site / 'releases' / 'r2'))
    assert changed
    assert os.readlink(link) == str(site / 'releases' / 'r2')
    assert result['previous_target'] == str(site / 'releases' / 'r1')
    assert listing(site) == ['current', 'releases']


def test_noop_when_already_pointing_at_target(site, monkeypatch):
    link = str(site / 'current')
    os.symlink('releases/r1', link)

    def boom(*args):
        raise AssertionError('nothing must be written')
    monkeypatch.setattr(os, 'symlink', boom)
    monkeypatch.setattr(os, 'replace', boom)
    changed, result = swap_symlink(link, 'releases/r1')
    assert not changed
    assert result['previous_target'] == 'releases/r1'


def test_noop_ignores_expect_current_so_reruns_are_idempotent(site):
    link = str(site / 'current')
    os.symlink('releases/r2', link)
    assert swap_symlink(link, 'releases/r2', expect_current='releases/r1')[0] is False


def test_relative_target_is_stored_verbatim_and_checked_from_link_dir(site, monkeypatch):
    monkeypatch.chdir(str(site / 'releases'))  # must not matter: relative to dirname(path)
    link = str(site / 'current')
    changed, dummy = swap_symlink(link, 'releases/r2')
    assert changed
    assert os.readlink(link) == 'releases/r2'
    assert os.path.samefile(link, str(site / 'releases' / 'r2'))


def test_absolute_to_relative_is_a_change(site):
    link = str(site / 'current')
    os.symlink(str(site / 'releases' / 'r1'), link)
    assert swap_symlink(link, 'releases/r1')[0] is True
    assert os.readlink(link) == 'releases/r1'


@pytest.mark.parametrize('kind', ['directory', 'file'])
def test_refuses_to_replace_real_data(site, kind):
    real = site / 'current'
    if kind == 'directory':
        real.mkdir()
        (real / 'index.php').write_text(u'<?php echo 1;')
    else:
        real.write_text(u'data')
    with pytest.raises(ConflictError, match='real %s, not a symlink' % kind):
        swap_symlink(str(real), 'releases/r1')
    assert not os.path.islink(str(real))
    if kind == 'directory':
        assert (real / 'index.php').read_text() == u'<?php echo 1;'
    else:
        assert real.read_text() == u'data'
    assert listing(site) == ['current', 'releases']


def test_expect_current_mismatch_refused_and_link_untouched(site):
    link = str(site / 'current')
    os.symlink('releases/r2', link)
    with pytest.raises(ConflictError) as exc:
        swap_symlink(link, 'releases/r1', expect_current='releases/r0')
    assert 'releases/r0' in str(exc.value) and 'releases/r2' in str(exc.value)
    assert os.readlink(link) == 'releases/r2'


def test_expect_current_matches_resolved_path(site):
    link = str(site / 'current')
    os.symlink('releases/r1', link)
    changed, dummy = swap_symlink(link, 'releases/r2', expect_current=str(site / 'releases' / 'r1'))
    assert changed and os.readlink(link) == 'releases/r2'


def test_expect_current_on_missing_link_refused(site):
    link = str(site / 'current')
    with pytest.raises(ConflictError, match='does not exist'):
        swap_symlink(link, 'releases/r1', expect_current='releases/r0')
    assert not os.path.lexists(link)


def test_expect_current_empty_means_must_not_exist(site):
    link = str(site / 'current')
    assert swap_symlink(link, 'releases/r1', expect_current='')[0] is True
    with pytest.raises(ConflictError, match='not to exist'):
        swap_symlink(link, 'releases/r2', expect_current='')
    assert os.readlink(link) == 'releases/r1'


def test_confine_to_allows_target_inside(site):
    link = str(site / 'current')
    assert swap_symlink(link, 'releases/r1', confine_to=str(site / 'releases'))[0]


def test_confine_to_refuses_dotdot_escape(site):
    (site / 'etc').mkdir()
    link = str(site / 'current')
    with pytest.raises(ValidationError, match='outside'):
        swap_symlink(link, 'releases/r1/../../etc', confine_to=str(site / 'releases'))
    assert not os.path.lexists(link)


def test_confine_to_refuses_sibling_with_common_prefix(site):
    (site / 'releases-evil').mkdir()
    link = str(site / 'current')
    with pytest.raises(ValidationError, match='outside'):
        swap_symlink(link, str(site / 'releases-evil'), confine_to=str(site / 'releases'))
    assert not os.path.lexists(link)


def test_confine_to_refuses_symlink_escape(site):
    (site / 'elsewhere').mkdir()
    os.symlink(str(site / 'elsewhere'), str(site / 'releases' / 'r3'))
    link = str(site / 'current')
    with pytest.raises(ValidationError, match='outside'):
        swap_symlink(link, 'releases/r3', confine_to=str(site / 'releases'))
    assert not os.path.lexists(link)


@pytest.mark.parametrize('check_mode', [False, True])
def test_missing_target_refused(site, check_mode):
    link = str(site / 'current')
    with pytest.raises(ValidationError, match='does not exist; stage the release first'):
        swap_symlink(link, 'releases/r9', check_mode=check_mode)
    assert not os.path.lexists(link)


def test_missing_parent_refused(site):
    with pytest.raises(ValidationError, match='parent directory'):
        swap_symlink(str(site / 'nope' / 'current'), str(site / 'releases' / 'r1'))


def test_check_mode_writes_nothing(site):
    link = str(site / 'current')
    os.symlink('releases/r1', link)
    changed, result = swap_symlink(link, 'releases/r2', check_mode=True)
    assert changed
    assert result['previous_target'] == 'releases/r1'
    assert os.readlink(link) == 'releases/r1'
    assert listing(site) == ['current', 'releases']


def test_diff(site):
    link = str(site / 'current')
    dummy, result = swap_symlink(link, 'releases/r1')
    assert result['diff'] == {
        'before_header': link,
        'after_header': link,
        'before': '',
        'after': '%s -> releases/r1\n' % link,
    }
    dummy, result = swap_symlink(link, 'releases/r2')
    assert result['diff']['before'] == '%s -> releases/r1\n' % link
    assert result['diff']['after'] == '%s -> releases/r2\n' % link


def test_failed_rename_leaves_no_temp_link(site, monkeypatch):
    link = str(site / 'current')
    os.symlink('releases/r1', link)

    # Mocking os.replace is the only portable way to make rename(2) fail after
    # the temporary link exists; the cleanup path is what is under test.
    def failing_replace(src, dst):
        raise OSError(28, 'No space left on device')
    monkeypatch.setattr(atomic_symlink.os, 'replace', failing_replace)
    with pytest.raises(ApplyError) as exc:
        swap_symlink(link, 'releases/r2')
    assert link in str(exc.value) and 'No space left on device' in str(exc.value)
    assert os.readlink(link) == 'releases/r1'
    assert listing(site) == ['current', 'releases']


def _reader(link, stop, result):
    """Runs in its own process so it reads truly in parallel, not under our GIL."""
    reads = 0
    error = None
    while not stop.is_set():
        try:
            os.stat(link)
            os.readlink(link)
        except OSError as e:  # FileNotFoundError would mean a gap between old and new link
            error = repr(e)
            break
        reads += 1
    result.put((reads, error))


def test_readers_never_see_a_missing_link(site):
    link = str(site / 'current')
    targets = [str(site / 'releases' / 'r1'), str(site / 'releases' / 'r2')]
    swap_symlink(link, targets[0])
    ctx = multiprocessing.get_context('fork')
    stop, result = ctx.Event(), ctx.Queue()
    readers = [ctx.Process(target=_reader, args=(link, stop, result)) for dummy in range(1)]
    for r in readers:
        r.start()
    try:
        for i in range(5000):
            swap_symlink(link, targets[(i + 1) % 2])
    finally:
        stop.set()
        outcomes = [result.get(timeout=10) for dummy in readers]
        for r in readers:
            r.join()
    assert [error for dummy, error in outcomes] == [None]
    assert sum(reads for reads, dummy in outcomes) > 1000
    assert listing(site) == ['current', 'releases']
