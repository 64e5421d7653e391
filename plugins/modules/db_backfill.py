#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: db_backfill
short_description: Update or copy a MariaDB table's rows in batches by key, resumable after an interruption
version_added: 0.2.0
description:
  - The backfill step of expand/contract. After a migration added a nullable column, fills it for the
    old rows a few at a time (O(set)), or copies rows into a new table (O(copy_to) and O(columns)),
    without locking the table; it can run after the release, while the application serves.
  - Works through O(table) in batches of O(batch_size) rows by its integer primary key O(key), in key
    order, sleeping O(pause_seconds) between batches so that replicas and visitors' queries keep up.
    Only the rows of the batch that runs are locked, only while it runs.
  - Each batch is one transaction. It reads the backfill's checkpoint row (C(SELECT ... FOR UPDATE)),
    finds the batch's upper key, runs the C(UPDATE) or C(INSERT IGNORE ... SELECT) for the keys above
    the checkpoint up to that key (and O(where)), moves the checkpoint there and commits. A batch and
    its checkpoint commit together or not at all, so after a kill at any point every row is changed
    exactly once, and the next run resumes after the last committed batch.
  - The connection is opened with autocommit off; the module commits each batch itself, and rolls the
    batch back on an error, naming the table, the batch's key range and the MariaDB error.
  - The checkpoints are the rows of C(daylight_backfills) in the application's database (created when
    missing), one a backfill with its name, a sha256 of the definition (O(table), O(key), O(set) or O(copy_to) and O(columns),
    O(where); not O(batch_size) nor O(pause_seconds), which may change between runs), a summary of
    it, the table, the last key done, batches and rows changed so far, when it started, was last
    updated and finished, and who ran it. The same O(name) with another definition is refused
    before anything changes.
  - A finished backfill run again looks for rows above its checkpoint (rows inserted since, for
    example by the old release during a rolling release) and processes them; with none it changes
    nothing. To do something else, give the backfill a new O(name).
  - The run holds the MariaDB lock C(daylight_backfill:<name>), waited for at most O(lock_timeout)
    seconds, so two runs of the same backfill never overlap; the second fails naming the connection
    that holds it. MariaDB releases it with the connection, so a killed run never leaves it stuck.
  - The table, O(key), O(copy_to) and O(columns) are checked before anything changes. The tables
    must exist in O(database), O(key) must be the table's integer primary key, the table written to
    must use InnoDB (a batch and its checkpoint commit together only there).
  - 'What community.mysql lacks: M(community.mysql.mysql_query) runs statements but has no batching,
    no checkpoint and no resume: one C(UPDATE) of a large table locks its rows for the whole
    statement and starts again from the beginning after an interruption.'
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - daylight.release.attributes
  - daylight.release.mariadb
options:
  name:
    description:
      - The backfill's name, the key of its checkpoint; also names its lock. 1 to 46 letters, digits,
        V(_), V(.) or V(-).
    type: str
    required: true
  table:
    description: The table whose rows are updated (O(set)) or copied (O(copy_to)), in O(database).
    type: str
    required: true
  key:
    description: The table's integer primary key column; batches go by it, in ascending order.
    type: str
    default: id
  set:
    description:
      - The assignments of an in-place C(UPDATE), as SQL, like V(node = 'unknown') or
        V(total_cents = total * 100). Written by the operator and used as given, not escaped.
      - Exactly one of O(set) and O(copy_to).
    type: str
  copy_to:
    description:
      - The table to copy rows into, in O(database). Each batch runs an C(INSERT IGNORE INTO) O(copy_to)
        of O(columns), selected from O(table) in key order; rows whose key is already there are skipped.
      - Exactly one of O(set) and O(copy_to).
    type: str
  columns:
    description: The columns to copy, named the same in both tables. Required with O(copy_to).
    type: list
    elements: str
  where:
    description:
      - An SQL condition that limits which rows of each batch change, like V(node IS NULL).
        Written by the operator and used as given, not escaped. Batches are counted in rows of the
        table, whatever the condition selects.
    type: str
  batch_size:
    description: Rows of the table per batch (one transaction). May change between runs.
    type: int
    default: 1000
  pause_seconds:
    description: Seconds to sleep after each batch. May change between runs.
    type: float
    default: 0.5
  lock_timeout:
    description: Seconds to wait for another run of the same backfill before failing.
    type: int
    default: 10
  who:
    description: Who runs the backfill, recorded in its checkpoint. Empty records the connection's MariaDB account, C(user@host).
    type: str
    default: ""
