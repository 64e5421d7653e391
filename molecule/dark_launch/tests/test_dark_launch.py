"""dark_launch: both nodes were asked the logged requests directly, marked as the dark launch."""

import os

import testinfra.utils.ansible_runner

# testinfra's own podman backend on the same containers (see molecule/apache_docroot/tests).
RUNNER = testinfra.utils.ansible_runner.AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"])
testinfra_hosts = [f"podman://{name}" for name in RUNNER.get_hosts("webservers")]

# Debian's Apache logs virtual hosts without their own CustomLog here (vhost_combined: with User-Agent).
ACCESS_LOG = "/var/log/apache2/other_vhosts_access.log"


def test_replayed_requests_reached_the_node(host):
    replayed = [line for line in host.file(ACCESS_LOG).content_string.splitlines() if "daylight.release dark launch" in line]
    for path in ["/ "] + [f"/?page={n} " for n in range(1, 26)]:
        assert any(f'"GET {path}' in line for line in replayed), path
