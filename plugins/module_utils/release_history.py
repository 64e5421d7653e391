# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The release history on the share: every release and rollback attempt, oldest first.

The file (e.g. /srv/daylight/releases/.history.json) is a JSON list of attempts::

    {"id": "3f2a...", "action": "release" | "rollback", "version": "2.1.0",
     "previous": "2.0.0" (what the estate served before, or null),
     "who": "root", "controller": "ctl1",
     "started": "2026-11-23T14:00:05Z", "finished": null while running,
     "result": "running" | "completed" | "stopped" | "rolled back" | "interrupted",
     "nodes": {"web1": "2.1.0 live", ...}, "note": ""}

Older versions of this collection wrote {"version": ..., "live_at": ...} entries
for completed releases only; read() normalises them. The history is only ever
written by a run holding the release lock, so there is one writer at a time.

A history that cannot be read is never overwritten: losing it would make the
next rollback go to the wrong release.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import errno
import json
import os
import re

from ansible_collections.daylight.release.plugins.module_utils import files
from ansible_collections.daylight.release.plugins.module_utils.errors import (
    ApplyError,
    ConflictError,
    ValidationError,
)

ACTIONS = ('release', 'rollback')
FINISHED = ('completed', 'stopped', 'rolled back')
RESULTS = ('running', 'interrupted') + FINISHED
KEYS = ('id', 'action', 'version', 'previous', 'who', 'controller', 'started', 'finished', 'result', 'nodes', 'note')
_NAME_RELEASE = 'name the release to go back to with -e release_version=V'


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


# ---------------------------------------------------------------- reading

def _unreadable(path, why):
    return ConflictError('the release history %s cannot be read (%s). It is not overwritten: repair it, or move it '
                         'aside to start a new history, then run again.' % (path, why))


def normalise(entries, path='the release history'):
    """Attempts in the current format, oldest first; legacy {version, live_at} entries converted.

    :raises ValidationError: `entries` is not a list of attempts (the message
        says which entry and why; read() wraps it into the "cannot be read" one).
    """
    if not isinstance(entries, list):
        raise ValidationError('it holds a JSON %s, not a list of attempts' % type(entries).__name__)
    attempts = []
    for n, entry in enumerate(entries, 1):
        if not isinstance(entry, dict):
            raise ValidationError('entry %d is a %s, not an attempt' % (n, type(entry).__name__))
        if not entry.get('version') or not isinstance(entry['version'], str):
            raise ValidationError('entry %d has no version' % n)
        if 'id' not in entry and 'result' not in entry:
            # Legacy: only completed releases were recorded, each after the one before it.
            attempt = {
                'id': 'legacy-%d' % n,
                'action': 'release',
                'version': entry['version'],
                'previous': attempts[-1]['version'] if attempts else None,
                'who': None,
                'controller': None,
                'started': entry.get('live_at'),
                'finished': entry.get('live_at'),
                'result': 'completed',
                'nodes': {},
                'note': '',
            }
        else:
            attempt = dict(entry)
            for key in KEYS:
                attempt.setdefault(key, {} if key == 'nodes' else '' if key == 'note' else None)
            if not attempt['id']:
                raise ValidationError('entry %d has no id' % n)
            if attempt['result'] not in RESULTS:
                raise ValidationError('entry %d (id %s) has result %r, not one of %s'
                                      % (n, attempt['id'], attempt['result'], ', '.join(RESULTS)))
        attempts.append(attempt)
    return attempts


def read_text(path):
    """The file's text, or None if there is no history yet."""
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except OSError as e:
        if e.errno == errno.ENOENT:
            return None
        raise _unreadable(path, e.strerror or str(e))
    try:
        return data.decode('utf-8')
    except UnicodeDecodeError as e:
        raise _unreadable(path, 'not UTF-8: %s' % e)


def parse(path, text):
    """The normalised attempts of `text` (None: no history yet -> [])."""
    if text is None:
        return []
    try:
        entries = json.loads(text)
    except ValueError as e:
        raise _unreadable(path, 'not JSON: %s' % e)
    try:
        return normalise(entries)
    except ValidationError as e:
        raise _unreadable(path, str(e))


def read(path):
    return parse(path, read_text(path))


def render(history):
    return json.dumps(history, indent=2, sort_keys=True) + '\n'


