"""playbooks/awx/configure.yml run for real with ansible-playbook and awx.awx, against a FAKE AWX.

AWX is mocked because a real one cannot exist on this machine: it runs from container images that
come from a registry, and no registry is reachable here. What is real: ansible-playbook, configure.yml
and job_templates.yml as they are, and the awx.awx modules (project, inventory, credential_type,
credential, job_template, workflow_job_template) making their own HTTP calls. What is fake: the
controller they talk to, FakeAWX below, an in-process HTTP server on 127.0.0.1 that implements only
the part of the AWX v2 API those modules use (read from awx.awx 24.6.1's controller_api.py and modules):

- authentication by bearer token (CONTROLLER_OAUTH_TOKEN; anything else gets a 401) and the
  X-API-Product-Name/-Version headers the collection checks; /api/v2/ping/ and /api/v2/config/;
- per endpoint (/api/v2/<endpoint>/) an in-memory store: list GET with the query filters the modules
  send (field=value, AND-ed; or__field=value, OR-ed; paginated as one page), GET/PATCH/DELETE by id,
  POST create (id, type, url, related and summary_fields filled as AWX does for the fields the modules
  read), with AWX's checks that would catch a wrong request: unknown foreign keys, duplicate names in
  an organization, a job template without playbook/project/inventory, credential inputs not in (or
  missing from) the credential type, injectors naming fields the type lacks;
- credentials' secret inputs stored in the clear but read back as "$encrypted$", as AWX does;
- a project's creation starts a project update that has already succeeded (/api/v2/project_updates/N/),
  so awx.awx.project waits on it as it would on AWX, with no SCM checkout behind it;
- survey_spec of job templates and workflow job templates (GET, POST with AWX's basic survey checks,
  DELETE); the credentials of a job template (POST {"id": N} / {"id": N, "disassociate": true}, one
  credential per type as AWX allows); unified_job_templates as a view on the templates;
- workflow job template nodes and their success/always/failure node associations.

Seeded with what configure.yml expects to exist already: the "Default" organization, the Machine
credential type and the machine credential "daylight estate ssh".

A second run is expected to change one task, not none: AWX never shows a stored secret (it reads back
"$encrypted$"), so awx.awx.credential cannot know the password is already there and, with its default
update_secrets: true (kept by configure.yml, so that a password changed in the vault reaches AWX), sends
it again and reports changed. Every other task must report ok.

Not covered, as it cannot be without AWX: the SCM checkout of the project, launching anything, and
AWX's own validation beyond the checks listed above.
"""

import json
import os
import re
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAYBOOK = os.path.join(ROOT, "playbooks", "awx", "configure.yml")
with open(os.path.join(ROOT, "playbooks", "awx", "job_templates.yml")) as _f:
    DATA = yaml.safe_load(_f)
TEMPLATES = DATA["daylight_awx_job_templates"]
WORKFLOW = DATA["daylight_awx_workflow"]

TOKEN = "fake-awx-token"
SECRET = "s3cret-db-Pa55word-7f3a"
SCM_URL = "https://git.example.com/daylight/release.git"
VERSION = "24.6.1"
API = "/api/v2/"
ASSERT_MSG = "set daylight_awx_scm_url (this repository's clone URL) and daylight_awx_db_password (from a vault)"

