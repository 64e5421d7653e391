"""End-to-end: feature toggle bands on the lab, through `ansible-playbook toggles.yml` and HTTP.

Needs the lab running with the demo app that has the toggle reader (examples/demo-app/src/lib/
toggles.php) released on every node: tests/e2e/test_release.py, which runs before this file,
releases it. The requests go through the load balancer (127.0.0.1:8080) with explicit cookies,
no cookie jar: `daylight_n` is the visitor's number, `daylight_groups` the session's groups.
"""

import hashlib
import http.client
import itertools
import json
import os
import re
import subprocess
import threading
import time

import pytest

from release_under_load import ROOT, recap, share, web_nodes

TOGGLE_FILE = "/etc/daylight/toggles.json"
LB = ("127.0.0.1", int(os.environ.get("LAB_HTTP_PORT", "8080")))
NODE_URL, DOCROOT = "http://127.0.0.1/", "/var/www/current"

SALT = "s1"
CHECKOUT_10 = {"bands": {"1-10": "new-checkout", "11-100": "control"}}
SEARCH_25 = {"salt": SALT, "percent": {"new-search": 25}}  # salted: exercises the PHP permutation
BANDS_10 = {"checkout": CHECKOUT_10, "search": SEARCH_25}
# 1-5 move new-checkout -> control, 11-20 move control -> new-checkout.
BANDS_MOVED = {"checkout": {"bands": {"1-5": "control", "6-20": "new-checkout", "21-100": "control"}},
               "search": SEARCH_25}


# ---------------------------------------------------------------- helpers

def permute(n, salt):
    """The toggle_bands salt permutation (plugins/module_utils/toggle_bands.py), written out again."""
    p = list(range(101))
    if salt:
        for i in range(100, 1, -1):
            j = 1 + int(hashlib.sha256(("%s:%d" % (salt, i)).encode()).hexdigest()[:8], 16) % i
            p[i], p[j] = p[j], p[i]
    return p[n]


def search_group(n):
    return "new-search" if permute(n, SALT) <= 25 else "control"


def toggles(variables, *args):
    """Run toggles.yml with JSON extra vars; return (returncode, output)."""
    proc = subprocess.run(["ansible-playbook", "toggles.yml", "-e", json.dumps(variables), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def push(features, **extra):
    rc, out = toggles(dict(extra, feature_toggles_features=features))
    assert rc == 0, out[-4000:]
    return out


def node_files():
    """Each node's toggle file, as bytes (None when there is none)."""
    files = {}
    for node in web_nodes():
        proc = subprocess.run(["podman", "exec", node, "cat", TOGGLE_FILE], capture_output=True, check=False)
        files[node] = proc.stdout if proc.returncode == 0 else None
    return files


def node_serials():
    """Each node's X-Toggle-Serial, asked of the node itself (not through the load balancer)."""
    serials = {}
    for node in web_nodes():
        out = subprocess.run(["podman", "exec", node, "curl", "-s", "-o", "/dev/null", "-D", "-", NODE_URL],
                             capture_output=True, text=True, check=False).stdout
        m = re.search(r"^x-toggle-serial:\s*(\S+)", out, re.I | re.M)
        serials[node] = m.group(1) if m else "absent"
    return serials


def file_serials():
    return {node: str(json.loads(text)["serial"]) if text else "none" for node, text in node_files().items()}


class Reply:
    def __init__(self, resp):
        self.status = resp.status
        self.headers = {k.lower(): v for k, v in resp.getheaders()}
        # name -> (value, attributes) of every Set-Cookie
        self.cookies = {}
        for key, value in resp.getheaders():
            if key.lower() == "set-cookie":
                pair, attrs = (value.split(";", 1) + [""])[:2]
                name, val = (pair.split("=", 1) + [""])[:2]
                self.cookies[name.strip()] = (val, attrs.lower())
        self.body = resp.read().decode(errors="replace")

    @property
    def serial(self):
        return self.headers.get("x-toggle-serial")

    @property
    def groups(self):
        text = self.headers.get("x-toggle-groups", "")
        return dict(pair.split("=", 1) for pair in text.split(";") if pair)


def get(path="/features.php", cookies=None):
    """One request through the load balancer, sending exactly `cookies`."""
    conn = http.client.HTTPConnection(*LB, timeout=10)
    try:
        headers = {"Connection": "close"}
        if cookies:
            headers["Cookie"] = "; ".join("%s=%s" % kv for kv in cookies.items())
        conn.request("GET", path, headers=headers)
        return Reply(conn.getresponse())
    finally:
        conn.close()


class VisitorLoad:
    """Steady requests to /features.php through the load balancer, each a new visitor whose
    number cycles 1, 2, ..., 100, 1, ... (no session cookie), so a group holding k% of the
    numbers gets close to k% of the requests. Bounded: stops by itself after max_seconds."""

    def __init__(self, rate=40, workers=4, max_seconds=600):
        self.rate, self.workers, self.max_seconds = rate, workers, max_seconds
        self.statuses = []
        self._numbers = itertools.cycle(range(1, 101))
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._work, daemon=True) for _worker in range(workers)]

    def __enter__(self):
        self._started = time.monotonic()
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for t in self._threads:
            t.join(timeout=15)

    def _work(self):
        interval = self.workers / self.rate
        while not self._stop.is_set() and time.monotonic() - self._started < self.max_seconds:
            with self._lock:
                n = next(self._numbers)
            try:
                status = get(cookies={"daylight_n": n}).status
            except (OSError, http.client.HTTPException):
                status = 0
            with self._lock:
                self.statuses.append(status)
            time.sleep(interval)


