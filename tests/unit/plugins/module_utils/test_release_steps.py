# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""module_utils/release_steps.py: the progress line of a batch from its tasks (task_step and play_kind
are covered with the bench's timelines in tests/unit/test_bench_phases.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.daylight.release.plugins.module_utils.release_steps import batch_line, step_spans

ROLES = '/c/roles'
SWITCH = ROLES + '/release_node/tasks/switch.yml:40'


def row(role, tasks_file, start, end, includes=(SWITCH,)):
    return {'role': 'daylight.release.' + role, 'path': '%s/%s/tasks/%s:3' % (ROLES, role, tasks_file),
            'includes': list(includes), 'start': start, 'end': end}


TURN = [
    row('release_node', 'switch.yml', 100.0, 100.1, includes=()),
    row('haproxy_backend', 'drain.yml', 100.1, 100.9),
    row('apache_docroot', 'main.yml', 100.9, 101.4),
    row('apache_docroot', 'main.yml', 101.4, 102.0),
    row('smoke_test', 'main.yml', 102.0, 102.5),
    row('haproxy_backend', 'enable.yml', 102.5, 103.5),
]


@pytest.mark.parametrize('rows, verdicts, failed, line', [
    (TURN, None, None,
     'batch 1 web2: drain 0.8 s, swap+reload 1.1 s, smoke 0.5 s, enable 1.0 s, total 3.5 s'),
    # The canary: the dark launch in its turn, the error log check after the window counted in the watch.
    (TURN + [row('dark_launch', 'main.yml', 103.5, 104.0), row('canary_analysis', '_poll.yml', 104.0, 110.0, ()),
             row('dark_launch', 'findings.yml', 110.0, 111.0, includes=('/c/playbooks/release.yml:300',))],
     [('dark launch', 'pass: ...'), ('live window', 'pass: ...')], None,
     'batch 1 web2: drain 0.8 s, swap+reload 1.1 s, smoke 0.5 s, dark launch 0.5 s, enable 1.0 s, '
     'canary watch 7.0 s, total 11.0 s; dark launch pass: ...; live window pass: ...'),
    (TURN[:5], None, "'smoke_test : Check' on web2",
     "batch 1 web2: drain 0.8 s, swap+reload 1.1 s, smoke 0.5 s, total 2.5 s; FAILED: 'smoke_test : Check' on web2"),
    ([], None, None, 'batch 1 web2: nothing ran'),
])
def test_batch_line(rows, verdicts, failed, line):
    assert batch_line('batch 1', ['web2'], rows, verdicts, failed) == line


def test_step_spans_merge_hosts_side_by_side():
    # Two nodes draining together for 1 s take 1 s, not 2.
    rows = [row('haproxy_backend', 'drain.yml', 10.0, 11.0), row('haproxy_backend', 'drain.yml', 10.2, 11.0)]
    spans = step_spans(rows)
    assert spans['drain'] == pytest.approx(1.0) and spans['enable'] is None
