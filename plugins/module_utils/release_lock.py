# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One release at a time: a lock file on the NFS share every web node mounts.

The lock file holds the holder's JSON (at least a non-empty "id", usually the
dict of the daylight.release.release_run lookup plus action and version).

Taking the lock must not be check-then-write, and O_EXCL is not reliable on
older NFS clients. So the holder is written to a unique temporary file in the
same directory, fsynced, and hard-linked to the lock path: link(2) is atomic
on NFS and fails with EEXIST when the lock exists. If link reports another
error, the reply may have been lost after the server did link (a retransmitted
request then fails): the temporary file's link count of 2 tells us it worked.
The lock only ever appears complete, so readers never see half a holder.

Breaking a lock renames it aside to "<lock>.broken.<our id>". Of two runs
breaking the same lock at once, only one rename finds it; a breaker that moved
a lock other than the one it meant to break (someone else's fresh lock) puts
it back. A break only ever applies to the lock that was there when the task
started, never to one taken during the task.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import json
import os
import re

from ansible_collections.daylight.release.plugins.module_utils.files import fsync_dir
from ansible_collections.daylight.release.plugins.module_utils.errors import (
    ApplyError,
    ConflictError,
    ValidationError,
)

# A lock freed and retaken between our read and our link makes us look again; bounded, not a spin.
_ATTEMPTS = 10
_UNSAFE = re.compile(r'[^A-Za-z0-9._-]')


def describe_holder(holder):
    """One readable line about a lock holder, for messages and the lock_holder_line filter.

    e.g. "root on ctl1 (pid 4242) since 2026-11-23T14:00:05Z: release 2.1.0, run 3f2a..."
    Missing keys are left out; works for any dict a lock file may hold.
    """
    if holder is None:
        return 'nobody'
    if not isinstance(holder, dict):
        return 'an unknown holder (%r)' % (holder,)
    if 'unreadable' in holder:
        return 'an unreadable lock file (%s)' % holder['unreadable']
    line = '%s' % (holder.get('user') or holder.get('who') or 'someone')
    if holder.get('controller'):
        line += ' on %s' % holder['controller']
    if holder.get('pid') not in (None, ''):
        line += ' (pid %s)' % holder['pid']
    if holder.get('since'):
        line += ' since %s' % holder['since']
    what = ' '.join('%s' % holder[k] for k in ('action', 'version') if holder.get(k))
    tail = [part for part in (what, 'run %s' % holder['id'] if holder.get('id') else '') if part]
    if tail:
        line += ': ' + ', '.join(tail)
    return line


def _held_by(path, holder, run_id):
    """The message when `absent` finds someone else's lock."""
    if 'unreadable' in holder:
        return ('release lock %s cannot be read (%s), so it is not known to be held by this run (%s): not removed. '
                'Look at the file; if no release is running, remove it with break_lock=true'
                % (path, holder['unreadable'], run_id))
    return ('release lock %s is held by %s from %s since %s (%s %s, run %s), not by this run (%s): not removed'
            % (path, holder.get('user') or holder.get('who') or 'someone',
               holder.get('controller') or 'an unknown controller', holder.get('since') or 'an unknown time',
               holder.get('action') or 'release', holder.get('version') or '(version unknown)',
               holder.get('id'), run_id))


def render(holder):
    """The lock file's text for `holder`."""
    return json.dumps(holder, indent=2, sort_keys=True) + '\n'


def _parse(data):
    if not data.strip():
        return {'unreadable': 'the lock file is empty'}
    try:
        holder = json.loads(data.decode('utf-8'))
    except ValueError as e:
        return {'unreadable': 'not JSON: %s' % e}
    if not isinstance(holder, dict) or not holder.get('id'):
        return {'unreadable': 'no holder id in %s' % data.decode('utf-8', 'replace').strip()[:200]}
    return holder


def read_lock(path):
    """(holder, text, mark) of the lock at `path`, or (None, '', None) when there is none.

    holder is the parsed dict, or {'unreadable': why}. mark identifies this very
    lock file (inode and bytes): a lock taken again by someone else differs.
    """
    try:
        with open(path, 'rb') as f:
            data = f.read()
            ino = os.fstat(f.fileno()).st_ino
    except OSError as e:
        if e.errno == errno.ENOENT:
            return None, '', None
        # errno, not the message: the message names the path, which differs once renamed aside.
        return {'unreadable': 'cannot read it: %s' % (e.strerror or e)}, '', ('error', e.errno)
    return _parse(data), data.decode('utf-8', 'replace'), (ino, data)


def _safe(run_id):
    # The id comes from the playbook: keep it from adding path components to file names.
    return _UNSAFE.sub('_', '%s' % run_id)[:64]


def _link_lock(path, holder):
    """Create the lock at `path` holding `holder`; False if a lock exists there."""
    directory = os.path.dirname(path)
    tmp = os.path.join(directory, '.%s.%s.%d.%s.tmp' % (
        os.path.basename(path), _safe(holder['id']), os.getpid(), os.urandom(4).hex()))
    try:
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            with os.fdopen(fd, 'wb') as f:
                f.write(render(holder).encode('utf-8'))
                f.flush()
                os.fsync(f.fileno())  # the lock must never appear empty after a crash
        except OSError as e:
            raise ApplyError('cannot write the temporary lock file %s: %s' % (tmp, e))
        try:
            os.link(tmp, path)
        except OSError as e:
            if e.errno == errno.EEXIST:
                return False
            # NFS: a retransmitted LINK fails although the first one worked; the link count tells.
            try:
                if os.stat(tmp).st_nlink == 2:
                    return True
            except OSError:
                pass
            raise ApplyError('cannot create the release lock %s: %s' % (path, e))
        return True
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def _take(path, aside, mark):
    """Rename the lock at `path` to `aside` if it is still the lock `mark` identifies.

    :returns: True if that lock is now at `aside`; False if it was gone or had been
        replaced meanwhile (a replacement is put back at `path`).
    """
    try:
        os.rename(path, aside)
    except OSError as e:
        if e.errno == errno.ENOENT:
            return False  # released, or another breaker was faster
        raise ApplyError('cannot move the release lock %s aside to %s: %s' % (path, aside, e))
    if read_lock(aside)[2] == mark:
        return True
    # We moved someone's fresh lock: give it back. link, so we never overwrite a lock.
    try:
        os.link(aside, path)
    except OSError as e:
        raise ApplyError('moved a release lock taken meanwhile from %s to %s and could not put it back (%s): '
                         'move %s back to %s by hand' % (path, aside, e, aside, path))
    os.unlink(aside)
    return False


def _result(acquired, holder, previous, before, after, path):
    return {
        'acquired': acquired,
        'holder': holder,
        'previous_holder': previous,
        'diff': {'before_header': path, 'after_header': path, 'before': before, 'after': after},
    }


def acquire(path, holder, break_lock=False, check_mode=False):
    """Take the release lock at `path` for `holder`; the one place check mode is decided.

    :arg holder: dict with a non-empty 'id'; written to the lock as JSON.
    :arg break_lock: take the lock even when another run holds it (that lock is
        renamed to "<path>.broken.<id>"). Only the lock found when the task
        starts is broken, never one another run takes during the task.
    :returns: (changed, result) with keys acquired, holder (the lock's holder
        after the task), previous_holder (the holder whose lock this task broke,
        else None) and diff. Held by another run is not an error: acquired is
        False and holder is theirs.
    :raises ValidationError: bad holder. ApplyError: writing failed.
    """
    if not isinstance(holder, dict) or not holder.get('id') or not isinstance(holder['id'], str):
        raise ValidationError('holder must be a dict with a non-empty string id (e.g. the id of the '
                              'daylight.release.release_run lookup), got %r' % (holder,))
    path = os.path.abspath(path)
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        raise ValidationError('directory %s of the release lock %s does not exist: is the share mounted?'
                              % (directory, path))
    ours = render(holder)
    victim = None  # (holder, text, mark) of the lock found first: the only one we may break
    for attempt in range(_ATTEMPTS):
        current, text, mark = read_lock(path)
        if attempt == 0:
            victim = (current, text, mark)
        if current is None:
            # Free (or freed by a breaker/release meanwhile): link decides who gets it.
            if check_mode or _link_lock(path, holder):
                if not check_mode:
                    fsync_dir(directory)
                return True, _result(True, holder, victim[0], victim[1], ours, path)
            continue
        if current.get('id') == holder['id']:
            return False, _result(True, current, None, text, text, path)
        if not break_lock or mark != victim[2]:
            return False, _result(False, current, None, text, text, path)
        if check_mode:
            return True, _result(True, holder, current, text, ours, path)
        if _take(path, '%s.broken.%s' % (path, _safe(holder['id'])), mark):
            if _link_lock(path, holder):
                fsync_dir(directory)
                return True, _result(True, holder, current, text, ours, path)
        # Someone else got in between: look again, but never break their lock.
    raise ApplyError('the release lock %s kept changing under this run (%d attempts): runs are racing for it; '
                     'run again' % (path, _ATTEMPTS))


def release(path, run_id=None, break_lock=False, check_mode=False):
    """Remove the release lock at `path` if this run (`run_id`) holds it, or anyone's with break_lock.

    :returns: (changed, result) like acquire(); acquired is always False and
        previous_holder is the holder whose lock was removed, else None.
    :raises ValidationError: no run_id without break_lock. ConflictError: another
        run holds the lock; nothing was changed.
    """
    path = os.path.abspath(path)
    if not run_id and not break_lock:
        raise ValidationError('id is required to remove the release lock %s: pass the id of the run that '
                              'holds it, or break_lock=true to remove it whoever holds it' % path)
    for dummy in range(_ATTEMPTS):
        current, text, mark = read_lock(path)
        if current is None:
            return False, _result(False, None, None, '', '', path)
        if not break_lock and current.get('id') != run_id:
            raise ConflictError(_held_by(path, current, run_id))
        if check_mode:
            return True, _result(False, None, current, text, '', path)
        # Rename then check, so we never remove a lock someone took after our read.
        aside = '%s.release.%s.%d' % (path, _safe(run_id or 'break'), os.getpid())
        if _take(path, aside, mark):
            os.unlink(aside)
            fsync_dir(os.path.dirname(path))
            return True, _result(False, None, current, text, '', path)
    raise ApplyError('the release lock %s kept changing under this run (%d attempts): run again'
                     % (path, _ATTEMPTS))
