# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""tests/bench/plot.py: the second-by-second figures of a release under load, and its PNG."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib.util
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


def _module(name, path):
    spec = importlib.util.spec_from_file_location(name, str(REPO / path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


plot = _module('bench_plot', 'tests/bench/plot.py')
phases = _module('bench_plot_phases', 'tests/bench/phases.py')
loadgen = _module('bench_plot_loadgen', 'tests/e2e/loadgen.py')


def ok(sent, version='1.0.0', elapsed=0.01):
    return loadgen.Response(sent=sent, path='/', status=200, version=version, node='web1', elapsed=elapsed)


def failed(sent, elapsed=0.01):
    return loadgen.Response(sent=sent, path='/', error='ConnectionResetError: reset', elapsed=elapsed)


@pytest.mark.parametrize('values, expected', [
    ([], None),
    ([7.0], 7.0),
    ([3.0, 1.0, 2.0], 3.0),
    (list(range(1, 21)), 19),
    (list(range(1, 61)), 57),
    (list(range(1, 101)), 95),
    (list(range(100, 0, -1)), 95),
    (list(range(1, 102)), 96),
])
def test_p95_is_the_nearest_rank(values, expected):
    assert plot.p95(values) == expected


@pytest.mark.parametrize('sent, origin, sizes', [
    ([], 0.0, []),
    ([100.0], 100.0, [1]),
    ([100.0, 100.5, 100.99, 101.0], 100.0, [3, 1]),
    # A quiet second stays in, empty: the x axis is time, not requests.
    ([100.0, 102.5], 100.0, [1, 0, 1]),
    ([1000.25, 1001.5, 1001.75, 1003.5], 1000.25, [1, 2, 0, 1]),
])
def test_responses_are_binned_by_the_whole_second_since_the_origin(sent, origin, sizes):
    bins = plot.per_second([ok(t) for t in sent], origin)

    assert [len(b) for b in bins] == sizes
    assert sorted(r.sent for b in bins for r in b) == sorted(sent)


@pytest.mark.parametrize('responses, served, failures', [
    ([], {}, []),
    ([ok(0.1), ok(0.5), failed(0.7)], {'1.0.0': [2]}, [1]),
    # Versions in the order first served; a second without one counts 0 for it.
    ([ok(0.1, '1.0.0'), ok(1.2, '2.0.0'), ok(1.5, '1.0.0'), ok(2.1, '2.0.0'), failed(2.2), failed(2.3)],
     {'1.0.0': [1, 1, 0], '2.0.0': [0, 1, 1]}, [0, 0, 2]),
    ([failed(0.0), ok(1.0, '2.0.0')], {'2.0.0': [0, 1]}, [1, 0]),
])
def test_served_by_version_and_failed_per_second(responses, served, failures):
    bins = plot.per_second(responses, 0.0)

    assert plot.served_per_second(bins) == served
    assert list(plot.served_per_second(bins)) == list(served)
    assert plot.failed_per_second(bins) == failures


@pytest.mark.parametrize('responses, expected', [
    ([], []),
    ([ok(0.1, elapsed=0.020)], [20.0]),
    # Failures count: a visitor waited for the timeout too.
    ([ok(0.1, elapsed=0.010), failed(0.2, elapsed=10.0)], [10000.0]),
    ([ok(0.1, elapsed=0.010), ok(2.5, elapsed=0.030)], [10.0, None, 30.0]),
])
def test_p95_latency_per_second_in_milliseconds(responses, expected):
    assert plot.p95_ms_per_second(plot.per_second(responses, 0.0)) == [
        None if ms is None else pytest.approx(ms) for ms in expected]


def span(name, start, end, nodes=('web1',)):
    return {'kind': 'canary' if name == 'canary' else 'batch', 'name': name, 'nodes': list(nodes),
            'start': start, 'end': end}


@pytest.mark.parametrize('spans, seconds, inches, rows', [
    ([], 60, 8.5, []),
    # 20 s of 60 on 8.5 in is 2.8 in: room for any of these labels.
    ([span('canary', 0, 20), span('batch 1', 20, 40), span('batch 2', 40, 60)], 60, 8.5, [0, 0, 0]),
    # 2 s of 60 is 0.28 in, narrower than 'batch 1 web1': the labels alternate rows.
    ([span('canary', 0, 20), span('batch 1', 20, 22), span('batch 2', 22, 24)], 60, 8.5, [0, 1, 0]),
    ([span('batch 1', 0, 30, nodes=['web%d' % n for n in range(1, 31)])], 60, 8.5, [0]),
])
def test_labels_alternate_rows_only_when_a_span_is_narrower_than_its_label(spans, seconds, inches, rows):
    assert plot.label_rows(spans, seconds, inches) == rows


def test_batch_spans_give_when_the_canary_and_every_batch_ran():
    def task(play, play_index, batch, host, start, end):
        return {'event': 'task', 'play': play, 'play_index': play_index, 'batch': batch, 'host': host,
                'start': start, 'end': end, 'path': 'release.yml:1', 'role': None}

    records = [
        {'event': 'playbook', 'path': 'release.yml', 'time': 100.0},
        task('Stage the release on every node', 1, 1, 'web1', 100.0, 104.0),
        task('Release the canary', 2, 1, 'web1', 105.0, 110.0),
        task('Release the canary', 2, 1, 'web1', 110.0, 125.5),
        task('Roll the release out in batches', 3, 1, 'web2', 126.0, 130.0),
        task('Roll the release out in batches', 3, 1, 'web3', 126.5, 131.0),
        task('Roll the release out in batches', 3, 2, 'web4', 131.5, 138.0),
        task('Report the release', 4, 1, 'web1', 139.0, 140.0),
    ]

    assert phases.batch_spans(records) == [
        {'kind': 'canary', 'name': 'canary', 'nodes': ['web1'], 'start': 105.0, 'end': 125.5},
        {'kind': 'batch', 'name': 'batch 1', 'nodes': ['web2', 'web3'], 'start': 126.0, 'end': 131.0},
        {'kind': 'batch', 'name': 'batch 2', 'nodes': ['web4'], 'start': 131.5, 'end': 138.0},
    ]


def test_draw_writes_a_small_png(tmp_path):
    pytest.importorskip('matplotlib')
    responses = []
    for tick in range(40 * 60):
        sent = 5000.0 + tick / 60
        if 18.0 <= tick / 60 < 18.5:
            responses.append(failed(sent, elapsed=0.5))
        else:
            responses.append(ok(sent, '1.0.0' if tick / 60 < 20 else '2.0.0', elapsed=0.005 + (tick % 7) / 1000))
    spans = [span('canary', 5010.0, 5022.0), span('batch 1', 5022.0, 5030.0, ['web2']),
             span('batch 2', 5030.0, 5036.0, ['web3'])]
    path = tmp_path / 'timeline.png'

    assert plot.draw(responses, spans, str(path), '3 web nodes, batch 1') == str(path)
    assert path.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert path.stat().st_size < 200 * 1024
