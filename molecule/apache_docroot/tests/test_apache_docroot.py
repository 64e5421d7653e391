"""apache_docroot (with smoke_test as its check): what they leave behind on a web node."""

import os

import testinfra.utils.ansible_runner

# Molecule's inventory connects with ansible_connection=podman, which testinfra only drives
# through Ansible (one ansible run per command). Talk to the same containers with
# testinfra's own podman backend instead: same hosts, a fraction of the time.
testinfra_hosts = [
    f"podman://{name}"
    for name in testinfra.utils.ansible_runner.AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"]).get_hosts("webservers")
]

LINK = "/var/www/current"
RELEASE = "/srv/releases/2.0.0"


def test_docroot_link_points_at_the_release(host):
    link = host.file(LINK)
    assert link.is_symlink
    # The stored target, exactly as the role wrote it (not just what it resolves to).
    assert host.check_output(f"readlink {LINK}") == RELEASE
    assert link.linked_to == RELEASE


def test_docroot_link_is_on_local_disk(host):
    # The link must live on the node's own filesystem (the container's root), never on the
    # share: swapping it must move this node alone.
    # findmnt resolves symlinks, so ask about the directory holding the link, not the link.
    parent = os.path.dirname(LINK)
    target, fstype = host.check_output(f"findmnt -n -o TARGET,FSTYPE --target {parent}").split()
    assert target == "/"
    assert not fstype.startswith("nfs")


def test_apache_running_and_enabled(host):
    apache = host.service("apache2")
    assert apache.is_running
    assert apache.is_enabled


def test_node_serves_the_release(host):
    out = host.check_output("curl -sS -i --max-time 5 http://127.0.0.1/")
    head, dummy, body = out.replace("\r\n", "\n").partition("\n\n")
    assert head.splitlines()[0].split()[1] == "200"
    headers = {k.strip().lower(): v.strip() for k, dummy, v in (line.partition(":") for line in head.splitlines()[1:])}
    assert headers["x-release-version"] == "2.0.0"
    assert "daylight demo release 2.0.0" in body
