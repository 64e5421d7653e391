# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backfill's statements and its checkpoint logic, over a fake MariaDB.

MariaDB is faked here because what these tests check is db_backfill's own logic: which SQL it
sends with which values, and that a batch and its checkpoint are committed, or rolled back,
together. The fake keeps a committed and a working state, as a transaction does, and answers
each statement db_backfill sends from a list of keys. The real server (GET_LOCK, InnoDB row
locks, information_schema) is exercised by the project's end-to-end tests against the lab's
MariaDB, as db_migrate is in tests/e2e/test_migrations.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import re

import pytest

from ansible_collections.daylight.release.plugins.module_utils import db_backfill
from ansible_collections.daylight.release.plugins.module_utils.errors import ApplyError, ConflictError, ValidationError


class DriverError(Exception):
    """Shaped like PyMySQL's errors: (code, message)."""


class Killed(BaseException):
    """The process dies: nothing of db_backfill runs after it, the connection just goes."""


UPDATE = dict(name='visits_node', table='visits', key='id', set="node = 'unknown'", copy_to=None, columns=None,
              where='node IS NULL', batch_size=2, pause_seconds=0.5, lock_timeout=10, who='alice@ctl1')
COPY = dict(UPDATE, name='visits_copy', set=None, copy_to='visits_v2', columns=['id', 'node'], where=None)

VISITS = ('InnoDB', [('id', 'int', 'PRI'), ('node', 'varchar', ''), ('path', 'varchar', '')])


class FakeMariaDB(object):
    """Just enough of MariaDB for db_backfill, with transactions.

    keys: the table's primary keys; selected: those that `where` selects (default: all).
    Changing a row records its key in state['changed'] and takes it out of `selected`, as
    `node = 'unknown' WHERE node IS NULL` does. fail: {statement regex: exception or
    BaseException}, raised by the first statement that matches (then forgotten).
    """

    def __init__(self, keys, selected=None, tables=None, checkpoint=None, lock_holder=None):
        self.keys = sorted(keys)
        self.tables = dict(visits=VISITS, visits_v2=('InnoDB', [('id', 'bigint', 'PRI'), ('node', 'varchar', '')]))
        self.tables.update(tables or {})
        self.committed = {'checkpoint_table': checkpoint is not None, 'checkpoint': checkpoint,
                          'selected': set(self.keys if selected is None else selected), 'changed': []}
        self.work = copy.deepcopy(self.committed)
        self.lock_holder = lock_holder
        self.log, self.fail, self.commits, self.rollbacks = [], {}, 0, 0

    # the connection
    def cursor(self):
        return FakeCursor(self)

    def commit(self):
        self.commits += 1
        self.committed = copy.deepcopy(self.work)

    def rollback(self):
        self.rollbacks += 1
        self.work = copy.deepcopy(self.committed)

    def reconnect(self):
        """A new connection after a kill: whatever was not committed is gone."""
        self.work = copy.deepcopy(self.committed)

    # the server
    def execute(self, sql, args):
        self.log.append((sql, tuple(args or ())))
        for pattern, exc in list(self.fail.items()):
            if re.search(pattern, sql):
                del self.fail[pattern]
                raise exc
        w = self.work
        if sql.startswith('SELECT GET_LOCK'):
            return [(0 if self.lock_holder else 1,)], 1
        if sql.startswith('SELECT IS_USED_LOCK'):
            return [(self.lock_holder,)], 1
        if 'information_schema.PROCESSLIST' in sql:
            return [('app', '10.0.0.9:41000', 130)], 1
        if sql.startswith('SELECT ENGINE FROM information_schema.TABLES'):
            table = self.tables.get(args[0])
            return ([(table[0],)] if table else []), 1
        if sql.startswith('SELECT COLUMN_NAME'):
            return [tuple(c) for c in self.tables[args[0]][1]], 1
        if sql.startswith('SELECT COUNT(*) FROM information_schema.TABLES'):
            return [(1 if w['checkpoint_table'] else 0,)], 1
        if sql.startswith('CREATE TABLE IF NOT EXISTS daylight_backfills'):
            w['checkpoint_table'] = True
            self.commit()  # DDL commits
            return [], 0
        if sql.startswith('SELECT definition, summary, last_key, batches, rows_changed, finished FROM daylight_backfills'):
            c = w['checkpoint']
            return ([tuple(c[k] for k in db_backfill.CHECKPOINT_COLUMNS)] if c else []), 1
        if sql.startswith('INSERT INTO daylight_backfills'):
            w['checkpoint'] = dict(definition=args[1], summary=args[2], last_key=None, batches=0, rows_changed=0,
                                   finished=None, run_by=args[4])
            return [], 1
        if sql.startswith('SELECT MAX('):
            after, limit = (args[0], args[1]) if len(args) == 2 else (None, args[0])
            batch = [k for k in self.keys if after is None or k > after][:limit]
            return [(max(batch) if batch else None,)], 1
        if sql.startswith('UPDATE `') or sql.startswith('INSERT IGNORE'):
            after, upper = (args[0], args[1]) if len(args) == 2 else (None, args[0])
            rows = [k for k in self.keys if (after is None or k > after) and k <= upper and k in w['selected']]
            w['selected'] -= set(rows)
            w['changed'] += rows
            return [], len(rows)
        if sql.startswith('UPDATE daylight_backfills SET last_key'):
            c = w['checkpoint']
            c.update(last_key=args[0], batches=c['batches'] + 1, rows_changed=c['rows_changed'] + args[1],
                     finished=None, run_by=args[2])
            return [], 1
        if sql.startswith('UPDATE daylight_backfills SET finished'):
            w['checkpoint'].update(finished='2026-11-23 14:00:00', run_by=args[0])
            return [], 1
        if sql.startswith('SELECT COUNT(*), COALESCE('):
            after = args[0] if args else None
            above = [k for k in self.keys if after is None or k > after]
            return [(len(above), len([k for k in above if k in w['selected']]))], 1
        raise AssertionError('the fake does not know this statement: %s' % sql)

    def statements(self, start):
        return [sql for sql, _args in self.log if sql.startswith(start)]


