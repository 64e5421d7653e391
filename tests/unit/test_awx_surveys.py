"""The AWX/Tower job templates as code (playbooks/awx/job_templates.yml) against AWX's survey rules
and against the playbooks they launch.

AWX's rules are those its API applies when a survey spec is posted (awx/api/views:
JobTemplateSurveySpec._validate_spec_data, read for this test), plus what the issue asks: integer
limits, defaults among the choices, passwords only as password questions or credentials. There is
no AWX here, so the rules are restated below; the table of bad surveys shows each one can fail.
"""

import json
import os
import re

import pytest
import yaml

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible_collections.daylight.release.plugins.module_utils.toggle_bands import normalize

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
AWX = yaml.safe_load(open(os.path.join(ROOT, "playbooks", "awx", "job_templates.yml")))
TEMPLATES = AWX["daylight_awx_job_templates"]
SURVEYED = [t for t in TEMPLATES if t["survey"]]

# AWX's question types and the Python type a default must have (JobTemplateSurveySpec.ALLOWED_TYPES).
ALLOWED_TYPES = {"text": str, "textarea": str, "password": str, "multiplechoice": str, "multiselect": str,
                 "integer": int, "float": float}
SECRET_NAME = re.compile(r"pass(word)?|secret|token|key", re.I)


def survey_errors(spec):
    """What AWX (and the issue) would refuse in a survey spec ({name, description, spec}); [] if none."""
    errors = []
    for field, kind in (("name", str), ("description", str), ("spec", list)):
        if not isinstance(spec.get(field), kind):
            errors.append("%s must be a %s" % (field, kind.__name__))
    if errors:
        return errors
    if not spec["spec"]:
        errors.append("spec has no question")
    seen = set()
    for idx, q in enumerate(spec["spec"]):
        where = "question %d (%s)" % (idx, q.get("variable"))
        for field in ("type", "question_name", "variable"):
            if not isinstance(q.get(field), str) or not q.get(field):
                errors.append("%s: %s must be a non-empty string" % (where, field))
        if not isinstance(q.get("required"), bool):
            errors.append("%s: required must be true or false" % where)
        if q.get("variable") in seen:
            errors.append("%s: variable duplicated" % where)
        seen.add(q.get("variable"))
        qtype = q.get("type")
        if qtype not in ALLOWED_TYPES:
            errors.append("%s: type %r is not one of %s" % (where, qtype, ", ".join(ALLOWED_TYPES)))
            continue
        default = q.get("default", "")
        if default != "" and not isinstance(default, ALLOWED_TYPES[qtype]):
            errors.append("%s: default %r is not a %s" % (where, default, qtype))
        for limit in ("min", "max"):
            if q.get(limit) is not None and (not isinstance(q[limit], int) or isinstance(q[limit], bool)):
                errors.append("%s: %s must be a whole number" % (where, limit))
        if isinstance(q.get("min"), int) and isinstance(q.get("max"), int) and q["min"] > q["max"]:
            errors.append("%s: min is above max" % where)
        if qtype in ("integer", "float") and default != "" and isinstance(default, (int, float)):
            if (isinstance(q.get("min"), int) and default < q["min"]) or (isinstance(q.get("max"), int) and default > q["max"]):
                errors.append("%s: default %r is outside min/max" % (where, default))
        if qtype in ("multiplechoice", "multiselect"):
            choices = q.get("choices")
            choices = choices.splitlines() if isinstance(choices, str) else choices
            if not choices:
                errors.append("%s: a %s question needs choices" % (where, qtype))
                continue
            defaults = default.splitlines() if isinstance(default, str) else list(default)
            if qtype == "multiplechoice" and len(defaults) > 1:
                errors.append("%s: a multiple choice has one default" % where)
            if any(d not in choices for d in defaults):
                errors.append("%s: default %r is not among the choices" % (where, default))
        if isinstance(default, str) and default.startswith("$encrypted$") and qtype != "password":
            errors.append("%s: $encrypted$ is only for password questions" % where)
        # The issue: passwords only as password questions (or credentials), and never with a default here.
        if SECRET_NAME.search(q.get("variable") or "") and qtype != "password":
            errors.append("%s: a secret must be a password question or a credential" % where)
        if qtype == "password" and default != "":
            errors.append("%s: a password question must not carry a default in the repository" % where)
    return errors


