# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backfill a MariaDB table in batches by key, with a checkpoint, resumable after a kill.

The expand/contract pattern adds a nullable column (expand), then fills it for the old rows
without locking the table: that is a backfill. Works on any DB-API connection with MariaDB
behind it (PyMySQL in the module), opened with autocommit off. The guarantees:

- one run at a time: GET_LOCK('daylight_backfill:<name>') around the run, as db_migrate does.
- each batch is one transaction: it reads the checkpoint row FOR UPDATE, finds the batch's
  upper key (the batch_size-th key above the checkpoint), changes the rows in that key range,
  moves the checkpoint there and commits. A batch and its checkpoint commit together or not at
  all, so after a kill at any point every row is changed exactly once and the next run resumes
  after the last committed batch. Only that batch's rows are locked, only while it runs.
- the checkpoint (daylight_backfills, one row per backfill name) remembers a hash of what the
  backfill does (table, key, set or copy_to and columns, where; not batch_size nor the pause,
  which may change between runs); the same name with another definition is refused.
- a finished backfill run again looks for rows above its checkpoint (rows inserted since, for
  example by the old release during a rolling release) and processes them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import re
import time

from ansible_collections.daylight.release.plugins.module_utils.db_migrate import take_lock
from ansible_collections.daylight.release.plugins.module_utils.errors import ApplyError, ConflictError, ValidationError

CHECKPOINT_TABLE = 'daylight_backfills'
CHECKPOINT_DDL = (
    'CREATE TABLE IF NOT EXISTS %s ('
    ' name VARCHAR(64) NOT NULL PRIMARY KEY,'
    ' definition CHAR(64) NOT NULL,'
    ' summary TEXT NOT NULL,'
    ' table_name VARCHAR(64) NOT NULL,'
    ' last_key BIGINT NULL,'
    ' batches BIGINT NOT NULL DEFAULT 0,'
    ' rows_changed BIGINT NOT NULL DEFAULT 0,'
    ' started DATETIME(6) NOT NULL,'
    ' updated DATETIME(6) NOT NULL,'
    ' finished DATETIME(6) NULL,'
    ' run_by VARCHAR(255) NOT NULL'
    ') ENGINE=InnoDB' % CHECKPOINT_TABLE)
# who ran the last batch: the who option, else MariaDB's user@host of the connection
RUN_BY = "COALESCE(NULLIF(%s, ''), USER())"
CHECKPOINT_COLUMNS = ('definition', 'summary', 'last_key', 'batches', 'rows_changed', 'finished')

LOCK_PREFIX = 'daylight_backfill:'
# MariaDB refuses user lock names longer than 64 characters.
NAME = re.compile(r'^[A-Za-z0-9_.-]{1,%d}$' % (64 - len(LOCK_PREFIX)))
IDENTIFIER = re.compile(r'^[A-Za-z_$][A-Za-z0-9_$]{0,63}$')
INTEGER_TYPES = ('tinyint', 'smallint', 'mediumint', 'int', 'bigint')


def quote(identifier):
    return '`%s`' % identifier


def operator_sql(text):
    """SQL written by the operator, ready for a statement with %s parameters (its % doubled)."""
    return text.replace('%', '%%')


