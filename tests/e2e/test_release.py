"""End-to-end: real releases of the demo app on the podman lab (HAProxy, Apache + mod_php).

Needs the lab running (`make e2e` starts it). Nothing is mocked here. The tests run in file
order: the release under load leaves every node on 2.0.0, which the later tests start from.
"""

import os
import re
import shutil
import subprocess

import pytest

from loadgen import Load
from test_migrations import sql
from release_under_load import (NO_DARK_LAUNCH, NO_LOAD, ROOT, lb_states, package, playbook, recap, release, release_under_load,
                                served_versions, variant_package, web_nodes)

OLD, NEW = "1.0.0", "2.0.0"


def estate_snapshot():
    """Everything a release could change: each node's link, the share, each server's state on every load balancer."""
    snap = {}
    for node in web_nodes():
        snap[node] = subprocess.run(["podman", "exec", node, "readlink", "/var/www/current"],
                                    capture_output=True, text=True, check=False).stdout.strip()
    snap["share"] = subprocess.run(["podman", "exec", web_nodes()[0], "ls", "-A", "/srv/daylight/releases",
                                    "/srv/daylight/releases/.incoming"], capture_output=True, text=True, check=False).stdout
    # {lb: {server: status}} for the web backend, from each load balancer's admin socket
    snap["haproxy"] = lb_states("web")
    return snap


@pytest.fixture(scope="module")
def lab():
    if not web_nodes():
        pytest.fail("the lab is not running: start it with `make lab`")
    return web_nodes()


def test_release_under_load_has_zero_downtime(lab):
    result = release_under_load(OLD, NEW, rate=60)
    load = result["load"]
    print(result["release_output"][-2000:])
    print({k: v for k, v in result.items() if k not in ("release_output",)})
    assert result["release_rc"] == 0, result["release_output"][-3000:]
    assert set(result["before"].values()) == {OLD}
    assert load["rate_per_second"] >= 50, load
    assert load["failed"] == 0, result["examples"]["failed"]
    assert load["inconsistent"] == 0, result["examples"]["inconsistent"]
    assert load["stale"] == 0, result["examples"]["stale"]
    assert result["after"] == {node: NEW for node in lab}
    # 2.0.0's expand migration ran before the canary, under the same load: the column is there, the
    # 1.0.0 nodes kept writing without it, and every 2.0.0 visit records its node.
    assert sql("SELECT release_version, phase, success FROM daylight_migrations WHERE version = '0002'",
               "daylight") == [[NEW, "pre", "1"]]
    assert sql("SELECT COUNT(*) FROM visits WHERE release_version = '%s' AND node IS NULL" % NEW, "daylight") == [["0"]]
    assert int(sql("SELECT COUNT(*) FROM visits WHERE release_version = '%s'" % NEW, "daylight")[0][0]) > 0


def test_second_run_changes_nothing(lab):
    rc, out = release(NEW, package(NEW))[:2]
    assert rc == 0, out[-3000:]
    counts = recap(out)
    assert set(lab) <= set(counts), out[-2000:]
    assert {host: c["changed"] for host, c in counts.items()} == {host: 0 for host in counts}, out[-3000:]
    # Nothing drained either: the drain task never ran.
    assert "Stop sending new sessions" not in out


def test_rollback_goes_back_fleet_wide_and_forward_again(lab):
    """rollback.yml goes back to the release live before this one, the way a release goes forward."""
    rc, out = playbook("rollback.yml", *NO_LOAD)[:2]
    assert rc == 0, out[-3000:]
    assert served_versions() == {node: OLD for node in lab}
    # The history now ends with OLD, so a second rollback undoes the first.
    rc, out = playbook("rollback.yml", *NO_LOAD)[:2]
    assert rc == 0, out[-3000:]
    assert served_versions() == {node: NEW for node in lab}


def test_rollback_to_a_release_not_on_the_share_is_refused(lab):
    before = estate_snapshot()
    rc, out = playbook("rollback.yml", "-e", "release_version=0.0.1")[:2]
    assert rc != 0
    assert "release 0.0.1 is not staged on the share" in " ".join(out.split()), out[-3000:]
    assert estate_snapshot() == before


def _checksum_mismatch(tmp_path):
    bad = tmp_path / "demo-app-9.9.9.tar.gz"
    shutil.copy(package(NEW), bad)
    (tmp_path / "demo-app-9.9.9.tar.gz.sha256").write_text("0" * 64 + "  demo-app-9.9.9.tar.gz\n")
    return str(bad)


def _another_package_of_a_staged_release(tmp_path):
    """2.0.0 is on the share (the release under load staged it): a package of it with other content."""
    def edit(src):
        (src / "index.php").write_text((src / "index.php").read_text() + "\n// rebuilt\n")
    return variant_package(tmp_path, NEW, edit, base=NEW)


