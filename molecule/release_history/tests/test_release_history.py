"""release_history: the history file on the share after one recorded release."""

import json
import os

import testinfra.utils.ansible_runner

# Talk to the containers with testinfra's podman backend (see molecule/apache_docroot).
testinfra_hosts = [
    f"podman://{name}"
    for name in testinfra.utils.ansible_runner.AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"]).get_hosts("webservers")
]

RELEASES = "/srv/daylight/releases"
HISTORY = f"{RELEASES}/.history.json"


def _history(host):
    return json.loads(host.file(HISTORY).content_string)


def test_legacy_entry_rewritten_in_current_format(host):
    legacy = _history(host)[0]
    assert "live_at" not in legacy
    assert legacy["id"] == "legacy-1"
    assert legacy["version"] == "1.0.0"
    assert legacy["result"] == "completed"
    assert legacy["previous"] is None


def test_release_recorded_once_and_completed(host):
    history = _history(host)
    # Two converges, one attempt: starting it again added nothing.
    assert [a["id"] for a in history] == ["legacy-1", "molecule-release-2.0.0"]
    attempt = history[1]
    assert attempt["action"] == "release"
    assert attempt["version"] == "2.0.0"
    assert attempt["previous"] == "1.0.0"
    assert attempt["who"] == "molecule"
    assert attempt["controller"] == "molecule-controller"
    assert attempt["started"] == "2026-11-23T14:00:05Z"
    assert attempt["finished"]
    assert attempt["result"] == "completed"
    assert attempt["nodes"] == {"molecule-history-web": "2.0.0 live"}
    assert attempt["note"] == "went live on every node"


def test_no_temporary_file_left(host):
    # Writes go through a temporary file and a rename: only the history remains.
    assert host.check_output(f"ls -A {RELEASES}") == ".history.json"