def definition(params):
    """What the backfill does, validated: {table, key, set, copy_to, columns, where}.

    Raises ValidationError naming the option and the value that is wrong.
    """
    if not NAME.match(params['name'] or ''):
        raise ValidationError('name %r: use 1 to %d letters, digits, "_", "." or "-" (it names a MariaDB lock)'
                              % (params['name'], 64 - len(LOCK_PREFIX)))
    if bool(params.get('set')) == bool(params.get('copy_to')):
        raise ValidationError('backfill %r: give either set (an UPDATE in place) or copy_to with columns (a copy), '
                              'not %s' % (params['name'], 'both' if params.get('set') else 'neither'))
    d = {'table': params['table'], 'key': params.get('key') or 'id', 'set': (params.get('set') or '').strip() or None,
         'copy_to': params.get('copy_to') or None, 'columns': list(params.get('columns') or []),
         'where': (params.get('where') or '').strip() or None}
    if d['copy_to'] and not d['columns']:
        raise ValidationError('backfill %r: copy_to %s needs the list of columns to copy' % (params['name'], d['copy_to']))
    if d['set'] and d['columns']:
        raise ValidationError('backfill %r: columns go with copy_to, not with set' % params['name'])
    named = [('table', d['table']), ('key', d['key'])] + ([('copy_to', d['copy_to'])] if d['copy_to'] else [])
    named += [('columns', c) for c in d['columns']]
    for option, value in named:
        if not IDENTIFIER.match(value or ''):
            raise ValidationError('backfill %r: %s %r is not a plain MariaDB name (letters, digits, "_" and "$", '
                                  'not starting with a digit, at most 64 characters)' % (params['name'], option, value))
    if d['copy_to'] == d['table']:
        raise ValidationError('backfill %r: copy_to is the table itself (%s)' % (params['name'], d['table']))
    if len(set(d['columns'])) != len(d['columns']):
        raise ValidationError('backfill %r: columns name a column twice: %s' % (params['name'], ', '.join(d['columns'])))
    return d


def fingerprint(d):
    """sha256 of the canonical definition."""
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode('utf-8')).hexdigest()


def summary(d):
    """The definition in a line, for the checkpoint and messages."""
    if d['set']:
        what = 'set %s' % d['set']
    else:
        what = 'copy %s to %s' % (', '.join(d['columns']), d['copy_to'])
    return 'table %s by %s, %s%s' % (d['table'], d['key'], what, ' where %s' % d['where'] if d['where'] else '')


def key_range(d, after, upper=None):
    """([SQL conditions], [parameters]) for the keys above after (None: from the first) up to upper."""
    conditions, args = [], []
    if after is not None:
        conditions.append('%s > %%s' % quote(d['key']))
        args.append(after)
    if upper is not None:
        conditions.append('%s <= %%s' % quote(d['key']))
        args.append(upper)
    return conditions, args


def where_clause(conditions):
    return ' WHERE %s' % ' AND '.join(conditions) if conditions else ''


def upper_key_statement(d, after, batch_size):
    """The key closing the batch after `after`: NULL (None) when no row is left."""
    conditions, args = key_range(d, after)
    k = quote(d['key'])
    return ('SELECT MAX(%s) FROM (SELECT %s FROM %s%s ORDER BY %s LIMIT %%s) AS batch'
            % (k, k, quote(d['table']), where_clause(conditions), k), args + [batch_size])


def change_statement(d, after, upper):
    """The UPDATE (set) or INSERT IGNORE ... SELECT (copy_to) of the rows of one batch."""
    conditions, args = key_range(d, after, upper)
    if d['where']:
        conditions.append('(%s)' % operator_sql(d['where']))
    if d['set']:
        return ('UPDATE %s SET %s%s' % (quote(d['table']), operator_sql(d['set']), where_clause(conditions)), args)
    columns = ', '.join(quote(c) for c in d['columns'])
    # ORDER BY the key: the same rows in the same order on a statement-based replica.
    return ('INSERT IGNORE INTO %s (%s) SELECT %s FROM %s%s ORDER BY %s'
            % (quote(d['copy_to']), columns, columns, quote(d['table']), where_clause(conditions), quote(d['key'])),
            args)


def count_statement(d, after):
    """Check mode: (rows above the checkpoint, those of them the where condition selects)."""
    conditions, args = key_range(d, after)
    selected = 'SUM(CASE WHEN (%s) THEN 1 ELSE 0 END)' % operator_sql(d['where']) if d['where'] else 'COUNT(*)'
    return ('SELECT COUNT(*), COALESCE(%s, 0) FROM %s%s' % (selected, quote(d['table']), where_clause(conditions)),
            args)


def describe(cursor, table):
    """(engine, {column: (data type, column key)}) of a table of the current database, or None."""
    cursor.execute('SELECT ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s',
                   (table,))
    row = cursor.fetchone()
    if row is None:
        return None
    cursor.execute('SELECT COLUMN_NAME, DATA_TYPE, COLUMN_KEY FROM information_schema.COLUMNS '
                   'WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s', (table,))
    return row[0], dict((r[0], (r[1].lower(), r[2])) for r in cursor.fetchall())