notes:
  - Identifiers (O(table), O(key), O(copy_to), O(columns)) must be plain MariaDB names (letters,
    digits, V(_) and V($), not starting with a digit); they are quoted with backticks. O(set) and
    O(where) are SQL and must come from the operator, never from visitors' input.
  - The user needs C(SELECT) and C(UPDATE) on O(table) (C(SELECT) on it and C(INSERT) on O(copy_to)
    for a copy), and C(CREATE), C(SELECT), C(INSERT) and C(UPDATE) for C(daylight_backfills).
author:
  - daylight.release maintainers (@daylight)
attributes:
  check_mode:
    support: full
    details:
      - Creates and writes nothing (not even the checkpoint table). Counts the rows above the checkpoint
        that O(where) selects (a C(SELECT COUNT) query), changed when there are any, and the batches that would
        run; it still takes the backfill's lock, so it fails while another run holds it.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Fill the new column node for the rows written before the release
  daylight.release.db_backfill:
    name: visits_node
    table: visits
    set: node = 'unknown'
    where: node IS NULL
    batch_size: 500
    pause_seconds: 0.2
    login_host: db1.example.com
    login_user: app
    login_password: "{{ vault_db_password }}"
    database: app
  register: backfill

- name: Copy the orders into their new table, 2000 at a time
  daylight.release.db_backfill:
    name: orders_v2_copy
    table: orders
    copy_to: orders_v2
    columns: [id, customer_id, total, created]
    batch_size: 2000
    login_unix_socket: /run/mysqld/mysqld.sock
    login_user: app
    database: app
"""

RETURN = r"""
batches:
  description: Batches this run committed; in check mode, the batches it would run.
  returned: always
  type: int
  sample: 12
rows_changed:
  description:
    - Rows this run changed (updated with a new value, or copied); in check mode, the rows above the
      checkpoint that O(where) selects.
  returned: always
  type: int
  sample: 11873
resumed_from:
  description: The key the checkpoint held before this run; null when the backfill starts from the first row.
  returned: always
  type: int
  sample: 4000
last_key:
  description: The key the checkpoint holds after this run (in check mode, unchanged); null when the table had no row.
  returned: always
  type: int
  sample: 15873
finished:
  description:
    - Whether the backfill has reached the end of the table. Always true after a run that did not fail;
      in check mode, true when it had and no row was added since.
  returned: always
  type: bool
  sample: true
total_batches:
  description: Batches committed by all the runs of this backfill (in check mode, so far).
  returned: always
  type: int
  sample: 16
total_rows_changed:
  description: Rows changed by all the runs of this backfill (in check mode, so far).
  returned: always
  type: int
  sample: 15873
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.daylight.release.plugins.module_utils import db_backfill, mariadb
from ansible_collections.daylight.release.plugins.module_utils.errors import DaylightError


def main():
    module = AnsibleModule(
        argument_spec=dict(
            mariadb.CONNECTION_ARGUMENT_SPEC,
            name=dict(type='str', required=True),
            table=dict(type='str', required=True),
            key=dict(type='str', default='id', no_log=False),
            set=dict(type='str'),
            copy_to=dict(type='str'),
            columns=dict(type='list', elements='str'),
            where=dict(type='str'),
            batch_size=dict(type='int', default=1000),
            pause_seconds=dict(type='float', default=0.5),
            lock_timeout=dict(type='int', default=10),
            who=dict(type='str', default=''),
        ),
        mutually_exclusive=[('set', 'copy_to')],
        required_one_of=[('set', 'copy_to')],
        required_together=[('copy_to', 'columns')],
        supports_check_mode=True,
    )
    if mariadb.pymysql is None:
        module.fail_json(msg=missing_required_lib('PyMySQL'), exception=mariadb.PYMYSQL_ERROR)
    p = module.params
    try:
        # autocommit off: db_backfill.run() commits each batch with its checkpoint, or rolls it back
        connection = mariadb.connect(p, autocommit=False)
        try:
            changed, result = db_backfill.run(connection, p, check_mode=module.check_mode)
        finally:
            connection.close()  # also releases GET_LOCK
    except DaylightError as e:
        module.fail_json(msg='%s' % e)
    except mariadb.pymysql.MySQLError as e:
        module.fail_json(msg='backfill %r of table %s: the database %s refused: %s' % (
            p['name'], p['table'], mariadb.server(p), e))
    module.exit_json(changed=changed, **result)


if __name__ == '__main__':
    main()
