"""release_node: the node on 2.0.0, serving it, and UP again on the load balancer."""

import os

import testinfra
import testinfra.utils.ansible_runner

# testinfra's own podman backend on the same containers (see molecule/apache_docroot/tests).
RUNNER = testinfra.utils.ansible_runner.AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"])
testinfra_hosts = [f"podman://{name}" for name in RUNNER.get_hosts("webservers")]

LINK = "/var/www/current"
RELEASE = "/srv/daylight/releases/2.0.0"


def load_balancers():
    return [testinfra.get_host(f"podman://{name}") for name in RUNNER.get_hosts("loadbalancers")]


def release_header(host, url):
    out = host.check_output(f"curl -sS -D - -o /dev/null --max-time 5 {url}")
    headers = dict(line.split(":", 1) for line in out.replace("\r\n", "\n").splitlines()[1:] if ":" in line)
    return {k.strip().lower(): v.strip() for k, v in headers.items()}.get("x-release-version")


def test_docroot_link_points_at_the_release(host):
    assert host.check_output(f"readlink {LINK}") == RELEASE


def test_node_serves_the_release(host):
    assert release_header(host, "http://127.0.0.1/") == "2.0.0"


def test_node_is_up_on_every_load_balancer(host):
    name = host.backend.name
    for lb in load_balancers():
        out = lb.check_output("echo 'show stat' | socat stdio /run/haproxy/admin.sock")
        lines = out.splitlines()
        fields = lines[0].lstrip("# ").split(",")
        rows = [dict(zip(fields, line.split(","))) for line in lines[1:] if line]
        assert [r["status"] for r in rows if r["pxname"] == "web" and r["svname"] == name] == ["UP"]
        # No "drained by a release" marker is left once the node is UP.
        assert not lb.file(f"/var/lib/daylight-release/drained/web/{name}").exists
        # Visitors through the load balancer get the new release.
        assert release_header(lb, "http://127.0.0.1/") == "2.0.0"