# ---------------------------------------------------------------- writing

def write_atomically(path, text):
    """Replace the history with `text`, keeping the file's mode; the old history stays on failure."""
    try:
        mode = os.stat(path).st_mode & 0o7777
    except OSError:
        mode = 0o644
    try:
        files.write_atomically(path, text, mode, what='the release history')
    except ApplyError as e:
        raise ApplyError('%s; the previous history was kept' % e)


def _check_keep(keep):
    if not isinstance(keep, int) or isinstance(keep, bool) or keep < 1:
        raise ValidationError('keep must be a whole number of at least 1, got %r' % (keep,))


def _apply(path, before_text, history, attempt, keep, check_mode):
    history = history[-keep:]
    after_text = render(history)
    changed = after_text != before_text
    if changed and not check_mode:
        write_atomically(path, after_text)
    return changed, {
        'history': history,
        'attempt': attempt,
        'diff': {'before_header': path, 'after_header': path, 'before': before_text or '', 'after': after_text},
    }


def _unchanged(path, text, history, attempt):
    # The file as it is, even if it holds legacy entries: nothing to write.
    return False, {
        'history': history,
        'attempt': attempt,
        'diff': {'before_header': path, 'after_header': path, 'before': text or '', 'after': text or ''},
    }


def read_history(path):
    """(False, result) for state=read; never writes."""
    text = read_text(path)
    return _unchanged(path, text, parse(path, text), None)


def start(path, entry, keep=500, check_mode=False):
    """Record the start of an attempt; the one place check mode is decided for state=start.

    Attempts still 'running' under another id are marked 'interrupted': only the
    lock holder writes, so they belong to runs whose controller stopped.
    An attempt with entry's id already there is no change (a re-run).
    """
    _check_keep(keep)
    if not isinstance(entry, dict) or not entry.get('id') or not entry.get('version'):
        raise ValidationError('entry must be a dict with a non-empty id and version, got %r' % (entry,))
    if not isinstance(entry.get('nodes') or {}, dict):
        raise ValidationError('entry %s has nodes %r: give a dict of node name to outcome' % (entry['id'], entry['nodes']))
    action = entry.get('action', 'release')
    if action not in ACTIONS:
        raise ValidationError('entry %s has action %r, not one of %s' % (entry['id'], action, ', '.join(ACTIONS)))
    text = read_text(path)
    history = parse(path, text)
    run_id = '%s' % entry['id']
    for attempt in history:
        if attempt['id'] == run_id:
            return _unchanged(path, text, history, attempt)

    completed = [a for a in history if a['result'] == 'completed']
    attempt = dict(entry)
    attempt.update({
        'id': run_id,
        'action': action,
        # The estate serves what the last completed attempt left, if the caller does not know better.
        'previous': entry['previous'] if 'previous' in entry else (completed[-1]['version'] if completed else None),
        'who': entry.get('who') or entry.get('user'),
        'controller': entry.get('controller'),
        'started': entry.get('started') or entry.get('since') or utc_now(),
        'finished': None,
        'result': 'running',
        'nodes': dict(entry.get('nodes') or {}),
        'note': entry.get('note') or '',
    })
    history = [dict(a) for a in history]
    for other in history:
        if other['result'] == 'running':
            why = 'not finished: its controller stopped before the end; superseded by run %s' % run_id
            other['result'] = 'interrupted'
            other['note'] = '%s; %s' % (other['note'], why) if other['note'] else why
    history.append(attempt)
    return _apply(path, text, history, attempt, keep, check_mode)


def finish(path, run_id, result, nodes=None, note=None, keep=500, check_mode=False):
    """Record how the attempt `run_id` ended. Re-running with the same outcome is no change."""
    _check_keep(keep)
    if result not in FINISHED:
        raise ValidationError('result must be one of %s, got %r' % (', '.join(FINISHED), result))
    if not run_id:
        raise ValidationError('id is required to finish an attempt in the release history %s' % path)
    text = read_text(path)
    history = [dict(a) for a in parse(path, text)]
    found = [a for a in history if a['id'] == run_id]
    if not found:
        raise ConflictError('no attempt with id %s in %s: was the history moved during the release?' % (run_id, path))
    attempt = found[-1]
    if (attempt['result'] == result and attempt['finished']
            and (nodes is None or attempt['nodes'] == nodes) and (note is None or attempt['note'] == note)):
        return _unchanged(path, text, history, attempt)  # a re-run: keep the first 'finished'
    attempt['result'] = result
    attempt['finished'] = utc_now()
    if nodes is not None:
        attempt['nodes'] = dict(nodes)
    if note is not None:
        attempt['note'] = note
    return _apply(path, text, history, attempt, keep, check_mode)


