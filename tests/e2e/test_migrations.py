"""End-to-end: the db_migrate module against the lab's real MariaDB (db1), nothing mocked.

Runs in its own database (daylight_test, created by lab/configure.yml) as the application's user,
over TCP with a password, from db1 itself (it has PyMySQL). Each test starts from an empty database.
"""

import io
import json
import os
import re
import signal
import subprocess
import tarfile
import threading
import time

import pytest

from release_under_load import ROOT

DB, USER, PASSWORD = "daylight_test", "daylight", "lab-only-password"


def sql(query, database=DB):
    """Run SQL on db1 as root; return the rows as lists of strings."""
    out = subprocess.run(["podman", "exec", "db1", "mariadb", "-N", "-B", "-e", query, database],
                         capture_output=True, text=True, check=True).stdout
    return [line.split("\t") for line in out.splitlines()]


def tables():
    return sorted(row[0] for row in sql("SHOW TABLES"))


def history():
    if "daylight_migrations" not in tables():
        return []
    return sql("SELECT version, description, release_version, phase, success, statements_applied, checksum "
               "FROM daylight_migrations ORDER BY version")


LOGIN = dict(login_host="127.0.0.1", login_user=USER, login_password=PASSWORD, database=DB)


def on_db1(tmp_path, module, args):
    """A playbook running one task of `module` on db1, written to tmp_path; return its path."""
    play = tmp_path / ("play-%d.yml" % time.monotonic_ns())
    play.write_text(json.dumps([{"hosts": "db1", "gather_facts": False, "tasks": [
        {"name": "Run %s" % module, "daylight.release.%s" % module: dict(LOGIN, **args)}]}]))
    return ["ansible-playbook", "-v", str(play)]


def on_db1_files(files):
    """Write files ({name: text}) into a new directory on db1, as a release's migrations/; return its path."""
    directory = "/tmp/e2e-migrations/%d" % time.monotonic_ns()
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        for name, text in files.items():
            data = text.encode("utf-8")
            member = tarfile.TarInfo(name)
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))
    subprocess.run(["podman", "exec", "-i", "db1", "sh", "-c", "mkdir -p %s && tar -x -C %s" % (directory, directory)],
                   input=archive.getvalue(), check=True, capture_output=True)
    return directory


def migrate(tmp_path, files, phase="pre", release="9.0.0", **options):
    """Run db_migrate on db1 through ansible-playbook -v on files ({name: text}); return (returncode, output)."""
    args = dict(dict(migrations_dir=on_db1_files(files), phase=phase, release=release, who="e2e", lock_timeout=5,
                     lock_wait_timeout=1, retries=1), **options)
    proc = subprocess.run(on_db1(tmp_path, "db_migrate", args), cwd=ROOT, capture_output=True, text=True,
                          check=False, timeout=300)
    return proc.returncode, proc.stdout + proc.stderr


def flat(out):
    return " ".join(out.split())


@pytest.fixture(autouse=True)
def empty_database():
    for name in tables():
        sql("DROP TABLE `%s`" % name)
    yield


CREATE = {"0001_create_orders.sql": "CREATE TABLE orders (id INT PRIMARY KEY AUTO_INCREMENT, total INT NOT NULL);\n"
                                    "INSERT INTO orders (total) VALUES (10), (20);\n"}
ADD_NOTE = {"0002_add_note.sql": "-- the new release writes it, the old one ignores it\n"
                                 "ALTER TABLE orders ADD COLUMN note VARCHAR(100) NULL;\n"}


def test_expand_migrations_run_once_online_and_are_recorded(tmp_path):
    rc, out = migrate(tmp_path, dict(CREATE, **ADD_NOTE))
    assert rc == 0, out[-3000:]
    assert "ALGORITHM=INSTANT" in out, out[-3000:]
    assert [row[:6] for row in history()] == [["0001", "create_orders", "9.0.0", "pre", "1", "2"],
                                              ["0002", "add_note", "9.0.0", "pre", "1", "1"]]
    assert sql("SELECT COUNT(*) FROM orders") == [["2"]]
    rc, out = migrate(tmp_path, dict(CREATE, **ADD_NOTE))
    assert rc == 0 and "changed=0" in out, out[-3000:]
    assert sql("SELECT COUNT(*) FROM orders") == [["2"]]


