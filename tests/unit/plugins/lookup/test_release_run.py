# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import getpass
import json
import os
import re
import socket
import subprocess
import sys

import pytest

from ansible.errors import AnsibleLookupError

from ansible_collections.daylight.release.plugins.lookup import release_run
from ansible_collections.daylight.release.plugins.lookup.release_run import LookupModule, playbook_pid

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
KEYS = ['controller', 'id', 'pid', 'since', 'user']


def fake_proc(tmp_path, processes):
    """A /proc with {pid: (ppid, comm, argv)}."""
    for pid, (ppid, comm, argv) in processes.items():
        d = tmp_path / str(pid)
        d.mkdir()
        (d / 'stat').write_text(u'%d (%s) S %d %d 0 0' % (pid, comm, ppid, pid))
        (d / 'cmdline').write_bytes(b'\0'.join(a.encode() for a in argv) + b'\0')
    return str(tmp_path)


PLAYBOOK = ['/usr/bin/python3', '/usr/bin/ansible-playbook', 'release.yml']


@pytest.mark.parametrize('processes, start, expected', [
    pytest.param({500: (400, 'ansible-playboo', PLAYBOOK), 400: (300, 'ansible-playboo', PLAYBOOK),
                  300: (1, 'bash', ['-bash'])}, 500, 400, id='worker -> playbook -> shell'),
    pytest.param({400: (300, 'ansible-playboo', PLAYBOOK), 300: (1, 'bash', ['-bash'])}, 400, 400,
                 id='the playbook process itself'),
    pytest.param({500: (400, 'a) b (c', PLAYBOOK), 400: (300, 'x) y', PLAYBOOK), 300: (1, 'sshd', ['sshd'])},
                 500, 400, id='command names with spaces and parentheses'),
    pytest.param({500: (400, 'python3', ['python3', 'x.py']), 400: (1, 'ansible', PLAYBOOK)}, 500, 400,
                 id='the start need not run ansible'),
    pytest.param({500: (400, 'ansible', PLAYBOOK), 400: (1, 'ansible', PLAYBOOK)}, 500, 400,
                 id='stops before init'),
    pytest.param({500: (999, 'ansible', PLAYBOOK)}, 500, 500, id='parent vanished'),
])
def test_playbook_pid_walks_up_while_parents_run_ansible(tmp_path, monkeypatch, processes, start, expected):
    monkeypatch.setattr(release_run, '_PROC', fake_proc(tmp_path, processes))
    assert playbook_pid(start) == expected


def test_release_run_keys():
    run = release_run.release_run()
    assert sorted(run) == KEYS
    assert re.match(r'^[0-9a-f]{32}$', run['id'])
    assert run['controller'] == socket.gethostname()
    assert run['user'] == getpass.getuser()
    assert isinstance(run['pid'], int)
    assert re.match(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$', run['since'])
    assert release_run.release_run()['id'] != run['id']
    assert release_run.release_run('carol')['user'] == 'carol'


def test_terms_are_refused():
    with pytest.raises(AnsibleLookupError, match='takes no terms'):
        LookupModule().run(['alice'], variables={})


def test_lookup_in_ansible_returns_the_ansible_process(tmp_path):
    """Through ansible itself: options, and pid is the process we started, not its worker."""
    ansible = os.path.join(os.path.dirname(sys.executable), 'ansible')
    argv = [ansible, 'localhost', '-c', 'local', '-i', 'localhost,', '-m', 'ansible.builtin.debug', '-a',
            "msg={{ [lookup('daylight.release.release_run'), lookup('daylight.release.release_run', who='carol')]"
            " | to_json }}"]
    # A wrapper whose command line does not contain "ansible", whatever pytest's own does.
    wrapper = ('import json, os, subprocess, sys\n'
               'p = subprocess.Popen(json.loads(os.environ["RUN"]))\n'
               'print("PID=%d" % p.pid, flush=True)\n'
               'sys.exit(p.wait())\n')
    env = dict(os.environ, RUN=json.dumps(argv), ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, '.build', 'collections'),
               ANSIBLE_STDOUT_CALLBACK='ansible.builtin.minimal', ANSIBLE_LOCALHOST_WARNING='false',
               ANSIBLE_FORCE_COLOR='0', ANSIBLE_NOCOLOR='1')
    env.pop('ANSIBLE_CONFIG', None)
    out = subprocess.run([sys.executable, '-c', wrapper], env=env, cwd=str(tmp_path), stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, universal_newlines=True, timeout=120, check=False).stdout
    pid = int(re.search(r'PID=(\d+)', out).group(1))
    runs = json.loads(json.loads(out[out.index('=> ') + 3:])['msg'])  # minimal: "host | SUCCESS => {json}"
    assert [sorted(r) for r in runs] == [KEYS, KEYS], out
    assert [r['pid'] for r in runs] == [pid, pid], out
    assert runs[0]['user'] == getpass.getuser() and runs[1]['user'] == 'carol'
    assert runs[0]['controller'] == socket.gethostname()
    assert runs[0]['id'] != runs[1]['id']
