# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Apply a release's pending migrations to MariaDB: once, online, recorded.

Works on any DB-API connection with MariaDB behind it (PyMySQL in the module);
what to run comes from migrations.plan(). The guarantees:

- once only: GET_LOCK around the whole run. MariaDB releases it with the
  connection, so a killed run never leaves it stuck (Liquibase's lock row does).
- online only: every ALTER TABLE gets ALGORITHM=INSTANT, then, when MariaDB
  refuses that (errors 1845/1846), ALGORITHM=INPLACE, LOCK=NONE; when both are
  refused the migration fails instead of copying or locking the table.
- a statement waiting for a metadata lock gives up after lock_wait_timeout
  seconds (and is retried a bounded number of times), so an ALTER queued behind
  a long transaction never queues every visitor's query behind it.
- history: daylight_migrations records each migration; a failed one blocks
  later runs until repaired (repair=True removes the failed rows), as Flyway does.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.daylight.release.plugins.module_utils import migrations
from ansible_collections.daylight.release.plugins.module_utils.errors import ApplyError, ConflictError

HISTORY_TABLE = 'daylight_migrations'
HISTORY_DDL = (
    'CREATE TABLE IF NOT EXISTS %s ('
    ' version VARCHAR(32) NOT NULL PRIMARY KEY,'
    ' description VARCHAR(255) NOT NULL,'
    ' checksum CHAR(64) NOT NULL,'
    ' release_version VARCHAR(128) NOT NULL,'
    ' phase VARCHAR(8) NOT NULL,'
    ' started DATETIME(6) NOT NULL,'
    ' finished DATETIME(6) NULL,'
    ' success TINYINT(1) NOT NULL DEFAULT 0,'
    ' statements_applied INT NOT NULL DEFAULT 0,'
    ' applied_by VARCHAR(255) NOT NULL'
    ') ENGINE=InnoDB' % HISTORY_TABLE)

# ER_ALTER_OPERATION_NOT_SUPPORTED, ER_ALTER_OPERATION_NOT_SUPPORTED_REASON
ALGORITHM_REFUSED = (1845, 1846)
LOCK_WAIT_TIMEOUT = 1205  # ER_LOCK_WAIT_TIMEOUT, also for metadata locks


def error_code(exc):
    """The MariaDB error number of a DB-API exception (PyMySQL puts it first in args), or None."""
    args = getattr(exc, 'args', ())
    return args[0] if args and isinstance(args[0], int) else None


def take_lock(cursor, name, timeout, what='migration run'):
    """GET_LOCK(name) within timeout seconds, or ConflictError naming the connection holding it.

    what: the kind of run that holds such a lock, for the message ('another <what> holds ...').
    """
    cursor.execute('SELECT GET_LOCK(%s, %s)', (name, timeout))
    if cursor.fetchone()[0] == 1:
        return
    cursor.execute('SELECT IS_USED_LOCK(%s)', (name,))
    holder = cursor.fetchone()[0]
    who = 'connection %s' % holder
    if holder is not None:
        cursor.execute('SELECT USER, HOST, TIME FROM information_schema.PROCESSLIST WHERE ID = %s', (holder,))
        row = cursor.fetchone()
        if row:
            who = 'connection %s (%s@%s, connected %s s)' % (holder, row[0], row[1], row[2])
    raise ConflictError('another %s holds the lock %r: %s; waited %s s. Wait for it to finish '
                        '(the lock goes with its connection), then run again' % (what, name, who, timeout))


def read_history(cursor):
    """{version: {checksum, success, release, description}} from the history table (created if missing)."""
    cursor.execute(HISTORY_DDL)
    cursor.execute('SELECT version, checksum, success, release_version, description FROM %s' % HISTORY_TABLE)
    return dict((row[0], {'checksum': row[1], 'success': bool(row[2]), 'release': row[3], 'description': row[4]})
                for row in cursor.fetchall())


def check_no_failed(history, repair):
    """Refuse to go on after a failed migration unless repair is asked; returns the versions to repair."""
    failed = sorted(v for v, row in history.items() if not row['success'])
    if failed and not repair:
        raise ConflictError(
            'migration %s failed in an earlier run (release %s) and may be half applied: look at the schema, '
            'finish or undo it by hand, then run again with db_migrate_repair=true to clear the failed entry'
            % (', '.join('%s_%s' % (v, history[v]['description']) for v in failed), history[failed[0]]['release']))
    return failed


def online_variants(statement, offline):
    """The forms of a statement to try in order: INSTANT, then INPLACE without locks."""
    if offline or not migrations.is_alter_table(statement):
        return [statement]
    variants = [migrations.with_online_algorithm(statement, a) for a in migrations.ALGORITHMS]
    return [v for i, v in enumerate(variants) if v not in variants[:i]]


def execute_online(cursor, statement, offline, retries, pause=1.0):
    """Run one statement online; returns the SQL that ran. Raises ApplyError with the reason."""
    variants = online_variants(statement, offline)
    refusals = []
    for sql in variants:
        for attempt in range(retries + 1):
            try:
                cursor.execute(sql)
                return sql
            except Exception as exc:  # pylint: disable=broad-except  # the driver's own classes
                code = error_code(exc)
                if code == LOCK_WAIT_TIMEOUT and attempt < retries:
                    time.sleep(pause)
                    continue
                if code == LOCK_WAIT_TIMEOUT:
                    raise ApplyError('gave up after %d tries: each waited lock_wait_timeout for a metadata lock '
                                     'another transaction holds (a long query or an open transaction on the table); '
                                     'visitors\' queries were not queued behind it. Run again when it has finished: %s'
                                     % (retries + 1, exc))
                if code in ALGORITHM_REFUSED:
                    refusals.append('%s' % exc)
                    break
                raise ApplyError('%s' % exc)
    raise ApplyError('MariaDB would copy or lock the table for this ALTER (%s). Do it the expand/contract way: add '
                     'a new column or table, write both, backfill in batches (playbooks/backfill.yml), switch '
                     'reads, and drop the old one in a contract migration; or, knowing it locks the table, put '
                     '"-- daylight: offline" at the top of the file' % '; '.join(refusals))


def apply_migration(cursor, migration, release, who, now):
    """Apply one checked migration, recording it; returns the statements as they ran."""
    cursor.execute('INSERT INTO %s (version, description, checksum, release_version, phase, started, success, '
                   'applied_by) VALUES (%%s, %%s, %%s, %%s, %%s, %%s, 0, %%s)' % HISTORY_TABLE,
                   (migration['version'], migration['description'], migration['checksum'], release,
                    migration['phase'], now(), who))
    ran = []
    for statement in migration['statements']:
        try:
            ran.append(execute_online(cursor, statement['sql'], migration['offline'], migration['retries']))
        except ApplyError as exc:
            raise ApplyError('%s_%s.sql line %d failed: %s' % (
                migration['version'], migration['description'], statement['line'], exc))
        cursor.execute('UPDATE %s SET statements_applied = %%s WHERE version = %%s' % HISTORY_TABLE,
                       (len(ran), migration['version']))
    cursor.execute('UPDATE %s SET success = 1, finished = %%s WHERE version = %%s' % HISTORY_TABLE,
                   (now(), migration['version']))
    return ran


def rehearse(cursor, database, scratch, pending, size_limit_mb, retries):
    """Run the pending migrations first on a copy of the live database; returns notes for the operator.

    The copy (scratch, on the same server) has the live tables with their data, or their schema only
    above size_limit_mb. It is dropped afterwards, whatever happened. A migration that fails here
    raises ApplyError before the live schema was touched.
    """
    notes = []
    cursor.execute('SELECT TABLE_NAME, TABLE_TYPE, COALESCE(DATA_LENGTH, 0) + COALESCE(INDEX_LENGTH, 0) '
                   'FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s', (database,))
    tables = cursor.fetchall()
    size_mb = sum(int(row[2]) for row in tables) / 1048576.0
    with_data = size_mb <= size_limit_mb
    if not with_data:
        notes.append('the rehearsal copied the schema only: %s holds %.0f MB, above the limit of %s MB, so data-'
                     'dependent failures (a duplicate for a new UNIQUE index) show only on the live run'
                     % (database, size_mb, size_limit_mb))
    cursor.execute('DROP DATABASE IF EXISTS `%s`' % scratch)
    cursor.execute('CREATE DATABASE `%s`' % scratch)
    try:
        for name, kind, _size in tables:
            if kind != 'BASE TABLE' or name == HISTORY_TABLE:
                continue
            cursor.execute('CREATE TABLE `%s`.`%s` LIKE `%s`.`%s`' % (scratch, name, database, name))
            if with_data:
                cursor.execute('INSERT INTO `%s`.`%s` SELECT * FROM `%s`.`%s`' % (scratch, name, database, name))
        cursor.execute('USE `%s`' % scratch)
        for migration in pending:
            for statement in migration['statements']:
                try:
                    execute_online(cursor, statement['sql'], migration['offline'], retries)
                except ApplyError as exc:
                    raise ApplyError('the rehearsal on a copy of %s failed, so nothing ran on the live database: '
                                     '%s_%s.sql line %d: %s' % (database, migration['version'],
                                                                migration['description'], statement['line'], exc))
    finally:
        cursor.execute('USE `%s`' % database)
        cursor.execute('DROP DATABASE IF EXISTS `%s`' % scratch)
    return notes
