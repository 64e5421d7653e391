"""release_stage: the release directory, its files and its manifest on the share."""

import json
import os

import testinfra.utils.ansible_runner

# testinfra's own podman backend on the same containers (see molecule/apache_docroot/tests).
testinfra_hosts = [
    f"podman://{name}"
    for name in testinfra.utils.ansible_runner.AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"]).get_hosts("webservers")
]

RELEASE = "/srv/daylight/releases/1.0.0"
PACKAGE = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "package", "demo-app-1.0.0.tar.gz")


def test_release_directory_holds_the_package(host):
    release = host.file(RELEASE)
    assert release.is_directory
    assert release.mode == 0o755
    assert host.file(f"{RELEASE}/VERSION").content_string == "1.0.0\n"
    assert host.file(f"{RELEASE}/index.php").contains("X-Release-Version: 1.0.0")


def test_manifest_names_the_package(host):
    manifest = json.loads(host.file(f"{RELEASE}/.daylight-release.json").content_string)
    with open(f"{PACKAGE}.sha256", encoding="utf-8") as checksum:
        expected = checksum.read().split()[0]
    assert manifest["version"] == "1.0.0"
    assert manifest["package"] == "demo-app-1.0.0.tar.gz"
    assert manifest["sha256"] == expected


def test_nothing_left_in_incoming(host):
    # Staging extracts into releases/.incoming and renames: no half-staged copy stays behind.
    assert host.check_output("ls -A /srv/daylight/releases/.incoming") == ""
