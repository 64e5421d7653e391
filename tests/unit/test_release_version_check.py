"""The release version check in release_stage's preflight, run for real through ansible-playbook.

'$' in a regex also matches before a trailing newline, so "2.0.0\\n" used to pass; it would
become a release directory name with a newline in it. Ansible's own YAML, Jinja and regex
handling decide what the pattern really is, so only a real run proves it.
"""

import json
import os
import pathlib
import subprocess
import sys

import pytest

ROLE = pathlib.Path(__file__).resolve().parents[2] / "roles" / "release_stage"
PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - ansible.builtin.include_role:
        name: %s
        tasks_from: preflight.yml
""" % ROLE


def preflight(tmp_path, version):
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    extra = {"release_stage_version": version, "release_stage_mount_share": False,
             "ansible_python_interpreter": sys.executable}
    # Only this test's settings: not the repo's ansible.cfg (lab inventory) nor the caller's ANSIBLE_*.
    (tmp_path / "ansible.cfg").write_text("[defaults]\n")
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith("ANSIBLE_"))
    env.update(ANSIBLE_CONFIG=str(tmp_path / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_HOME=str(tmp_path / "home"),
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"))
    proc = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,", "-c", "local",
         "-e", json.dumps(extra), str(tmp_path / "play.yml")],
        cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
        timeout=120, check=False)
    return proc.returncode, proc.stdout


@pytest.mark.parametrize("version", ["2.0.0", "2.1.0-rc.1+build5"])
def test_good_version_passes(tmp_path, version):
    rc, out = preflight(tmp_path, version)
    assert rc == 0, out
    assert "failed=0" in out, out


@pytest.mark.parametrize("version, shown", [
    ("2.0.0\n", r'"2.0.0\n"'),
    ("2.0.0 ", '"2.0.0 "'),
    ("../2.0.0", '"../2.0.0"'),
])
def test_bad_version_fails_showing_the_value(tmp_path, version, shown):
    rc, out = preflight(tmp_path, version)
    assert rc != 0, out
    fatal = [line.split(" => ", 1)[1] for line in out.splitlines() if line.startswith("fatal: [localhost]: FAILED! => ")]
    assert len(fatal) == 1, out
    assert json.loads(fatal[0])["msg"].startswith("release version %s is not valid: " % shown), out
