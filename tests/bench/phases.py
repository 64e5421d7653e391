# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The seconds each phase of a release run took, from the timeline of its tasks.

The timeline is the JSON lines file the daylight.release.timeline callback writes
(plugins/callback/timeline.py): one line a finished task on a host, with its play, the play's
serial batch, its role, its file and its start and end times.

    python tests/bench/phases.py TIMELINE.jsonl [--json]

prints the Markdown tables and the summary line (or the result as JSON).

Every phase is measured, never derived from a total: its seconds run from the first start to the
last end of the task lines that belong to it. Hosts that run a phase side by side (a batch of
several nodes) are merged into one wall-clock span, not added up: two nodes that drain together
for 5 s take 5 s, not 10.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import sys

# The play and step rules are the collection's own (the progress callback uses them too).
_COLLECTIONS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                            '.build', 'collections')
if _COLLECTIONS not in sys.path:
    sys.path.insert(0, _COLLECTIONS)

from ansible_collections.daylight.release.plugins.module_utils.release_steps import (  # noqa: E402
    STEP_LABELS,
    STEPS,
    play_kind,
    span as _span,
    task_step,
)

LABELS = (
    ('preflight', 'Preflight'),
    ('lock_and_inspect', 'Lock and inspect'),
    ('staging', 'Staging'),
    ('pre_migrations', 'Pre migrations'),
    ('resume', 'Resume interrupted nodes'),
    ('batches', None),
    ('post_migrations', 'Post migrations'),
    ('return', 'Return switched nodes'),
    ('report', 'Report'),
)


def load(path):
    """The records of a timeline file, in order. A last line cut short (a killed run) is dropped."""
    with open(path) as f:
        lines = [line for line in f.read().split('\n') if line.strip()]
    records = []
    for number, line in enumerate(lines, 1):
        try:
            records.append(json.loads(line))
        except ValueError:
            if number == len(lines):
                break
            raise ValueError('%s line %d is not JSON: %r' % (path, number, line[:200]))
    return records


def _tasks(records):
    return [row for row in records if row.get('event', 'task') == 'task' and 'start' in row and 'end' in row]


def _groups(tasks):
    """(play, batch, task lines) of every play and serial batch, in the order they ran."""
    groups = []
    by_key = {}
    for row in tasks:
        key = (row.get('play_index'), row.get('batch', 1))
        if key not in by_key:
            by_key[key] = []
            groups.append((row.get('play'), key[1], by_key[key]))
        by_key[key].append(row)
    return groups


def _nodes(group):
    nodes = []
    for row in group:
        if row['host'] not in nodes:
            nodes.append(row['host'])
    return nodes


def phases(rows):
    """The seconds of every phase of a release run from its timeline records (see load)."""
    tasks = _tasks(rows)
    by_kind = {}
    batches = []
    other = {}
    for play, batch, group in _groups(tasks):
        kind = play_kind(play)
        by_kind.setdefault(kind, []).extend(group)
        if kind == 'other':
            other.setdefault(play, []).extend(group)
        if kind not in ('canary', 'batch'):
            continue
        entry = {'kind': kind, 'batch': batch, 'nodes': _nodes(group)}
        for step in STEPS:
            entry[step] = _span([row for row in group if task_step(row) == step])
        entry['total'] = _span(group)
        batches.append(entry)

    return {
        'total': _span(tasks),
        'preflight': _span(by_kind.get('preflight')),
        'lock_and_inspect': _span(by_kind.get('lock_and_inspect')),
        'staging': _span(by_kind.get('staging')),
        'migrations': {'pre': _span(by_kind.get('pre_migrations')), 'post': _span(by_kind.get('post_migrations'))},
        'resume': _span(by_kind.get('resume')),
        'batches': batches,
        'return': _span(by_kind.get('return')),
        'report': _span(by_kind.get('report')),
        'other': dict((play, _span(group)) for play, group in other.items()),
    }