class FakeCursor(object):
    def __init__(self, db):
        self.db, self.rows, self.rowcount = db, [], -1

    def execute(self, sql, args=None):
        self.rows, self.rowcount = self.db.execute(sql, args)

    def fetchone(self):
        return self.rows[0] if self.rows else None

    def fetchall(self):
        return list(self.rows)


def run(db, params, check_mode=False):
    pauses = []
    changed, result = db_backfill.run(db, params, check_mode=check_mode, sleep=pauses.append)
    return changed, result, pauses


# --- what the backfill does ------------------------------------------------------------------------

@pytest.mark.parametrize('option, value', [
    ('table', 'visits; DROP TABLE users'),
    ('table', '1visits'),
    ('table', 'vis-its'),
    ('table', ''),
    ('table', 'a' * 65),
    ('key', 'id`'),
    ('copy_to', 'db.visits_v2'),
    ('columns', ['id', 'node name']),
])
def test_a_bad_identifier_is_refused_by_name(option, value):
    params = dict(COPY if option in ('copy_to', 'columns') else UPDATE, **{option: value})
    bad = value[-1] if option == 'columns' else value
    with pytest.raises(ValidationError) as exc:
        db_backfill.definition(params)
    assert '%s %r is not a plain MariaDB name' % (option, bad) in str(exc.value)


@pytest.mark.parametrize('value', ['visits', '_v', '$v', 'v$2', 'Visits_2026', 'a' * 64])
def test_plain_identifiers_are_accepted(value):
    assert db_backfill.definition(dict(UPDATE, table=value))['table'] == value


@pytest.mark.parametrize('changes, message', [
    (dict(set=None), "give either set (an UPDATE in place) or copy_to with columns (a copy), not neither"),
    (dict(copy_to='visits_v2', columns=['id']), 'not both'),
    (dict(set=None, copy_to='visits_v2', columns=[]), 'copy_to visits_v2 needs the list of columns'),
    (dict(columns=['id']), 'columns go with copy_to, not with set'),
    (dict(set=None, copy_to='visits', columns=['id']), 'copy_to is the table itself (visits)'),
    (dict(set=None, copy_to='visits_v2', columns=['id', 'id']), 'columns name a column twice: id, id'),
    (dict(name='visits node'), "name 'visits node': use 1 to 46 letters"),
    (dict(name='n' * 47), 'use 1 to 46 letters'),
])
def test_inconsistent_options_are_refused(changes, message):
    with pytest.raises(ValidationError) as exc:
        db_backfill.definition(dict(UPDATE, **changes))
    assert message in str(exc.value)