def check_tables(cursor, name, d):
    """Refuse, before anything changes, a table, key or column that is not there or not fit."""
    source = describe(cursor, d['table'])
    if source is None:
        raise ValidationError('backfill %r: the database has no table %s' % (name, d['table']))
    engine, columns = source
    data_type, column_key = columns.get(d['key'], (None, None))
    if data_type not in INTEGER_TYPES:
        raise ValidationError('backfill %r: key %s of table %s must be an integer column, %s' % (
            name, d['key'], d['table'], 'it is %s' % data_type if data_type else 'there is no such column'))
    if column_key != 'PRI':
        raise ValidationError('backfill %r: key %s is not the primary key of table %s: batches go by the primary key, '
                              'which has no NULLs and an index' % (name, d['key'], d['table']))
    missing = [c for c in d['columns'] if c not in columns]
    if missing:
        raise ValidationError('backfill %r: table %s has no column %s' % (name, d['table'], ', '.join(missing)))
    written = d['table']
    if d['copy_to']:
        target = describe(cursor, d['copy_to'])
        if target is None:
            raise ValidationError('backfill %r: the database has no table %s to copy to' % (name, d['copy_to']))
        engine, columns = target
        missing = [c for c in d['columns'] if c not in columns]
        if missing:
            raise ValidationError('backfill %r: table %s (copy_to) has no column %s'
                                  % (name, d['copy_to'], ', '.join(missing)))
        written = d['copy_to']
    if (engine or '').lower() != 'innodb':
        raise ValidationError('backfill %r: table %s uses the %s engine; a batch and its checkpoint can only commit '
                              'together in InnoDB' % (name, written, engine))


def checkpoint_exists(cursor):
    cursor.execute('SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s',
                   (CHECKPOINT_TABLE,))
    return cursor.fetchone()[0] > 0


def read_checkpoint(cursor, name, for_update=False):
    """{definition, summary, last_key, batches, rows_changed, finished} of a backfill, or None."""
    cursor.execute('SELECT %s FROM %s WHERE name = %%s%s' % (
        ', '.join(CHECKPOINT_COLUMNS), CHECKPOINT_TABLE, ' FOR UPDATE' if for_update else ''), (name,))
    row = cursor.fetchone()
    return dict(zip(CHECKPOINT_COLUMNS, row)) if row else None


def check_same_definition(name, d, checkpoint):
    if checkpoint and checkpoint['definition'] != fingerprint(d):
        raise ConflictError('backfill %r was started with a different definition (%s); this task has (%s). A '
                            'backfill keeps its definition to the end: give this one a new name'
                            % (name, checkpoint['summary'], summary(d)))


def result(checkpoint, resumed_from, batches, rows, finished):
    checkpoint = checkpoint or {'last_key': None, 'batches': 0, 'rows_changed': 0}
    return {'batches': batches, 'rows_changed': rows, 'resumed_from': resumed_from,
            'last_key': checkpoint['last_key'], 'finished': finished,
            'total_batches': int(checkpoint['batches']), 'total_rows_changed': int(checkpoint['rows_changed'])}


