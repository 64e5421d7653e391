# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""files.write_files on a real temporary directory: only changed files are written, check mode writes nothing."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import stat

import pytest

from ansible_collections.daylight.release.plugins.module_utils.errors import ApplyError
from ansible_collections.daylight.release.plugins.module_utils.files import write_files

FILES = {u'2.1.0-r1.json': u'{"result": "completed"}\n', u'2.1.0-r1.md': u'# Release 2.1.0: completed \u2714\n'}


def test_creates_the_directory_and_writes_every_file(tmp_path):
    directory = str(tmp_path / 'reports' / 'daylight')
    plan = write_files(directory, FILES)
    assert [(item['name'], item['before'], item['changed']) for item in plan] == [
        (u'2.1.0-r1.json', None, True), (u'2.1.0-r1.md', None, True)]
    for name, text in FILES.items():
        path = os.path.join(directory, name)
        with open(path, 'rb') as f:
            assert f.read().decode('utf-8') == text
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert stat.S_IMODE(os.stat(directory).st_mode) & 0o755 == 0o755
    assert sorted(os.listdir(directory)) == sorted(FILES)  # no temporary file left


def test_a_second_run_changes_nothing_and_a_changed_text_rewrites_only_its_file(tmp_path):
    directory = str(tmp_path)
    write_files(directory, FILES)
    json_path = os.path.join(directory, u'2.1.0-r1.json')
    mtime = os.stat(json_path).st_mtime_ns
    assert not any(item['changed'] for item in write_files(directory, FILES))
    plan = write_files(directory, dict(FILES, **{u'2.1.0-r1.md': u'# Release 2.1.0: rolled back\n'}))
    assert [item['name'] for item in plan if item['changed']] == [u'2.1.0-r1.md']
    assert plan[1]['before'] == FILES[u'2.1.0-r1.md']
    assert os.stat(json_path).st_mtime_ns == mtime


def test_check_mode_writes_nothing_not_even_the_directory(tmp_path):
    directory = str(tmp_path / 'reports')
    plan = write_files(directory, FILES, check_mode=True)
    assert all(item['changed'] for item in plan)
    assert not os.path.exists(directory)


@pytest.mark.parametrize('name', [u'../escape.json', u'sub/dir.md', u'..', u'.', u''])
def test_a_name_that_is_not_a_plain_file_name_is_refused(tmp_path, name):
    with pytest.raises(ApplyError) as e:
        write_files(str(tmp_path), {name: u'x'})
    assert 'is not a file name' in str(e.value)
    assert os.listdir(str(tmp_path)) == []


def test_a_directory_that_is_a_file_is_named(tmp_path):
    (tmp_path / 'reports').write_text(u'not a directory')
    with pytest.raises(ApplyError) as e:
        write_files(str(tmp_path / 'reports'), FILES)
    assert str(tmp_path / 'reports') + ' is not a directory' in str(e.value)