def test_contract_statement_in_a_pre_file_is_refused_and_nothing_runs(tmp_path):
    files = dict(CREATE, **{"0002_drop_total.sql": "ALTER TABLE orders ADD COLUMN x INT NULL;\n"
                                                   "ALTER TABLE orders DROP COLUMN total;\n"})
    rc, out = migrate(tmp_path, files)
    assert rc != 0
    assert re.search(r"0002_drop_total\.sql line 2: DS103", flat(out)), out[-3000:]
    assert tables() == ["daylight_migrations"] and history() == []


def test_a_table_copy_is_refused_by_the_server_and_reported(tmp_path):
    assert migrate(tmp_path, CREATE)[0] == 0
    contract = "-- daylight: contract\nALTER TABLE orders MODIFY total VARCHAR(20) NOT NULL;\n"
    files = dict(CREATE, **{"0002_total_text.sql": contract})
    rc, out = migrate(tmp_path, files, phase="post")
    assert rc != 0
    assert "would copy or lock the table" in flat(out) and "0002_total_text.sql line 2" in flat(out), out[-3000:]
    assert sql("SELECT DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA='%s' AND TABLE_NAME='orders' "
               "AND COLUMN_NAME='total'" % DB) == [["int"]]


def test_an_alter_behind_a_long_transaction_gives_up_and_queries_keep_flowing(tmp_path):
    assert migrate(tmp_path, CREATE)[0] == 0
    # A visitor's long transaction holds a metadata lock on orders for 20 s.
    holder = subprocess.Popen(["podman", "exec", "db1", "mariadb", "-e",
                               "BEGIN; SELECT * FROM orders; SELECT SLEEP(20); COMMIT;", DB],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1)
        timings = []

        def visitor():  # other visitors' queries while the ALTER waits
            while len(timings) < 8:
                started = time.monotonic()
                sql("SELECT COUNT(*) FROM orders")
                timings.append(time.monotonic() - started)
        thread = threading.Thread(target=visitor)
        thread.start()
        started = time.monotonic()
        rc, out = migrate(tmp_path, dict(CREATE, **ADD_NOTE))
        took = time.monotonic() - started
        thread.join(timeout=60)
    finally:
        holder.kill()
    assert rc != 0
    assert "gave up after 2 tries" in flat(out), out[-3000:]
    assert took < 18, took  # bounded by lock_wait_timeout x tries, not by the 20 s transaction
    assert "note" not in [row[0] for row in sql("SHOW COLUMNS FROM orders")]
    # Queries were held at most about lock_wait_timeout (1 s), never for the transaction's 20 s.
    assert max(timings) < 5, timings


def test_a_changed_applied_migration_is_refused_naming_both_checksums(tmp_path):
    assert migrate(tmp_path, CREATE)[0] == 0
    tampered = {"0001_create_orders.sql": CREATE["0001_create_orders.sql"] + "-- edited\n"}
    rc, out = migrate(tmp_path, tampered)
    assert rc != 0
    assert "0001_create_orders.sql" in flat(out) and history()[0][6] in flat(out), out[-3000:]


def test_two_concurrent_runs_apply_each_migration_once(tmp_path):
    files = dict(CREATE, **{"0002_slow_insert.sql": "SELECT SLEEP(3);\nINSERT INTO orders (total) VALUES (30);\n"})
    results = []
    runs = [threading.Thread(target=lambda: results.append(migrate(tmp_path, files, lock_timeout=30)))
            for _run in range(2)]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    assert [rc for rc, _out in results] == [0, 0], [out[-2000:] for _rc, out in results]
    assert sql("SELECT COUNT(*) FROM orders") == [["3"]]
    assert [row[0] for row in history()] == ["0001", "0002"]


def test_a_failed_migration_blocks_until_repaired(tmp_path):
    assert migrate(tmp_path, CREATE)[0] == 0
    broken = dict(CREATE, **{"0002_broken.sql": "INSERT INTO orders (total) VALUES (1);\nINSERT INTO nowhere VALUES (1);\n"})
    rc, out = migrate(tmp_path, broken, rehearse=False)
    assert rc != 0 and "0002_broken.sql line 2 failed" in flat(out), out[-3000:]
    rc, out = migrate(tmp_path, broken, rehearse=False)
    assert rc != 0 and "db_migrate_repair=true" in flat(out), out[-3000:]
    fixed = dict(CREATE, **{"0002_broken.sql": "INSERT INTO orders (total) VALUES (1);\n"})
    rc, out = migrate(tmp_path, fixed, repair=True, rehearse=False)
    assert rc == 0, out[-3000:]
    assert [row[4] for row in history()] == ["1", "1"]


