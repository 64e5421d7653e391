"""smoke_test: it only reads, so the node is left exactly as prepare made it."""

import os

import testinfra.utils.ansible_runner

# Talk to the containers with testinfra's podman backend (see molecule/apache_docroot).
testinfra_hosts = [
    f"podman://{name}"
    for name in testinfra.utils.ansible_runner.AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"]).get_hosts("webservers")
]


def test_the_node_still_serves_what_it_served(host):
    assert host.check_output("readlink /var/www/current") == "/srv/releases/1.0.0"
    out = host.check_output("curl -sS -i --max-time 5 http://127.0.0.1/")
    assert "X-Release-Version: 1.0.0" in out and "daylight demo release 1.0.0" in out