TYPES = {
    "organizations": "organization", "projects": "project", "project_updates": "project_update",
    "inventories": "inventory", "credential_types": "credential_type", "credentials": "credential",
    "job_templates": "job_template", "workflow_job_templates": "workflow_job_template",
    "workflow_job_template_nodes": "workflow_job_template_node", "execution_environments": "execution_environment",
}
# Foreign keys a POST/PATCH may carry, and where they point.
FOREIGN_KEYS = {
    "organization": "organizations", "inventory": "inventories", "project": "projects",
    "credential_type": "credential_types", "workflow_job_template": "workflow_job_templates",
    "execution_environment": "execution_environments", "default_environment": "execution_environments",
    "credential": "credentials", "webhook_credential": "credentials", "signature_validation_credential": "credentials",
}
# Sub-endpoints that associate objects: (endpoint, relation) -> endpoint of the associated objects.
ASSOCIATIONS = {
    ("job_templates", "credentials"): "credentials",
    ("workflow_job_template_nodes", "success_nodes"): "workflow_job_template_nodes",
    ("workflow_job_template_nodes", "failure_nodes"): "workflow_job_template_nodes",
    ("workflow_job_template_nodes", "always_nodes"): "workflow_job_template_nodes",
}
UNIFIED = ("job_templates", "workflow_job_templates", "projects")
SURVEY_TYPES = {"text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect"}
READ_ONLY = {"id", "type", "url", "related", "summary_fields", "created", "modified"}


class ApiError(Exception):
    def __init__(self, status, body):
        super().__init__(status, body)
        self.status, self.body = status, body


