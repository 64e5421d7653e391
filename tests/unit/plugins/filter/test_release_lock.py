# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import socket
import subprocess
import sys

import pytest

from ansible_collections.daylight.release.plugins.filter.release_lock import (
    FilterModule,
    lock_holder_line,
    lock_holder_state,
)
from ansible_collections.daylight.release.plugins.module_utils.release_lock import describe_holder

HERE = socket.gethostname()
SLEEP = 'import time; time.sleep(60)'


def cmdline(pid):
    with open('/proc/%d/cmdline' % pid, 'rb') as f:
        return f.read()


@pytest.fixture
def child():
    """child(*argv) -> a running Python process with those extra arguments, killed afterwards."""
    procs = []

    def spawn(*argv):
        proc = subprocess.Popen([sys.executable, '-c', SLEEP] + list(argv))
        procs.append(proc)
        # Popen returns after fork; wait until the exec'd command line is visible.
        for dummy in range(500):
            if SLEEP.encode() in cmdline(proc.pid):
                return proc
            os.sched_yield()
        raise AssertionError('child %d did not start' % proc.pid)
    yield spawn
    for proc in procs:
        proc.kill()
        proc.wait()


def test_alive_when_the_pid_runs_ansible(child):
    # Stands for ansible-playbook: pytest's own command line need not contain "ansible".
    proc = child('ansible-playbook', 'release.yml')
    assert lock_holder_state({'id': 'r', 'controller': HERE, 'pid': proc.pid}) == 'alive'
    assert lock_holder_state({'id': 'r', 'controller': 'ctl1', 'pid': str(proc.pid)}, 'ctl1') == 'alive'


def test_gone_when_the_pid_was_reused_by_another_program(child):
    proc = child('php-fpm')
    assert b'ansible' not in cmdline(proc.pid)
    assert lock_holder_state({'id': 'r', 'controller': HERE, 'pid': proc.pid}) == 'gone'


def test_gone_when_the_process_ended(child):
    proc = child('ansible-playbook')
    proc.kill()
    proc.wait()  # reaped: /proc/<pid> is gone
    assert not os.path.exists('/proc/%d' % proc.pid)
    assert lock_holder_state({'id': 'r', 'controller': HERE, 'pid': proc.pid}) == 'gone'


def test_this_process():
    """pytest itself: alive only if its command line happens to contain "ansible"."""
    expected = 'alive' if b'ansible' in cmdline(os.getpid()) else 'gone'
    assert lock_holder_state({'id': 'r', 'controller': HERE, 'pid': os.getpid()}) == expected


@pytest.mark.parametrize('holder, controller', [
    ({'id': 'r', 'controller': 'ctl-elsewhere', 'pid': 1}, None),  # another controller: cannot tell
    ({'id': 'r', 'controller': HERE, 'pid': 1}, 'ctl1'),
    ({'id': 'r', 'pid': 1}, None),
    ({'id': 'r', 'controller': HERE}, None),
    ({'id': 'r', 'controller': HERE, 'pid': 'x'}, None),
    ({'id': 'r', 'controller': HERE, 'pid': 0}, None),
    ({'unreadable': 'the lock file is empty'}, None),
    (None, None),
])
def test_unknown(holder, controller, child):
    if isinstance(holder, dict) and holder.get('pid') == 1:
        holder = dict(holder, pid=child('ansible-playbook').pid)  # alive, if it were on this controller
    assert lock_holder_state(holder, controller) == 'unknown'


@pytest.mark.parametrize('holder', [
    {'id': '3f2a', 'user': 'root', 'controller': 'ctl1', 'pid': 4242, 'since': '2026-11-23T14:00:05Z',
     'action': 'release', 'version': '2.1.0'},
    {'unreadable': 'not JSON'},
    None,
])
def test_lock_holder_line(holder):
    assert lock_holder_line(holder) == describe_holder(holder)
    assert lock_holder_line(holder)


def test_registered_as_filters():
    assert FilterModule().filters() == {'lock_holder_state': lock_holder_state, 'lock_holder_line': lock_holder_line}
