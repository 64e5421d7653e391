"""The production-shaped example inventory keeps the database password in a vault, never in clear."""

import os
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "inventories" / "example"
CLEAR = "example-only-db-password"  # what the example vault holds; see group_vars/webservers.yml


def test_the_password_is_vaulted_and_decrypts_with_the_example_vault_password(tmp_path):
    text = (EXAMPLE / "group_vars" / "webservers.yml").read_text()
    assert "db_migrate_password: !vault |" in text
    assert CLEAR not in "".join(p.read_text() for p in EXAMPLE.rglob("*.yml"))
    secret = tmp_path / "vault-password"
    secret.write_text("example-vault-password\n")
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
    ansible = pathlib.Path(sys.executable).with_name("ansible")
    out = subprocess.run([str(ansible), "-i", str(EXAMPLE), "web01.example.com", "-m", "ansible.builtin.debug", "-a",
                          "var=db_migrate_password", "--vault-password-file", str(secret)],
                         cwd=REPO, env=env, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "db_migrate_password: %s" % CLEAR in out.stdout, out.stdout