class FakeAWX:
    """The in-memory AWX API (see the module docstring); every request is kept in self.requests."""

    def __init__(self):
        self.lock = threading.Lock()
        self.objects = {endpoint: {} for endpoint in TYPES}
        self.next_id = {endpoint: 1 for endpoint in TYPES}
        self.links = {}        # (endpoint, id, relation) -> [ids], in association order
        self.surveys = {}      # (endpoint, id) -> survey spec
        self.requests = []     # (method, path, body)
        self.org = self._add("organizations", {"name": "Default", "description": ""})
        machine = self._add("credential_types", {
            "name": "Machine", "kind": "ssh", "managed": True, "namespace": "ssh",
            "inputs": {"fields": [{"id": "username", "label": "Username", "type": "string"},
                                  {"id": "password", "label": "Password", "type": "string", "secret": True},
                                  {"id": "ssh_key_data", "label": "SSH Private Key", "type": "string", "secret": True}]},
            "injectors": {}})
        self.machine_credential = self._add("credentials", {
            "name": "daylight estate ssh", "organization": self.org["id"], "credential_type": machine["id"],
            "inputs": {"username": "deploy", "ssh_key_data": "-----BEGIN OPENSSH PRIVATE KEY-----\nfake\n"}})
        self.seeded = {endpoint: set(objs) for endpoint, objs in self.objects.items()}

    # -- the store ------------------------------------------------------------------------------

    def _url(self, endpoint, oid):
        return "%s%s/%d/" % (API, endpoint, oid)

    def _add(self, endpoint, fields):
        oid = self.next_id[endpoint]
        self.next_id[endpoint] += 1
        obj = dict(fields, id=oid, type=TYPES[endpoint], url=self._url(endpoint, oid),
                   created="2024-01-01T00:00:00Z", modified="2024-01-01T00:00:00Z")
        self.objects[endpoint][oid] = obj
        for (ep, relation) in ASSOCIATIONS:
            if ep == endpoint:
                self.links[(endpoint, oid, relation)] = []
        return obj

    def _get(self, endpoint, oid):
        try:
            return self.objects[endpoint][int(oid)]
        except (KeyError, ValueError):
            raise ApiError(404, {"detail": "Not found."})

    def _view(self, endpoint, obj):
        """The object as the API shows it: related, summary_fields, secrets masked."""
        view = json.loads(json.dumps(obj))
        base = obj["url"]
        related, summary = {}, {}
        for field, target in FOREIGN_KEYS.items():
            if obj.get(field) is not None and int(obj[field]) in self.objects[target]:
                related[field] = self._url(target, int(obj[field]))
                summary[field] = {k: v for k, v in self.objects[target][int(obj[field])].items() if k in ("id", "name")}
        for (ep, relation) in ASSOCIATIONS:
            if ep == endpoint:
                related[relation] = base + relation + "/"
                if endpoint == "workflow_job_template_nodes":
                    view[relation] = list(self.links[(endpoint, obj["id"], relation)])
        if endpoint in ("job_templates", "workflow_job_templates"):
            related["survey_spec"] = base + "survey_spec/"
        if endpoint == "workflow_job_templates":
            related["workflow_nodes"] = base + "workflow_nodes/"
        if endpoint == "job_templates":
            summary["credentials"] = [{"id": c, "name": self.objects["credentials"][c]["name"]}
                                      for c in self.links[(endpoint, obj["id"], "credentials")]]
        if endpoint == "workflow_job_template_nodes" and obj.get("unified_job_template") is not None:
            ujt = self._unified(obj["unified_job_template"])
            related["unified_job_template"] = ujt["url"]
            summary["unified_job_template"] = {"id": ujt["id"], "name": ujt["name"], "unified_job_type": ujt["type"]}
        if endpoint == "projects":
            related["update"] = base + "update/"
            related["project_updates"] = base + "project_updates/"
            if obj.get("_current_update"):
                update = self.objects["project_updates"][obj["_current_update"]]
                related["current_update"] = update["url"]
                summary["current_update"] = {"id": update["id"], "status": update["status"], "failed": update["failed"]}
            view.pop("_current_update", None)
        if endpoint == "credentials":
            secret = self._secret_fields(obj["credential_type"])
            view["inputs"] = {k: ("$encrypted$" if k in secret and v != "" else v) for k, v in obj["inputs"].items()}
        view["related"], view["summary_fields"] = related, summary
        return view

    def _unified(self, oid):
        for endpoint in UNIFIED:
            if int(oid) in self.objects[endpoint]:
                return self.objects[endpoint][int(oid)]
        raise ApiError(400, {"unified_job_template": ['Invalid pk "%s" - object does not exist.' % oid]})

    def _secret_fields(self, credential_type_id):
        fields = self.objects["credential_types"][credential_type_id]["inputs"].get("fields", [])
        return {f["id"] for f in fields if f.get("secret")}

    @staticmethod
    def _matches(obj, key, value):
        if key not in obj:
            return False
        have = obj[key]
        if isinstance(have, bool):
            return value.lower() == str(have).lower()
        if have is None:
            return value in ("", "None", "null")
        return str(have) == value

    def _list(self, objects, query):
        plain = [(k, v) for k, v in query if not k.startswith("or__") and k not in ("page", "page_size", "order_by")]
        alternatives = [(k[4:], v) for k, v in query if k.startswith("or__")]
        found = [o for o in objects
                 if all(self._matches(o, k, v) for k, v in plain)
                 and (not alternatives or any(self._matches(o, k, v) for k, v in alternatives))]
        return found

    def _page(self, endpoint_of, found):
        return {"count": len(found), "next": None, "previous": None,
                "results": [self._view(endpoint_of(o), o) for o in found]}

    # -- validation, as AWX would refuse ---------------------------------------------------------

    def _check(self, endpoint, data, existing=None):
        merged = dict(existing or {}, **data)
        errors = {}
        for field, target in FOREIGN_KEYS.items():
            if data.get(field) is not None and (not isinstance(data[field], int) or data[field] not in self.objects[target]):
                errors[field] = ['Invalid pk "%s" - object does not exist.' % data[field]]
        if not merged.get("name") and endpoint != "workflow_job_template_nodes":
            errors["name"] = ["This field may not be blank."]
        for other in self.objects[endpoint].values():
            if existing is not None and other["id"] == existing["id"]:
                continue
            if merged.get("name") and other.get("name") == merged.get("name") \
                    and other.get("organization") == merged.get("organization"):
                errors["__all__"] = ["%s with this Name and Organization already exists." % TYPES[endpoint]]
        if endpoint == "job_templates":
            for field in ("playbook", "project", "inventory"):
                if not merged.get(field):
                    errors[field] = ["This field is required."]
        if endpoint == "credential_types":
            if merged.get("managed"):
                errors["managed"] = ["Only AWX may create managed credential types."]
            if merged.get("kind") not in ("cloud", "net"):
                errors["kind"] = ["Must be 'cloud' or 'net', not %s" % merged.get("kind")]
            ids = {f.get("id") for f in merged.get("inputs", {}).get("fields", [])}
            for values in merged.get("injectors", {}).values():
                for template in values.values():
                    for name in re.findall(r"{{\s*(\w+)\s*}}", str(template)):
                        if name not in ids:
                            errors["injectors"] = ["%s uses an undefined field (%s)" % (template, name)]
        if endpoint == "credentials" and merged.get("credential_type") in self.objects["credential_types"]:
            ctype = self.objects["credential_types"][merged["credential_type"]]
            ids = {f["id"] for f in ctype["inputs"].get("fields", [])}
            inputs = merged.get("inputs", {})
            unknown = set(inputs) - ids
            missing = set(ctype["inputs"].get("required", [])) - {k for k, v in inputs.items() if v not in ("", None)}
            if unknown or missing:
                errors["inputs"] = {"unknown": sorted(unknown), "missing": sorted(missing)}
        if endpoint == "workflow_job_template_nodes":
            if merged.get("unified_job_template") is not None:
                self._unified(merged["unified_job_template"])
            for other in self.objects[endpoint].values():
                if (existing is None or other["id"] != existing["id"]) and merged.get("identifier") \
                        and other["workflow_job_template"] == merged.get("workflow_job_template") \
                        and other["identifier"] == merged["identifier"]:
                    errors["__all__"] = ["Workflow job template node with this identifier already exists."]
        if errors:
            raise ApiError(400, errors)

    @staticmethod
    def _check_survey(spec):
        if not isinstance(spec, dict) or "name" not in spec or "description" not in spec \
                or not isinstance(spec.get("spec"), list):
            raise ApiError(400, {"error": "'name', 'description' and a list 'spec' are required."})
        seen = set()
        for question in spec["spec"]:
            for key in ("variable", "question_name", "type", "required"):
                if key not in question:
                    raise ApiError(400, {"error": "'%s' missing from survey question %s." % (key, question)})
            if question["type"] not in SURVEY_TYPES or not isinstance(question["required"], bool):
                raise ApiError(400, {"error": "bad type or required in %s" % question})
            if question["variable"] in seen:
                raise ApiError(400, {"error": "'variable' '%s' duplicated in survey." % question["variable"]})
            seen.add(question["variable"])
            if question["type"] in ("multiplechoice", "multiselect"):
                choices = question.get("choices")
                if not choices or (question.get("default") not in (None, "") and question["default"] not in choices):
                    raise ApiError(400, {"error": "bad choices or default in %s" % question})

    # -- the HTTP surface -------------------------------------------------------------------------

    @staticmethod
    def _fields(endpoint, body):
        data = {k: v for k, v in body.items() if k not in READ_ONLY}
        if endpoint == "inventories" and "kind" in data and data["kind"] is None:
            data["kind"] = ""  # awx.awx.inventory sends kind: null for a plain inventory, which AWX stores as ""
        return data

    def handle(self, method, path, query, body):
        """Return (status, json body or None)."""
        if not path.startswith(API):
            raise ApiError(404, {"detail": "Not found."})
        parts = [p for p in path[len(API):].split("/") if p]
        if parts in (["ping"], ["config"]) and method == "GET":
            return 200, {"version": VERSION, "ha": False, "active_node": "fake", "install_uuid": "fake"}
        if not parts:
            raise ApiError(404, {"detail": "Not found."})
        endpoint = parts[0]
        if endpoint == "unified_job_templates" and len(parts) == 1 and method == "GET":
            found = self._list([o for ep in UNIFIED for o in self.objects[ep].values()], query)
            return 200, self._page(lambda o: next(ep for ep in UNIFIED if o["type"] == TYPES[ep]), found)
        if endpoint not in TYPES or endpoint == "project_updates" and method != "GET":
            raise ApiError(404, {"detail": "Not found."})
        if len(parts) == 1:
            if method == "GET":
                return 200, self._page(lambda o: endpoint, self._list(list(self.objects[endpoint].values()), query))
            if method == "POST":
                data = self._fields(endpoint, body)
                self._check(endpoint, data)
                obj = self._add(endpoint, data)
                if endpoint == "projects" and obj.get("scm_type"):
                    obj["scm_revision"] = ""
                    update = self._add("project_updates", {
                        "name": obj["name"], "project": obj["id"], "status": "successful", "failed": False,
                        "finished": "2024-01-01T00:00:01Z", "elapsed": 1.0})
                    obj["_current_update"] = update["id"]
                return 201, self._view(endpoint, obj)
            raise ApiError(405, {"detail": 'Method "%s" not allowed.' % method})
        obj = self._get(endpoint, parts[1])
        if len(parts) == 2:
            if method == "GET":
                return 200, self._view(endpoint, obj)
            if method == "PATCH":
                data = self._fields(endpoint, body)
                if endpoint == "credentials" and "inputs" in data:
                    # "$encrypted$" sent back means: keep what is stored.
                    data["inputs"] = {k: (obj["inputs"].get(k) if v == "$encrypted$" else v) for k, v in data["inputs"].items()}
                self._check(endpoint, data, existing=obj)
                obj.update(data)
                obj["modified"] = "2024-01-02T00:00:00Z"
                return 200, self._view(endpoint, obj)
            if method == "DELETE":
                del self.objects[endpoint][obj["id"]]
                return 204, None
            raise ApiError(405, {"detail": 'Method "%s" not allowed.' % method})
        sub = parts[2]
        if len(parts) == 3 and sub == "survey_spec" and endpoint in ("job_templates", "workflow_job_templates"):
            key = (endpoint, obj["id"])
            if method == "GET":
                return 200, self.surveys.get(key, {})
            if method == "POST":
                self._check_survey(body)
                self.surveys[key] = json.loads(json.dumps(body))
                return 200, None
            if method == "DELETE":
                self.surveys.pop(key, None)
                return 200, None
        if len(parts) == 3 and (endpoint, sub) in ASSOCIATIONS:
            target = ASSOCIATIONS[(endpoint, sub)]
            linked = self.links[(endpoint, obj["id"], sub)]
            if method == "GET":
                return 200, self._page(lambda o: target, [self.objects[target][i] for i in linked])
            if method == "POST":
                other = self._get(target, body.get("id"))
                if body.get("disassociate"):
                    if other["id"] in linked:
                        linked.remove(other["id"])
                    return 204, None
                if target == "credentials":
                    for i in linked:
                        if self.objects[target][i]["credential_type"] == other["credential_type"] and i != other["id"]:
                            raise ApiError(400, {"error": "Cannot assign multiple credentials of the same type."})
                if target == "workflow_job_template_nodes" and other["workflow_job_template"] != obj["workflow_job_template"]:
                    raise ApiError(400, {"error": "Nodes of different workflows cannot be linked."})
                if other["id"] not in linked:
                    linked.append(other["id"])
                return 204, None
        if len(parts) == 3 and sub == "workflow_nodes" and endpoint == "workflow_job_templates" and method == "GET":
            nodes = [n for n in self.objects["workflow_job_template_nodes"].values() if n["workflow_job_template"] == obj["id"]]
            return 200, self._page(lambda o: "workflow_job_template_nodes", self._list(nodes, query))
        raise ApiError(404, {"detail": "Not found."})

    # -- what the tests read ---------------------------------------------------------------------

    def one(self, endpoint, **fields):
        found = [o for o in self.objects[endpoint].values() if all(o.get(k) == v for k, v in fields.items())]
        assert len(found) == 1, (endpoint, fields, found)
        return found[0]

    def created(self):
        return {endpoint: sorted(set(objs) - self.seeded[endpoint]) for endpoint, objs in self.objects.items()
                if set(objs) - self.seeded[endpoint]}


