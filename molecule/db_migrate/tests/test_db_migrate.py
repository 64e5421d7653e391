"""db_migrate: the schema the migrations made, and the history of what ran."""

import os

import testinfra.utils.ansible_runner

# testinfra's own podman backend on the same containers (see molecule/apache_docroot/tests).
testinfra_hosts = [
    f"podman://{name}"
    for name in testinfra.utils.ansible_runner.AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"]).get_hosts("databases")
]


def query(host, sql):
    """Rows of a query, as root over the unix socket (no password needed)."""
    out = host.check_output(f'mariadb -N -B daylight -e "{sql}"')
    return [line.split("\t") for line in out.splitlines()]


def test_table_and_column_exist(host):
    columns = query(host, "SELECT column_name FROM information_schema.columns"
                          " WHERE table_schema = 'daylight' AND table_name = 'visits' ORDER BY ordinal_position")
    assert [c[0] for c in columns] == ["id", "page", "node"]


def test_history_records_both_migrations(host):
    rows = query(host, "SELECT version, description, release_version, phase, success FROM daylight_migrations ORDER BY version")
    assert rows == [
        ["0001", "create_visits", "1.0.0", "pre", "1"],
        ["0002", "visits_add_node", "1.0.0", "pre", "1"],
    ]


def test_rehearsal_copy_is_gone(host):
    assert query(host, "SHOW DATABASES LIKE 'daylight_rehearsal'") == []