def test_definition_hash_ignores_batch_size_pause_and_who():
    base = db_backfill.fingerprint(db_backfill.definition(UPDATE))
    assert re.match('^[0-9a-f]{64}$', base)
    same = dict(UPDATE, batch_size=5000, pause_seconds=0, lock_timeout=1, who='bob', where='  node IS NULL ')
    assert db_backfill.fingerprint(db_backfill.definition(same)) == base
    for change in (dict(table='visits2'), dict(key='visit_id'), dict(set="node = 'x'"), dict(where=None)):
        assert db_backfill.fingerprint(db_backfill.definition(dict(UPDATE, **change))) != base, change
    copy_base = db_backfill.fingerprint(db_backfill.definition(COPY))
    assert db_backfill.fingerprint(db_backfill.definition(dict(COPY, columns=['node', 'id']))) != copy_base
    assert db_backfill.fingerprint(db_backfill.definition(dict(COPY, copy_to='visits_v3'))) != copy_base


@pytest.mark.parametrize('params, text', [
    (UPDATE, "table visits by id, set node = 'unknown' where node IS NULL"),
    (COPY, 'table visits by id, copy id, node to visits_v2'),
])
def test_summary(params, text):
    assert db_backfill.summary(db_backfill.definition(params)) == text


@pytest.mark.parametrize('params, after, upper, sql, args', [
    (UPDATE, None, 2,
     "UPDATE `visits` SET node = 'unknown' WHERE `id` <= %s AND (node IS NULL)", (2,)),
    (UPDATE, 2, 7,
     "UPDATE `visits` SET node = 'unknown' WHERE `id` > %s AND `id` <= %s AND (node IS NULL)", (2, 7)),
    (dict(UPDATE, where=None), 2, 7,
     "UPDATE `visits` SET node = 'unknown' WHERE `id` > %s AND `id` <= %s", (2, 7)),
    (dict(UPDATE, set="path = CONCAT('%', path)", where="path NOT LIKE '\\%%'"), 2, 7,
     "UPDATE `visits` SET path = CONCAT('%%', path) WHERE `id` > %s AND `id` <= %s AND (path NOT LIKE '\\%%%%')", (2, 7)),
    (COPY, 2, 7,
     'INSERT IGNORE INTO `visits_v2` (`id`, `node`) SELECT `id`, `node` FROM `visits` WHERE `id` > %s AND `id` <= %s '
     'ORDER BY `id`', (2, 7)),
    (dict(COPY, where='node IS NOT NULL'), None, 7,
     'INSERT IGNORE INTO `visits_v2` (`id`, `node`) SELECT `id`, `node` FROM `visits` WHERE `id` <= %s '
     'AND (node IS NOT NULL) ORDER BY `id`', (7,)),
])
def test_change_statement(params, after, upper, sql, args):
    built, built_args = db_backfill.change_statement(db_backfill.definition(params), after, upper)
    assert (built, tuple(built_args)) == (sql, args)
    # what PyMySQL sends: the operator's % stays a single %
    if '%%' in sql:
        assert "CONCAT('%', path)" in built % tuple(built_args)


@pytest.mark.parametrize('after, sql, args', [
    (None, 'SELECT MAX(`id`) FROM (SELECT `id` FROM `visits` ORDER BY `id` LIMIT %s) AS batch', (500,)),
    (1000, 'SELECT MAX(`id`) FROM (SELECT `id` FROM `visits` WHERE `id` > %s ORDER BY `id` LIMIT %s) AS batch',
     (1000, 500)),
])
def test_upper_key_statement(after, sql, args):
    built, built_args = db_backfill.upper_key_statement(db_backfill.definition(UPDATE), after, 500)
    assert (built, tuple(built_args)) == (sql, args)


@pytest.mark.parametrize('params, after, sql, args', [
    (UPDATE, 1000, 'SELECT COUNT(*), COALESCE(SUM(CASE WHEN (node IS NULL) THEN 1 ELSE 0 END), 0) FROM `visits` '
                   'WHERE `id` > %s', (1000,)),
    (COPY, None, 'SELECT COUNT(*), COALESCE(COUNT(*), 0) FROM `visits`', ()),
])
def test_count_statement(params, after, sql, args):
    built, built_args = db_backfill.count_statement(db_backfill.definition(params), after)
    assert (built, tuple(built_args)) == (sql, args)


