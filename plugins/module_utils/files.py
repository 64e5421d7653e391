# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Writing files on a host so that readers and crashes never see half a change."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import tempfile

from ansible_collections.daylight.release.plugins.module_utils.errors import ApplyError


def fsync_dir(directory):
    """fsync a directory, so a rename or link in it survives a crash."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, 'O_DIRECTORY', 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as e:
        if e.errno != errno.EINVAL:  # some filesystems cannot fsync a directory
            raise ApplyError('syncing directory %s failed: %s' % (directory, e))


def write_atomically(path, text, mode=0o644, what=None):
    """Replace `path` with `text` so readers see the old or the new file, never a partial one.

    Temp file in the same directory (rename is only atomic within a filesystem),
    fsync before rename (else a crash can leave an empty file under the new
    name), fsync the directory after (else the rename itself may be lost).
    """
    directory = os.path.dirname(os.path.abspath(path))
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix='.%s.' % os.path.basename(path), suffix='.tmp')
        with os.fdopen(fd, 'wb') as f:
            f.write(text.encode('utf-8'))
            f.flush()
            os.fchmod(f.fileno(), mode)  # mkstemp makes 0600; the web server must read it
            os.fsync(f.fileno())
        os.rename(tmp, path)
        tmp = None
    except OSError as e:
        raise ApplyError('cannot write %s%s: %s' % (what + ' ' if what else '', path, e))
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    try:
        fsync_dir(directory)
    except ApplyError as e:
        raise ApplyError('%s was replaced, but %s' % (path, e))


def write_files(directory, files, mode=0o644, check_mode=False):
    """Make `directory` hold each of `files` ({name: text}), writing only the files whose text differs.

    The directory is created (0755) when missing; each file is replaced atomically
    (write_atomically). Names must be plain file names: no path separator, not '.' or '..'.

    :returns: [{'name', 'path', 'before' (text, None when absent), 'after', 'changed'}], in name order;
        in check mode nothing is written, and changed says what a real run would do.
    :raises ApplyError: a bad name, a directory or file that cannot be written, naming it.
    """
    for name in files:
        if not name or name in ('.', '..') or '/' in name or '\0' in name:
            raise ApplyError('%r is not a file name: give plain names (no "/"), each file goes straight into %s'
                             % (name, directory))
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise ApplyError('%s is not a directory: the files cannot go in it' % directory)
    plan = []
    for name in sorted(files):
        path = os.path.join(directory, name)
        try:
            with open(path, 'rb') as f:
                before = f.read().decode('utf-8', 'replace')
        except (IOError, OSError) as e:
            if e.errno != errno.ENOENT:
                raise ApplyError('cannot read %s: %s' % (path, e))
            before = None
        after = files[name]
        plan.append({'name': name, 'path': path, 'before': before, 'after': after, 'changed': before != after})
    if check_mode or not any(item['changed'] for item in plan):
        return plan
    if not os.path.isdir(directory):
        try:
            os.makedirs(directory, 0o755)
        except OSError as e:
            raise ApplyError('cannot create the directory %s: %s' % (directory, e))
    for item in plan:
        if item['changed']:
            write_atomically(item['path'], item['after'], mode)
    return plan
