"""`make bench`: what a release costs and what visitors see, measured on the lab.

    python tests/bench/bench.py [--nodes 3 6 12] [--batch 1 25% 4] [--compare | --no-compare] [--out build/bench]

1. Phases: for each web node count and batch size, the lab is scaled to that many nodes, put on
   one release, and a new release goes out under steady load with the daylight.release.timeline
   callback on. Every phase (preflight, staging, migrations, and per batch drain / swap+reload /
   smoke / enable / canary watch) is read from the task timestamps (tests/bench/phases.py).
2. Side by side, at 3 nodes, same package, same load: (a) a bare symlink swap on every node at once,
   no drain, no reload; (b) the same plus a graceful reload; (c) daylight.release. Each with a
   healthy release, a broken one (its probe page answers 500) and long requests (several seconds)
   in flight across the swap. Given a checkout of the ansistrano.deploy role (--ansistrano DIR),
   also that role, as issue 8's author ran it (tests/bench/ansistrano.yml).

Writes build/bench/results.json and build/bench/summary.md and prints the summary; every release of
step 1 also gets a PNG timeline next to its timeline JSONL (tests/bench/plot.py: requests/s,
failures and p95 latency, the canary and every batch shaded). Figures are as measured on this
machine in this run; nothing is averaged with earlier runs.
"""

import argparse
import datetime
import json
import os
import pathlib
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
sys.path.insert(0, HERE)

import phases  # noqa: E402
import plot  # noqa: E402
from loadgen import MIXED_PATHS, Load  # noqa: E402
from release_under_load import NO_LOAD, package, playbook, served_versions, variant_package, web_nodes  # noqa: E402

BASE = "2.0.0"
RATE = 60
# The canary's window is not what is measured here: a short one, judged on fewer requests, so a
# 12-node estate (where the canary sees a twelfth of the load) still reaches a verdict.
CANARY = {"canary_analysis_min_requests": 60, "canary_analysis_min_seconds": 5, "canary_analysis_max_seconds": 30}


def back_to_three_nodes():
    """The lab's usual 3 web nodes, if it has another number."""
    if len(web_nodes()) != 3:
        print("lab: 3 web nodes (%.0f s)" % scale_lab(3), flush=True)


def run_id():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d%H%M%S")


def scale_lab(nodes):
    """The lab with exactly `nodes` web nodes, configured; returns how long that took."""
    started = time.monotonic()
    subprocess.run([os.path.join(ROOT, "lab", "lab.sh"), "up", str(nodes)], check=True, cwd=ROOT)
    subprocess.run(["ansible-playbook", "-i", "inventories/lab", "lab/configure.yml"], check=True, cwd=ROOT,
                   stdout=subprocess.DEVNULL)
    return time.monotonic() - started


def release(version, pkg, *extra, timeline=None, play="release.yml", env=None):
    """Run `play` for `version` with the bench's canary window; the timeline callback on when given a path."""
    env = dict(env or {})
    if timeline:
        env.update(ANSIBLE_CALLBACKS_ENABLED="daylight.release.timeline", DAYLIGHT_TIMELINE=timeline)
    return playbook(play, "-e", json.dumps(dict(CANARY, release_version=version, release_package=pkg)), *extra, env=env)


def put_on(version, pkg):
    """Every web node on `version` (a release without load, proceeding without a canary verdict)."""
    if set(served_versions().values()) == {version}:
        return
    rc, out, _seconds = release(version, pkg, *NO_LOAD)
    if rc != 0:
        raise RuntimeError("could not put the lab on %s:\n%s" % (version, out[-3000:]))


