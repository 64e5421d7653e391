# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The decisions of the migration runner that need no database.

What needs MariaDB (GET_LOCK, the history table, online ALTERs refused by the server, a metadata
lock held by a long transaction) is tested against the lab's real MariaDB in
tests/e2e/test_migrations.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.daylight.release.plugins.module_utils import db_migrate
from ansible_collections.daylight.release.plugins.module_utils.errors import ConflictError


class DriverError(Exception):
    """Shaped like PyMySQL's errors: (code, message)."""


@pytest.mark.parametrize('exc, code', [
    (DriverError(1845, 'ALGORITHM=INSTANT is not supported'), 1845),
    (DriverError('no code'), None),
    (DriverError(), None),
])
def test_error_code(exc, code):
    assert db_migrate.error_code(exc) == code


@pytest.mark.parametrize('statement, offline, variants', [
    ('ALTER TABLE t ADD c INT NULL', False,
     ['ALTER TABLE t ADD c INT NULL, ALGORITHM=INSTANT', 'ALTER TABLE t ADD c INT NULL, ALGORITHM=INPLACE, LOCK=NONE']),
    ('ALTER TABLE t ADD c INT NULL', True, ['ALTER TABLE t ADD c INT NULL']),
    ('ALTER TABLE t ADD c INT NULL, ALGORITHM=COPY', False, ['ALTER TABLE t ADD c INT NULL, ALGORITHM=COPY']),
    ('CREATE TABLE t (id INT PRIMARY KEY)', False, ['CREATE TABLE t (id INT PRIMARY KEY)']),
])
def test_online_variants(statement, offline, variants):
    assert db_migrate.online_variants(statement, offline) == variants


HISTORY = {'0001': {'checksum': 'a', 'success': True, 'release': '1.0.0', 'description': 'init'},
           '0002': {'checksum': 'b', 'success': False, 'release': '2.0.0', 'description': 'add_note'}}


def test_a_failed_migration_blocks_the_next_run():
    with pytest.raises(ConflictError) as exc:
        db_migrate.check_no_failed(HISTORY, repair=False)
    assert '0002_add_note failed in an earlier run (release 2.0.0)' in str(exc.value)
    assert 'db_migrate_repair=true' in str(exc.value)


def test_repair_names_the_failed_versions():
    assert db_migrate.check_no_failed(HISTORY, repair=True) == ['0002']
    assert db_migrate.check_no_failed({'0001': HISTORY['0001']}, repair=False) == []
