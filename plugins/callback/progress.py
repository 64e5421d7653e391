# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: progress
type: aggregate
short_description: One line per batch of a release - its nodes, each step's seconds and the canary's verdicts
version_added: 0.2.0
description:
  - While C(playbooks/release.yml) (or C(rollback.yml)) runs, prints one line when the canary's turn and each later batch
    end - the nodes, the seconds of each step (drain, swap+reload, smoke, dark launch, enable, canary watch, put back)
    measured from the tasks' own start and end, the batch's total, the canary's verdicts (dark launch, error log,
    live window) and, when the turn failed, the task that failed.
  - "For example C(daylight.release: canary web1: drain 1.0 s, swap+reload 1.7 s, smoke 1.2 s, dark launch 5.0 s,
    enable 1.9 s, canary watch 14.5 s, total 26.1 s; dark launch pass: ...; live window pass: ...)."
  - The usual task output is untouched; with C(ANSIBLE_DISPLAY_OK_HOSTS=false) and C(ANSIBLE_DISPLAY_SKIPPED_HOSTS=false)
    these lines and the final report are most of what is left. Under AWX the lines are in the job's output.
  - Plays and steps are told apart as the benchmark tells them (C(plugins/module_utils/release_steps.py)).
author: daylight.release maintainers (@daylight)
requirements:
  - enable it in C(callbacks_enabled) (or E(ANSIBLE_CALLBACKS_ENABLED)=daylight.release.progress)
"""

import time  # noqa: E402

from ansible.plugins.callback import CallbackBase  # noqa: E402
from ansible_collections.daylight.release.plugins.callback.timeline import _includes, _result_parts  # noqa: E402
from ansible_collections.daylight.release.plugins.module_utils.release_steps import batch_line, play_kind  # noqa: E402


def _verdicts(data, action):
    """[(what, verdict line)] a finished task's result says about the canary."""
    found = []
    if action.endswith('dark_launch') and data.get('verdict'):
        found.append(('dark launch', data.get('summary') or data['verdict']))
    facts = data.get('ansible_facts') or {}
    for fact, what in (('dark_launch_findings', 'error log'), ('canary_analysis_verdict', 'live window')):
        if isinstance(facts.get(fact), dict) and facts[fact].get('summary'):
            found.append((what, facts[fact]['summary']))
    return found


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'daylight.release.progress'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None, options=None):
        super(CallbackModule, self).__init__(display=display, options=options)
        self._play_uuid = None
        self._kind = None
        self._batch = 0
        self._rolled = 0
        self._rows = []
        self._nodes = []
        self._verdicts = []
        self._failed = None
        self._started = {}

    def _flush(self):
        """Print the line of the batch that just ended, if it was the canary's turn or a rolling batch."""
        if self._kind in ('canary', 'batch') and self._rows:
            if self._kind == 'batch':
                self._rolled += 1
            name = 'canary' if self._kind == 'canary' else 'batch %d' % self._rolled
            # The latest verdict of each kind: the error log is read twice, after the dark launch and after the window.
            verdicts = list(dict((what, line) for what, line in self._verdicts).items())
            self._display.display('daylight.release: %s' % batch_line(name, self._nodes, self._rows, verdicts,
                                                                      self._failed))
        self._rows, self._nodes, self._verdicts, self._failed = [], [], [], None

    def v2_playbook_on_play_start(self, play):
        self._flush()
        # A serial play is announced again for each batch, with the same uuid.
        if play._uuid != self._play_uuid:
            self._play_uuid = play._uuid
            self._batch = 0
        self._batch += 1
        self._kind = play_kind(play.get_name())

    def v2_runner_on_start(self, host, task):
        self._started[(task._uuid, host.get_name())] = time.time()

    def _finish(self, result, failed=False):
        if self._kind not in ('canary', 'batch'):
            return
        end = time.time()
        host, task, data = _result_parts(result)
        name = host.get_name()
        start = self._started.pop((task._uuid, name), end)
        if name not in self._nodes:
            self._nodes.append(name)
        self._rows.append({'role': task._role.get_name() if task._role else None, 'path': task.get_path(),
                           'includes': _includes(task), 'start': start, 'end': end})
        self._verdicts.extend(_verdicts(data, task.action or ''))
        if failed and self._failed is None:
            self._failed = "'%s' on %s" % (task.get_name().strip(), name)

    def v2_runner_on_ok(self, result):
        self._finish(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._finish(result, failed=not ignore_errors)

    def v2_runner_on_skipped(self, result):
        self._finish(result)

    def v2_runner_on_unreachable(self, result):
        self._finish(result, failed=True)

    def v2_playbook_on_stats(self, stats):
        self._flush()
