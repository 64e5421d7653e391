# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""docs/flow.py: the drawn release flow keeps up with playbooks/release.yml."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib.util
import pathlib

REPO = pathlib.Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location('docs_flow', str(REPO / 'docs' / 'flow.py'))
flow = importlib.util.module_from_spec(spec)
spec.loader.exec_module(flow)


def test_every_play_of_the_release_is_drawn_and_nothing_else():
    assert flow.undrawn_plays() == ([], [])


def test_a_play_added_to_the_playbook_is_caught(tmp_path):
    playbook = tmp_path / 'release.yml'
    playbook.write_text((REPO / 'playbooks' / 'release.yml').read_text()
                        + '\n- name: Warm the caches\n  hosts: webservers\n  tasks: []\n')
    assert flow.undrawn_plays(playbook) == (['Warm the caches'], [])


def test_the_drawing_is_written(tmp_path):
    out = flow.draw(tmp_path / 'flow.png')
    assert out.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n' and out.stat().st_size > 20000


def test_the_arrows_join_boxes_that_exist():
    assert all(a in flow.BOXES and b in flow.BOXES for a, b, _label in flow.ARROWS)