# --- checks on the tables before anything changes ----------------------------------------------------

@pytest.mark.parametrize('params, tables, message', [
    (dict(UPDATE, table='visit'), {}, "backfill 'visits_node': the database has no table visit"),
    (dict(UPDATE, key='path'), {}, 'key path of table visits must be an integer column, it is varchar'),
    (dict(UPDATE, key='uid'), {}, 'key uid of table visits must be an integer column, there is no such column'),
    (UPDATE, {'visits': ('InnoDB', [('id', 'bigint', 'UNI')])}, 'key id is not the primary key of table visits'),
    (UPDATE, {'visits': ('MyISAM', VISITS[1])}, 'table visits uses the MyISAM engine'),
    (dict(COPY, columns=['id', 'nod']), {}, 'table visits has no column nod'),
    (dict(COPY, copy_to='visits_v3'), {}, 'the database has no table visits_v3 to copy to'),
    (COPY, {'visits_v2': ('InnoDB', [('id', 'int', 'PRI')])}, 'table visits_v2 (copy_to) has no column node'),
    (COPY, {'visits_v2': ('Aria', [('id', 'int', 'PRI'), ('node', 'varchar', '')])},
     'table visits_v2 uses the Aria engine'),
])
def test_unfit_tables_are_refused_before_anything_changes(params, tables, message):
    db = FakeMariaDB(range(1, 6), tables=tables)
    with pytest.raises(ValidationError) as exc:
        run(db, params)
    assert message in str(exc.value)
    assert db.statements('CREATE') == [] and db.commits == 0


def test_a_copy_from_a_myisam_table_into_innodb_is_fine():
    db = FakeMariaDB([1], tables={'visits': ('MyISAM', VISITS[1])})
    assert run(db, COPY)[1]['rows_changed'] == 1


# --- runs ------------------------------------------------------------------------------------------

def test_first_run_goes_through_the_table_batch_by_batch():
    db = FakeMariaDB([1, 2, 3, 5, 8], selected=[1, 3, 5, 8])
    changed, result, pauses = run(db, UPDATE)
    assert changed is True
    assert result == {'batches': 3, 'rows_changed': 4, 'resumed_from': None, 'last_key': 8, 'finished': True,
                      'total_batches': 3, 'total_rows_changed': 4}
    assert db.committed['changed'] == [1, 3, 5, 8]
    assert pauses == [0.5, 0.5, 0.5]
    assert db.committed['checkpoint']['finished'] is not None
    assert db.committed['checkpoint']['run_by'] == 'alice@ctl1'
    assert db.committed['checkpoint']['definition'] == db_backfill.fingerprint(db_backfill.definition(UPDATE))
    assert [a for sql, a in db.log if sql.startswith('SELECT GET_LOCK')] == [('daylight_backfill:visits_node', 10)]
    changes = [(sql, a) for sql, a in db.log if sql.startswith('UPDATE `visits`')]
    assert changes == [
        ("UPDATE `visits` SET node = 'unknown' WHERE `id` <= %s AND (node IS NULL)", (2,)),
        ("UPDATE `visits` SET node = 'unknown' WHERE `id` > %s AND `id` <= %s AND (node IS NULL)", (2, 5)),
        ("UPDATE `visits` SET node = 'unknown' WHERE `id` > %s AND `id` <= %s AND (node IS NULL)", (5, 8)),
    ]
    checkpoints = [a for sql, a in db.log if sql.startswith('UPDATE daylight_backfills SET last_key')]
    assert checkpoints == [(2, 1, 'alice@ctl1', 'visits_node'), (5, 2, 'alice@ctl1', 'visits_node'),
                           (8, 1, 'alice@ctl1', 'visits_node')]


def test_each_batch_reads_its_checkpoint_for_update_then_commits_with_it():
    db = FakeMariaDB([1, 2, 3])
    run(db, UPDATE)
    kinds = []
    for sql, _args in db.log:
        if sql.endswith('FOR UPDATE'):
            kinds.append('lock checkpoint')
        elif sql.startswith('UPDATE `visits`'):
            kinds.append('change')
        elif sql.startswith('UPDATE daylight_backfills'):
            kinds.append('move checkpoint')
    assert kinds == ['lock checkpoint', 'change', 'move checkpoint'] * 2 + ['lock checkpoint', 'move checkpoint']
    # the new checkpoint, two batches, the end; then the last read is ended with a rollback
    assert db.commits == 1 + 1 + 2 + 1
    assert db.rollbacks == 1