def verdict(feature, step, result):
    """The role's report of one ramp step's health check, in the output with whitespace squeezed."""
    return re.compile(r"%s at %d%%: (\d+) of (\d+) responses of backend \S+ were 5xx \([\d.]+%%\) in \d+ s; "
                      r"maximum [\d.]+%%, at least \d+ requests: %s" % (feature, step, result))


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def lab():
    nodes = web_nodes()
    if not nodes:
        pytest.fail("the lab is not running: start it with `make lab`")
    # The reader answers even without a toggle file (X-Toggle-Serial: none); no header, no reader.
    missing = [node for node, serial in node_serials().items() if serial == "absent"]
    if missing:
        pytest.fail("%s serve(s) no X-Toggle-Serial header at %s: release the demo app packaged from "
                    "examples/demo-app first (tests/e2e/test_release.py does)" % (", ".join(missing), NODE_URL))
    push(BANDS_10)
    yield nodes
    # Leave the lab as examples/toggles/checkout-10.yml describes it, with no broken feature.
    toggles({"feature_toggles_features": {"checkout": CHECKOUT_10}})


# ---------------------------------------------------------------- tests

def test_php_reader_agrees_with_the_python_writer(lab):
    with open(os.path.join(ROOT, "examples", "demo-app", "tests", "toggles_selftest.php"), "rb") as script:
        proc = subprocess.run(["podman", "exec", "-i", lab[0], "php", "--", DOCROOT + "/lib/toggles.php"],
                              stdin=script, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    assert "pass: salt s1 maps 1..10 to 93 42 59 27 81 35 50 89 56 84" in proc.stdout
    assert re.search(r"^ok: \d+ checks$", proc.stdout, re.M), proc.stdout[-3000:]


def test_permutation_check_values():
    assert [permute(n, SALT) for n in range(1, 11)] == [93, 42, 59, 27, 81, 35, 50, 89, 56, 84]


@pytest.mark.parametrize("features, message", [
    ({"checkout": {"bands": {"1-10": "new-checkout", "10-100": "control"}}},
     "feature 'checkout': band 10-100 (control) overlaps band 1-10 (new-checkout) at 10"),
    ({"checkout": {"bands": {"1-10": "new-checkout", "12-100": "control"}}},
     "feature 'checkout': number 11 is not in any band"),
    ({"checkout": {"bands": {"1-10": "new-checkout", "21-100": "control"}}},
     "feature 'checkout': numbers 11-20 are not in any band"),
    ({"checkout": {"bands": {"0-10": "new-checkout", "11-100": "control"}}},
     "feature 'checkout': '0-10' is outside 1-100"),
    # The first feature is fine, the second is not: still nothing is written anywhere.
    ({"checkout": CHECKOUT_10, "search": {"bands": {"1-50": "new-search", "40-100": "control"}}},
     "feature 'search': band 40-100 (control) overlaps band 1-50 (new-search) at 40-50"),
], ids=["overlap", "gap", "wide-gap", "out-of-range", "second-feature"])
def test_bad_bands_are_refused_and_every_file_is_kept(lab, features, message):
    before = node_files()
    assert all(before.values()), before
    rc, out = toggles({"feature_toggles_features": features})
    assert rc != 0
    assert message in out, out[-3000:]
    assert "Write the bands to the toggle file" not in out, "a node was reached: " + out[-3000:]
    assert node_files() == before


def test_bad_ramp_is_refused_and_every_file_is_kept(lab):
    before = node_files()
    rc, out = toggles({"feature_toggles_features": BANDS_10,
                       "feature_toggles_ramp": {"feature": "checkout", "group": "new-checkout",
                                                "steps": [50, 10, 100], "pause": 1}})
    assert rc != 0
    assert "steps must be rising whole percentages 1-100 (got [50, 10, 100])" in out, out[-3000:]
    assert node_files() == before


def test_check_mode_shows_the_moves_and_writes_nothing(lab):
    push(BANDS_10)
    before = node_files()
    rc, out = toggles({"feature_toggles_features": BANDS_MOVED}, "--check", "--diff")
    assert rc == 0, out[-3000:]
    assert "checkout: 1-5 new-checkout -> control" in out, out[-3000:]
    assert "checkout: 11-20 control -> new-checkout" in out, out[-3000:]
    assert node_files() == before


def test_same_bands_twice_changes_nothing(lab):
    push(BANDS_MOVED)
    push(BANDS_10)
    before = node_files()
    out = push(BANDS_10)
    counts = recap(out)
    assert set(lab) <= set(counts), out[-2000:]
    assert {host: c["changed"] for host, c in counts.items()} == {host: 0 for host in counts}, out[-3000:]
    assert node_files() == before


def test_every_node_serves_the_new_serial_after_a_push(lab):
    push(BANDS_10)
    old = file_serials()
    out = push(BANDS_MOVED)
    new = file_serials()
    for node in lab:
        assert int(new[node]) > int(old[node]), (old, new)
        assert "%s serves toggle serial %s" % (node, new[node]) in out, out[-3000:]
    assert node_serials() == new


def test_cookie_numbers_1_to_10_see_the_new_checkout(lab):
    push(BANDS_10)
    serials = set(file_serials().values())
    assert len(serials) == 1, serials
    wrong = {}
    for n in range(1, 101):
        reply = get(cookies={"daylight_n": n})  # no session cookie: a new session
        expected = {"checkout": "new-checkout" if n <= 10 else "control", "search": search_group(n)}
        if reply.status != 200 or reply.groups != expected or reply.serial not in serials:
            wrong[n] = (reply.status, reply.serial, reply.groups)
        # A valid number is kept; the new session gets its groups as a session cookie.
        assert "daylight_n" not in reply.cookies, (n, reply.cookies)
        value, attrs = reply.cookies["daylight_groups"]
        assert value == "checkout%3D{}%3Bsearch%3D{}".format(expected["checkout"], expected["search"]), value
        assert "expires" not in attrs and "max-age" not in attrs, attrs
    assert wrong == {}
    # The page says the same as the header.
    assert "the new checkout" in get(cookies={"daylight_n": 3}).body
    assert "the classic checkout" in get(cookies={"daylight_n": 11}).body


def test_a_new_visitor_gets_a_number_for_a_year(lab):
    push(BANDS_10)
    for cookies in ({}, {"daylight_n": "0"}, {"daylight_n": "101"}, {"daylight_n": "abc"}):
        reply = get(cookies=cookies)
        value, attrs = reply.cookies["daylight_n"]
        n = int(value)
        assert 1 <= n <= 100
        assert "max-age=31536000" in attrs, attrs
        assert reply.groups["checkout"] == ("new-checkout" if n <= 10 else "control")


def test_a_session_keeps_its_groups_after_a_band_change(lab):
    push(BANDS_10)
    sessions = {}
    for n in (5, 15, 50):
        reply = get(cookies={"daylight_n": n})
        sessions[n] = (reply.cookies["daylight_groups"][0], reply.groups)
    assert sessions[5][1]["checkout"] == "new-checkout"
    assert sessions[15][1]["checkout"] == "control"

    push(BANDS_MOVED)  # 5 moves to control, 15 to new-checkout, 50 stays in control
    serials = set(file_serials().values())
    for n, (cookie, groups) in sessions.items():
        for _node in lab:  # round robin: every node honours the session
            old = get(cookies={"daylight_n": n, "daylight_groups": cookie})
            assert old.groups == groups, (n, old.groups, groups)
            assert old.serial in serials  # the new file is read, the session's groups win
            assert "daylight_groups" not in old.cookies
    new = {n: get(cookies={"daylight_n": n}).groups["checkout"] for n in (5, 15, 50)}
    assert new == {5: "control", 15: "new-checkout", 50: "control"}
    # A tampered session cookie is not honoured: the session starts again from the bands.
    forged = get(cookies={"daylight_n": 15, "daylight_groups": "checkout%3D%3Cscript%3E"})
    assert forged.groups["checkout"] == "new-checkout"


def test_half_failed_push_is_reported_per_node_and_converges(lab):
    push(BANDS_10)
    bad = lab[-1]
    saved = subprocess.run(["podman", "exec", bad, "cat", TOGGLE_FILE], capture_output=True, check=True).stdout
    # Make the write fail on one node only: its toggle file is in the way as a directory.
    subprocess.run(["podman", "exec", bad, "sh", "-c", "rm %s && mkdir %s" % (TOGGLE_FILE, TOGGLE_FILE)], check=True)
    try:
        rc, out = toggles({"feature_toggles_features": BANDS_MOVED})
        assert rc != 0
        assert "fatal: [%s]: FAILED!" % bad in out and "Is a directory" in out, out[-3000:]
        assert "the bands did not reach %s" % bad in out, out[-3000:]
        files = node_files()
        good = [node for node in lab if node != bad]
        for node in good:
            assert b'"from": 6' in files[node], (node, files[node])
    finally:
        subprocess.run(["podman", "exec", bad, "rmdir", TOGGLE_FILE], check=True)
        subprocess.run(["podman", "exec", "-i", bad, "sh", "-c", "cat > %s" % TOGGLE_FILE], input=saved, check=True)
    out = push(BANDS_MOVED)
    counts = recap(out)
    assert {node: counts[node]["changed"] > 0 for node in lab} == {node: node == bad for node in lab}, out[-3000:]
    assert node_serials() == file_serials()
    features = {node: json.loads(text)["features"] for node, text in node_files().items()}
    assert all(f == features[lab[0]] for f in features.values()), features


def test_a_frozen_node_is_named_and_does_not_hold_the_others(lab):
    push(BANDS_10)
    # The first node: the one a run otherwise gives the lock back through.
    frozen, others = lab[0], lab[1:]
    # An SSH connection to the node is open when it freezes (ControlPersist keeps the last one):
    # nothing refuses the push's commands, nothing answers them.
    subprocess.run(["ansible", frozen, "-m", "ansible.builtin.ping"], cwd=ROOT, check=True, capture_output=True)
    started = time.monotonic()
    proc = subprocess.Popen(["ansible-playbook", "toggles.yml", "-e", json.dumps(
        {"feature_toggles_features": BANDS_MOVED, "feature_toggles_timeout": 5})], cwd=ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    try:
        # Frozen once the run has its hosts (the lab's inventory lists only running containers)
        # and before the push: while the bands are checked on the controller.
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if "Validate the bands]" in line:
                subprocess.run(["podman", "pause", frozen], check=True, capture_output=True)
                break
        out = "".join(lines) + proc.communicate(timeout=300)[0]
        took = time.monotonic() - started
        assert proc.returncode != 0, out[-3000:]
        assert "the bands did not reach %s" % frozen in " ".join(out.split()), out[-3000:]
        assert "Timed out after 5 second(s)" in out, out[-3000:]
        assert took < 90, "the push took %.0f s" % took
        files = node_files()
        for node in others:
            assert b'"from": 6' in files[node], (node, files[node])
        # Given back through a node that answers, so the next run is not refused.
        assert share(".lock") is None, "the push left the release lock held"
    finally:
        subprocess.run(["podman", "unpause", frozen], check=False, capture_output=True)
        proc.kill()
    out = push(BANDS_MOVED)
    counts = recap(out)
    assert {node: counts[node]["changed"] > 0 for node in lab} == {node: node == frozen for node in lab}, out[-3000:]
    assert node_serials() == file_serials()


def test_ramp_10_50_100_with_a_passing_health_check(lab):
    push(BANDS_10)
    ramp = {"feature": "checkout", "group": "new-checkout", "steps": [10, 50, 100], "pause": 4}
    with VisitorLoad() as load:
        rc, out = toggles({"feature_toggles_features": BANDS_10, "feature_toggles_ramp": ramp,
                           "feature_toggles_health_max_5xx_ratio": 0.01,
                           "feature_toggles_health_min_requests": 20})
    flat = re.sub(r"\s+", " ", out)
    assert rc == 0, out[-4000:]
    assert "checkout at 10%: already in place on every node" in flat, out[-4000:]
    for step in (50, 100):
        m = verdict("checkout", step, "passed").search(flat)
        assert m and m.group(1) == "0" and int(m.group(2)) >= 20, out[-4000:]
    assert "ramp of checkout done: new-checkout has 100% of new sessions" in flat, out[-4000:]
    for node, text in node_files().items():
        bands = json.loads(text)["features"]["checkout"]["bands"]
        assert bands == [{"from": 1, "to": 100, "group": "new-checkout"}], (node, bands)
    assert load.statuses
    assert set(load.statuses) == {200}, sorted(set(load.statuses))
    assert all(get(cookies={"daylight_n": n}).groups["checkout"] == "new-checkout" for n in (1, 50, 100))
    # Running the finished ramp again takes no session away and changes nothing.
    rc, out = toggles({"feature_toggles_features": BANDS_10, "feature_toggles_ramp": ramp})
    assert rc == 0, out[-3000:]
    assert {host: c["changed"] for host, c in recap(out).items()} == {host: 0 for host in recap(out)}, out[-3000:]


def test_ramp_stops_on_5xx_and_leaves_the_last_good_step(lab):
    """A real failure: /features.php answers 500 to sessions in the group `broken`."""
    push(BANDS_10)
    ramp = {"feature": "risky", "group": "broken", "steps": [10, 50, 100], "pause": 5}
    with VisitorLoad() as load:
        # 10% broken is tolerated (up to 30% 5xx), 50% is not.
        rc, out = toggles({"feature_toggles_features": BANDS_10, "feature_toggles_ramp": ramp,
                           "feature_toggles_health_max_5xx_ratio": 0.3,
                           "feature_toggles_health_min_requests": 20})
    flat = re.sub(r"\s+", " ", out)
    assert rc != 0
    assert verdict("risky", 10, "passed").search(flat), out[-4000:]
    assert verdict("risky", 50, "FAILED").search(flat), out[-4000:]
    assert "ramp of risky stopped at 50%: health check failed" in flat, out[-4000:]
    assert "risky is back on the last good step, the step before, 10%" in flat, out[-4000:]
    assert "risky at 100%" not in flat
    for node, text in node_files().items():
        bands = json.loads(text)["features"]["risky"]["bands"]
        assert bands == [{"from": 1, "to": 10, "group": "broken"}, {"from": 11, "to": 100, "group": "control"}], (node, bands)
    assert 500 in load.statuses and 200 in load.statuses
    assert get(cookies={"daylight_n": 5}).status == 500
    assert get(cookies={"daylight_n": 50}).groups["risky"] == "control"