def test_a_rehearsal_failure_leaves_the_live_schema_untouched(tmp_path):
    assert migrate(tmp_path, CREATE)[0] == 0
    before = (tables(), sql("SELECT COUNT(*) FROM orders"), history())
    files = dict(CREATE, **{"0002_add_table.sql": "CREATE TABLE notes (id INT PRIMARY KEY);\n",
                            "0003_broken.sql": "INSERT INTO notes VALUES (1), (1);\n"})
    rc, out = migrate(tmp_path, files)
    assert rc != 0 and "the rehearsal on a copy of %s failed" % DB in flat(out), out[-3000:]
    assert (tables(), sql("SELECT COUNT(*) FROM orders"), history()) == before
    assert "%s_rehearsal" % DB not in [row[0] for row in sql("SHOW DATABASES")]


def test_the_password_never_appears_in_output(tmp_path):
    rc, out = migrate(tmp_path, dict(CREATE, **ADD_NOTE))
    rc2, out2 = migrate(tmp_path, {"0001_create_orders.sql": "garbage"})
    assert rc == 0 and rc2 != 0
    assert PASSWORD not in out + out2


BACKFILL = dict(name="orders_seen", table="orders", set="seen = seen + 1", batch_size=100)


def backfill_state():
    """(rows seen 0, 1, 2+ times, checkpoint's last key and batches)."""
    counts = dict(sql("SELECT LEAST(seen, 2), COUNT(*) FROM orders GROUP BY 1"))
    checkpoint = sql("SELECT last_key, batches FROM daylight_backfills WHERE name = 'orders_seen'") \
        if "daylight_backfills" in tables() else []
    return ([int(counts.get(k, 0)) for k in ("0", "1", "2")],
            tuple(int(v) for v in checkpoint[0]) if checkpoint else None)


def test_an_interrupted_backfill_resumes_and_changes_each_row_once(tmp_path):
    """Killed mid-run (controller and module process), the same backfill goes on after the last committed batch."""
    sql("CREATE TABLE orders (id INT PRIMARY KEY, seen INT NOT NULL DEFAULT 0) ENGINE=InnoDB")
    sql("INSERT INTO orders (id) SELECT seq FROM seq_1_to_3000")
    run = subprocess.Popen(on_db1(tmp_path, "db_backfill", dict(BACKFILL, pause_seconds=0.3)), cwd=ROOT,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and (backfill_state()[1] or (0, 0))[1] < 3:
            time.sleep(0.2)
    finally:
        os.killpg(run.pid, signal.SIGKILL)
        # The module goes on inside db1 without its controller (over SSH with pipelining its process
        # does not even carry the module's name): cut its database connection, the one holding
        # the backfill's lock, as a crash of the host running it would.
        holder = sql("SELECT IS_USED_LOCK('daylight_backfill:orders_seen')")[0][0]
        if holder != "NULL":
            sql("KILL CONNECTION %s" % holder)
        run.wait()
    time.sleep(1)  # MariaDB rolls back the killed connection's open batch
    (fresh, once, twice), (last_key, batches) = backfill_state()
    assert 3 <= batches < 30 and last_key == batches * 100, (last_key, batches)
    # Exactly the committed batches changed, each row once: a batch commits with its checkpoint.
    assert (fresh, once, twice) == (3000 - last_key, last_key, 0)
    proc = subprocess.run(on_db1(tmp_path, "db_backfill", dict(BACKFILL, pause_seconds=0)), cwd=ROOT,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "resumed_from: %d" % last_key in proc.stdout and "batches: %d" % (30 - batches) in proc.stdout, proc.stdout
    assert backfill_state() == ([0, 3000, 0], (3000, 30))
    # Run again: nothing left, nothing changes.
    proc = subprocess.run(on_db1(tmp_path, "db_backfill", dict(BACKFILL, pause_seconds=0)), cwd=ROOT,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and "changed=0" in proc.stdout, proc.stdout[-3000:]
    assert backfill_state() == ([0, 3000, 0], (3000, 30))
    assert PASSWORD not in proc.stdout + proc.stderr
