# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stage a release package on the share in one pass: check, extract, manifest, rename.

A release directory appears whole or not at all: the package is extracted into a temporary
directory next to the releases (same filesystem), its manifest written, and the directory renamed
into place with rename(2). Releases are immutable: a version already staged from another package
is refused, and so is a directory that has no manifest (nothing says where it came from).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import gzip
import hashlib
import json
import os
import shutil
import tarfile
import tempfile
import time
import zlib

from ansible_collections.daylight.release.plugins.module_utils.errors import (
    ApplyError,
    ConflictError,
    ValidationError,
)
from ansible_collections.daylight.release.plugins.module_utils.files import fsync_dir

MANIFEST_NAME = '.daylight-release.json'
# Members are checked by _safe_members; Pythons with extraction filters would otherwise warn (3.12)
# or apply their own (3.14).
_CHECKED_ALREADY = {'filter': 'fully_trusted'} if hasattr(tarfile, 'fully_trusted_filter') else {}
_UNREADABLE = (tarfile.TarError, EOFError, zlib.error, getattr(gzip, 'BadGzipFile', tarfile.ReadError))
INCOMING_NAME = '.incoming'


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1024 * 1024), b''):
            digest.update(block)
    return digest.hexdigest()


def read_staged(releases_dir, version):
    """The manifest of `version` on the share, or None when it is not staged.

    Raises ConflictError for a release directory without a readable manifest: nothing says which
    package it came from, so its content cannot be checked.
    """
    release_dir = os.path.join(releases_dir, version)
    manifest_path = os.path.join(release_dir, MANIFEST_NAME)
    if not os.path.lexists(release_dir):
        return None
    try:
        with open(manifest_path) as f:
            return json.load(f)
    except (IOError, OSError, ValueError) as e:
        raise ConflictError(
            '%s exists but has no readable %s (%s): it was not staged by this collection (or staging was cut '
            'short), so its content cannot be checked against the package. Move it aside and run again.'
            % (release_dir, MANIFEST_NAME, getattr(e, 'strerror', None) or e))


def staged(releases_dir, version, sha256):
    """The manifest of `version` when it is staged from the package with `sha256`; None when not staged.

    Raises ConflictError when it is staged from another package (releases are immutable) or its
    directory has no readable manifest.
    """
    manifest = read_staged(releases_dir, version)
    if manifest is None:
        return None
    recorded = str(manifest.get('sha256', ''))
    if recorded != sha256:
        raise ConflictError(
            'release %s is already staged from a package with sha256 %s, not %s: releases are immutable, '
            'package a new version' % (version, recorded or '(none recorded)', sha256))
    return manifest


def _safe_members(tar, root):
    """The package's members, refused unless each stays inside `root`; owners and modes normalised.

    Files and directories get u=rwX,go=rX (the web server reads them; nothing is writable by it) and
    the owner of the process, whatever the package recorded.
    """
    members = []
    uid, gid = os.getuid(), os.getgid()
    for member in tar.getmembers():
        name = os.path.normpath(member.name)
        if name == '.':
            continue
        if os.path.isabs(member.name) or name == '..' or name.startswith('..' + os.sep):
            raise ValidationError('the package has a path outside its directory: %r' % member.name)
        if member.issym() or member.islnk():
            base = root if member.islnk() else os.path.dirname(os.path.join(root, name))
            target = os.path.normpath(os.path.join(base, member.linkname))
            if os.path.isabs(member.linkname) or os.path.commonpath([target, root]) != root:
                raise ValidationError('the package has a link pointing outside its directory: %r -> %r'
                                      % (member.name, member.linkname))
        elif not (member.isfile() or member.isdir()):
            raise ValidationError('the package has %r, which is neither a file, a directory nor a link' % member.name)
        executable = member.isdir() or member.mode & 0o111
        member.mode = 0o755 if executable else 0o644
        member.uid, member.gid, member.uname, member.gname = uid, gid, '', ''
        members.append(member)
    return members


def stage(releases_dir, version, package, sha256, package_name, check_mode=False, now=None):
    """Stage `package` (a .tar.gz on this host) as releases_dir/version.

    :returns: (changed, manifest). Nothing changes when `version` is staged already from the same
        package (sha256); the package file is removed once the release is in place (or found there).
    :raises ConflictError: another package is staged under `version`, or a directory without manifest.
    :raises ValidationError: the package's sha256 is not `sha256`, or it is not a safe tar archive.
    :raises ApplyError: writing on the share failed; nothing was left behind.
    """
    manifest = staged(releases_dir, version, sha256)
    if manifest is not None:
        _remove_quietly(package, check_mode)
        return False, manifest

    try:
        actual = file_sha256(package)
    except (IOError, OSError) as e:
        raise ValidationError('cannot read the package %s on this host: %s' % (package, e))
    if actual != sha256:
        raise ValidationError(
            'the package copied to %s has sha256 %s, not %s: it changed or was cut short on the way; nothing was '
            'staged, run again' % (package, actual, sha256))

    manifest = {
        'version': version,
        'sha256': sha256,
        'package': package_name,
        'staged_at': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(now)),
    }
    if check_mode:
        return True, manifest

    incoming = os.path.join(releases_dir, INCOMING_NAME)
    tmp = None
    try:
        os.makedirs(incoming, 0o755, exist_ok=True)
        tmp = tempfile.mkdtemp(dir=incoming, prefix=version + '.')
        try:
            with tarfile.open(package, 'r:*') as tar:
                tar.extractall(tmp, members=_safe_members(tar, os.path.realpath(tmp)), numeric_owner=True,
                               **_CHECKED_ALREADY)
        except _UNREADABLE as e:
            raise ValidationError('the package %s is not a readable .tar.gz: %s' % (package_name, e))
        with open(os.path.join(tmp, MANIFEST_NAME), 'w') as f:
            f.write(json.dumps(manifest, indent=4, sort_keys=True) + '\n')
            f.flush()
            os.fsync(f.fileno())
        os.chmod(os.path.join(tmp, MANIFEST_NAME), 0o644)
        os.chmod(tmp, 0o755)  # mkdtemp makes 0700
        # rename(2) within one filesystem: the release appears whole or not at all.
        os.rename(tmp, os.path.join(releases_dir, version))
        tmp = None
        fsync_dir(releases_dir)
    except (IOError, OSError) as e:
        if e.errno in (errno.EEXIST, errno.ENOTEMPTY):
            raise ConflictError('%s appeared while staging it: another release staged it at the same time; run again'
                                % os.path.join(releases_dir, version))
        raise ApplyError('staging %s in %s failed: %s; nothing was left behind' % (version, releases_dir, e))
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    _remove_quietly(package, check_mode)
    return True, manifest


def _remove_quietly(path, check_mode):
    """The uploaded package is only a means: remove it, and never fail the staging over it."""
    if check_mode:
        return
    try:
        os.unlink(path)
    except OSError:
        pass
