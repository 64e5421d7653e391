"""canary_analysis: what the judged window rests on - both nodes UP, every request in the journal."""

import os

import testinfra.utils.ansible_runner

# testinfra's own podman backend on the same containers (see molecule/apache_docroot/tests).
RUNNER = testinfra.utils.ansible_runner.AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"])
testinfra_hosts = [f"podman://{name}" for name in RUNNER.get_hosts("loadbalancers")]
WEB = RUNNER.get_hosts("webservers")


def test_haproxy_logs_requests_to_both_nodes(host):
    # option httplog lines (frontend, backend/server, timers, status) under the identifier haproxy.
    log = host.check_output("journalctl --no-pager -o cat -t haproxy")
    for name in WEB:
        assert f" www web/{name} " in log


def test_haproxy_running(host):
    assert host.service("haproxy").is_running
