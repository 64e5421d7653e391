"""Release one version of the demo app on the running lab while a steady load is checked.

    python tests/e2e/release_under_load.py --from 1.0.0 --to 2.0.0

Puts every web node on --from first if it is not there (a release without load), then starts
the load, runs release.yml for --to, stops the load and prints a report: per node the version
before and after, requests sent, failed, inconsistent, stale, and the release's duration.
Exits 1 when the release failed or any request failed, was inconsistent or stale.
`make demo` runs this; the end-to-end test uses the same functions.
"""

import argparse
import csv
import glob
import gzip
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

from loadgen import Load  # noqa: E402

PACKAGES = os.path.join(ROOT, "build", "packages")
# A release without load says so: with no traffic the canary is inconclusive and stops. Nothing
# to wait for either: no warm-up, and the window closes after one look (1 s) instead of the lab's
# 3 s warm-up and 5 s minimum (about 7 s a release, and some twenty releases of the suite run so).
# No visitors' receipt either: with no visitor it counts nothing, after waiting out its window (3 s in the lab).
NO_LOAD_WINDOW = {"canary_analysis_proceed_on_inconclusive": True, "canary_analysis_warmup_seconds": 0,
                  "canary_analysis_min_seconds": 0, "canary_analysis_max_seconds": 1, "canary_analysis_poll_seconds": 1,
                  "release_report_receipt": False}
NO_LOAD = ("-e", json.dumps(NO_LOAD_WINDOW))
# For tests whose subject is the live canary window, or the load balancers' health checks: a fault
# that visitors meet would be stopped by the dark launch first (tests/e2e/test_release_dark_launch.py).
NO_DARK_LAUNCH = ("-e", '{"release_dark_launch": false}')


def package(version):
    """Build the demo app's package for `version` (reproducible); return its path."""
    out = subprocess.run([os.path.join(ROOT, "examples", "demo-app", "package.sh"), version, PACKAGES],
                         check=True, capture_output=True, text=True)
    return out.stdout.strip()


