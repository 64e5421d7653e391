"""End-to-end: the playbooks run the way AWX/Tower runs a job, through ansible-runner, on the lab.

AWX gives ansible-runner a private data directory: env/extravars (the survey's answers),
inventory/, project/ (the synced repository), then reads artifacts/<job>/ (status, rc,
job_events). Remote execution nodes get the same directory through `transmit | worker | process`.
Cancelling a job is a SIGTERM to the runner. Nothing of AWX itself runs here (there is none on this
machine); everything from ansible-runner down is real. Assertions are on the artifacts, not stdout.
"""

import glob
import json
import os
import shutil
import signal
import subprocess
import time

import pytest

from release_under_load import NO_LOAD_WINDOW, ROOT, served_versions, web_nodes
from test_release import _broken_package
from test_release_faults import assert_estate, history, lab_on_start

RUNNER = os.path.join(os.path.dirname(shutil.which("ansible-playbook") or ""), "ansible-runner")
# The survey's answers, as AWX writes them (every answer a string); no load runs, so the canary's
# window is the one for a release without visitors.
SURVEY = {"release_batch_size": "1", "release_dark_launch": "true"}


@pytest.fixture
def lab():
    return lab_on_start()


def private_data_dir(tmp_path, extravars):
    """An AWX-style private data directory: project = this repository's tracked files, as a sync gives."""
    pdd = tmp_path / "job"
    project = pdd / "project"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.split()
    for name in files:
        source = os.path.join(ROOT, name)
        if os.path.isfile(source) and not os.path.islink(source):
            os.makedirs(project / os.path.dirname(name), exist_ok=True)
            shutil.copy2(source, project / name)
    # The collection, as the project's ansible.cfg expects it (AWX installs it from the project's requirements).
    link = project / ".build" / "collections" / "ansible_collections" / "daylight" / "release"
    os.makedirs(link.parent)
    os.symlink("../../../..", link)
    # The inventory AWX would sync: the lab's hosts over SSH, with the lab's variables.
    inventory = pdd / "inventory"
    shutil.copytree(os.path.join(ROOT, "inventories", "lab-ssh"), inventory, symlinks=False)
    (inventory / "group_vars" / "all" / "ssh.yml").write_text(
        "ansible_ssh_common_args: -F %s\n" % os.path.join(ROOT, "lab", "cache", "ssh", "config"))
    os.makedirs(pdd / "env")
    (pdd / "env" / "extravars").write_text(json.dumps(extravars))
    return pdd


def runner_env():
    # As under AWX: no ANSIBLE_CONFIG from the caller; the project's ansible.cfg applies.
    return dict((k, v) for k, v in os.environ.items() if k != "ANSIBLE_CONFIG")


def artifacts(pdd):
    """(status, rc, events) of the only job in the private data directory."""
    # `run` writes artifacts/<job id>/; `process` (after transmit | worker) writes artifacts/ itself.
    if os.path.exists(str(pdd / "artifacts" / "status")):
        job = str(pdd / "artifacts")
    else:
        jobs = glob.glob(str(pdd / "artifacts" / "*"))
        assert len(jobs) == 1, jobs
        job = jobs[0]
    status = open(os.path.join(job, "status")).read().strip()
    rc = int(open(os.path.join(job, "rc")).read().strip())
    events = [json.load(open(path)) for path in sorted(glob.glob(os.path.join(job, "job_events", "*.json")))]
    return status, rc, events


def stats(events):
    """The playbook_on_stats event's data: per-host ok/changed/failures/... counts."""
    found = [e["event_data"] for e in events if e.get("event") == "playbook_on_stats"]
    assert len(found) == 1, [e.get("event") for e in events][-10:]
    return found[0]


def test_release_then_status_run_as_awx_runs_them(lab, tmp_path):
    version = "2.9.1-awx"
    pdd = private_data_dir(tmp_path, dict(SURVEY, release_version=version,
                                          release_package=_broken_package(tmp_path, version, "false"), **NO_LOAD_WINDOW))
    subprocess.run([RUNNER, "run", str(pdd), "-p", "playbooks/release.yml"], env=runner_env(), capture_output=True,
                   timeout=600, check=False)
    status, rc, events = artifacts(pdd)
    assert (status, rc) == ("successful", 0), [e.get("stdout") for e in events][-20:]
    done = stats(events)
    assert not done["failures"] and not done["dark"] and set(done["changed"]) >= set(web_nodes())
    # The release report, as AWX shows it among the job's artifacts, and as the controller keeps it.
    report = done["artifact_data"]["daylight_release_report"]
    assert (report["version"], report["result"]) == (version, "completed"), report
    assert set(report["nodes"]) == set(web_nodes()) and report["canary"]["node"] in web_nodes(), report
    # No load here: the dark launch replays what the logs hold, the live window goes on without a verdict.
    assert report["canary"]["dark_launch"] and report["canary"]["live_window"].startswith("inconclusive"), report
    kept = os.path.join(os.path.expanduser("~"), ".daylight-release", "reports", "%s-%s" % (version, report["run"]))
    assert json.load(open(kept + ".json")) == report
    assert "# Release %s: completed" % version in open(kept + ".md").read()
    assert_estate(version)
    assert history()[-1]["version"] == version and history()[-1]["result"] == "completed"

    # The status job, through transmit | worker | process as on a remote execution node.
    status_pdd = private_data_dir(tmp_path / "status", {})
    worker = ("{runner} transmit {pdd} -p playbooks/status.yml | {runner} worker | {runner} process {pdd}"
              .format(runner=RUNNER, pdd=status_pdd))
    subprocess.run(["bash", "-o", "pipefail", "-c", worker], env=runner_env(), capture_output=True, timeout=300,
                   check=False)
    status, rc, events = artifacts(status_pdd)
    assert (status, rc) == ("successful", 0), [e.get("stdout") for e in events][-20:]
    assert not stats(events)["failures"]
    # Every node reported on, serving the release.
    said = " ".join(e.get("stdout", "") for e in events)
    assert all(node in said for node in web_nodes()) and version in said


def test_a_cancelled_release_is_converged_by_the_next_launch(lab, tmp_path):
    version = "2.9.2-awx-cancelled"
    extravars = dict(SURVEY, release_version=version, release_package=_broken_package(tmp_path, version, "false"),
                     **NO_LOAD_WINDOW)
    pdd = private_data_dir(tmp_path, extravars)
    proc = subprocess.Popen([RUNNER, "run", str(pdd), "-p", "playbooks/release.yml"], env=runner_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        # Cancel once the canary has moved: AWX's cancel is a SIGTERM to the runner.
        deadline = time.monotonic() + 300
        while version not in served_versions().values() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert proc.poll() is None, "the release ended before it could be cancelled"
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    status, rc, events = artifacts(pdd)
    assert status in ("canceled", "failed"), status
    # The next launch of the same job template converges: every node on the release and enabled.
    # As an operator relaunches it after looking at the status job: taking over the lock the cancel left.
    again = private_data_dir(tmp_path / "again", dict(extravars, release_lock_break="true"))
    subprocess.run([RUNNER, "run", str(again), "-p", "playbooks/release.yml"], env=runner_env(), capture_output=True,
                   timeout=600, check=False)
    status, rc, events = artifacts(again)
    assert (status, rc) == ("successful", 0), [e.get("stdout") for e in events][-20:]
    assert_estate(version)
    assert history()[-1]["version"] == version and history()[-1]["result"] == "completed"
