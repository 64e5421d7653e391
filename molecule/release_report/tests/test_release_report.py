"""release_report: the report files on the controller and the history entry it closed."""

import json
import os

import testinfra.utils.ansible_runner

# Talk to the containers with testinfra's podman backend (see molecule/apache_docroot).
testinfra_hosts = [
    f"podman://{name}"
    for name in testinfra.utils.ansible_runner.AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"]).get_hosts("webservers")
]

REPORT = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "reports", "2.0.0-molecule-report-run")
NODE = "molecule-report-web"


def test_json_report_on_the_controller():
    with open(f"{REPORT}.json", encoding="utf-8") as f:
        doc = json.load(f)
    assert doc["version"] == "2.0.0"
    assert doc["run"] == "molecule-report-run"
    assert doc["started"] == "2026-11-23T14:00:05Z"
    assert doc["result"] == "completed"
    assert doc["message"].startswith("release 2.0.0 completed.")
    assert "Every node now serves 2.0.0 (one version)" in doc["message"]
    assert doc["nodes"][NODE]["before"] == "1.0.0"
    assert doc["nodes"][NODE]["after"] == "2.0.0"
    assert doc["nodes"][NODE]["outcome"] == "switched"
    assert doc["nodes"][NODE]["load_balancers"] == {"molecule-report-lb": "UP"}
    assert doc["totals"]["nodes"] == 1
    assert doc["totals"]["switched"] == 1


def test_markdown_report_on_the_controller():
    with open(f"{REPORT}.md", encoding="utf-8") as f:
        text = f.read()
    assert text.startswith("# Release 2.0.0: completed\n")
    assert f"| {NODE} | 1.0.0 | 2.0.0 | switched | molecule-report-lb UP |" in text


def test_history_entry_closed(host):
    history = json.loads(host.file("/srv/daylight/releases/.history.json").content_string)
    assert len(history) == 1
    attempt = history[0]
    assert attempt["id"] == "molecule-report-run"
    assert attempt["result"] == "completed"
    assert attempt["finished"]
    assert attempt["nodes"] == {NODE: "switched"}
    assert attempt["note"].startswith("release 2.0.0 completed.")