# ---------------------------------------------------------------- questions for the playbooks

def _natural(text):
    # web2 before web10
    return [int(part) if part.isdigit() else part for part in re.split(r'(\d+)', '%s' % text)]


def _join(items):
    items = list(items)
    return items[0] if len(items) == 1 else '%s and %s' % (', '.join(items[:-1]), items[-1])


def _served(serving):
    """'2.0.0 on web1, web2 and 2.1.0 on web3'"""
    by_version = {}
    for node in sorted(serving, key=_natural):
        by_version.setdefault(serving[node], []).append('%s' % node)
    groups = sorted(by_version.items(), key=lambda item: _natural(item[1][0]))
    return _join('%s on %s' % (version if version else 'nothing', ', '.join(nodes)) for version, nodes in groups)


def _history_list(history):
    try:
        return normalise(history)
    except ValidationError as e:
        raise ValidationError('the release history is not a list of attempts (%s)' % e)


def rollback_target(history, serving):
    """{'version': V, 'reason': why}: the release the estate served before the last completed attempt.

    :arg history: the attempts, as release_history returns them (legacy entries accepted).
    :arg serving: {node: version the node serves now}.
    A rollback is a completed attempt too, so a second rollback undoes the first.
    Completed attempts that changed nothing (previous == version, or no previous for a
    version already live: a re-run) are skipped, so going back always goes somewhere.
    :raises ValidationError: no completed attempt, nothing before it, no nodes.
    :raises ConflictError: the nodes do not all serve the last completed release.
    """
    attempts = _history_list(history)
    completed = []
    for attempt in attempts:
        if attempt['result'] != 'completed' or attempt['previous'] == attempt['version']:
            continue
        # No previous release and the version already went live: a re-run that found every node done.
        if not attempt['previous'] and any(a['version'] == attempt['version'] for a in completed):
            continue
        completed.append(attempt)
    if not completed:
        raise ValidationError('the release history has no completed release: %s' % _NAME_RELEASE)
    last = completed[-1]
    what = '%s %s (run %s, finished %s)' % (last['action'], last['version'], last['id'], last['finished'] or 'at an unknown time')
    if not isinstance(serving, dict) or not serving:
        raise ValidationError('no web node reported the release it serves, so it cannot be checked that the estate '
                              'serves %s (the last completed release): %s' % (last['version'], _NAME_RELEASE))
    if set(serving.values()) != {last['version']}:
        newest = attempts[-1]
        if newest is last or newest['result'] == 'completed':
            since = 'nodes were switched outside a recorded release since %s' % what
        else:
            since = 'the newest attempt, %s %s (run %s), ended %s' % (
                newest['action'], newest['version'], newest['id'], newest['result'])
        raise ConflictError('the estate serves %s, not %s alone (the last completed release): %s, so it is not '
                            'clear which release to go back to; name the release with -e release_version=V'
                            % (_served(serving), last['version'], since))
    if not last['previous']:
        raise ValidationError('the history does not say which release the estate served before %s: %s'
                              % (what, _NAME_RELEASE))
    if last['action'] == 'rollback':
        reason = ('every node serves %s since the last completed attempt, a rollback from %s (run %s, finished %s); '
                  'going back to %s undoes it' % (last['version'], last['previous'], last['id'],
                                                  last['finished'] or 'at an unknown time', last['previous']))
    else:
        reason = ('every node serves %s, the last completed release (run %s, finished %s); the estate served %s '
                  'before it' % (last['version'], last['id'], last['finished'] or 'at an unknown time',
                                 last['previous']))
    return {'version': last['previous'], 'reason': reason}


def went_live(history, version):
    """Whether some completed attempt (release or rollback) made `version` live on the estate."""
    return any(a['result'] == 'completed' and a['version'] == version for a in _history_list(history))
