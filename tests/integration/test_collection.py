"""The collection as an estate gets it: the built artifact, installed into an empty collections path.

Needs no lab: it builds with `ansible-galaxy collection build`, installs the artifact with
`--no-deps` (Galaxy is unreachable here; community.general, community.mysql and ansible.posix come
from the `ansible` bundle on PyPI, as galaxy.yml's dependencies would from Galaxy), then asks
ansible-doc and ansible-playbook about the installed copy, never about this checkout. The same
artifact releases the demo app on the lab in tests/e2e/test_release_faults.py.
"""

import glob
import json
import os
import re
import subprocess
import tarfile

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GALAXY = yaml.safe_load(open(os.path.join(ROOT, "galaxy.yml")))
MODULES = sorted(f[:-3] for f in os.listdir(os.path.join(ROOT, "plugins", "modules"))
                 if f.endswith(".py") and not f.startswith("_"))
ROLES = sorted(os.listdir(os.path.join(ROOT, "roles")))
PLAYBOOKS = sorted(f[:-4] for f in os.listdir(os.path.join(ROOT, "playbooks")) if f.endswith(".yml"))
# Every name a FilterModule in plugins/filter returns, read from the source (not imported: it needs the collection).
FILTERS = sorted(set(name for f in glob.glob(os.path.join(ROOT, "plugins", "filter", "*.py"))
                     for body in re.findall(r"def filters\(self\):(.*?)\n\n", open(f).read() + "\n\n", re.S)
                     for name in re.findall(r"'(\w+)':", body)))


def run(*argv, env=None, cwd=None):
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=cwd,
                          env=dict(os.environ, **(env or {})))
    failure = "%s failed (rc %d):\n%s\n%s" % (" ".join(argv), proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:])
    assert proc.returncode == 0, failure
    return proc.stdout


def build_artifact(out_dir):
    """Build the collection into out_dir; return the artifact's path."""
    run("ansible-galaxy", "collection", "build", "--force", "--output-path", str(out_dir), cwd=ROOT)
    return os.path.join(str(out_dir), "%s-%s-%s.tar.gz" % (GALAXY["namespace"], GALAXY["name"], GALAXY["version"]))


def install_artifact(artifact, collections_dir):
    """Install the artifact alone into collections_dir; return the environment that sees only it."""
    # --force: ansible.cfg's collections path holds this checkout already, so without it install does nothing.
    run("ansible-galaxy", "collection", "install", "--no-deps", "--force", "-p", str(collections_dir), artifact)
    # Only the installed copy: not this checkout's .build/collections link that ansible.cfg names.
    return {"ANSIBLE_COLLECTIONS_PATH": str(collections_dir)}


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    return build_artifact(tmp_path_factory.mktemp("artifact"))


@pytest.fixture(scope="module")
def installed(artifact, tmp_path_factory):
    path = tmp_path_factory.mktemp("collections")
    return path, install_artifact(artifact, path)


def test_the_artifact_holds_the_collection_and_nothing_of_the_workbench(artifact):
    with tarfile.open(artifact) as tar:
        names = set(tar.getnames())
        manifest = json.load(tar.extractfile("MANIFEST.json"))
    for needed in ["plugins/modules/%s.py" % m for m in MODULES] + ["playbooks/%s.yml" % p for p in PLAYBOOKS] + \
            ["roles/%s/meta/argument_specs.yml" % r for r in ROLES] + ["meta/runtime.yml", "README.md"]:
        assert needed in names, needed
    for left_out in (".venv", ".build", "build", "lab/cache", ".git"):
        assert not any(n == left_out or n.startswith(left_out + "/") for n in names), left_out
    # What every estate installs: what the collection needs at run time, not the lab's podman collection.
    assert manifest["collection_info"]["dependencies"] == GALAXY["dependencies"]
    assert "containers.podman" not in manifest["collection_info"]["dependencies"]


def test_the_installed_collection_is_the_one_ansible_finds(installed):
    path, env = installed
    out = run("ansible-galaxy", "collection", "list", "daylight.release", "--format", "json", env=env)
    assert list(json.loads(out)) == [os.path.join(str(path), "ansible_collections")], out