def batch_spans(rows):
    """When the canary's turn (its watch included) and every batch ran, from timeline records.

    [{'kind', 'name', 'nodes', 'start', 'end'}] in the order they ran, named as in the tables
    ('canary', 'batch 1', ...); start and end are the timeline's own times (seconds since the epoch).
    """
    spans = []
    number = 0
    for play, dummy, group in _groups(_tasks(rows)):
        kind = play_kind(play)
        if kind not in ('canary', 'batch'):
            continue
        if kind == 'batch':
            number += 1
        spans.append({'kind': kind, 'name': _batch_name({'kind': kind}, number), 'nodes': _nodes(group),
                      'start': min(row['start'] for row in group), 'end': max(row['end'] for row in group)})
    return spans


def _seconds(value):
    return '-' if value is None else '%.1f' % value


def _phase_value(result, key):
    if key in ('pre_migrations', 'post_migrations'):
        return result['migrations'][key.split('_')[0]]
    return result.get(key)


def _batch_name(batch, number):
    return 'canary' if batch['kind'] == 'canary' else 'batch %d' % number


def _numbered(result):
    number = 0
    for batch in result['batches']:
        if batch['kind'] == 'batch':
            number += 1
        yield _batch_name(batch, number), batch


def markdown(result):
    """Two Markdown tables: the phases of the run, then the steps of every batch."""
    lines = ['| Phase | Seconds |', '| --- | ---: |']
    for key, label in LABELS:
        if key == 'batches':
            for name, batch in _numbered(result):
                lines.append('| %s (%s) | %s |' % (name.capitalize(), ', '.join(batch['nodes']), _seconds(batch['total'])))
        else:
            lines.append('| %s | %s |' % (label, _seconds(_phase_value(result, key))))
    for play, seconds in sorted(result.get('other', {}).items()):
        lines.append('| %s | %s |' % (play, _seconds(seconds)))
    lines.append('| **Total** | **%s** |' % _seconds(result['total']))

    # The put back and the dark launch only when a batch had one.
    steps = [(key, label) for key, label in STEP_LABELS
             if key not in ('put_back', 'dark_launch') or any(batch.get(key) is not None for batch in result['batches'])]
    lines += ['', '| Batch | Nodes | %s | Total |' % ' | '.join(label for dummy, label in steps),
              '| --- | --- | %s ---: |' % ('---: | ' * len(steps))]
    for name, batch in _numbered(result):
        cells = [name, ', '.join(batch['nodes'])] + [_seconds(batch.get(key)) for key, dummy in steps]
        lines.append('| %s |' % ' | '.join(cells + [_seconds(batch['total'])]))
    return '\n'.join(lines) + '\n'


def _steps_text(batches):
    parts = []
    for key, label in STEP_LABELS:
        values = [batch[key] for batch in batches if batch.get(key) is not None]
        if values:
            parts.append('%s %s' % (label.lower(), _seconds(sum(values) / len(values))))
    return ', '.join(parts)


def summary_line(result):
    """One line: the total, every phase, the canary and the batches (their mean, each measured)."""
    parts = []
    for key, label in LABELS:
        if key == 'batches':
            canaries = [batch for batch in result['batches'] if batch['kind'] == 'canary']
            rolled = [batch for batch in result['batches'] if batch['kind'] == 'batch']
            for batch in canaries:
                parts.append('canary %s (%s)' % (_seconds(batch['total']), _steps_text([batch])))
            if rolled:
                parts.append('%d batch%s %s s each on average (%s)' % (
                    len(rolled), '' if len(rolled) == 1 else 'es',
                    _seconds(sum(batch['total'] for batch in rolled) / len(rolled)), _steps_text(rolled)))
        else:
            value = _phase_value(result, key)
            if value is not None:
                parts.append('%s %s' % (label.lower(), _seconds(value)))
    return 'release %s s: %s' % (_seconds(result['total']), '; '.join(parts))


def main(argv=None):
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ('-h', '--help') or len(args) > 2 or (len(args) == 2 and args[1] != '--json'):
        sys.stderr.write('usage: %s TIMELINE.jsonl [--json]\n' % os.path.basename(sys.argv[0]))
        return 2
    result = phases(load(args[0]))
    if args[1:] == ['--json']:
        sys.stdout.write(json.dumps(result, indent=2, sort_keys=True) + '\n')
    else:
        sys.stdout.write(markdown(result) + '\n' + summary_line(result) + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