def visitors(report):
    """What visitors saw, from the load generator's responses."""
    summary = report.summary()
    old = [r.sent for r in report.responses if not r.failed and r.version == report.old_version]
    new = [r.sent for r in report.responses if not r.failed and r.version == report.new_version]
    return {
        "requests": summary["requests"],
        "failed": summary["failed"],
        "mixed_version": summary["inconsistent"],
        "stale": summary["stale"],
        # From the first response of the new release to the last of the old one, anywhere.
        "old_code_served_s": round(max(0.0, max(old) - min(new)), 1) if old and new else None,
        "long_requests": sum(1 for r in report.responses if "hold=" in r.path),
        "long_failed_or_mixed": sum(1 for r in report.responses if "hold=" in r.path and (r.failed or not r.consistent)),
    }


def measure_phases(nodes, batch, out_dir, tag, env=None, variant=""):
    """One release under load with the timeline on; its phases and what visitors saw.

    env: extra environment for ansible-playbook (an Ansible option measured as `variant`)."""
    label = str(batch).replace("%", "pct") + (".%s" % variant if variant else "")  # no '%' in a version or file name
    version = "bench.%s.%d.%s" % (tag, nodes, label)
    base_pkg, pkg = package(BASE), package(version)
    put_on(BASE, base_pkg)
    timeline = os.path.join(out_dir, "timeline-%d-nodes-batch-%s.jsonl" % (nodes, label))
    # Several pages, as visitors do: the canary's dark launch replays what the load balancers logged.
    with Load(rate=RATE, paths=MIXED_PATHS) as load:
        time.sleep(3)
        rc, out, seconds = release(version, pkg, "-e", json.dumps({"release_batch_size": batch}), timeline=timeline,
                                   env=env)
        time.sleep(2)
    # The load stamps requests with time.monotonic(), the timeline with time.time(): one clock for the plot.
    monotonic_minus_wall = time.monotonic() - time.time()
    records = phases.load(timeline)
    result = phases.phases(records)
    report = load.report(BASE, version)
    spans = [dict(span, start=span["start"] + monotonic_minus_wall, end=span["end"] + monotonic_minus_wall)
             for span in phases.batch_spans(records)]
    png = os.path.splitext(timeline)[0] + ".png"
    try:
        plot.draw(report.responses, spans, png, "%d web nodes, batch %s: %s under %d requests/s" % (
            nodes, batch, version, RATE))
    except ImportError as e:
        # Without matplotlib the run's figures still count; only its picture is missing.
        print("  no timeline PNG: %s" % e, flush=True)
        png = None
    rolled = [b for b in result["batches"] if b["kind"] == "batch"]
    return {
        "nodes": nodes, "batch_size": str(batch), "variant": variant, "version": version, "rc": rc,
        "wall_s": round(seconds, 1),
        "phases": result,
        "summary": phases.summary_line(result),
        "timeline_png": png,
        # Mechanics only: a rolled batch's wall-clock span (no canary watch in it).
        "per_batch_s": [round(b["total"], 2) for b in rolled],
        "per_batch_mean_s": round(sum(b["total"] for b in rolled) / len(rolled), 2) if rolled else None,
        "canary_mechanics_s": next((round(b["total"] - (b["canary_watch"] or 0), 2)
                                    for b in result["batches"] if b["kind"] == "canary"), None),
        "visitors": visitors(report),
        "output_tail": out[-1500:] if rc else "",
    }


def broken(tmp_dir, version):
    """The base package as `version`, its probe page answering 500 to everyone."""
    def fault(src):
        probe = src / "probe.php"
        probe.write_text(probe.read_text().replace("require __DIR__ . '/lib/bootstrap.php';",
                                                   "require __DIR__ . '/lib/bootstrap.php';\nhttp_response_code(500); exit;", 1))
    return variant_package(pathlib.Path(tmp_dir), version, fault, base=BASE)


def undo_ansistrano():
    """Every node's docroot link back on BASE on the share, and ansistrano's directories gone, for the next release."""
    for node in web_nodes():
        subprocess.run(["podman", "exec", node, "bash", "-c",
                        "ln -sfn /srv/daylight/releases/%s /var/www/current.bench && mv -T /var/www/current.bench "
                        "/var/www/current && systemctl reload apache2 && rm -rf /var/www/ansistrano-releases "
                        "/var/www/shared" % BASE], check=True, capture_output=True)