@pytest.mark.parametrize("version, make_package, message", [
    ("../evil", lambda tmp: package(NEW), 'release version "../evil" is not valid'),
    ("2.0/1", lambda tmp: package(NEW), 'release version "2.0/1" is not valid'),
    ("2.0 1", lambda tmp: package(NEW), 'release version "2.0 1" is not valid'),
    ("", lambda tmp: package(NEW), 'release version "" is not valid'),
    ("9.9.9", lambda tmp: str(tmp / "nope.tar.gz"), "does not exist on the controller"),
    ("9.9.9", _checksum_mismatch, "checksum mismatch for"),
    (NEW, _another_package_of_a_staged_release, "release 2.0.0 is already staged from a package with sha256"),
])
def test_bad_input_is_refused_and_nothing_changes(lab, tmp_path, version, make_package, message):
    before = estate_snapshot()
    rc, out = release(version, make_package(tmp_path))[:2]
    assert rc != 0
    assert message in " ".join(out.split()), out[-3000:]
    assert estate_snapshot() == before


def test_batch_that_would_drain_every_node_is_refused(lab):
    before = estate_snapshot()
    rc, out = release("3.0.0", package("3.0.0"), "-e", "release_batch_size=%d" % len(lab))[:2]
    assert rc != 0
    assert ("release_batch_size %d means %d node(s) out of the pool at once, but only %d of the %d web nodes serve now"
            % (len(lab), len(lab), len(lab), len(lab))) in " ".join(out.split()), out[-3000:]
    assert estate_snapshot() == before


def test_unreachable_host_is_refused_and_nothing_changes(lab, tmp_path):
    extra = tmp_path / "ghost.yml"
    extra.write_text("webservers:\n  hosts:\n    web-ghost:\n      ansible_connection: containers.podman.podman\n")
    before = estate_snapshot()
    pkg = package("3.0.0")
    rc, out = release("3.0.0", pkg, "-i", os.path.join(ROOT, "inventories", "lab-ssh"), "-i", str(extra))[:2]
    assert rc != 0
    assert "web-ghost" in out and "UNREACHABLE" in out, out[-3000:]
    assert estate_snapshot() == before


def _broken_package(tmp_path, version, broken_when="true", every_page=False):
    """A package whose probe page (or every page) answers 500 when the PHP condition `broken_when` holds."""
    def add_fault(src):
        probe = (src / "probe.php").read_text()
        bootstrap = "require __DIR__ . '/lib/bootstrap.php';"
        assert bootstrap in probe
        # After the bootstrap, so even the failures name their release and node.
        fault = "if (%s) { http_response_code(500); exit; }" % broken_when
        if every_page:  # the bootstrap every page requires
            with open(src / "lib" / "bootstrap.php", "a") as f:
                f.write("\n%s\n" % fault)
        else:
            (src / "probe.php").write_text(probe.replace(bootstrap, "%s\n%s" % (bootstrap, fault), 1))
    return variant_package(tmp_path, version, add_fault)


def test_failed_smoke_test_puts_node_back_and_stops(lab, tmp_path):
    rc, out = release("2.1.0-broken", _broken_package(tmp_path, "2.1.0-broken"))[:2]
    assert rc != 0
    flat = " ".join(out.split())  # the callback wraps long messages
    assert "release 2.1.0-broken rolled back" in flat, out[-3000:]
    assert "web1 is on %s and enabled" % NEW in flat, out[-3000:]
    # The canary went back, the others were never touched, and every server is enabled.
    assert served_versions() == {node: NEW for node in lab}
    states = estate_snapshot()["haproxy"]
    assert states and all(servers and set(servers.values()) == {"UP"} for servers in states.values()), states


def test_node_failing_later_returns_the_whole_estate(lab, tmp_path):
    """web1 passes, web2 fails: web2 goes back, then web1 is switched back too."""
    pkg = _broken_package(tmp_path, "2.2.0-web2-broken", "gethostname() === 'web2'")
    rc, out = release("2.2.0-web2-broken", pkg, *NO_LOAD)[:2]
    assert rc != 0
    flat = " ".join(out.split())  # the callback wraps long messages
    assert "release 2.2.0-web2-broken rolled back" in flat, out[-3000:]
    assert "failed on web2" in flat and "Every node now serves %s (one version)" % NEW in flat, out[-3000:]
    assert served_versions() == {node: NEW for node in lab}
    states = estate_snapshot()["haproxy"]
    assert states and all(servers and set(servers.values()) == {"UP"} for servers in states.values()), states