@pytest.mark.parametrize("module", MODULES)
def test_ansible_doc_renders_every_module(installed, module):
    path, env = installed
    doc = json.loads(run("ansible-doc", "--json", "-t", "module", "daylight.release." + module, env=env))
    entry = doc["daylight.release." + module]
    assert entry["doc"]["filename"].startswith(str(path)), entry["doc"]["filename"]
    assert entry["doc"]["short_description"] and entry["examples"] and entry["return"], module
    # The text a person reads renders too, naming the installed copy.
    text = run("ansible-doc", "-t", "module", "daylight.release." + module, env=env)
    assert "daylight.release." + module in text and str(path) in text and "EXAMPLES" in text, text[:500]


@pytest.mark.parametrize("name", FILTERS)
def test_ansible_doc_renders_every_filter(installed, name):
    env = installed[1]
    doc = json.loads(run("ansible-doc", "--json", "-t", "filter", "daylight.release." + name, env=env))
    assert doc["daylight.release." + name]["doc"]["short_description"], name


@pytest.mark.parametrize("role", ROLES)
def test_ansible_doc_renders_every_role_entry_point(installed, role):
    path, env = installed
    with open(os.path.join(ROOT, "roles", role, "meta", "argument_specs.yml")) as f:
        entry_points = sorted(yaml.safe_load(f)["argument_specs"])
    doc = json.loads(run("ansible-doc", "--json", "-t", "role", "daylight.release." + role, env=env))
    rendered = doc["daylight.release." + role]
    assert rendered["path"].startswith(str(path)), rendered["path"]
    assert sorted(rendered["entry_points"]) == entry_points
    for entry in entry_points:
        assert rendered["entry_points"][entry]["short_description"], (role, entry)


def test_ansible_doc_renders_the_callback_and_the_lookup(installed):
    env = installed[1]
    for kind, name in (("callback", "timeline"), ("callback", "progress"), ("lookup", "release_run")):
        doc = json.loads(run("ansible-doc", "--json", "-t", kind, "daylight.release." + name, env=env))
        assert doc["daylight.release." + name]["doc"]["short_description"], name


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_every_playbook_runs_by_its_collection_name(installed, playbook, tmp_path):
    path, env = installed
    # From an empty directory: nothing of this checkout (ansible.cfg, roles) can be picked up.
    out = run("ansible-playbook", "daylight.release." + playbook, "--syntax-check", "-i", "localhost,",
              env=dict(env, ANSIBLE_CONFIG=""), cwd=str(tmp_path))
    assert "playbook: %s" % os.path.join(str(path), "ansible_collections", "daylight", "release", "playbooks",
                                         playbook + ".yml") in out, out


def test_ansible_builder_creates_the_execution_environment(artifact, tmp_path):
    """ansible-builder v3 accepts execution-environment.yml and writes its build context (building the
    image needs a registry for the base image: not done here)."""
    with open(os.path.join(ROOT, "execution-environment.yml")) as f:
        ee = yaml.safe_load(f)
    # The EE installs exactly galaxy.yml's dependencies plus this collection's artifact, built as above.
    galaxy = {c["name"]: c.get("version") for c in ee["dependencies"]["galaxy"]["collections"] if c.get("type") != "file"}
    assert galaxy == GALAXY["dependencies"]
    files = [c["name"] for c in ee["dependencies"]["galaxy"]["collections"] if c.get("type") == "file"]
    assert files == ["collections/" + os.path.basename(artifact)]
    assert ee["additional_build_files"] == [{"src": "build/collection/" + os.path.basename(artifact),
                                             "dest": "collections"}]
    # create reads the artifact from build/collection, where the Makefile puts it.
    os.makedirs(os.path.join(ROOT, "build", "collection"), exist_ok=True)
    build_artifact(os.path.join(ROOT, "build", "collection"))
    context = tmp_path / "ee"
    # Named: without it ansible-builder writes a Dockerfile where it finds docker rather than podman.
    run("ansible-builder", "create", "-f", "execution-environment.yml", "--context", str(context),
        "--output-filename", "Containerfile", cwd=ROOT)
    containerfile = (context / "Containerfile").read_text()
    assert "ansible-galaxy collection install" in containerfile and "quay.io/centos/centos:stream9" in containerfile
    requirements = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    assert {"name": files[0], "type": "file"} in requirements["collections"]
    assert (context / "_build" / "collections" / os.path.basename(artifact)).is_file()
    assert "openssh-clients" in (context / "_build" / "bindep.txt").read_text()