def compare(out_dir, tag, ansistrano=None):
    """(a) bare swap, (b) swap + reload, (c) daylight.release: healthy, broken, long requests; and ansistrano when given."""
    rows = []
    tmp = os.path.join(out_dir, "packages")
    os.makedirs(tmp, exist_ok=True)
    ways = [("bare swap", "tests/bench/all_at_once.yml", {"all_at_once_reload": False}),
            ("swap + reload", "tests/bench/all_at_once.yml", {"all_at_once_reload": True}),
            ("daylight.release", "release.yml", {})]
    if ansistrano:
        ways.insert(2, ("ansistrano", "tests/bench/ansistrano.yml", {"bench_ansistrano_role": os.path.abspath(ansistrano)}))
    cases = [("healthy", 0), ("broken", 0), ("long requests", 4)]
    for case, long_requests in cases:
        for n, (way, play, extra) in enumerate(ways):
            version = "cmp.%s.%s.%d" % (tag, case.split()[0], n)
            pkg = broken(tmp, version) if case == "broken" else package(version)
            put_on(BASE, package(BASE))
            with Load(rate=RATE, long_requests=long_requests, hold=3.0) as load:
                time.sleep(4 if long_requests else 3)
                timeline = os.path.join(out_dir, "compare-%s.jsonl" % version) if play == "release.yml" else None
                rc, out, seconds = release(version, pkg, "-e", json.dumps(extra), play=play, timeline=timeline)
                time.sleep(4 if long_requests else 2)
            watch = 0.0
            if timeline:
                watch = sum(b["canary_watch"] or 0 for b in phases.phases(phases.load(timeline))["batches"])
            row = {"case": case, "way": way, "rc": rc, "wall_s": round(seconds, 1),
                   # The yardstick: a safe release's wall time without the canary's watch.
                   "wall_without_canary_watch_s": round(seconds - watch, 1),
                   "after": sorted(set(served_versions().values()))}
            row.update(visitors(load.report(BASE, version)))
            rows.append(row)
            if way == "ansistrano":
                undo_ansistrano()
            print("  %-14s %-17s rc=%d wall %.1f s failed %d mixed %d stale %d" % (
                case, way, rc, seconds, row["failed"], row["mixed_version"], row["stale"]), flush=True)
    return rows


def ansible_options():
    """(variant, extra environment) pairs: the lab's defaults first, then one option changed at a time."""
    variants = [
        ("defaults", {}),  # ansible.cfg: pipelining on, forks 10; SSH ControlPersist=60s (Ansible's ssh_args)
        ("no-pipelining", {"ANSIBLE_PIPELINING": "False"}),
        ("no-pipelining-tmpfs-remote-tmp", {"ANSIBLE_PIPELINING": "False", "ANSIBLE_REMOTE_TMP": "/dev/shm/.ansible-tmp"}),
        ("no-controlpersist", {"ANSIBLE_SSH_ARGS": "-o ControlMaster=no"}),
        ("forks-1", {"ANSIBLE_FORKS": "1"}),
    ]
    try:
        import ansible_mitogen  # pylint: disable=import-outside-toplevel
    except ImportError:
        print("  Mitogen not installed (pip install -r tests/bench/requirements.txt): not measured", flush=True)
    else:
        strategies = os.path.join(os.path.dirname(ansible_mitogen.__file__), "plugins", "strategy")
        variants.append(("mitogen", {"ANSIBLE_STRATEGY_PLUGINS": strategies, "ANSIBLE_STRATEGY": "mitogen_linear"}))
    return variants


