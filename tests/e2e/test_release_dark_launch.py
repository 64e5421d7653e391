"""End-to-end: the canary's dark launch and its error log, on the podman lab under mixed load.

The load mixes the demo app's pages (loadgen.MIXED_PATHS); the smoke test checks only / and
/probe.php. Nothing is mocked: each fault is a real package whose PHP breaks a page or writes
to Apache's error log, and what visitors saw is measured by the load generator through both load
balancers. Each test asserts the final state (versions, load balancers, lock, history).
"""

import re
import time

import pytest

from loadgen import MIXED_PATHS, Load
from release_under_load import NO_DARK_LAUNCH, release, served_versions, variant_package, web_nodes
from test_release import NO_LOAD
from test_release_faults import START, assert_estate, flat, history, lab_on_start, record

RATE = 60


@pytest.fixture
def lab():
    return lab_on_start()


def _features_broken(src):
    """/features.php calls a function the release forgot: a PHP fatal error, a 500, for everyone."""
    page = src / "features.php"
    text = page.read_text()
    anchor = "$t = $GLOBALS['daylight_toggles'];"
    assert anchor in text
    page.write_text(text.replace(anchor, anchor + "\ndemo_feature_table_rows($t);", 1))


def _logs_a_warning(message):
    """Every page logs `message` (a PHP E_USER_WARNING) and still answers 200."""
    def edit(src):
        with open(src / "lib" / "bootstrap.php", "a") as f:
            f.write("\ntrigger_error(%s, E_USER_WARNING);\n" % message)
    return edit


def _visitors_on(report, version):
    return [r for r in report.responses if r.version == version]


def test_a_page_the_smoke_test_does_not_ask_for_is_stopped_before_any_visitor(lab, tmp_path):
    version, started = "2.6.0-features-broken", time.monotonic()
    pkg = variant_package(tmp_path, version, _features_broken)
    with Load(rate=RATE, paths=MIXED_PATHS) as load:
        rc, out = release(version, pkg)[:2]
    assert rc != 0
    text = flat(out)
    assert "dark launch" in text and "GET /features.php" in text and "canary 500" in text, out[-3000:]
    canary = re.search(r"failed on (web\d+)", text)
    assert canary and "%s is on %s and enabled" % (canary.group(1), START) in text, out[-3000:]
    assert "Next: fix the release and release it again, or stay on %s" % START in text, out[-3000:]
    report = load.report(START, version)
    # Stopped while drained: no visitor was ever answered by the new release, and none failed.
    assert _visitors_on(report, version) == [] and report.failed() == [], report.summary()
    assert_estate(START, out)
    assert history()[-1]["version"] == version and history()[-1]["result"] == "rolled back"
    record("page broken, dark launch on", version, load, started)


def test_without_the_dark_launch_visitors_meet_the_broken_page(lab, tmp_path):
    """The same release judged by the live canary window alone: what the dark launch saves."""
    version, started = "2.6.0-features-broken", time.monotonic()
    pkg = variant_package(tmp_path, version, _features_broken)
    with Load(rate=RATE, paths=MIXED_PATHS) as load:
        rc, out = release(version, pkg, *NO_DARK_LAUNCH)[:2]
    assert rc != 0
    # No task of the dark_launch role ran (the switch's own task names may still say "dark launch").
    assert "TASK [daylight.release.dark_launch :" not in out and "dark launch pass" not in flat(out), out[-3000:]
    report = load.report(START, version)
    failed = report.failed()
    assert failed and {r.path.split("?")[0] for r in failed} == {"/features.php"}, report.summary()
    assert {r.version for r in failed} == {version}
    assert_estate(START, out)
    record("page broken, dark launch off", version, load, started)


def test_a_new_warning_on_every_request_is_stopped_and_named(lab, tmp_path):
    version, started = "2.6.1-new-warning", time.monotonic()
    pkg = variant_package(tmp_path, version, _logs_a_warning("'cart total recomputed for order ' . mt_rand(1000, 9999)"))
    with Load(rate=RATE, paths=MIXED_PATHS) as load:
        rc, out = release(version, pkg)[:2]
    assert rc != 0
    text = flat(out)
    # The signature: the message with the order number and the file's path masked.
    assert re.search(r"error log signature\(s\) new on the canary: \d+ x \[php:warn\] PHP Warning: "
                     r"cart total recomputed for order <n> in <path> on line <n>", text), out[-3000:]
    report = load.report(START, version)
    assert _visitors_on(report, version) == [] and report.failed() == [], report.summary()
    assert_estate(START, out)
    assert history()[-1]["result"] == "rolled back"
    record("new warning on every request", version, load, started)


def test_a_warning_the_old_release_logs_too_does_not_stop_a_release(lab, tmp_path):
    old, new = "2.6.2-known-warning", "2.6.3-known-warning"
    warning = _logs_a_warning("'legacy tax table in use'")
    # The old release goes live first, without a dark launch: against START its warning is new.
    rc, out = release(old, variant_package(tmp_path, old, warning), *NO_LOAD, *NO_DARK_LAUNCH,
                      "-e", "release_batch_size=2")[:2]
    assert rc == 0, out[-3000:]
    started = time.monotonic()
    with Load(rate=RATE, paths=MIXED_PATHS) as load:
        rc, out = release(new, variant_package(tmp_path, new, warning))[:2]
    assert rc == 0, out[-3000:]
    text = flat(out)
    assert "known: [php:warn] PHP Warning: legacy tax table in use in <path> on line <n>" in text, out[-3000:]
    assert re.search(r"pass: no error log signature new on the canary \([1-9]\d* known", text), out[-3000:]
    assert served_versions() == {node: new for node in web_nodes()}
    record("warning known from the old release", new, load, started, old=old)