def test_a_copy_inserts_ignore_in_key_order():
    db = FakeMariaDB([10, 20, 30])
    changed, result, _pauses = run(db, COPY)
    assert (changed, result['rows_changed'], result['batches'], result['last_key']) == (True, 3, 2, 30)
    assert db.statements('INSERT IGNORE') == [
        'INSERT IGNORE INTO `visits_v2` (`id`, `node`) SELECT `id`, `node` FROM `visits` WHERE `id` <= %s ORDER BY `id`',
        'INSERT IGNORE INTO `visits_v2` (`id`, `node`) SELECT `id`, `node` FROM `visits` WHERE `id` > %s AND `id` <= %s '
        'ORDER BY `id`']


def test_resume_from_the_checkpoint_of_an_earlier_run():
    checkpoint = dict(definition=db_backfill.fingerprint(db_backfill.definition(UPDATE)), summary='s', last_key=3,
                      batches=2, rows_changed=3, finished=None, run_by='bob')
    db = FakeMariaDB([1, 2, 3, 4, 5, 6], selected=[4, 5, 6], checkpoint=checkpoint)
    changed, result, _pauses = run(db, UPDATE)
    assert changed is True
    assert result == {'batches': 2, 'rows_changed': 3, 'resumed_from': 3, 'last_key': 6, 'finished': True,
                      'total_batches': 4, 'total_rows_changed': 6}
    assert db.committed['changed'] == [4, 5, 6]
    assert db.statements('INSERT INTO daylight_backfills') == []
    assert [a for sql, a in db.log if sql.startswith('SELECT MAX(')][0] == (3, 2)


def test_batch_size_and_pause_may_change_between_runs():
    db = FakeMariaDB(range(1, 11))
    db.fail = {'^UPDATE `visits`.*`id` > %s': Killed()}  # the second batch
    with pytest.raises(Killed):
        run(db, UPDATE)
    db.reconnect()
    _changed, result, pauses = run(db, dict(UPDATE, batch_size=5, pause_seconds=0))
    assert (result['resumed_from'], result['batches'], result['rows_changed']) == (2, 2, 8)
    assert pauses == [0, 0]
    assert db.committed['changed'] == list(range(1, 11))


@pytest.mark.parametrize('kill_at', [
    r'FOR UPDATE$',                               # reading the checkpoint
    r'^SELECT MAX\(',                             # finding the batch
    r'^UPDATE `visits`',                          # changing the rows
    r'^UPDATE daylight_backfills SET last_key',   # moving the checkpoint
])
@pytest.mark.parametrize('batch', [1, 2, 3])
def test_after_a_kill_anywhere_every_row_is_changed_exactly_once(kill_at, batch):
    db = FakeMariaDB(range(1, 7))
    seen = []

    def execute(sql, args, original=db.execute):
        if re.search(kill_at, sql):
            seen.append(sql)
            if len(seen) == batch:
                raise Killed()
        return original(sql, args)
    db.execute = execute
    with pytest.raises(Killed):
        run(db, UPDATE)
    db.reconnect()
    done_before = list(db.committed['changed'])
    assert done_before == list(range(1, 1 + 2 * (batch - 1)))
    _changed, result, _pauses = run(db, UPDATE)
    assert result['resumed_from'] == (2 * (batch - 1) or None)
    assert db.committed['changed'] == list(range(1, 7))
    assert result['total_rows_changed'] == 6 and result['last_key'] == 6


def test_a_killed_commit_is_not_a_batch():
    db = FakeMariaDB(range(1, 5))
    commit = db.commit

    def dying_commit():
        if db.committed['changed']:  # the first batch made it; the second dies on the way
            raise Killed()
        commit()
    db.commit = dying_commit
    with pytest.raises(Killed):
        run(db, UPDATE)
    db.commit = commit
    db.reconnect()
    assert db.committed['changed'] == [1, 2] and db.committed['checkpoint']['last_key'] == 2
    run(db, UPDATE)
    assert db.committed['changed'] == [1, 2, 3, 4]


