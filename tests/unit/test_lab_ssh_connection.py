"""The lab's SSH inventory names its connection so that no task re-reads the connection plugin.

ansible-core (2.19) reads the connection plugins' settings once, in the main process, under their
short names. A worker asked for `ansible.builtin.ssh` files the settings under another name and
parses the plugin's whole documentation again, on every task on every host. What a worker parses
cannot be seen from outside, so a spy callback (written here, enabled for the run) wraps ansible-core's
plugin loader in the main process before the workers fork, and writes a line, with its process id,
each time a process parses a connection plugin's documentation. The hosts are unreachable on
purpose (port 1): the plugin is loaded before it connects, and nothing needs an SSH server.
"""

import os
import pathlib
import subprocess
import sys
import textwrap

import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = pathlib.Path(sys.executable).with_name("ansible-playbook")

SPY = """\
import os
from ansible import constants as C
from ansible.plugins import loader
from ansible.plugins.callback import CallbackBase

_load_config_defs = loader.PluginLoader._load_config_defs


def _spied(self, name, module, path):
    if self.class_name == 'Connection' and not C.config.has_configuration_definition('connection', name):
        with open(os.environ['SPY_LOG'], 'a') as log:
            log.write('%d %s\\n' % (os.getpid(), name))
    return _load_config_defs(self, name, module, path)


loader.PluginLoader._load_config_defs = _spied


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'spy'
    CALLBACK_NEEDS_ENABLED = True
"""

PLAYBOOK = """\
- name: Three tasks on two hosts that do not answer
  hosts: all
  gather_facts: false
  ignore_unreachable: true
  tasks:
    - name: Ping
      ansible.builtin.ping:

    - name: Ping again
      ansible.builtin.ping:

    - name: Ping a third time
      ansible.builtin.ping:
"""


def worker_parses(tmp_path, connection):
    """How many times a worker process parsed a connection plugin's documentation, with every host
    reached through `connection`."""
    (tmp_path / "spy").mkdir()
    (tmp_path / "spy" / "spy.py").write_text(SPY)
    (tmp_path / "playbook.yml").write_text(PLAYBOOK)
    (tmp_path / "inventory.ini").write_text("".join(
        "%s ansible_connection=%s ansible_host=127.0.0.1 ansible_port=1 ansible_ssh_common_args='-o BatchMode=yes'\n"
        % (host, connection) for host in ("a", "b")))
    (tmp_path / "ansible.cfg").write_text(textwrap.dedent("""\
        [defaults]
        callback_plugins = {spy}
        forks = 2
        retry_files_enabled = false
        host_key_checking = false
        """).format(spy=tmp_path / "spy"))
    log = tmp_path / "parsed.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_CONFIG=str(tmp_path / "ansible.cfg"), ANSIBLE_CALLBACKS_ENABLED="spy", SPY_LOG=str(log))
    proc = subprocess.Popen([str(ANSIBLE_PLAYBOOK), "-i", "inventory.ini", "playbook.yml"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = proc.communicate(timeout=300)[0]
    assert out.count("ignored=3") == 2, out  # both hosts tried every task
    lines = log.read_text().splitlines() if log.exists() else []
    return [line for line in lines if int(line.split()[0]) != proc.pid]


def test_the_lab_names_the_connection_by_its_short_name():
    inventory = yaml.safe_load((REPO / "inventories" / "lab-ssh" / "podman.yml").read_text())
    assert inventory["connection_plugin"] == "ssh"


def test_with_the_short_name_no_task_parses_the_connection_again(tmp_path):
    assert worker_parses(tmp_path, "ssh") == []


def test_with_the_full_name_every_task_parses_it_again(tmp_path):
    """Why the lab's inventory avoids the full name. Once this fails, ansible-core no longer does
    it, and the comment in inventories/lab-ssh/podman.yml can go."""
    parsed = worker_parses(tmp_path, "ansible.builtin.ssh")
    assert len(parsed) == 6, parsed  # 2 hosts x 3 tasks