def test_node_failing_the_load_balancers_health_checks_goes_back(lab, tmp_path):
    """The smoke test (from the node itself) passes, HAProxy's checks (from the load balancer) fail: DOWN, so back."""
    version = "2.2.5-checks-fail"
    pkg = _broken_package(tmp_path, version, "($_SERVER['REMOTE_ADDR'] ?? '') !== '127.0.0.1'", every_page=True)
    rc, out = release(version, pkg, "-e", "haproxy_backend_enable_timeout=5", *NO_LOAD, *NO_DARK_LAUNCH)[:2]
    assert rc != 0
    flat = " ".join(out.split())
    assert "release %s rolled back" % version in flat and "is still DOWN on this load balancer" in flat, out[-3000:]
    assert served_versions() == {node: NEW for node in lab}
    states = estate_snapshot()["haproxy"]
    assert states and all(servers and set(servers.values()) == {"UP"} for servers in states.values()), states


def test_batch_where_one_node_fails_its_smoke_test_enables_only_the_other(lab, tmp_path):
    """web2 and web3 move as one batch, with one drain and one enable for both: web3 fails its smoke test,
    so the batch's enable must leave it out (visitors asking /probe.php would get its 500s), web2 is
    enabled, then the release stops and every node goes back."""
    version = "2.2.6-web3-broken"
    pkg = _broken_package(tmp_path, version, "gethostname() === 'web3'")
    with Load(rate=60) as load:
        rc, out = release(version, pkg, "-e", "release_batch_size=2")[:2]
    assert rc != 0
    flat = " ".join(out.split())
    assert "release %s rolled back" % version in flat and "failed on web3" in flat, out[-3000:]
    assert "Enable the batch and wait until their health checks pass" in out, out[-3000:]
    report = load.report(NEW, version)
    assert report.summary()["failed"] == 0, report.failed()[:5]
    assert served_versions() == {node: NEW for node in lab}
    states = estate_snapshot()["haproxy"]
    assert states and all(servers and set(servers.values()) == {"UP"} for servers in states.values()), states


def test_batch_where_one_node_fails_the_health_checks_sends_only_that_one_back(lab, tmp_path):
    """In a batch of two, HAProxy's checks fail on web3 only: the batch's one enable fails for web3 (DOWN)
    and not for web2; web3 goes back on its own, and the release stops with every node back and UP."""
    version = "2.2.7-web3-checks-fail"
    pkg = _broken_package(tmp_path, version, "gethostname() === 'web3' && ($_SERVER['REMOTE_ADDR'] ?? '') !== '127.0.0.1'",
                          every_page=True)
    rc, out = release(version, pkg, "-e", "release_batch_size=2", "-e", "haproxy_backend_enable_timeout=5",
                      *NO_LOAD, *NO_DARK_LAUNCH)[:2]
    assert rc != 0
    flat = " ".join(out.split())
    assert "release %s rolled back" % version in flat, out[-3000:]
    assert re.search(r"could not enable web3 on lb1, lb2: on lb\d: web/web3 is still DOWN", flat), out[-3000:]
    assert "could not enable web2" not in flat, out[-3000:]
    assert served_versions() == {node: NEW for node in lab}
    states = estate_snapshot()["haproxy"]
    assert states and all(servers and set(servers.values()) == {"UP"} for servers in states.values()), states


def test_check_mode_says_what_it_would_do_and_changes_nothing(lab):
    before = estate_snapshot()
    rc, out = release("3.0.0", package("3.0.0"), "--check")[:2]
    assert rc == 0, out[-3000:]
    assert "would stage demo-app-3.0.0.tar.gz" in out, out[-3000:]
    for node in lab:
        assert "would drain %s, point it at 3.0.0 (from %s)" % (node, NEW) in " ".join(out.split()), out[-3000:]
    assert estate_snapshot() == before


def test_canary_failing_live_traffic_stops_the_release(lab, tmp_path):
    """The smoke test passes (it asks from the node itself) but visitors get 500s: the canary catches it."""
    version = "2.3.0-visitors-broken"
    pkg = _broken_package(tmp_path, version, "($_SERVER['REMOTE_ADDR'] ?? '') !== '127.0.0.1'")
    with Load(rate=60) as load:
        rc, out = release(version, pkg, *NO_DARK_LAUNCH)[:2]
    report = load.report(NEW, version)
    flat = " ".join(out.split())
    assert rc != 0
    canary = re.search(r"release %s rolled back: the canary (\S+) failed under live traffic" % re.escape(version), flat)
    assert canary and canary.group(1) in lab, out[-3000:]
    assert "Every node now serves %s (one version)" % NEW in flat, out[-3000:]
    assert served_versions() == {node: NEW for node in lab}
    # Only the canary ever served the bad release, and only while it was watched.
    assert {r.node for r in report.responses if r.version == version} == {canary.group(1)}
    assert {r.node for r in report.failed()} <= {canary.group(1)}
    states = estate_snapshot()["haproxy"]
    assert states and all(servers and set(servers.values()) == {"UP"} for servers in states.values()), states
