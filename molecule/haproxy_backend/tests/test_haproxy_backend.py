"""haproxy_backend: every server UP in HAProxy after drain, enable and enable again, alone and as a batch."""

import os

import pytest
import testinfra.utils.ansible_runner

# testinfra's own podman backend on the same containers (see molecule/apache_docroot/tests).
testinfra_hosts = [
    f"podman://{name}"
    for name in testinfra.utils.ansible_runner.AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"]).get_hosts("loadbalancers")
]

SOCKET = "/run/haproxy/admin.sock"


def server_status(host, backend):
    """{server: status} from HAProxy's admin socket ('show stat' CSV)."""
    out = host.check_output(f"echo 'show stat' | socat stdio {SOCKET}")
    lines = out.splitlines()
    fields = lines[0].lstrip("# ").split(",")
    rows = [dict(zip(fields, line.split(","))) for line in lines[1:] if line]
    return {r["svname"]: r["status"] for r in rows if r["pxname"] == backend and r["svname"] not in ("FRONTEND", "BACKEND")}


@pytest.mark.parametrize("server", ["web1", "web2", "web3", "web4"])
def test_server_is_up(host, server):
    assert server_status(host, "web")[server] == "UP"


def test_backend_serves(host):
    out = host.check_output("curl -sS -o /dev/null -w '%{http_code}' --max-time 5 http://127.0.0.1/")
    assert out == "200"