def survey_spec(template):
    return {"name": template["name"], "description": template["description"], "spec": template["survey"]}


def playbook_text(relative):
    """The playbook's text and that of every playbook it imports, followed from file to file."""
    path = os.path.join(ROOT, relative)
    text = open(path).read()
    for imported in re.findall(r"import_playbook:\s*(\S+)", text):
        target = os.path.normpath(os.path.join(os.path.dirname(path), imported))
        text += playbook_text(os.path.relpath(target, ROOT))
    return text


def role_options(text):
    """{option: (role, spec)} of every role entry point the playbook text names (daylight.release.<role>)."""
    options = {}
    for role in sorted(set(re.findall(r"daylight\.release\.(\w+)", text))):
        specs_path = os.path.join(ROOT, "roles", role, "meta", "argument_specs.yml")
        if os.path.exists(specs_path):
            for entry in yaml.safe_load(open(specs_path))["argument_specs"].values():
                for name, spec in (entry.get("options") or {}).items():
                    options[name] = (role, spec)
    return options


# The playbooks' own variables and the role option each one feeds (checked below against the text).
FEEDS = {"release_version": "release_stage_version", "release_package": "release_stage_package",
         "release_dark_launch": "release_node_dark_launch"}
BATCH_SIZE = re.search(r"release_batch_size \| default\(1\) \| string is match\('(.+?)'\)",
                       open(os.path.join(ROOT, "playbooks", "release.yml")).read())


def check_against_spec(name, spec, value):
    """Errors of `value` for one role option, through Ansible's own argument spec validator."""
    spec = dict((k, v) for k, v in spec.items() if k in ("type", "elements", "choices", "no_log", "options"))
    result = ArgumentSpecValidator({name: spec}).validate({name: value})
    return [str(e) for e in result.errors]


def test_the_rules_catch_what_awx_refuses():
    good = {"type": "text", "question_name": "Q", "variable": "v", "required": True}
    cases = [
        ({"description": "", "spec": [good]}, "name must be a str"),
        ({"name": "n", "description": "", "spec": []}, "spec has no question"),
        ({"name": "n", "description": "", "spec": [dict(good, required="yes")]}, "required must be true or false"),
        ({"name": "n", "description": "", "spec": [good, good]}, "variable duplicated"),
        ({"name": "n", "description": "", "spec": [dict(good, type="boolean")]}, "is not one of"),
        ({"name": "n", "description": "", "spec": [dict(good, type="integer", default="3")]}, "is not a integer"),
        ({"name": "n", "description": "", "spec": [dict(good, type="float", default=3)]}, "is not a float"),
        ({"name": "n", "description": "", "spec": [dict(good, type="integer", min=1, max=5, default=9)]}, "outside min/max"),
        ({"name": "n", "description": "", "spec": [dict(good, max="5")]}, "max must be a whole number"),
        ({"name": "n", "description": "", "spec": [dict(good, type="multiplechoice")]}, "needs choices"),
        ({"name": "n", "description": "", "spec": [dict(good, type="multiplechoice", choices=["a", "b"], default="c")]},
         "not among the choices"),
        ({"name": "n", "description": "", "spec": [dict(good, type="multiplechoice", choices=["a", "b"], default="a\nb")]},
         "one default"),
        ({"name": "n", "description": "", "spec": [dict(good, variable="db_password")]}, "a secret must be a password"),
        ({"name": "n", "description": "", "spec": [dict(good, type="password", variable="p", default="x")]},
         "must not carry a default"),
        ({"name": "n", "description": "", "spec": [dict(good, default="$encrypted$")]}, "only for password questions"),
    ]
    for spec, message in cases:
        errors = survey_errors(spec)
        assert any(message in e for e in errors), (spec, errors)
    assert survey_errors({"name": "n", "description": "", "spec": [good]}) == []