def test_a_failed_batch_is_rolled_back_with_its_checkpoint_and_named():
    db = FakeMariaDB(range(1, 7))
    run_once = {'n': 0}
    original = db.execute

    def execute(sql, args):
        if sql.startswith('UPDATE `visits`'):
            run_once['n'] += 1
            if run_once['n'] == 2:
                original(sql, args)  # the rows change in the transaction, then the checkpoint fails
                raise DriverError(1205, 'Lock wait timeout exceeded; try restarting transaction')
        return original(sql, args)
    db.execute = execute
    with pytest.raises(ApplyError) as exc:
        run(db, UPDATE)
    assert str(exc.value) == (
        "backfill 'visits_node': the batch of table visits (`id` > 2 AND `id` <= 4) failed and was rolled back; the "
        "checkpoint stays at id 2, where the next run resumes. MariaDB said: (1205, 'Lock wait timeout exceeded; try "
        "restarting transaction')")
    assert db.rollbacks == 1
    assert db.committed['changed'] == [1, 2] and db.work['changed'] == [1, 2]
    assert db.committed['checkpoint']['last_key'] == 2 and db.committed['checkpoint']['batches'] == 1


@pytest.mark.parametrize('fail_at, what', [
    (r'FOR UPDATE$', "reading its checkpoint failed and was rolled back; the checkpoint stays where it was"),
    (r'^SELECT MAX\(', 'the batch of table visits (from its first row) failed and was rolled back; the checkpoint '
                       'stays at the start'),
])
def test_a_failure_before_the_batch_is_known_is_named_too(fail_at, what):
    db = FakeMariaDB([1, 2, 3])
    db.fail = {fail_at: DriverError(2013, 'Lost connection to server during query')}
    with pytest.raises(ApplyError) as exc:
        run(db, UPDATE)
    assert what in str(exc.value)
    assert "MariaDB said: (2013, 'Lost connection to server during query')" in str(exc.value)


def test_a_rollback_that_fails_too_still_reports_the_first_error():
    db = FakeMariaDB([1, 2, 3])
    db.fail = {r'^UPDATE `visits`': DriverError(1054, "Unknown column 'nod' in 'field list'")}

    def rollback():
        raise DriverError(2006, 'MySQL server has gone away')
    db.rollback = rollback
    with pytest.raises(ApplyError) as exc:
        run(db, UPDATE)
    assert "Unknown column 'nod'" in str(exc.value)


def test_a_finished_backfill_run_again_changes_nothing_and_writes_nothing():
    db = FakeMariaDB([1, 2, 3])
    run(db, UPDATE)
    before, log_size = copy.deepcopy(db.committed), len(db.log)
    changed, result, pauses = run(db, UPDATE)
    assert changed is False
    assert result == {'batches': 0, 'rows_changed': 0, 'resumed_from': 3, 'last_key': 3, 'finished': True,
                      'total_batches': 2, 'total_rows_changed': 3}
    assert pauses == []
    assert db.committed == before
    assert [sql for sql, _a in db.log[log_size:] if sql.startswith(('UPDATE', 'INSERT'))] == []


def test_a_finished_backfill_run_again_processes_the_rows_inserted_since():
    db = FakeMariaDB([1, 2, 3])
    run(db, UPDATE)
    db.keys += [4, 5]  # written by the old release during the rolling release
    db.committed['selected'] |= {4, 5}
    db.reconnect()
    changed, result, _pauses = run(db, UPDATE)
    assert changed is True
    assert (result['resumed_from'], result['batches'], result['rows_changed'], result['last_key']) == (3, 1, 2, 5)
    assert (result['total_batches'], result['total_rows_changed']) == (3, 5)
    assert db.committed['changed'] == [1, 2, 3, 4, 5]
    assert db.committed['checkpoint']['finished'] is not None


def test_new_rows_the_condition_does_not_select_move_the_checkpoint_but_change_nothing():
    db = FakeMariaDB([1, 2])
    run(db, UPDATE)
    db.keys += [3]  # the new release writes node itself
    changed, result, _pauses = run(db, UPDATE)
    assert (changed, result['rows_changed'], result['last_key']) == (False, 0, 3)


