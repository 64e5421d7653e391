# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: timeline
type: aggregate
short_description: Write when every task ran on every host, as JSON lines, to time a release's phases
version_added: 0.1.0
description:
  - Writes one JSON object a line to O(path) for every task that finished on a host, with the play,
    the play's C(serial) batch, the task, its role and file, its action, the host, the start and end
    times and the status. C(tests/bench/phases.py) turns the file into the seconds each phase of a
    release took, batch by batch.
  - Every line is flushed as soon as it is written, so a run that is killed leaves a file that can
    be read up to its last finished task.
  - Prints nothing, so the output of the stdout callback is unchanged.
  - Every line is an object with an C(event) key. The first line is the V(playbook), with its C(path).
    Every play, and every batch of a play with C(serial), starts with a V(play) line. Each task that
    finished on a host is a V(task) line. The last line, V(stats), has the recap counts of every host.
  - A task line has C(play), C(play_index) (the plays count from 1 in the order they start),
    C(batch) (the batch of a C(serial) play, from 1; always 1 without C(serial)), C(task),
    C(task_uuid), C(role) (the role's full name, or V(null)), C(path) (file and line of the task),
    C(includes) (file and line of each C(include_role) or C(include_tasks) that brought the task in,
    innermost first), C(tags), C(action), C(host), C(delegated_to) (the hosts the task was delegated
    to, those of all its items for a loop, else an empty list), C(start) and C(end) (seconds since the epoch, as floats),
    C(status) (V(ok), V(changed), V(failed), V(skipped) or V(unreachable)), C(ignored) (a failure or
    an unreachable host that C(ignore_errors) or C(ignore_unreachable) let pass), C(handler), and for
    a loop C(items) (how many) and C(item_statuses) (how many items ended in each status), else V(null).
  - A loop is one line per host, ending when the host's last item has finished. A C(run_once) task is
    one line, for the host it ran on.
  - C(start) is when the controller handed the task to a worker for that host (for C(meta) tasks,
    which run on the controller, when the task started); C(end) is when the controller received
    its result.
author: daylight.release maintainers (@daylight)
requirements:
  - Enabled in the C(callbacks_enabled) list of C(ansible.cfg), or with
    E(ANSIBLE_CALLBACKS_ENABLED)=daylight.release.timeline.
options:
  path:
    description:
      - The file to write the timeline to. It is emptied when the run starts.
      - Without it the callback writes nothing and says so once.
    type: path
    env:
      - name: DAYLIGHT_TIMELINE
    ini:
      - section: callback_timeline
        key: path
"""

EXAMPLES = r"""
# Time a release:
#   ANSIBLE_CALLBACKS_ENABLED=daylight.release.timeline DAYLIGHT_TIMELINE=/tmp/release.jsonl \
#     ansible-playbook -i INVENTORY release.yml -e release_version=2.0.0 -e release_package=...
# or in ansible.cfg:
#   [defaults]
#   callbacks_enabled = daylight.release.timeline
#   [callback_timeline]
#   path = /tmp/release.jsonl
"""

import json  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

from ansible.playbook.handler import Handler  # noqa: E402
from ansible.playbook.task_include import TaskInclude  # noqa: E402
from ansible.plugins.callback import CallbackBase  # noqa: E402


def _result_parts(result):
    """(host, task, return data) of a task result, for ansible-core before and after 2.19."""
    if hasattr(type(result), 'result'):
        return result.host, result.task, result.result
    return result._host, result._task, result._result


def _item_status(item):
    if not isinstance(item, dict):
        return 'ok'
    if item.get('unreachable'):
        return 'unreachable'
    if item.get('failed'):
        return 'failed'
    if item.get('skipped'):
        return 'skipped'
    return 'changed' if item.get('changed') else 'ok'


def _task_fields(result):
    fields = getattr(result, 'task_fields', None)
    return fields if fields is not None else getattr(result, '_task_fields', None) or {}


def _delegated_host(result):
    """The host a task (or one loop item) ran on for its inventory host, else None."""
    data = _result_parts(result)[2]
    host = (data.get('_ansible_delegated_vars') or {}).get('ansible_delegated_host')
    # ansible-core 2.19 strips that key from what callbacks see; the worker's templated task has it.
    host = host or _task_fields(result).get('delegate_to')
    return host if isinstance(host, str) and host else None


def _includes(task):
    """File and line of every include_role/include_tasks above the task, innermost first."""
    chain = []
    parent = getattr(task, '_parent', None)
    while parent is not None:
        if isinstance(parent, TaskInclude):
            chain.append(parent.get_path())
        parent = getattr(parent, '_parent', None)
    return chain


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'daylight.release.timeline'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None, options=None):
        super(CallbackModule, self).__init__(display=display, options=options)
        self._path = None
        self._file = None
        self._disabled = False
        # Results of loop items arrive on ansible's results thread; one lock keeps lines whole.
        self._lock = threading.Lock()
        self._play = None
        self._play_uuid = None
        self._play_index = 0
        self._batch = 0
        self._task_started = {}
        self._started = {}
        self._item_delegates = {}

    def set_options(self, task_keys=None, var_options=None, direct=None):
        super(CallbackModule, self).set_options(task_keys=task_keys, var_options=var_options, direct=direct)
        self._path = self.get_option('path')

    def _write(self, record):
        with self._lock:
            if self._disabled:
                return
            if self._file is None:
                if not self._path:
                    self._disabled = True
                    self._display.warning('daylight.release.timeline: no path set (DAYLIGHT_TIMELINE or '
                                          '[callback_timeline] path), writing no timeline')
                    return
                try:
                    self._file = open(self._path, 'w', encoding='utf-8')
                except (IOError, OSError) as e:
                    self._disabled = True
                    self._display.warning('daylight.release.timeline: cannot write %s (%s), writing no timeline'
                                          % (self._path, e))
                    return
            self._file.write(json.dumps(record, sort_keys=True, default=str) + '\n')
            self._file.flush()

    def v2_playbook_on_start(self, playbook):
        self._write({'event': 'playbook', 'path': getattr(playbook, '_file_name', None), 'time': time.time()})

    def v2_playbook_on_play_start(self, play):
        # ansible-playbook runs a serial play once per batch, each time announcing a copy of the
        # same play, which keeps the play's uuid: the same uuid again is the play's next batch.
        if play._uuid == self._play_uuid:
            self._batch += 1
        else:
            self._play_uuid = play._uuid
            self._play_index += 1
            self._batch = 1
        self._play = play.get_name().strip()
        self._task_started = {}
        self._started = {}
        with self._lock:
            self._item_delegates = {}
        self._write({'event': 'play', 'play': self._play, 'play_index': self._play_index, 'batch': self._batch,
                     'time': time.time()})

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._task_started[task._uuid] = time.time()

    def v2_playbook_on_handler_task_start(self, task):
        self._task_started[task._uuid] = time.time()

    def v2_runner_on_start(self, host, task):
        self._started[(task._uuid, host.get_name())] = time.time()

    def _finish(self, result, status, ignored=False):
        end = time.time()
        host, task, data = _result_parts(result)
        host_name = host.get_name()
        start = self._started.pop((task._uuid, host_name), None)
        if start is None:
            start = self._task_started.get(task._uuid, end)
        is_loop = bool(task.loop or task.loop_with)
        items = data.get('results') if is_loop else None
        if not isinstance(items, list):
            items = None
        with self._lock:
            delegated = self._item_delegates.pop((task._uuid, host_name), [])
        if not is_loop:
            delegated = [name for name in [_delegated_host(result)] if name]
        item_statuses = None
        if items is not None:
            item_statuses = {}
            for item in items:
                item_status = _item_status(item)
                item_statuses[item_status] = item_statuses.get(item_status, 0) + 1
        self._write({
            'event': 'task',
            'play': self._play,
            'play_index': self._play_index,
            'batch': self._batch,
            'task': getattr(result, 'task_name', None) or task.name or task.action,
            'task_uuid': task._uuid,
            'role': task._role.get_name() if task._role else None,
            'path': task.get_path() or None,
            'includes': _includes(task),
            'tags': list(task.tags or []),
            'action': task.action,
            'host': host_name,
            'delegated_to': delegated,
            'start': start,
            'end': end,
            'status': status,
            'ignored': ignored,
            'handler': isinstance(task, Handler),
            'items': None if items is None else len(items),
            'item_statuses': item_statuses,
        })

    def _item_done(self, result):
        # A loop's own result names no delegated host: each item's says where that item ran.
        host, task = _result_parts(result)[:2]
        name = _delegated_host(result)
        if name:
            with self._lock:
                delegated = self._item_delegates.setdefault((task._uuid, host.get_name()), [])
                if name not in delegated:
                    delegated.append(name)

    def v2_runner_item_on_ok(self, result):
        self._item_done(result)

    def v2_runner_item_on_failed(self, result):
        self._item_done(result)

    def v2_runner_item_on_skipped(self, result):
        self._item_done(result)

    def v2_runner_on_ok(self, result):
        data = _result_parts(result)[2]
        self._finish(result, 'changed' if data.get('changed') else 'ok')

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._finish(result, 'failed', ignored=bool(ignore_errors))

    def v2_runner_on_skipped(self, result):
        self._finish(result, 'skipped')

    def v2_runner_on_unreachable(self, result):
        task = _result_parts(result)[1]
        self._finish(result, 'unreachable', ignored=bool(task.ignore_unreachable))

    def v2_playbook_on_stats(self, stats):
        hosts = dict((host, stats.summarize(host)) for host in sorted(stats.processed.keys()))
        self._write({'event': 'stats', 'hosts': hosts, 'time': time.time()})
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
            # Nothing comes after the recap; reopening would empty the file.
            self._disabled = True