def plan(cursor, name, d, batch_size):
    """Check mode: (changed, result) of a run, from counts only; writes and creates nothing."""
    checkpoint = read_checkpoint(cursor, name) if checkpoint_exists(cursor) else None
    check_same_definition(name, d, checkpoint)
    after = checkpoint['last_key'] if checkpoint else None
    cursor.execute(*count_statement(d, after))
    above, selected = (int(n) for n in cursor.fetchone())
    done = bool(checkpoint and checkpoint['finished'] and not above)
    return selected > 0, result(checkpoint, after, -(-above // batch_size), selected, done)


def run_batch(connection, cursor, name, d, batch_size, who):
    """One batch, one transaction: (rows changed, upper key), or None when no row is left.

    On any error the transaction is rolled back (the checkpoint stays where it was) and
    ApplyError names the table, the batch's key range and MariaDB's error.
    """
    checkpoint = after = upper = None
    try:
        checkpoint = read_checkpoint(cursor, name, for_update=True)
        after = checkpoint['last_key']
        cursor.execute(*upper_key_statement(d, after, batch_size))
        upper = cursor.fetchone()[0]
        if upper is None:
            if checkpoint['finished'] is None:
                cursor.execute('UPDATE %s SET finished = UTC_TIMESTAMP(6), updated = UTC_TIMESTAMP(6), run_by = %s '
                               'WHERE name = %%s' % (CHECKPOINT_TABLE, RUN_BY), (who, name))
                connection.commit()
            else:
                connection.rollback()  # nothing to write: ends the transaction, releases the row lock
            return None
        cursor.execute(*change_statement(d, after, upper))
        rows = max(cursor.rowcount, 0)
        cursor.execute('UPDATE %s SET last_key = %%s, batches = batches + 1, rows_changed = rows_changed + %%s, '
                       'updated = UTC_TIMESTAMP(6), finished = NULL, run_by = %s WHERE name = %%s'
                       % (CHECKPOINT_TABLE, RUN_BY), (upper, rows, who, name))
        connection.commit()
        return rows, upper
    except Exception as exc:  # pylint: disable=broad-except  # the driver's own classes
        try:
            connection.rollback()
        except Exception:  # pylint: disable=broad-except  # a lost connection: MariaDB rolls back itself
            pass
        if checkpoint is None:
            what, stays = 'reading its checkpoint', 'where it was'
        else:
            bounds = ' AND '.join(c % a for c, a in zip(*key_range(d, after, upper)))
            what = 'the batch of table %s (%s)' % (d['table'], bounds or 'from its first row')
            stays = 'at the start' if after is None else 'at %s %s' % (d['key'], after)
        raise ApplyError('backfill %r: %s failed and was rolled back; the checkpoint stays %s, where the next run '
                         'resumes. MariaDB said: %s' % (name, what, stays, exc))


def run(connection, params, check_mode=False, sleep=time.sleep):
    """Run (or, in check mode, plan) the backfill of params; returns (changed, result).

    params: the module's options (name, table, key, set, copy_to, columns, where, batch_size,
    pause_seconds, lock_timeout, who). connection has autocommit off: each batch ends with
    its commit(), or rollback() on failure. The run holds the backfill's GET_LOCK.
    """
    name = params['name']
    d = definition(params)
    if params['batch_size'] <= 0 or params['pause_seconds'] < 0:
        raise ValidationError('backfill %r: batch_size must be above 0 and pause_seconds at least 0, not %s and %s'
                              % (name, params['batch_size'], params['pause_seconds']))
    cursor = connection.cursor()
    take_lock(cursor, LOCK_PREFIX + name, params['lock_timeout'], what='run of backfill %r' % name)
    check_tables(cursor, name, d)
    if check_mode:
        return plan(cursor, name, d, params['batch_size'])
    cursor.execute(CHECKPOINT_DDL)
    checkpoint = read_checkpoint(cursor, name)
    check_same_definition(name, d, checkpoint)
    who = params.get('who') or ''
    if checkpoint is None:
        cursor.execute('INSERT INTO %s (name, definition, summary, table_name, started, updated, run_by) VALUES '
                       '(%%s, %%s, %%s, %%s, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6), %s)' % (CHECKPOINT_TABLE, RUN_BY),
                       (name, fingerprint(d), summary(d), d['table'], who))
    connection.commit()  # the new checkpoint, or the end of the read above (its snapshot would be stale)
    resumed_from = checkpoint['last_key'] if checkpoint else None
    batches = rows = 0
    while True:
        done = run_batch(connection, cursor, name, d, params['batch_size'], who)
        if done is None:
            break
        batches += 1
        rows += done[0]
        sleep(params['pause_seconds'])
    final = read_checkpoint(cursor, name)
    connection.rollback()  # that read opened a transaction: end it
    return rows > 0, result(final, resumed_from, batches, rows, True)
