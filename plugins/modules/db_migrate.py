#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: db_migrate
short_description: Apply a release's forward-only MariaDB migrations once, online, and record them
version_added: 0.2.0
description:
  - Applies the pending migrations of one phase, in version order, each exactly once, and records
    each in the C(daylight_migrations) table of the application's database (version, description,
    sha256, release, phase, started, finished, success, statements applied, who).
  - The whole run holds a MariaDB C(GET_LOCK), waited for at most O(lock_timeout) seconds, so two
    runs never apply a migration twice; MariaDB releases it with the connection, so a killed run
    never leaves it stuck. The second run fails naming the connection that holds it.
  - A V(pre) migration may only expand the schema (the release still running must keep working);
    contract statements are refused before anything runs, naming file, line and rule. See
    C(plugins/module_utils/migrations.py) for the rules.
  - Every C(ALTER TABLE) runs with C(ALGORITHM=INSTANT), then C(ALGORITHM=INPLACE, LOCK=NONE) when
    MariaDB refuses that; when both are refused the migration fails instead of copying or locking
    the table. Each statement waits at most O(lock_wait_timeout) seconds for a metadata lock and is
    tried O(retries) more times.
  - An applied migration whose file changed is refused, naming both checksums. A failed migration
    blocks later runs until O(repair=true) clears its entry.
  - 'What community.mysql lacks: M(community.mysql.mysql_query) runs statements but keeps no history,
    takes no lock and knows nothing of expand/contract or online DDL.'
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - daylight.release.attributes
  - daylight.release.mariadb
options:
  migrations_dir:
    description:
      - The staged release's C(migrations/) directory on the host the module runs on (a web node sees it on the
        share). Its C(*.sql) files (like C(0003_add_note.sql)) are read in this run; none, or no such directory,
        means nothing to do, and the database is not contacted.
      - Read here rather than handed over file by file (M(ansible.builtin.find) and a M(ansible.builtin.slurp) loop),
        because a package carries every migration of its application's history, and each file would cost a round
        trip to the host on every release.
    type: path
    required: true
  phase:
    description:
      - V(pre) applies the pending expand migrations (before the canary); V(post) applies every pending
        migration, contract ones included (after every node serves the release).
    type: str
    choices: [pre, post]
    default: pre
  release:
    description: The release the migrations come with, recorded in the history.
    type: str
    required: true
  who:
    description: Who runs the migrations, recorded in the history.
    type: str
    default: ""
  lock_name:
    description: Name of the MariaDB user lock around the run.
    type: str
    default: daylight_migrations
  lock_timeout:
    description: Seconds to wait for another run's lock before failing.
    type: int
    default: 60
  lock_wait_timeout:
    description: Seconds one statement waits for a metadata lock (C(lock_wait_timeout) of the session).
    type: int
    default: 5
  retries:
    description: Extra tries of a statement that gave up waiting for a metadata lock.
    type: int
    default: 3
  rehearse:
    description:
      - Run the pending migrations first on a copy of the live database (tables and data) in a scratch
        database on the same server, dropped afterwards; a failure there stops before the live schema
        changes. The user needs the privileges to create and drop O(rehearsal_database).
    type: bool
    default: true
  rehearsal_database:
    description: The scratch database. Defaults to O(database) followed by C(_rehearsal).
    type: str
  rehearsal_size_limit_mb:
    description: Above this size (data and indexes) the copy is schema only, with a warning.
    type: int
    default: 200
  repair:
    description:
      - Remove the entries of failed migrations from the history before running, once a person has
        finished or undone them by hand.
    type: bool
    default: false
author:
  - daylight.release maintainers (@daylight)
attributes:
  check_mode:
    support: full
    details: Reads the history (creating its table if missing) and returns what would run.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Apply the expand migrations of release 2.1.0
  daylight.release.db_migrate:
    migrations_dir: /srv/daylight/releases/2.1.0/migrations
    phase: pre
    release: 2.1.0
    login_host: db1.example.com
    login_user: app
    login_password: "{{ vault_db_password }}"
    database: app
  no_log: true
"""

RETURN = r"""
files:
  description: The migration files found in O(migrations_dir), by name.
  returned: always
  type: list
  elements: str
  sample: [0001_create_visits.sql, 0002_visits_add_node.sql]
applied:
  description: The migrations applied (in check mode, the ones that would be), in order.
  returned: always
  type: list
  elements: dict
  sample:
    - version: "0002"
      description: add_note
      phase: pre
      statements: ["ALTER TABLE t ADD note TEXT NULL, ALGORITHM=INSTANT"]
