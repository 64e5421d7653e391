# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""db_backfill's main(): options, connection, and how errors reach the operator.

PyMySQL is replaced by a stand-in that records how it was asked to connect; the backfill itself
is tested in tests/unit/plugins/module_utils/test_db_backfill.py, and against a real MariaDB by
the end-to-end tests.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.daylight.release.plugins.module_utils import db_backfill as backfill_utils, mariadb
from ansible_collections.daylight.release.plugins.module_utils.errors import ConflictError
from ansible_collections.daylight.release.plugins.modules import db_backfill, db_migrate

ARGS = dict(name='visits_node', table='visits', set="node = 'unknown'", where='node IS NULL',
            login_host='db1', login_user='app', login_password='secret', database='app')
RESULT = {'batches': 3, 'rows_changed': 2500, 'resumed_from': None, 'last_key': 3000, 'finished': True,
          'total_batches': 3, 'total_rows_changed': 2500}


class MySQLError(Exception):
    pass


class Connection(object):
    closed = False

    def close(self):
        self.closed = True


class PyMySQL(object):
    """Records connect()'s arguments; refuses with the error in refuse, when there is one."""
    MySQLError = MySQLError

    def __init__(self):
        self.calls, self.connections, self.refuse = [], [], []

    def connect(self, **kwargs):
        self.calls.append(kwargs)
        for error in self.refuse:
            raise error
        self.connections.append(Connection())
        return self.connections[-1]


@pytest.fixture
def pymysql(monkeypatch):
    fake = PyMySQL()
    monkeypatch.setattr(mariadb, 'pymysql', fake)
    return fake


@pytest.fixture
def backfill(monkeypatch):
    """Replaces db_backfill.run(): records its calls, returns (changed, RESULT) or raises `raises`."""
    calls = []

    def run(connection, params, check_mode=False):
        calls.append((connection, dict(params), check_mode))
        if getattr(run, 'raises', None):
            raise run.raises
        return True, dict(RESULT)
    monkeypatch.setattr(backfill_utils, 'run', run)
    run.calls = calls
    return run


def test_runs_the_backfill_on_a_connection_without_autocommit(run_module, pymysql, backfill):
    kind, result = run_module(db_backfill.main, **ARGS)
    assert kind == 'exit', result
    assert result['changed'] is True
    assert dict((k, result[k]) for k in RESULT) == RESULT
    assert pymysql.calls == [dict(user='app', password='secret', database='app', autocommit=False, connect_timeout=10,
                                  host='db1', port=3306)]
    connection, params, check_mode = backfill.calls[0]
    assert connection is pymysql.connections[0] and connection.closed
    assert check_mode is False
    assert (params['key'], params['batch_size'], params['pause_seconds'], params['lock_timeout']) == ('id', 1000, 0.5, 10)
    assert (params['copy_to'], params['columns'], params['who']) == (None, None, '')


def test_connects_through_a_socket_and_passes_check_mode(run_module, pymysql, backfill):
    kind, _result = run_module(db_backfill.main, _ansible_check_mode=True,
                               **dict(ARGS, login_unix_socket='/run/mysqld/mysqld.sock'))
    assert kind == 'exit'
    assert pymysql.calls[0]['unix_socket'] == '/run/mysqld/mysqld.sock'
    assert 'host' not in pymysql.calls[0] and 'port' not in pymysql.calls[0]
    assert backfill.calls[0][2] is True


@pytest.mark.parametrize('changes, message', [
    (dict(copy_to='visits_v2', columns=['id']), 'parameters are mutually exclusive: set|copy_to'),
    (dict(set=None), 'one of the following is required: set, copy_to'),
    (dict(set=None, copy_to='visits_v2'), 'parameters are required together: copy_to, columns'),
    (dict(batch_size='many'), "argument 'batch_size' is of type"),
])
def test_inconsistent_options_fail_before_connecting(run_module, pymysql, backfill, changes, message):
    args = dict(ARGS, **changes)
    args = dict((k, v) for k, v in args.items() if v is not None)
    kind, result = run_module(db_backfill.main, **args)
    assert kind == 'fail'
    assert message in result['msg']
    assert pymysql.calls == [] and backfill.calls == []


