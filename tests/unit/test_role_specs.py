"""Each role's argument spec documents exactly the variables its defaults set.

A variable added to defaults/main.yml without a spec entry (or the reverse) goes unvalidated
and undocumented; this catches it. Also checks every variable carries the role's prefix.
"""

import pathlib

import pytest
import yaml

ROLES = pathlib.Path(__file__).resolve().parents[2] / "roles"


def load(path):
    return yaml.safe_load(path.read_text()) or {}


@pytest.mark.parametrize("role", sorted(p.name for p in ROLES.iterdir() if (p / "defaults" / "main.yml").exists()))
def test_argument_spec_matches_defaults(role):
    defaults = set(load(ROLES / role / "defaults" / "main.yml"))
    specs = load(ROLES / role / "meta" / "argument_specs.yml")["argument_specs"]
    documented = set()
    for entry in specs.values():
        documented |= set(entry.get("options", {}))
    assert defaults - documented == set(), "defaults without an argument spec"
    optional = {name for name, opt in specs["main"].get("options", {}).items() if not opt.get("required")}
    assert optional - defaults == set(), "optional options without a default"
    for name in defaults | documented:
        assert name.startswith(role + "_"), "%s is not prefixed with %s_" % (name, role)