def variant_package(tmp_path, version, edit, base="2.0.0"):
    """A package of `version` made from `base`'s: unpacked, version renamed, edit(src dir) applied, repacked.

    Reproducible (fixed times and owners): the same variant always has the same checksum.
    """
    src = tmp_path / ("src-%s" % version)
    with tarfile.open(package(base)) as tar:
        # Our own package; the "data" filter where this Python has it (Debian 12's 3.11.2 does not).
        tar.extractall(src, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    for path in src.rglob("*.php"):
        path.write_text(path.read_text().replace(base, version))
    edit(src)
    out = tmp_path / ("demo-app-%s.tar.gz" % version)

    def fixed(info):
        info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
        return info
    with gzip.GzipFile(out, "wb", mtime=0) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        tar.add(src, arcname=".", filter=fixed)
    subprocess.run("sha256sum %s > %s.sha256" % (out.name, out.name), shell=True, cwd=tmp_path, check=True)
    return str(out)


def web_nodes():
    out = subprocess.run(["podman", "ps", "--filter", "label=daylight.group=webservers", "--format", "{{.Names}}"],
                         check=True, capture_output=True, text=True)
    return sorted(out.stdout.split())


def load_balancers():
    """Names of the running lab load balancers, sorted."""
    out = subprocess.run(["podman", "ps", "--filter", "label=daylight.group=loadbalancers", "--format", "{{.Names}}"],
                         check=True, capture_output=True, text=True)
    return sorted(out.stdout.split())


def lb_states(backend=None):
    """{lb: {server: status}} from each load balancer's admin socket ('show stat').

    Only servers (not FRONTEND/BACKEND rows), of `backend` when given. A load balancer whose
    socket does not answer maps to {}, so a comparison or an assertion on it fails visibly.
    """
    states = {}
    for lb in load_balancers():
        out = subprocess.run(["podman", "exec", lb, "bash", "-c", "echo 'show stat' | socat stdio /run/haproxy/admin.sock"],
                             capture_output=True, text=True, check=False).stdout
        servers = {}
        for row in csv.DictReader(io.StringIO(out.lstrip("# "))):
            if row.get("svname") in (None, "FRONTEND", "BACKEND") or (backend and row.get("pxname") != backend):
                continue
            servers[row["svname"]] = row["status"]
        states[lb] = servers
    return states


def served_versions():
    """What each web node serves, asked of the node itself (not through the load balancer)."""
    versions = {}
    for node in web_nodes():
        out = subprocess.run(["podman", "exec", node, "curl", "-s", "-o", "/dev/null", "-D", "-",
                              "http://127.0.0.1/"], capture_output=True, text=True, check=False)
        m = re.search(r"^x-release-version:\s*(\S+)", out.stdout, re.I | re.M)
        versions[node] = m.group(1) if m else "none"
    return versions


def share(name):
    """A file of the releases share (None when absent), read through the first web node that
    answers: a test may freeze one."""
    for node in web_nodes():
        out = subprocess.run(["podman", "exec", node, "cat", "/srv/daylight/releases/" + name],
                             capture_output=True, text=True, check=False)
        if out.returncode != 255:  # podman's own failure (a paused container): try the next node
            return out.stdout if out.returncode == 0 else None
    raise AssertionError("no web node answered to read %s from the share" % name)


# Every playbook run of the e2e suite through playbook(), one JSON line each (test, playbook,
# seconds, rc): how much of the suite's time is releases, for deciding what to make faster.
PLAYBOOK_RUNS = os.path.join(ROOT, "build", "e2e-playbooks.jsonl")


def playbook(name, *args, env=None):
    """Run a playbook from the repository root (env: extra environment); return (returncode, output, seconds)."""
    started = time.monotonic()
    proc = subprocess.run(["ansible-playbook", name, *args], cwd=ROOT, capture_output=True, text=True, check=False,
                          env=dict(os.environ, **(env or {})))
    seconds = time.monotonic() - started
    test = os.environ.get("PYTEST_CURRENT_TEST")
    if test:
        os.makedirs(os.path.dirname(PLAYBOOK_RUNS), exist_ok=True)
        with open(PLAYBOOK_RUNS, "a", encoding="utf-8") as f:
            f.write(json.dumps({"test": test.rsplit(" ", 1)[0], "playbook": name, "seconds": round(seconds, 1),
                                "rc": proc.returncode}) + "\n")
    return proc.returncode, proc.stdout + proc.stderr, seconds


def last_report(version):
    """The newest JSON report of `version` on the controller (release_report_dir's default)."""
    reports = glob.glob(os.path.join(os.path.expanduser("~"), ".daylight-release", "reports", glob.escape(version) + "-*.json"))
    assert reports, "no report of %s was written" % version
    with open(max(reports, key=os.path.getmtime)) as f:
        return json.load(f)


def release(version, package_path, *extra):
    """Run release.yml; return (returncode, output, seconds)."""
    # JSON extra vars: a version with a space must arrive whole, not split as key=value.
    return playbook("release.yml", "-e", json.dumps({"release_version": version, "release_package": package_path}), *extra)


def recap(output):
    """PLAY RECAP counters per host: {'web1': {'ok': 3, 'changed': 0, ...}}."""
    hosts = {}
    for m in re.finditer(r"^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$", output, re.M):
        hosts[m.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
    return hosts


def release_under_load(old, new, rate=60, batch_size=1):
    """The whole scenario; returns a dict the test asserts on and the demo prints."""
    old_pkg, new_pkg = package(old), package(new)
    if set(served_versions().values()) != {old}:
        # Without load: nothing to judge the canary on, and nobody to protect yet.
        rc, out = release(old, old_pkg, *NO_LOAD)[:2]
        if rc != 0:
            raise RuntimeError("could not put the lab on %s first:\n%s" % (old, out[-3000:]))
    before = served_versions()
    with Load(rate=rate) as load:
        time.sleep(3)  # a baseline on the old release
        rc, out, seconds = release(new, new_pkg, "-e", json.dumps({"release_batch_size": batch_size}))
        time.sleep(3)  # and a tail on the new one
    report = load.report(old, new)
    after = served_versions()
    return {
        "release_rc": rc,
        "release_output": out,
        "release_seconds": round(seconds, 1),
        "batch_size": batch_size,
        # What the release's db_migrate runs said, e.g. {"pre": "0002_visits_add_node", "post": "none pending"}
        "migrations": dict(re.findall(r"(pre|post) migrations of %s: ([^'\"\n]*)" % re.escape(new), out)),
        "before": before,
        "after": after,
        "load": report.summary(),
        "examples": {
            "failed": [vars(r) for r in report.failed()[:5]],
            "inconsistent": [vars(r) for r in report.inconsistent()[:5]],
            "stale": [vars(r) for r in report.stale()[:5]],
        },
    }


def print_report(result, old, new):
    load = result["load"]
    print()
    print("Release %s -> %s under load" % (old, new))
    print("  %-8s %-10s %-10s" % ("node", "before", "after"))
    for node in sorted(result["after"]):
        print("  %-8s %-10s %-10s" % (node, result["before"].get(node, "none"), result["after"][node]))
    print("  requests sent      %d (%.1f/s)" % (load["requests"], load["rate_per_second"]))
    print("  failed             %d" % load["failed"])
    print("  inconsistent       %d" % load["inconsistent"])
    print("  stale              %d" % load["stale"])
    print("  mixed-version secs %d" % load["seconds_with_mixed_versions"])
    for lb, counts in load["per_lb"].items():
        print("  via %-14s %d requests, %d failed" % (lb, counts["requests"], counts["failed"]))
    for phase, applied in sorted(result["migrations"].items(), reverse=True):
        print("  %-4s migrations    %s" % (phase, applied))
    print("  release duration   %.1f s (staging, migrations and the canary's window included; canary, then %d at a time)"
          % (result["release_seconds"], result["batch_size"]))
    print("  ansible-playbook   %s" % ("ok" if result["release_rc"] == 0 else "FAILED rc=%d" % result["release_rc"]))
    for kind, examples in result["examples"].items():
        for e in examples:
            print("  %s: %s" % (kind, json.dumps(e)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--from", dest="old", default="1.0.0")
    parser.add_argument("--to", dest="new", default="2.0.0")
    parser.add_argument("--rate", type=int, default=60, help="requests per second (default 60)")
    parser.add_argument("--batch-size", type=int, default=1, help="web nodes per batch (default 1)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    result = release_under_load(args.old, args.new, args.rate, args.batch_size)
    print_report(result, args.old, args.new)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({k: v for k, v in result.items() if k != "release_output"}, f, indent=2)
    load = result["load"]
    ok = (result["release_rc"] == 0 and not load["failed"] and not load["inconsistent"] and not load["stale"]
          and set(result["after"].values()) == {args.new})
    if result["release_rc"] != 0:
        print(result["release_output"][-4000:])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