def test_an_empty_table_finishes_at_once():
    db = FakeMariaDB([])
    changed, result, pauses = run(db, UPDATE)
    assert changed is False
    assert result == {'batches': 0, 'rows_changed': 0, 'resumed_from': None, 'last_key': None, 'finished': True,
                      'total_batches': 0, 'total_rows_changed': 0}
    assert pauses == []
    assert db.committed['checkpoint']['finished'] is not None


def test_the_same_name_with_another_definition_is_refused_and_nothing_changes():
    db = FakeMariaDB([1, 2, 3])
    run(db, UPDATE)
    before, log_size = copy.deepcopy(db.committed), len(db.log)
    with pytest.raises(ConflictError) as exc:
        run(db, dict(UPDATE, set="node = 'x'"))
    assert str(exc.value) == (
        "backfill 'visits_node' was started with a different definition (table visits by id, set node = 'unknown' "
        "where node IS NULL); this task has (table visits by id, set node = 'x' where node IS NULL). A backfill keeps "
        "its definition to the end: give this one a new name")
    assert db.committed == before
    assert [sql for sql, _a in db.log[log_size:] if sql.startswith(('UPDATE', 'INSERT'))] == []


def test_check_mode_with_a_different_definition_fails_too():
    db = FakeMariaDB([1, 2, 3])
    run(db, UPDATE)
    with pytest.raises(ConflictError):
        run(db, dict(UPDATE, where=None), check_mode=True)


def test_another_run_holding_the_lock_is_named():
    db = FakeMariaDB([1, 2, 3], lock_holder=42)
    with pytest.raises(ConflictError) as exc:
        run(db, UPDATE)
    message = str(exc.value)
    assert message.startswith("another run of backfill 'visits_node' holds the lock ")
    assert "'daylight_backfill:visits_node': connection 42 (app@10.0.0.9:41000, connected 130 s); waited 10 s" in message
    assert db.statements('CREATE') == [] and db.statements('UPDATE') == []


@pytest.mark.parametrize('changes', [dict(batch_size=0), dict(batch_size=-5), dict(pause_seconds=-0.1)])
def test_batch_size_and_pause_are_checked(changes):
    db = FakeMariaDB([1])
    with pytest.raises(ValidationError) as exc:
        run(db, dict(UPDATE, **changes))
    assert 'batch_size must be above 0 and pause_seconds at least 0' in str(exc.value)
    assert db.log == []


# --- check mode ------------------------------------------------------------------------------------

@pytest.mark.parametrize('keys, selected, checkpoint_last, changed, batches, rows, finished', [
    ([1, 2, 3, 4, 5], [2, 4, 5], None, True, 3, 3, False),    # new: nothing recorded yet
    ([1, 2, 3, 4, 5], [4, 5], 3, True, 1, 2, False),          # resumes after 3
    ([1, 2, 3], [], 3, False, 0, 0, True),                    # finished, no row since
    ([1, 2, 3, 4], [], 3, False, 1, 0, False),                # a row since, not selected
])
def test_check_mode_counts_and_writes_nothing(keys, selected, checkpoint_last, changed, batches, rows, finished):
    checkpoint = None
    if checkpoint_last is not None:
        checkpoint = dict(definition=db_backfill.fingerprint(db_backfill.definition(UPDATE)), summary='s',
                          last_key=checkpoint_last, batches=2, rows_changed=2, finished='2026-11-23 13:00:00',
                          run_by='bob')
    db = FakeMariaDB(keys, selected=selected, checkpoint=checkpoint)
    before = copy.deepcopy(db.committed)
    result_changed, result, pauses = run(db, UPDATE, check_mode=True)
    assert result_changed is changed
    assert (result['batches'], result['rows_changed'], result['finished']) == (batches, rows, finished)
    assert result['resumed_from'] == checkpoint_last == result['last_key']
    assert result['total_batches'] == (2 if checkpoint else 0)
    assert pauses == []
    assert db.committed == before and db.work == before
    assert [sql for sql, _a in db.log if not sql.startswith('SELECT')] == []
    assert db.commits == 0
    counted_after = [a for sql, a in db.log if sql.startswith('SELECT COUNT(*), ')]
    assert counted_after == [() if checkpoint_last is None else (checkpoint_last,)]


def test_check_mode_without_the_checkpoint_table_does_not_create_it():
    db = FakeMariaDB([1, 2])
    run(db, UPDATE, check_mode=True)
    assert db.committed['checkpoint_table'] is False
    assert db.statements('SELECT definition') == []
