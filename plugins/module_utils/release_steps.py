# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which play of playbooks/release.yml and which step of a node's turn a finished task belongs to.

Shared by the daylight.release.progress callback (a line per batch as the release runs) and the
benchmark (tests/bench/phases.py, phases from the daylight.release.timeline file). A task is
described as the timeline writes it: a dict with 'role', 'path' (file:line), 'includes' (the
file:line of every include above it, innermost first), 'start' and 'end' (epoch seconds).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

# The plays of playbooks/release.yml, by what their names say (the first match wins). Plays that
# match none (a rollback's "Choose the release to go back to") are "other".
PLAY_RULES = (
    ('preflight', re.compile(r'^check the request', re.I)),
    ('lock_and_inspect', re.compile(r'\brelease lock\b', re.I)),
    ('staging', re.compile(r'^stage the release', re.I)),
    ('pre_migrations', re.compile(r'\bpre migrations\b', re.I)),
    ('resume', re.compile(r'\binterrupted run\b', re.I)),
    ('canary', re.compile(r'^release the canary', re.I)),
    ('batch', re.compile(r'^roll the release', re.I)),
    ('post_migrations', re.compile(r'\bpost migrations\b', re.I)),
    ('return', re.compile(r'\bswitched nodes go back\b|^return the switched nodes', re.I)),
    ('report', re.compile(r'^report the release', re.I)),
)

# The steps of a node's turn (roles/release_node/tasks/switch.yml), by the role and the file a task
# comes from, never by its module. Tasks of the turn itself (set_fact, includes) belong to no step.
STEPS = ('drain', 'swap_reload', 'smoke', 'dark_launch', 'enable', 'canary_watch', 'put_back')
STEP_LABELS = (
    ('drain', 'Drain'),
    ('swap_reload', 'Swap+reload'),
    ('smoke', 'Smoke'),
    ('dark_launch', 'Dark launch'),
    ('enable', 'Enable'),
    ('canary_watch', 'Canary watch'),
    ('put_back', 'Put back'),
)
STEP_FILES = {
    ('haproxy_backend', 'drain.yml'): 'drain',
    ('haproxy_backend', 'enable.yml'): 'enable',
    ('haproxy_backend', '_enable_trouble.yml'): 'enable',
}
STEP_ROLES = {
    'apache_docroot': 'swap_reload',
    'smoke_test': 'smoke',
    'canary_analysis': 'canary_watch',
}
# A failed turn puts the node back (swap back, smoke, enable): that is not the turn's swap or enable.
PUT_BACK = ('release_node', '_put_back.yml')
# The dark_launch role is the dark launch inside the node's turn; after the live window its error log
# check (the findings entry point, included by the playbook) is part of judging the window.
SWITCH = ('release_node', 'switch.yml')


def play_kind(name):
    """The kind of a play of playbooks/release.yml from its name (PLAY_RULES), else 'other'."""
    for kind, pattern in PLAY_RULES:
        if pattern.search((name or '').strip()):
            return kind
    return 'other'


def file_parts(path):
    """('role', 'file.yml') for '.../roles/role/tasks/file.yml:12', else (None, basename)."""
    if not path:
        return None, None
    path = re.sub(r':\d+$', '', path)
    parts = path.replace('\\', '/').split('/')
    role = parts[-3] if len(parts) >= 3 and parts[-2] == 'tasks' else None
    return role, parts[-1]


def _role(row):
    return (row.get('role') or '').split('.')[-1] or None


def task_step(row):
    """The step of a node's turn a task belongs to, or None."""
    if PUT_BACK in [file_parts(path) for path in [row.get('path')] + list(row.get('includes') or [])]:
        return 'put_back'
    role = _role(row)
    if role == 'dark_launch':
        return 'dark_launch' if SWITCH in [file_parts(path) for path in row.get('includes') or []] else 'canary_watch'
    step = STEP_FILES.get((role, file_parts(row.get('path'))[1]))
    return step or STEP_ROLES.get(role)


def span(rows):
    """Wall-clock seconds from the first start to the last end, None without rows."""
    if not rows:
        return None
    return max(row['end'] for row in rows) - min(row['start'] for row in rows)


def step_spans(rows):
    """{step: seconds} of a batch's tasks, every step in STEPS (None where none of its tasks ran)."""
    return dict((step, span([row for row in rows if task_step(row) == step])) for step in STEPS)


def batch_line(name, nodes, rows, verdicts=None, failed=None):
    """One progress line for a batch: 'canary web1: drain 1.0 s, ..., total 26.1 s; dark launch pass'."""
    spans = step_spans(rows)
    parts = ['%s %.1f s' % (label.lower(), spans[key]) for key, label in STEP_LABELS if spans[key] is not None]
    total = span(rows)
    if total is not None:
        parts.append('total %.1f s' % total)
    line = '%s %s: %s' % (name, ', '.join(nodes) or '-', ', '.join(parts) or 'nothing ran')
    for what, verdict in (verdicts or []):
        line += '; %s %s' % (what, verdict)
    if failed:
        line += '; FAILED: %s' % failed
    return line