def serve(fake):
    class Handler(BaseHTTPRequestHandler):
        def _reply(self, status, body):
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-API-Product-Name", "AWX")
            self.send_header("X-API-Product-Version", VERSION)
            self.end_headers()
            self.wfile.write(data)

        def _any(self):
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else {}
            except ValueError:
                return self._reply(400, {"detail": "JSON parse error"})
            with fake.lock:
                fake.requests.append((self.command, self.path, body))
                if self.headers.get("Authorization") != "Bearer " + TOKEN:
                    return self._reply(401, {"detail": "Authentication credentials were not provided."})
                try:
                    status, reply = fake.handle(self.command, url.path, parse_qsl(url.query, keep_blank_values=True), body)
                except ApiError as e:
                    status, reply = e.status, e.body
            self._reply(status, reply)

        do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = do_HEAD = _any

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def fake_awx():
    fake = FakeAWX()
    server = serve(fake)
    fake.host = "http://127.0.0.1:%d" % server.server_address[1]
    yield fake
    server.shutdown()
    server.server_close()


def configure(fake, tmp_path, *extra):
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": {"localhost": {
        # As the implicit localhost would: the modules run with this Python (not a pyenv shim's).
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}))
    env = {k: v for k, v in os.environ.items()
           if not k.lower().endswith("_proxy") and not k.startswith(("CONTROLLER_", "TOWER_"))}
    env.update(CONTROLLER_HOST=fake.host, CONTROLLER_OAUTH_TOKEN=TOKEN, NO_PROXY="127.0.0.1", no_proxy="127.0.0.1",
               ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    # From an empty directory: no tower_cli.cfg of the checkout's tree can be read by the modules.
    proc = subprocess.run(["ansible-playbook", "-v", "-i", str(inventory), PLAYBOOK, *extra],
                          capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=300, check=False)
    return proc, proc.stdout + proc.stderr


def recap(out):
    found = re.findall(r"^localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", out, re.M)
    assert len(found) == 1, out[-3000:]
    return dict(zip(("ok", "changed", "unreachable", "failed"), map(int, found[0])))


@pytest.fixture
def configured(fake_awx, tmp_path):
    args = ["-e", "daylight_awx_scm_url=" + SCM_URL, "-e", "daylight_awx_db_password=" + SECRET]
    start = time.monotonic()
    first, first_out = configure(fake_awx, tmp_path, *args)
    assert first.returncode == 0, first_out[-5000:]
    second, second_out = configure(fake_awx, tmp_path, *args)
    assert second.returncode == 0, second_out[-5000:]
    return fake_awx, first_out, second_out, time.monotonic() - start


def test_configure_builds_the_controller_and_a_second_run_changes_nothing_it_can_know(configured):
    fake, first_out, second_out = configured[:3]

    # The project, the inventory, in the organization.
    org = fake.org["id"]
    project = fake.one("projects", name="daylight.release")
    assert (project["organization"], project["scm_type"], project["scm_url"], project["scm_branch"],
            project["scm_update_on_launch"]) == (org, "git", SCM_URL, "main", True)
    inventory = fake.one("inventories", name="daylight estate")
    assert inventory["organization"] == org

    # The credential type injects the password as db_migrate_password, as a template for AWX (not for Ansible).
    ctype = fake.one("credential_types", name="daylight.release database")
    assert (ctype["kind"], ctype["managed"]) == ("cloud", False)
    assert ctype["inputs"] == {"fields": [{"id": "password", "type": "string", "label": "Database password", "secret": True}],
                               "required": ["password"]}
    assert ctype["injectors"] == {"extra_vars": {"db_migrate_password": "{{ password }}"}}

    # The credential holds the password; it reached AWX and nowhere in ansible-playbook's output.
    db = fake.one("credentials", name="daylight.release database")
    assert (db["credential_type"], db["organization"], db["inputs"]) == (ctype["id"], org, {"password": SECRET})
    sent = [body for method, dummy, body in fake.requests if method in ("POST", "PATCH") and SECRET in json.dumps(body)]
    assert sent, "the password never reached the controller"
    assert SECRET not in first_out and SECRET not in second_out

    # One job template per entry, each with its playbook, survey and credentials.
    machine = fake.machine_credential["id"]
    assert len(fake.objects["job_templates"]) == len(TEMPLATES)
    for entry in TEMPLATES:
        jt = fake.one("job_templates", name=entry["name"])
        assert (jt["playbook"], jt["project"], jt["inventory"], jt["organization"], jt["description"]) == \
            (entry["playbook"], project["id"], inventory["id"], org, entry["description"]), entry["name"]
        credentials = fake.links[("job_templates", jt["id"], "credentials")]
        assert sorted(credentials) == sorted([machine] + ([db["id"]] if entry["needs_database"] else [])), entry["name"]
        assert jt["survey_enabled"] is bool(entry["survey"]), entry["name"]
        spec = fake.surveys.get(("job_templates", jt["id"]), {})
        if entry["survey"]:
            assert spec == {"name": entry["name"], "description": entry["description"], "spec": entry["survey"]}, entry["name"]
        else:
            assert spec == {}, entry["name"]
        assert jt["allow_simultaneous"] is False

    # The workflow: its survey is the release's; release -> on failure -> status.
    wf = fake.one("workflow_job_templates", name=WORKFLOW["name"])
    start = next(e for e in TEMPLATES if e["name"] == WORKFLOW["start"])
    assert (wf["organization"], wf["inventory"], wf["survey_enabled"], wf["description"]) == \
        (org, inventory["id"], True, WORKFLOW["description"])
    assert fake.surveys[("workflow_job_templates", wf["id"])] == \
        {"name": WORKFLOW["name"], "description": WORKFLOW["description"], "spec": start["survey"]}
    nodes = {n["identifier"]: n for n in fake.objects["workflow_job_template_nodes"].values()}
    assert sorted(nodes) == ["release", "status"]
    assert all(n["workflow_job_template"] == wf["id"] for n in nodes.values())
    release, status = nodes["release"], nodes["status"]
    assert release["unified_job_template"] == fake.one("job_templates", name=WORKFLOW["start"])["id"]
    assert status["unified_job_template"] == fake.one("job_templates", name=WORKFLOW["on_failure"])["id"]
    node_links = {(relation, node["identifier"]): fake.links[("workflow_job_template_nodes", node["id"], relation)]
                  for node in nodes.values() for relation in ("success_nodes", "failure_nodes", "always_nodes")}
    assert node_links == {("failure_nodes", "release"): [status["id"]], ("success_nodes", "release"): [],
                          ("always_nodes", "release"): [], ("failure_nodes", "status"): [],
                          ("success_nodes", "status"): [], ("always_nodes", "status"): []}

    # Nothing else was made: one of each, plus the project's update.
    assert {k: len(v) for k, v in fake.created().items()} == {
        "projects": 1, "project_updates": 1, "inventories": 1, "credential_types": 1, "credentials": 1,
        "job_templates": len(TEMPLATES), "workflow_job_templates": 1, "workflow_job_template_nodes": 2}

    # The first run changed every task but the check; the second changed only what it cannot compare: the
    # password, which AWX shows as $encrypted$, so awx.awx.credential (update_secrets defaults to true, which
    # configure.yml keeps so that a new password in the vault reaches AWX) sends it again and reports a change.
    assert recap(first_out)["changed"] == 6, first_out[-3000:]
    assert recap(second_out) == {"ok": 7, "changed": 1, "unreachable": 0, "failed": 0}, second_out[-3000:]
    changed_tasks = [block.split("]", 1)[0] for block in second_out.split("\nTASK [")[1:]
                     if re.search(r"^changed: ", block, re.M)]
    assert changed_tasks == ["Store the database password"], second_out[-3000:]


def test_without_the_password_configure_stops_before_touching_the_controller(fake_awx, tmp_path):
    proc, out = configure(fake_awx, tmp_path, "-e", "daylight_awx_scm_url=" + SCM_URL)
    assert proc.returncode != 0, out[-3000:]
    assert ASSERT_MSG in out, out[-3000:]
    assert recap(out)["failed"] == 1
    assert fake_awx.requests == [] and fake_awx.created() == {}
