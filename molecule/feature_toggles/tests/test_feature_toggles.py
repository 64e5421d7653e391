"""feature_toggles: the bands of examples/toggles/checkout-10.yml on disk and as the app reads them."""

import json
import os

import testinfra.utils.ansible_runner

# Talk to the containers with testinfra's podman backend (see molecule/apache_docroot).
testinfra_hosts = [
    f"podman://{name}"
    for name in testinfra.utils.ansible_runner.AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"]).get_hosts("webservers")
]

TOGGLES = "/etc/daylight/toggles.json"


def _toggles(host):
    return json.loads(host.file(TOGGLES).content_string)


def test_toggle_file_has_the_bands(host):
    doc = _toggles(host)
    assert doc["format"] == 1
    # Written once: the second converge and the refused bad bands left the serial alone.
    assert doc["serial"] == 1
    assert doc["checksum"].startswith("sha256:")
    assert doc["features"] == {
        "checkout": {
            "salt": "",
            "bands": [
                {"from": 1, "to": 10, "group": "new-checkout"},
                {"from": 11, "to": 100, "group": "control"},
            ],
        }
    }


def test_toggle_file_readable_by_the_web_server(host):
    assert host.file(TOGGLES).mode & 0o004
    assert host.file(os.path.dirname(TOGGLES)).mode == 0o755


def _headers(host, cookie):
    out = host.check_output(f"curl -sS -i --max-time 5 -H 'Cookie: daylight_n={cookie}' http://127.0.0.1/features.php")
    head = out.replace("\r\n", "\n").partition("\n\n")[0]
    assert head.splitlines()[0].split()[1] == "200"
    return {k.strip().lower(): v.strip() for k, dummy, v in (line.partition(":") for line in head.splitlines()[1:])}


def test_app_serves_the_bands(host):
    # Visitor number 5 is in band 1-10, number 50 in 11-100 (no salt: numbers are not shuffled).
    low, high = _headers(host, 5), _headers(host, 50)
    assert low["x-toggle-serial"] == high["x-toggle-serial"] == str(_toggles(host)["serial"])
    assert low["x-toggle-groups"] == "checkout=new-checkout"
    assert high["x-toggle-groups"] == "checkout=control"