def test_a_backfill_error_is_the_message_and_the_connection_is_closed(run_module, pymysql, backfill):
    backfill.raises = ConflictError("backfill 'visits_node' was started with a different definition (...)")
    kind, result = run_module(db_backfill.main, **ARGS)
    assert (kind, result['msg']) == ('fail', "backfill 'visits_node' was started with a different definition (...)")
    assert pymysql.connections[0].closed


def test_a_refused_connection_names_the_backfill_and_the_server(run_module, pymysql, backfill):
    pymysql.refuse = [MySQLError(1045, "Access denied for user 'app'@'10.0.0.2' (using password: YES)")]
    kind, result = run_module(db_backfill.main, **dict(ARGS, login_port=3307))
    assert kind == 'fail'
    assert result['msg'] == ("backfill 'visits_node' of table visits: the database db1:3307 refused: (1045, \"Access "
                             "denied for user 'app'@'10.0.0.2' (using password: YES)\")")
    assert backfill.calls == []


def test_without_pymysql_it_says_what_to_install(run_module, monkeypatch, backfill):
    monkeypatch.setattr(mariadb, 'pymysql', None)
    kind, result = run_module(db_backfill.main, **ARGS)
    assert kind == 'fail'
    assert 'PyMySQL' in result['msg']
    assert backfill.calls == []


def _migrations_dir(tmp_path):
    (tmp_path / '0001_create_t.sql').write_text('CREATE TABLE t (id INT PRIMARY KEY);', encoding='utf-8')
    return str(tmp_path)


def test_db_migrate_still_connects_with_autocommit_through_the_shared_code(run_module, pymysql, tmp_path):
    pymysql.refuse = [MySQLError(2003, "Can't connect to MySQL server on 'db1'")]
    kind, result = run_module(db_migrate.main, migrations_dir=_migrations_dir(tmp_path), release='2.1.0',
                              login_host='db1', login_user='app', database='app')
    assert kind == 'fail'
    assert pymysql.calls == [dict(user='app', password='', database='app', autocommit=True, connect_timeout=10,
                                  host='db1', port=3306)]
    assert result['msg'] == ("migrations of release 2.1.0: the database db1:3306 refused: (2003, \"Can't connect to "
                             "MySQL server on 'db1'\")")


def test_db_migrate_without_migration_files_touches_no_database(run_module, pymysql, tmp_path):
    kind, result = run_module(db_migrate.main, migrations_dir=str(tmp_path / 'migrations'), release='2.1.0',
                              login_user='', database='')
    assert kind == 'exit', result
    assert (result['changed'], result['files'], result['applied'], result['contracts_pending']) == (False, [], [], [])
    assert pymysql.calls == []


def test_db_migrate_with_migration_files_and_no_database_names_them(run_module, pymysql, tmp_path):
    kind, result = run_module(db_migrate.main, migrations_dir=_migrations_dir(tmp_path), release='2.1.0',
                              login_user='app', database='')
    assert kind == 'fail'
    assert result['msg'].startswith('release 2.1.0 carries 1 migration(s) (0001_create_t.sql) but no database is '
                                    'configured: give database and login_user'), result['msg']
    assert pymysql.calls == []


def test_db_migrate_names_a_migration_file_it_cannot_read(run_module, pymysql, tmp_path):
    (tmp_path / '0001_create_t.sql').write_bytes(b'\xff\xfe')
    kind, result = run_module(db_migrate.main, migrations_dir=str(tmp_path), release='2.1.0', login_user='app',
                              database='app')
    assert kind == 'fail'
    assert result['msg'].startswith('migrations of release 2.1.0: 0001_create_t.sql: not UTF-8 text'), result['msg']
    assert pymysql.calls == []