contracts_pending:
  description:
    - Versions of the contract (post) migrations in O(migrations_dir) still pending after this run
      (in check mode, after the run it reports). Always empty after O(phase=post).
    - After O(phase=pre), empty means the post phase of the same files has nothing to do.
  returned: always
  type: list
  elements: str
  sample: ["0005"]
notes:
  description: Warnings for the operator (for example a schema-only rehearsal).
  returned: always
  type: list
  elements: str
repaired:
  description: Versions whose failed entries were removed (O(repair=true)).
  returned: always
  type: list
  elements: str
"""

import datetime

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.daylight.release.plugins.module_utils import db_migrate, mariadb, migrations
from ansible_collections.daylight.release.plugins.module_utils.errors import DaylightError


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def run(module, p, files):
    connection = mariadb.connect(p)
    try:
        cursor = connection.cursor()
        cursor.execute('SET SESSION lock_wait_timeout = %s', (p['lock_wait_timeout'],))
        db_migrate.take_lock(cursor, p['lock_name'], p['lock_timeout'])
        history = db_migrate.read_history(cursor)
        repaired = db_migrate.check_no_failed(history, p['repair'])
        if repaired and not module.check_mode:
            for version in repaired:
                cursor.execute('DELETE FROM %s WHERE version = %%s AND success = 0' % db_migrate.HISTORY_TABLE, (version,))
        applied = dict((v, row['checksum']) for v, row in history.items() if row['success'])
        pending, contracts_pending = migrations.plan_with_contracts_left(files, applied, p['phase'])
        notes = []
        if pending and p['rehearse'] and not module.check_mode:
            notes = db_migrate.rehearse(cursor, p['database'], p['rehearsal_database'] or p['database'] + '_rehearsal',
                                        pending, p['rehearsal_size_limit_mb'], p['retries'])
        done = []
        for migration in pending:
            migration['retries'] = p['retries']
            statements = [s['sql'] for s in migration['statements']]
            if not module.check_mode:
                statements = db_migrate.apply_migration(cursor, migration, p['release'], p['who'], utc_now)
            done.append({'version': migration['version'], 'description': migration['description'],
                         'phase': migration['phase'], 'statements': statements})
        return done, repaired, notes, contracts_pending
    finally:
        connection.close()  # also releases GET_LOCK


def main():
    module = AnsibleModule(
        argument_spec=dict(
            mariadb.CONNECTION_ARGUMENT_SPEC,
            migrations_dir=dict(type='path', required=True),
            phase=dict(type='str', choices=['pre', 'post'], default='pre'),
            release=dict(type='str', required=True),
            who=dict(type='str', default=''),
            lock_name=dict(type='str', default='daylight_migrations'),
            lock_timeout=dict(type='int', default=60),
            lock_wait_timeout=dict(type='int', default=5),
            retries=dict(type='int', default=3),
            rehearse=dict(type='bool', default=True),
            rehearsal_database=dict(type='str'),
            rehearsal_size_limit_mb=dict(type='int', default=200),
            repair=dict(type='bool', default=False),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        files = migrations.read_dir(p['migrations_dir'])
    except DaylightError as e:
        module.fail_json(msg='migrations of release %s: %s' % (p['release'], e))
    if not files:
        module.exit_json(changed=False, files=[], applied=[], repaired=[], notes=[], contracts_pending=[])
    if not (p['database'] and p['login_user']):
        module.fail_json(msg='release %s carries %d migration(s) (%s) but no database is configured: give database and '
                             'login_user (in the db_migrate role: db_migrate_name, db_migrate_user and '
                             'db_migrate_password, from a vault)' % (p['release'], len(files), ', '.join(sorted(files))))
    if mariadb.pymysql is None:
        module.fail_json(msg=missing_required_lib('PyMySQL'), exception=mariadb.PYMYSQL_ERROR)
    try:
        done, repaired, notes, contracts_pending = run(module, p, files)
    except DaylightError as e:
        module.fail_json(msg='migrations of release %s (%s phase) stopped: %s' % (p['release'], p['phase'], e))
    except mariadb.pymysql.MySQLError as e:
        module.fail_json(msg='migrations of release %s: the database %s refused: %s' % (p['release'], mariadb.server(p), e))
    for note in notes:
        module.warn(note)
    module.exit_json(changed=bool(done) or bool(repaired), files=sorted(files), applied=done, repaired=repaired, notes=notes,
                     contracts_pending=contracts_pending)


if __name__ == '__main__':
    main()