def staging(out_dir, tag, megabytes=50):
    """A package with `megabytes` of incompressible data: the release's staging phase against the bare
    copy and extraction of the same package on one node over the same SSH connection settings."""
    version = "bench.%s.staging-%dmb" % (tag, megabytes)

    def add_blob(src):
        (src / "blob.bin").write_bytes(os.urandom(megabytes * 1024 * 1024))
    os.makedirs(os.path.join(out_dir, "packages"), exist_ok=True)
    pkg = variant_package(pathlib.Path(out_dir) / "packages", version, add_blob, base=BASE)
    put_on(BASE, package(BASE))
    ssh = ["ssh", "-F", os.path.join(ROOT, "lab", "cache", "ssh", "config"), web_nodes()[0]]
    started = time.monotonic()
    with open(pkg, "rb") as f:
        subprocess.run(ssh + ["rm -rf /tmp/bench-staging && mkdir /tmp/bench-staging && "
                              "cat > /tmp/bench-staging/p.tar.gz && tar -xzf /tmp/bench-staging/p.tar.gz -C /tmp/bench-staging "
                              "&& rm -rf /tmp/bench-staging"], stdin=f, check=True)
    bare = time.monotonic() - started
    timeline = os.path.join(out_dir, "timeline-staging-%dmb.jsonl" % megabytes)
    rc, out, _seconds = release(version, pkg, *NO_LOAD, timeline=timeline)
    staged = phases.phases(phases.load(timeline))["staging"]
    put_on(BASE, package(BASE))
    return {"megabytes": megabytes, "package_bytes": os.path.getsize(pkg), "rc": rc, "staging_s": staged,
            "bare_copy_and_extract_s": round(bare, 1), "output_tail": out[-1500:] if rc else ""}