@pytest.mark.parametrize("template", SURVEYED, ids=[t["name"] for t in SURVEYED])
def test_every_survey_follows_awx_rules(template):
    assert survey_errors(survey_spec(template)) == []


@pytest.mark.parametrize("template", TEMPLATES, ids=[t["name"] for t in TEMPLATES])
def test_every_survey_variable_is_one_the_playbook_accepts(template):
    text = playbook_text(template["playbook"])
    options = role_options(text)
    for q in template["survey"]:
        name = q["variable"]
        if name in FEEDS:
            # A playbook variable, handed to the role option its default is checked against below.
            assert re.search(r"\b%s:\s*(>-\s*)?\"?\{\{ %s\b" % (FEEDS[name], name), text), (template["name"], name)
        elif name == "release_batch_size":
            assert "release_batch_size | default(1) | string is match(" in text, template["name"]
        else:
            assert name in options, "%s: %s is not an option of any role %s runs" % (
                template["name"], name, template["playbook"])


@pytest.mark.parametrize("template", SURVEYED, ids=[t["name"] for t in SURVEYED])
def test_every_survey_default_passes_the_playbooks_checks(template):
    options = role_options(playbook_text(template["playbook"]))
    options.update(role_options("daylight.release.release_node"))
    for q in template["survey"]:
        if "default" not in q:
            continue
        name, default = q["variable"], q["default"]
        if name == "release_batch_size":
            assert BATCH_SIZE and re.match(BATCH_SIZE.group(1).replace("\\\\", "\\"), default), default
            continue
        option = FEEDS.get(name, name)
        assert check_against_spec(option, options[option][1], default) == [], (template["name"], name, default)


def test_a_bad_default_fails_the_playbooks_checks():
    """The check above can fail: answers the playbooks refuse are refused here too."""
    options = role_options("daylight.release.release_node daylight.release.feature_toggles")
    assert check_against_spec("release_node_dark_launch", options["release_node_dark_launch"][1], "maybe")
    assert check_against_spec("feature_toggles_features", options["feature_toggles_features"][1], "not json")
    assert not re.match(BATCH_SIZE.group(1).replace("\\\\", "\\"), "0")


def test_the_toggles_textarea_example_is_a_valid_answer():
    """A textarea answer is a string; the role's dict option takes it as JSON."""
    toggles = next(t for t in TEMPLATES if t["playbook"] == "playbooks/toggles.yml")
    question = toggles["survey"][0]
    example = question["question_description"].split("e.g. ", 1)[1]
    json.loads(example)
    options = role_options(playbook_text(toggles["playbook"]))
    assert check_against_spec("feature_toggles_features", options["feature_toggles_features"][1], example) == []
    # And the bands in it are ones toggle_bands accepts (it raises on a bad band set).
    assert normalize(json.loads(example))


def test_the_workflow_runs_status_when_the_release_fails():
    names = [t["name"] for t in TEMPLATES]
    workflow = AWX["daylight_awx_workflow"]
    assert workflow["start"] in names and workflow["on_failure"] in names
    assert next(t for t in TEMPLATES if t["name"] == workflow["on_failure"])["playbook"] == "playbooks/status.yml"


def test_the_database_password_arrives_only_through_a_credential():
    configure = open(os.path.join(ROOT, "playbooks", "awx", "configure.yml")).read()
    assert 'db_migrate_password: !unsafe "{{ password }}"' in configure
    options = role_options("daylight.release.db_migrate")
    assert options["db_migrate_password"][1].get("no_log") is True
    for template in TEMPLATES:
        assert all(not SECRET_NAME.search(q["variable"]) for q in template["survey"]), template["name"]
        assert template["needs_database"] == (template["playbook"] in ("playbooks/release.yml", "playbooks/migrate.yml"))
