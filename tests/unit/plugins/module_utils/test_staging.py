# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import io
import json
import os
import tarfile

import pytest

from ansible_collections.daylight.release.plugins.module_utils import staging
from ansible_collections.daylight.release.plugins.module_utils.errors import ApplyError, ConflictError, ValidationError


def make_package(path, files=None, extra=None):
    """A .tar.gz like the demo app's (members under ./); `extra` adds raw TarInfo members. Returns its sha256."""
    files = files if files is not None else {'index.php': b'<?php echo "2.0.0";', 'lib/app.php': b'<?php'}
    with tarfile.open(str(path), 'w:gz') as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo('./' + name)
            info.size, info.mode, info.uid, info.uname = len(data), 0o600, 4242, 'builder'
            tar.addfile(info, io.BytesIO(data))
        for info in extra or []:
            tar.addfile(info)
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def share(tmp_path):
    (tmp_path / 'releases').mkdir()
    return tmp_path / 'releases'


def upload(share, sha=None, **kw):
    incoming = share / '.incoming'
    incoming.mkdir(exist_ok=True)
    pkg = incoming / '2.0.0.upload.tar.gz'
    real = make_package(pkg, **kw)
    return str(pkg), sha or real


def test_stages_whole_with_manifest_and_removes_the_upload(share):
    pkg, sha = upload(share)
    changed, manifest = staging.stage(str(share), '2.0.0', pkg, sha, 'demo-app-2.0.0.tar.gz', now=0)
    assert changed
    release = share / '2.0.0'
    assert (release / 'index.php').read_bytes() == b'<?php echo "2.0.0";'
    assert (release / 'lib' / 'app.php').exists()
    on_disk = json.loads((release / staging.MANIFEST_NAME).read_text())
    assert on_disk == manifest == {'version': '2.0.0', 'sha256': sha, 'package': 'demo-app-2.0.0.tar.gz',
                                   'staged_at': '1970-01-01T00:00:00Z'}
    # readable by the web server, owned by whoever staged, nothing left in .incoming
    assert os.stat(str(release)).st_mode & 0o777 == 0o755
    assert os.stat(str(release / 'index.php')).st_mode & 0o777 == 0o644
    assert os.stat(str(release / 'lib')).st_mode & 0o777 == 0o755
    assert os.stat(str(release / 'index.php')).st_uid == os.getuid()
    assert os.listdir(str(share / '.incoming')) == []


def test_same_package_again_changes_nothing(share):
    pkg, sha = upload(share)
    staging.stage(str(share), '2.0.0', pkg, sha, 'p.tar.gz')
    pkg, sha = upload(share)
    changed, manifest = staging.stage(str(share), '2.0.0', pkg, sha, 'p.tar.gz')
    assert not changed and manifest['sha256'] == sha
    assert staging.read_staged(str(share), '2.0.0') == manifest


def test_another_package_under_a_staged_version_is_refused(share):
    pkg, sha = upload(share)
    staging.stage(str(share), '2.0.0', pkg, sha, 'p.tar.gz')
    other, other_sha = upload(share, files={'index.php': b'changed'})
    with pytest.raises(ConflictError, match='already staged from a package with sha256 %s, not %s: releases are '
                                            'immutable' % (sha, other_sha)):
        staging.stage(str(share), '2.0.0', other, other_sha, 'p.tar.gz')
    assert (share / '2.0.0' / 'index.php').read_bytes() == b'<?php echo "2.0.0";'


def test_a_directory_without_manifest_is_refused_and_left_alone(share):
    (share / '2.0.0').mkdir()
    (share / '2.0.0' / 'by-hand.php').write_text('x')
    pkg, sha = upload(share)
    with pytest.raises(ConflictError, match=r'2\.0\.0 exists but has no readable .daylight-release.json .*Move it aside'):
        staging.stage(str(share), '2.0.0', pkg, sha, 'p.tar.gz')
    assert os.listdir(str(share / '2.0.0')) == ['by-hand.php']


def test_a_corrupted_copy_is_refused_and_nothing_staged(share):
    pkg, sha = upload(share, sha='0' * 64)
    with pytest.raises(ValidationError, match='has sha256 [0-9a-f]{64}, not 0{64}: it changed or was cut short'):
        staging.stage(str(share), '2.0.0', pkg, sha, 'p.tar.gz')
    assert sorted(os.listdir(str(share))) == ['.incoming']


@pytest.mark.parametrize('member, message', [
    (tarfile.TarInfo('../escape.php'), 'a path outside its directory'),
    (tarfile.TarInfo('/etc/evil'), 'a path outside its directory'),
])
def test_a_member_outside_the_release_is_refused(share, member, message):
    pkg, sha = upload(share, extra=[member])
    with pytest.raises(ValidationError, match=message):
        staging.stage(str(share), '2.0.0', pkg, sha, 'p.tar.gz')
    assert os.listdir(str(share / '.incoming')) == ['2.0.0.upload.tar.gz']  # no temporary directory left
    assert not (share / '2.0.0').exists()


def test_links_must_stay_inside_and_devices_are_refused(share):
    inside, outside, device = tarfile.TarInfo('./current.php'), tarfile.TarInfo('./passwd'), tarfile.TarInfo('./null')
    inside.type, inside.linkname = tarfile.SYMTYPE, 'index.php'
    outside.type, outside.linkname = tarfile.SYMTYPE, '../../../etc/passwd'
    device.type = tarfile.CHRTYPE
    pkg, sha = upload(share, extra=[inside])
    assert staging.stage(str(share), '2.0.0', pkg, sha, 'p.tar.gz')[0]
    assert os.readlink(str(share / '2.0.0' / 'current.php')) == 'index.php'
    pkg, sha = upload(share, extra=[outside])
    with pytest.raises(ValidationError, match="link pointing outside its directory: './passwd'"):
        staging.stage(str(share), '2.1.0', pkg, sha, 'p.tar.gz')
    pkg, sha = upload(share, extra=[device])
    with pytest.raises(ValidationError, match="'./null', which is neither a file"):
        staging.stage(str(share), '2.2.0', pkg, sha, 'p.tar.gz')


def test_not_a_tar_archive_is_refused(share):
    (share / '.incoming').mkdir()
    pkg = share / '.incoming' / 'x.tar.gz'
    pkg.write_bytes(b'not a package')
    with pytest.raises(ValidationError, match='is not a readable .tar.gz'):
        staging.stage(str(share), '2.0.0', str(pkg), hashlib.sha256(b'not a package').hexdigest(), 'x.tar.gz')
    assert not (share / '2.0.0').exists()


def test_check_mode_checks_the_copy_and_writes_nothing(share):
    pkg, sha = upload(share)
    changed, manifest = staging.stage(str(share), '2.0.0', pkg, sha, 'p.tar.gz', check_mode=True)
    assert changed and manifest['sha256'] == sha
    assert sorted(os.listdir(str(share))) == ['.incoming'] and os.path.exists(pkg)


def test_a_failed_write_leaves_nothing_behind(share, monkeypatch):
    pkg, sha = upload(share)

    def fail(src, dst):
        raise OSError(28, 'No space left on device')
    monkeypatch.setattr(staging.os, 'rename', fail)
    with pytest.raises(ApplyError, match='staging 2.0.0 in .* failed: .*No space left on device; nothing was left behind'):
        staging.stage(str(share), '2.0.0', pkg, sha, 'p.tar.gz')
    assert os.listdir(str(share / '.incoming')) == ['2.0.0.upload.tar.gz']
