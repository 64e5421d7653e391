# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os
import tarfile

import pytest

from ansible_collections.daylight.release.plugins.modules import staged_release


@pytest.fixture
def run(run_module):
    def call(args, check_mode=False, diff=False):
        return run_module(staged_release.main, _ansible_check_mode=check_mode, _ansible_diff=diff, **args)
    return call


@pytest.fixture
def upload(tmp_path):
    """A one-file package copied to the share's .incoming; returns (path, sha256)."""
    (tmp_path / 'releases' / '.incoming').mkdir(parents=True)
    (tmp_path / 'src').mkdir()
    (tmp_path / 'src' / 'index.php').write_text('<?php echo "2.0.0";')
    pkg = tmp_path / 'releases' / '.incoming' / '2.0.0.tar.gz'
    with tarfile.open(str(pkg), 'w:gz') as tar:
        tar.add(str(tmp_path / 'src'), arcname='.')
    return str(pkg), hashlib.sha256(pkg.read_bytes()).hexdigest()


def test_looks_then_stages_then_finds_it_staged(tmp_path, run, upload):
    pkg, sha = upload
    releases = str(tmp_path / 'releases')
    kind, result = run(dict(releases_dir=releases, version='2.0.0', sha256=sha))
    assert (kind, result['changed'], result['staged'], result['manifest']) == ('exit', False, False, None)

    kind, result = run(dict(releases_dir=releases, version='2.0.0', sha256=sha.upper(), package=pkg,
                            package_name='demo-app-2.0.0.tar.gz'), diff=True)
    assert (kind, result['changed'], result['staged']) == ('exit', True, True)
    assert result['manifest']['package'] == 'demo-app-2.0.0.tar.gz' and result['manifest']['sha256'] == sha
    assert result['diff']['after'] == 'release 2.0.0 staged from demo-app-2.0.0.tar.gz (sha256 %s)\n' % sha
    assert result['path'] == os.path.join(releases, '2.0.0')
    assert os.path.exists(os.path.join(releases, '2.0.0', 'index.php')) and not os.path.exists(pkg)

    kind, result = run(dict(releases_dir=releases, version='2.0.0', sha256=sha))
    assert (kind, result['changed'], result['staged']) == ('exit', False, True)


def test_check_mode_stages_nothing(tmp_path, run, upload):
    pkg, sha = upload
    kind, result = run(dict(releases_dir=str(tmp_path / 'releases'), version='2.0.0', sha256=sha, package=pkg),
                       check_mode=True, diff=True)
    assert (kind, result['changed'], result['staged']) == ('exit', True, True)
    assert sorted(os.listdir(str(tmp_path / 'releases'))) == ['.incoming'] and os.path.exists(pkg)


def test_another_package_under_the_version_fails_naming_both_checksums(tmp_path, run, upload):
    pkg, sha = upload
    releases = str(tmp_path / 'releases')
    run(dict(releases_dir=releases, version='2.0.0', sha256=sha, package=pkg))
    kind, result = run(dict(releases_dir=releases, version='2.0.0', sha256='f' * 64))
    assert kind == 'fail'
    assert result['msg'] == ('release 2.0.0 is already staged from a package with sha256 %s, not %s: releases are '
                             'immutable, package a new version' % (sha, 'f' * 64))
