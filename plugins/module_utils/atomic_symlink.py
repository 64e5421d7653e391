# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Swap a symlink atomically: readers see the old or the new target, never nothing.

`ln -sfn` unlinks the old link and then creates the new one, so for a moment
the path does not exist and Apache answers 404/500. Instead we create the new
link under a temporary name in the same directory and rename(2) it over the
old one; rename is atomic within one filesystem.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import stat

from ansible_collections.daylight.release.plugins.module_utils.errors import (
    ApplyError,
    ConflictError,
    ValidationError,
)


def _resolve(parent, target):
    """Absolute, symlink-free path of `target` as the kernel would follow it from `parent`."""
    return os.path.realpath(os.path.join(parent, target))


def _is_inside(path, root):
    # commonpath, not startswith: /srv/releases-evil is not inside /srv/releases.
    return path != root and os.path.commonpath([path, root]) == root


def _fsync_dir(directory):
    fd = os.open(directory, os.O_RDONLY | getattr(os, 'O_DIRECTORY', 0))
    try:
        os.fsync(fd)
    except OSError as e:
        # Some filesystems cannot fsync a directory; the rename itself is done.
        if e.errno != errno.EINVAL:
            raise
    finally:
        os.close(fd)


def swap_symlink(path, target, expect_current=None, confine_to=None, check_mode=False):
    """Point the symlink `path` at `target` with a single rename(2).

    :arg path: the symlink to create or replace; its parent directory must exist.
    :arg target: stored verbatim in the link. A relative target is interpreted
        relative to dirname(path), as the kernel does; it must exist.
    :arg expect_current: compare-and-swap guard. When given, the link must
        currently point at this target (same string, or same resolved path),
        otherwise ConflictError. The empty string means "the link must not
        exist yet". Not checked when the link already points at `target`, so a
        re-run of the same play is a no-op instead of a conflict.
    :arg confine_to: directory the resolved target (after `..` and symlinks)
        must lie strictly inside, else ValidationError.
    :arg check_mode: validate and compute the result, write nothing.
    :returns: (changed, result) with result keys path, target,
        previous_target (None if the link did not exist) and diff.
    :raises ValidationError, ConflictError: nothing was changed.
    :raises ApplyError: writing failed; the previous link was kept.
    """
    path = os.path.abspath(path)  # also drops a trailing slash, which would follow the link
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        raise ValidationError('parent directory %s of %s does not exist' % (parent, path))

    resolved = _resolve(parent, target)
    if not os.path.exists(resolved):
        shown = target if target == resolved else '%s (%s)' % (target, resolved)
        raise ValidationError('target %s does not exist; stage the release first' % shown)
    if confine_to is not None:
        root = os.path.realpath(confine_to)
        if not _is_inside(resolved, root):
            raise ValidationError('target %s resolves to %s, which is outside %s; refusing to point %s there'
                                  % (target, resolved, root, path))

    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        current = None
    else:
        if not stat.S_ISLNK(mode):
            kind = 'real directory' if stat.S_ISDIR(mode) else 'real file'
            raise ConflictError('%s is a %s, not a symlink; refusing to replace it (move it aside first)'
                                % (path, kind))
        current = os.readlink(path)

    result = dict(
        path=path,
        target=target,
        previous_target=current,
        diff=dict(
            before_header=path,
            after_header=path,
            before='' if current is None else '%s -> %s\n' % (path, current),
            after='%s -> %s\n' % (path, target),
        ),
    )
    # Compare the stored string: switching absolute <-> relative is a real change.
    if current == target:
        return False, result

    if expect_current is not None:
        if expect_current == '':
            if current is not None:
                raise ConflictError('expected %s not to exist yet, but it points at %s' % (path, current))
        elif current is None:
            raise ConflictError('expected %s to point at %s, but it does not exist' % (path, expect_current))
        elif current != expect_current and _resolve(parent, current) != _resolve(parent, expect_current):
            raise ConflictError('expected %s to point at %s, but it points at %s; someone else changed it'
                                % (path, expect_current, current))

    if check_mode:
        return True, result

    tmp = os.path.join(parent, '.%s.tmp-%d-%s' % (os.path.basename(path), os.getpid(), os.urandom(6).hex()))
    created = False
    try:
        os.symlink(target, tmp)
        created = True
        os.replace(tmp, path)
        created = False
    except OSError as e:
        if created:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        raise ApplyError('could not point %s at %s: %s' % (path, target, e))

    try:
        # Without this a crash could bring back the old link after reboot.
        _fsync_dir(parent)
    except OSError as e:
        raise ApplyError('%s now points at %s, but syncing directory %s failed: %s' % (path, target, parent, e))
    return True, result
