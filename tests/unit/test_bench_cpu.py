# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""tests/bench/cpu.py: a batch's CPU split by who used it, from samples taken beside a release."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib.util
import json
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
SPEC = importlib.util.spec_from_file_location('bench_cpu', str(REPO / 'tests' / 'bench' / 'cpu.py'))
cpu = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(cpu)


def taken(time, busy, containers, processes):
    return {'time': time, 'busy': busy, 'containers': containers, 'processes': processes}


BEFORE = taken(100.0, 50.0, {'web1': 1.0, 'web2': 2.0, 'web3': 3.0, 'lb1': 4.0, 'db1': 5.0, 'gone-id': 9.0},
               {'controller': 10.0, 'bench': 1.0})
AFTER = taken(104.0, 57.5, {'web1': 1.2, 'web2': 3.5, 'web3': 3.1, 'lb1': 4.6, 'db1': 5.1, 'new-web4': 0.5},
              {'controller': 12.5, 'bench': 1.3, 'ssh masters': 0.1})


def test_a_batch_is_split_between_its_nodes_the_others_and_the_controller():
    shares = cpu.shares(BEFORE, AFTER, ['web2', 'web3'])
    assert shares['batch nodes'] == pytest.approx(1.6)  # web2 1.5 + web3 0.1
    assert shares['other web nodes'] == pytest.approx(0.2)  # web1; new-web4 counts from its first sample
    assert shares['load balancers'] == pytest.approx(0.6)
    assert shares['database'] == pytest.approx(0.1)
    assert shares['controller'] == pytest.approx(2.5)
    assert shares['bench'] == pytest.approx(0.3)
    assert shares['ssh masters'] == pytest.approx(0.1)
    assert shares['busy'] == pytest.approx(7.5) and shares['wall'] == pytest.approx(4.0)
    # What no group accounts for (the kernel, podman, the sampler itself) is the rest.
    assert shares['rest'] == pytest.approx(7.5 - 1.6 - 0.2 - 0.6 - 0.1 - 2.5 - 0.3 - 0.1)


def test_each_batch_takes_the_samples_at_or_after_its_start_and_end():
    samples = [taken(t, t, {'web1': t / 10}, {'controller': t / 2}) for t in (0.0, 1.0, 2.0, 3.0)]
    spans = [{'name': 'batch 1', 'nodes': ['web1'], 'start': 0.5, 'end': 2.0},
             {'name': 'batch 2', 'nodes': ['web2'], 'start': 2.5, 'end': 9.0}]
    first, second = cpu.by_batch(samples, spans)
    assert (first['wall'], first['busy'], first['controller']) == (1.0, 1.0, 0.5)
    assert first['batch nodes'] == pytest.approx(0.1)
    # A span past the last sample ends at the last sample; web1 is not in batch 2.
    assert (second['wall'], second['batch nodes']) == (0.0, 0.0)


def test_the_report_has_a_row_a_batch(tmp_path, monkeypatch):
    samples = tmp_path / 'samples.jsonl'
    samples.write_text('\n'.join(json.dumps(s) for s in (BEFORE, AFTER)) + '\n')
    # The timeline's batches come from phases.batch_spans, tested in test_bench_phases.py.
    monkeypatch.setattr(cpu.phases, 'load', lambda path: [])
    monkeypatch.setattr(cpu.phases, 'batch_spans',
                        lambda rows: [{'name': 'batch 1', 'nodes': ['web2', 'web3'], 'start': 100.0, 'end': 104.0}])
    lines = cpu.report(str(samples), 'timeline.jsonl', cores=2).splitlines()
    assert lines[0].startswith('| batch | wall s | busy CPU-s (of 2 cores) | controller | batch nodes |')
    assert lines[2] == '| batch 1 (web2, web3) | 4.0 | 7.5 (94 %) | 2.5 | 1.6 | 0.2 | 0.6 | 0.1 | 0.3 | 0.1 | 2.1 |'
    assert len(lines) == 3
