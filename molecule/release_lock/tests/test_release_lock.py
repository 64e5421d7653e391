"""release_lock: a run that took and gave back the lock leaves the share as it found it."""

import os

import testinfra.utils.ansible_runner

# Talk to the containers with testinfra's podman backend (see molecule/apache_docroot).
testinfra_hosts = [
    f"podman://{name}"
    for name in testinfra.utils.ansible_runner.AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"]).get_hosts("webservers")
]

RELEASES = "/srv/daylight/releases"


def test_no_lock_is_left(host):
    assert not host.file(f"{RELEASES}/.lock").exists


def test_nothing_else_is_left(host):
    # No temporary holder file, no broken lock kept aside: the directory is as prepare made it.
    assert host.check_output(f"ls -A {RELEASES}") == ""