def summary(results):
    lines = ["# daylight.release benchmark", "",
             "Measured by `make bench` (`python tests/bench/bench.py`) on %s, %d cores; lab over %s." % (
                 results["host"], os.cpu_count(), results["connection"]), ""]
    if results["phases"]:
        lines += ["## Phases (from task timestamps)", "",
                  "| Web nodes | Batch | Wall s | Preflight | Staging | Pre migr. | Canary mechanics | of which dark launch "
                  "| Canary watch | Batches | Per batch (mean) | Failed | Mixed | Stale |",
                  "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for r in results["phases"]:
            p = r["phases"]
            canary = next((b for b in p["batches"] if b["kind"] == "canary"), {})
            cells = [r["nodes"], r["batch_size"], r["wall_s"], p["preflight"], p["staging"], p["migrations"]["pre"],
                     r["canary_mechanics_s"], canary.get("dark_launch"), canary.get("canary_watch"),
                     len(r["per_batch_s"]), r["per_batch_mean_s"],
                     r["visitors"]["failed"], r["visitors"]["mixed_version"], r["visitors"]["stale"]]
            text = ["-" if c is None else ("%.1f" % c if isinstance(c, float) else str(c)) for c in cells]
            lines.append("| %s |" % " | ".join(text))
        lines.append("")
        first = results["phases"][0]
        if first.get("timeline_png"):
            # summary.md is written next to the PNG, so its bare name is the link.
            lines += ["![Requests/s, failed requests/s and p95 latency through the release, %d web nodes, batch %s](%s)" % (
                first["nodes"], first["batch_size"], os.path.basename(first["timeline_png"])), ""]
        for r in results["phases"]:
            lines += ["### %d web nodes, batch %s" % (r["nodes"], r["batch_size"]), "", phases.markdown(r["phases"]),
                      r["summary"], ""]
    if results["comparison"]:
        lines += ["## Side by side (3 web nodes, %d requests/s)" % RATE, "",
                  "| Release | Way | Failed | Mixed-version | Stale | Old code served (s) | Long requests failed or mixed "
                  "| Wall s | Wall s without canary watch | Ends on |",
                  "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
        for r in results["comparison"]:
            lines.append("| %s | %s | %d | %d | %d | %s | %s | %.1f | %.1f | %s |" % (
                r["case"], r["way"], r["failed"], r["mixed_version"], r["stale"],
                "-" if r["old_code_served_s"] is None else r["old_code_served_s"],
                "%d of %d" % (r["long_failed_or_mixed"], r["long_requests"]) if r["long_requests"] else "-",
                r["wall_s"], r["wall_without_canary_watch_s"], ", ".join(r["after"])))
        lines.append("")
    if results["options"]:
        lines += ["## Ansible options (3 web nodes, batch 1, %d requests/s)" % RATE, "",
                  "| Variant | Wall s | Canary mechanics | Per batch (mean) | Failed |", "| --- | ---: | ---: | ---: | ---: |"]
        for r in results["options"]:
            lines.append("| %s | %.1f | %s | %s | %d |" % (
                r["variant"], r["wall_s"], r["canary_mechanics_s"], r["per_batch_mean_s"], r["visitors"]["failed"]))
        lines.append("")
    if results["staging"]:
        r = results["staging"]
        lines += ["## Staging a %d MB package" % r["megabytes"], "",
                  "release staging phase %.1f s; the same package copied over SSH and extracted on one node by hand: %.1f s"
                  % (r["staging_s"], r["bare_copy_and_extract_s"]), ""]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--nodes", nargs="+", type=int, default=[3, 6, 12])
    parser.add_argument("--batch", nargs="+", default=["1", "25%", "4"])
    parser.add_argument("--compare", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--options", action=argparse.BooleanOptionalAction, default=True,
                        help="measure Ansible's options (pipelining, ControlPersist, forks, Mitogen) at 3 nodes")
    parser.add_argument("--staging", action=argparse.BooleanOptionalAction, default=True,
                        help="measure staging a 50 MB package")
    parser.add_argument("--ansistrano", metavar="DIR",
                        help="a checkout of the ansistrano.deploy role, to compare with side by side (not installed by make)")
    parser.add_argument("--out", default=os.path.join(ROOT, "build", "bench"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    tag = run_id()
    inventory = subprocess.run(["ansible-config", "dump", "--only-changed"], cwd=ROOT, capture_output=True,
                               text=True, check=False).stdout
    results = {"run": tag, "host": os.uname().nodename, "rate": RATE,
               "connection": "ssh" if "lab-ssh" in inventory else "podman",
               "phases": [], "comparison": [], "options": [], "staging": None}
    for nodes in sorted(args.nodes):
        print("lab: %d web nodes (%.0f s)" % (nodes, scale_lab(nodes)), flush=True)
        for batch in args.batch:
            batch = int(batch) if batch.isdigit() else batch
            if isinstance(batch, int) and batch >= nodes - 1:
                continue  # the canary and one batch would be the whole estate (a release refuses a batch of every node)
            r = measure_phases(nodes, batch, args.out, tag)
            results["phases"].append(r)
            print("  %d nodes, batch %s: rc=%d %s" % (nodes, batch, r["rc"], r["summary"]), flush=True)
    if args.compare:
        back_to_three_nodes()
        results["comparison"] = compare(args.out, tag, args.ansistrano)
    if args.options or args.staging:
        back_to_three_nodes()
    if args.options:
        for variant, env in ansible_options():
            r = measure_phases(3, 1, args.out, tag, env=env, variant=variant)
            results["options"].append(r)
            print("  %s: rc=%d wall %.1f s, per batch %s s" % (variant, r["rc"], r["wall_s"], r["per_batch_mean_s"]), flush=True)
    if args.staging:
        results["staging"] = staging(args.out, tag)
        print("  staging: %s" % results["staging"], flush=True)
    # The lab as the tests expect it: a run that measured 12 nodes last once left 12, and the
    # e2e suite that followed failed on it.
    back_to_three_nodes()
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    text = summary(results)
    with open(os.path.join(args.out, "summary.md"), "w") as f:
        f.write(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
