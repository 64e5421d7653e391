"""End-to-end: migrations inside a release and through playbooks/migrate.yml, on the lab's real MariaDB.

The demo app's own migrations (0001, 0002) are applied by test_release.py's first release. The
variants here add test-only migrations numbered 9001 and up to the 2.0.0 package; the fixture takes
their history rows and tables out again afterwards, so the demo's next real migration (0003) is not
"out of order" on this lab.
"""

import pytest

from release_under_load import last_report, lb_states, playbook, release, served_versions, variant_package, web_nodes
from test_migrations import flat, sql
from test_release import NO_LOAD

APP_DB, PASSWORD = "daylight", "lab-only-password"


def with_migrations(tmp_path, version, files):
    """The 2.0.0 package as `version`, with these extra migrations/NNNN_name.sql files."""
    def add(src):
        for name, text in files.items():
            (src / "migrations" / name).write_text(text)
    return variant_package(tmp_path, version, add)


def expand_then_contract(tmp_path, version, first, table):
    """The 2.0.0 package as `version` with a pre migration creating `table` and a contract one dropping it."""
    return with_migrations(tmp_path, version, {
        "%04d_create_%s.sql" % (first, table): "CREATE TABLE %s (id INT PRIMARY KEY);\n" % table,
        "%04d_drop_%s.sql" % (first + 1, table): "-- daylight: contract\nDROP TABLE %s;\n" % table})


def history(since="9000"):
    return sql("SELECT version, release_version, phase, success FROM daylight_migrations WHERE version >= '%s' "
               "ORDER BY version" % since, APP_DB)


def app_tables():
    return sorted(row[0] for row in sql("SHOW TABLES", APP_DB))


def visits_columns():
    return [row[0] for row in sql("SHOW COLUMNS FROM visits", APP_DB)]


def all_enabled():
    states = lb_states("web")
    return bool(states) and all(servers and set(servers.values()) == {"UP"} for servers in states.values())


@pytest.fixture(autouse=True)
def forget_test_migrations():
    if not web_nodes():
        pytest.fail("the lab is not running: start it with `make lab`")
    yield
    sql("DELETE FROM daylight_migrations WHERE version >= '9000'", APP_DB)
    sql("DROP TABLE IF EXISTS release_scratch, migrate_scratch", APP_DB)
    if "note" in visits_columns():
        sql("ALTER TABLE visits DROP COLUMN note", APP_DB)


def test_failing_migration_stops_the_release_before_any_node_changes(tmp_path):
    version = "2.6.0-bad-migration"
    pkg = with_migrations(tmp_path, version, {
        "9001_add_note_then_fail.sql": "ALTER TABLE visits ADD COLUMN note VARCHAR(20) NULL;\n"
                                       "INSERT INTO no_such_table (id) VALUES (1);\n"})
    before, columns = served_versions(), visits_columns()
    rc, out = release(version, pkg, "-v", *NO_LOAD)[:2]
    assert rc != 0
    assert "release %s stopped: the pre migrations of %s failed, so no node was switched" % (version, version) \
        in flat(out), out[-3000:]
    # The rehearsal on the copy failed, naming the statement: the live schema never saw the ALTER.
    assert "no_such_table" in out and "rehears" in out, out[-3000:]
    assert visits_columns() == columns
    assert history() == []
    assert served_versions() == before and all_enabled()
    assert PASSWORD not in out


def test_contract_migration_runs_once_every_node_serves_the_release(tmp_path):
    version = "2.6.1-contract"
    pkg = expand_then_contract(tmp_path, version, 9002, "release_scratch")
    rc, out = release(version, pkg, "-v", *NO_LOAD)[:2]
    assert rc == 0, out[-3000:]
    assert history() == [["9002", version, "pre", "1"], ["9003", version, "post", "1"]]
    assert "release_scratch" not in app_tables()
    # The report lists them, with their phase.
    applied = [(m["version"], m["phase"]) for m in last_report(version)["migrations"]]
    assert applied == [("9002", "pre"), ("9003", "post")], applied
    # The pre file ran before the canary was drained, the contract one after the last node was enabled.
    pre, post = out.index("pre migrations of %s: 9002" % version), out.index("post migrations of %s: 9003" % version)
    drains = out.find("Stop sending new sessions"), out.rfind("Stop sending new sessions")
    assert drains[0] > 0 and pre < drains[0] and post > drains[1], out[-3000:]
    assert set(served_versions().values()) == {version}
    assert PASSWORD not in out


def test_migrate_playbook_applies_pre_and_keeps_post_until_every_node_serves(tmp_path):
    version = "2.6.2-migrate-alone"
    pkg = expand_then_contract(tmp_path, version, 9004, "migrate_scratch")
    before = served_versions()
    rc, out = playbook("playbooks/migrate.yml", "-e", "release_version=%s" % version, "-e", "release_package=%s" % pkg,
                       "-v")[:2]
    assert rc == 0, out[-3000:]
    assert history() == [["9004", version, "pre", "1"]]
    assert "migrate_scratch" in app_tables()
    assert "the post migrations of %s wait until every node serves it" % version in flat(out), out[-3000:]
    assert served_versions() == before  # staged and migrated, no node moved
    assert PASSWORD not in out
    # Once the release is live everywhere, the same playbook runs the contract migration.
    rc, out = release(version, pkg, *NO_LOAD)[:2]
    assert rc == 0, out[-3000:]
    assert history() == [["9004", version, "pre", "1"], ["9005", version, "post", "1"]]
    rc, out = playbook("playbooks/migrate.yml", "-e", "release_version=%s" % version)[:2]
    assert rc == 0 and "none pending" in out, out[-3000:]


def test_release_with_migrations_and_no_database_is_refused(tmp_path):
    version = "2.6.3-no-database"
    pkg = with_migrations(tmp_path, version, {})
    before = served_versions()
    rc, out = release(version, pkg, "-e", "db_migrate_name=", *NO_LOAD)[:2]
    assert rc != 0
    assert ("release %s carries 2 migration(s) (0001_create_visits.sql, 0002_visits_add_node.sql) but no database "
            "is configured" % version) in flat(out), out[-3000:]
    assert served_versions() == before and all_enabled()


def test_backfill_playbook_fills_the_new_column_for_old_rows():
    """2.0.0 added visits.node (nullable); playbooks/backfill.yml fills it for the 1.0.0 visits, in batches."""
    if "daylight_backfills" in app_tables():
        sql("DELETE FROM daylight_backfills WHERE name = 'visits_node'", APP_DB)
    args = ("-e", "@examples/backfills/visits-node.yml", "-e", "backfill_pause_seconds=0")
    rc, out = playbook("playbooks/backfill.yml", "-v", *args)[:2]
    assert rc == 0, out[-3000:]
    assert "backfill visits_node:" in out and "finished" in out, out[-3000:]
    assert sql("SELECT COUNT(*) FROM visits WHERE node IS NULL", APP_DB) == [["0"]]
    assert PASSWORD not in out
    rc, out = playbook("playbooks/backfill.yml", *args, "-e", "backfill_copy_to=elsewhere")[:2]
    assert rc != 0 and "either backfill_set (update in place) or backfill_copy_to" in flat(out), out[-3000:]
