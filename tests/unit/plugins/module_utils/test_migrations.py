# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib

import pytest

from ansible_collections.daylight.release.plugins.module_utils.errors import ValidationError
from ansible_collections.daylight.release.plugins.module_utils.migrations import (
    RULES,
    MigrationError,
    check_migration,
    classify,
    contracts_left,
    is_alter_table,
    parse_filename,
    plan,
    read_dir,
    read_directives,
    split_statements,
    with_online_algorithm,
)


def sha(text):
    return hashlib.sha256(text.encode('utf-8')).hexdigest()


def rules_of(statement):
    return [finding['rule'] for finding in classify(statement)]


# ---------------------------------------------------------------- classify: expand

EXPAND = [
    'CREATE TABLE orders (id INT PRIMARY KEY, note TEXT NOT NULL)',
    'create table if not exists `order lines` (id int, UNIQUE KEY (id))',
    'CREATE TEMPORARY TABLE tmp (a INT)',
    'CREATE OR REPLACE TEMPORARY TABLE tmp (a INT)',
    'CREATE TABLE copy LIKE orders',
    'CREATE VIEW v AS SELECT a FROM t',
    'CREATE OR REPLACE VIEW v AS SELECT a, b FROM t',
    'CREATE ALGORITHM=MERGE DEFINER=`app`@`%` SQL SECURITY INVOKER VIEW v AS SELECT 1',
    'ALTER VIEW v AS SELECT a FROM t',
    'CREATE INDEX idx_a ON t (a)',
    'create fulltext index ft on t (body)',
    'CREATE DATABASE IF NOT EXISTS reports',
    'CREATE SEQUENCE s',
    'ALTER TABLE t ADD COLUMN note VARCHAR(255)',
    'ALTER TABLE t ADD note VARCHAR(255) NULL',
    'alter table t add column n int not null default 0',
    'ALTER TABLE t ADD COLUMN created TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP',
    'ALTER TABLE t ADD COLUMN seq BIGINT NOT NULL AUTO_INCREMENT, ADD KEY (seq)',
    'ALTER TABLE t ADD COLUMN total INT GENERATED ALWAYS AS (a + b) STORED',
    "ALTER TABLE t ADD COLUMN full_name VARCHAR(200) AS (CONCAT(first, ' ', last)) PERSISTENT",
    'ALTER TABLE t ADD COLUMN IF NOT EXISTS c INT',
    "ALTER TABLE t ADD (c1 INT, c2 VARCHAR(10) NOT NULL DEFAULT '')",
    'ALTER TABLE t ADD COLUMN c INT NULL CHECK (c IS NOT NULL OR d > 0)',
    'ALTER TABLE t ADD INDEX idx_c (c)',
    'ALTER TABLE t ADD KEY k (a, b), ADD FULLTEXT INDEX ft (body), ADD SPATIAL INDEX sp (geo)',
    'ALTER TABLE t ADD CONSTRAINT fk_user FOREIGN KEY (user_id) REFERENCES users (id)',
    'ALTER TABLE t ADD FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE SET NULL',
    'ALTER TABLE t ALTER COLUMN c SET DEFAULT 5',
    "ALTER TABLE t ALTER c SET DEFAULT 'x'",
    "ALTER TABLE t COMMENT = 'orders, with notes'",
    'ALTER TABLE t ADD COLUMN c INT, ALGORITHM=INSTANT',
    'ALTER TABLE t ADD COLUMN c INT, ALGORITHM=INPLACE, LOCK=NONE',
    'ALTER TABLE t ENGINE=InnoDB ROW_FORMAT=DYNAMIC',
    'ALTER TABLE t',
    'ALTER ONLINE TABLE t ADD COLUMN c INT',
    'ALTER TABLE IF EXISTS db.t NOWAIT ADD COLUMN c INT',
    'ALTER TABLE db.t ADD COLUMN `note -- not a comment` TEXT',
    'ALTER TABLE t /* DROP COLUMN x */ ADD COLUMN y INT -- DROP TABLE t',
    "ALTER TABLE t ADD COLUMN c ENUM('a,b', 'DROP COLUMN x') NOT NULL DEFAULT 'a,b'",
    'ALTER TABLE t ADD d INT COMMENT "NOT NULL"',
    'INSERT INTO t (a) VALUES (1)',
    'INSERT INTO t (a) SELECT a FROM u',
    "REPLACE INTO settings (k, v) VALUES ('a', 'b')",
    'UPDATE t SET a = 1 WHERE id = 2',
    'update t set a = (select max(b) from u where u.id = t.id) where a is null',
    'DELETE FROM t WHERE created < NOW() - INTERVAL 1 YEAR',
    'SET NAMES utf8mb4',
    "SET SESSION sql_mode = 'STRICT_ALL_TABLES'",
    'SET @x = 1',
    'SELECT COUNT(*) FROM t',
    '/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */',
    'SET STATEMENT max_statement_time=60 FOR ALTER TABLE t ADD COLUMN c INT',
    'DROP TEMPORARY TABLE IF EXISTS tmp',
    'ALTER TABLE t ADD COLUMN c INT;',
]


@pytest.mark.parametrize('statement', EXPAND)
def test_expand_statements_have_no_finding(statement):
    assert classify(statement) == []


# ---------------------------------------------------------------- classify: contract

CONTRACT = [
    ('DROP TABLE orders', ['DS102']),
    ('drop table if exists `old orders`, legacy', ['DS102']),
    ('CREATE OR REPLACE TABLE t (a INT)', ['DS102']),
    ('DROP DATABASE legacy', ['DS101']),
    ('DROP SCHEMA IF EXISTS legacy', ['DS101']),
    ('ALTER TABLE t DROP COLUMN legacy', ['DS103']),
    ('alter table t drop legacy', ['DS103']),
    ('ALTER TABLE t DROP COLUMN IF EXISTS `legacy col`', ['DS103']),
    ('ALTER TABLE t DROP COLUMN a, DROP COLUMN b', ['DS103', 'DS103']),
    ('AlTeR TaBlE `my table` DrOp CoLuMn `my col`', ['DS103']),
    ('ALTER TABLE t -- comment; DROP TABLE x\n DROP COLUMN c', ['DS103']),
    ('ALTER TABLE t ADD COLUMN a INT NULL, DROP COLUMN b, ADD INDEX (a)', ['DS103']),
    ('RENAME TABLE a TO b', ['BC101']),
    ('RENAME TABLE a TO b, c TO d', ['BC101']),
    ('ALTER TABLE a RENAME TO b', ['BC101']),
    ('ALTER TABLE a RENAME AS b', ['BC101']),
    ('ALTER TABLE a RENAME b', ['BC101']),
    ('ALTER TABLE t RENAME COLUMN a TO b', ['BC102']),
    ('ALTER TABLE t CHANGE COLUMN a b INT', ['BC102']),
    ('ALTER TABLE t CHANGE a `b c` VARCHAR(10) NOT NULL', ['BC102']),
    ('ALTER TABLE t CHANGE a A BIGINT', ['BC103']),
    ('ALTER TABLE t MODIFY a BIGINT', ['BC103']),
    ('ALTER TABLE t MODIFY COLUMN a VARCHAR(100) NULL', ['BC103']),
    ('ALTER TABLE t CONVERT TO CHARACTER SET utf8mb4', ['BC103']),
    ('ALTER TABLE t MODIFY a INT NOT NULL', ['MF104']),
    ('ALTER TABLE t CHANGE a a INT NOT NULL DEFAULT 0', ['MF104']),
    ('ALTER TABLE t ADD COLUMN c INT NOT NULL', ['MY101']),
    ("ALTER TABLE t ADD c VARCHAR(10) CHARACTER SET utf8mb4 NOT NULL COMMENT 'DEFAULT x'", ['MY101']),
    ('ALTER TABLE t ADD (c1 INT, c2 INT NOT NULL)', ['MY101']),
    ('ALTER TABLE t ADD COLUMN c INT NOT NULL, ALGORITHM=INSTANT', ['MY101']),
    ('ALTER TABLE t ADD UNIQUE (email)', ['MF101']),
    ('ALTER TABLE t ADD UNIQUE INDEX u_email (email)', ['MF101']),
    ('ALTER TABLE t ADD UNIQUE KEY u_email (email)', ['MF101']),
    ('ALTER TABLE t ADD CONSTRAINT u_email UNIQUE (email)', ['MF101']),
    ('ALTER TABLE t ADD PRIMARY KEY (id)', ['MF101']),
    ('ALTER IGNORE TABLE t ADD UNIQUE (a)', ['MF101']),
    ('CREATE UNIQUE INDEX u_email ON users (email)', ['MF101']),
    ('ALTER TABLE t ADD COLUMN code INT DEFAULT 1 UNIQUE', ['MF101']),
    ('ALTER TABLE t ADD CONSTRAINT positive CHECK (amount > 0)', ['MF105']),
    ('ALTER TABLE t ALTER COLUMN c DROP DEFAULT', ['BC104']),
    ('ALTER TABLE t ALTER c DROP DEFAULT', ['BC104']),
    ('ALTER TABLE t DROP FOREIGN KEY fk_user', ['CD101']),
    ('ALTER TABLE t DROP CONSTRAINT chk', ['CD102']),
    ('ALTER TABLE t DROP CHECK chk', ['CD102']),
    ('ALTER TABLE t DROP PRIMARY KEY', ['CD103']),
    ('ALTER TABLE t DROP INDEX idx_a', ['CD104']),
    ('ALTER TABLE t DROP KEY idx_a', ['CD104']),
    ('DROP INDEX idx_a ON t', ['CD104']),
    ('ALTER TABLE t RENAME INDEX a TO b', ['CD104']),
    ('TRUNCATE TABLE sessions', ['DS104']),
    ('truncate sessions', ['DS104']),
    ('DELETE FROM sessions', ['DS105']),
    ('DELETE FROM sessions LIMIT 10', ['DS105']),
    ('UPDATE users SET active = 0', ['DS105']),
    ('UPDATE users SET a = (SELECT b FROM c WHERE c.id = 1)', ['DS105']),
    ('DROP VIEW v', ['BC105']),
    ('ALTER TABLE t ADD COLUMN a INT NOT NULL, DROP INDEX i, RENAME COLUMN x TO y', ['MY101', 'CD104', 'BC102']),
    ('SET STATEMENT max_statement_time=60 FOR DROP TABLE t', ['DS102']),
    ('/*!50001 DROP TABLE t */', ['DS102']),
    ('ALTER TABLE t DROP COLUMN a, FROBNICATE', ['DS103', 'DL000']),
]


@pytest.mark.parametrize('statement, expected', CONTRACT)
def test_contract_statements(statement, expected):
    assert rules_of(statement) == expected


def test_every_rule_fires_somewhere():
    fired = set(rule for _statement, rules in CONTRACT for rule in rules) | {'DL000'}
    assert fired == set(RULES)


# ---------------------------------------------------------------- classify: not understood

UNPARSED = [
    'CREATE PROCEDURE p() BEGIN SELECT 1; END',
    'CREATE TRIGGER trg BEFORE INSERT ON t FOR EACH ROW SET NEW.a = 1',
    'CREATE FUNCTION f() RETURNS INT RETURN 1',
    "GRANT SELECT ON db.* TO 'app'@'%'",
    'ALTER TABLE t FROBNICATE c',
    'ALTER TABLE',
    'ALTER TABLE t ADD',
    'ALTER TABLE t DROP COLUMN',
    'ALTER TABLE t ADD COLUMN c',
    'ALTER TABLE t MODIFY c',
    'ALTER TABLE t ADD COLUMN a INT,, ADD COLUMN b INT',
    'ALTER TABLE t DROP PARTITION p0',
    'ALTER TABLE t ALTER COLUMN c SET INVISIBLE',
    'ALTER TABLE t DISCARD TABLESPACE',
    'ALTER TABLE t ADD CONSTRAINT c',
    'ALTER DATABASE d CHARACTER SET utf8mb4',
    'SET GLOBAL max_connections = 10',
    'SET @@global.max_connections = 10',
    'WITH x AS (SELECT 1) SELECT * FROM x',
    'LOCK TABLES t WRITE',
    'USE other',
    "SELECT 'unterminated",
    'SELECT (1',
    'SELECT 1)',
    'SELECT 1; SELECT 2',
    '(SELECT 1)',
]


@pytest.mark.parametrize('statement', UNPARSED)
def test_statements_not_understood(statement):
    findings = classify(statement)
    assert [finding['rule'] for finding in findings] == ['DL000']
    assert findings[0]['kind'] == 'unparsed'
    assert findings[0]['title'] == 'not understood'
    assert '-- daylight: allow DL000' in findings[0]['message']


def test_empty_statement_has_no_finding():
    assert classify('  /* nothing */ ') == []


def test_finding_shape_and_message():
    (finding,) = classify('ALTER TABLE orders DROP COLUMN legacy')
    assert finding == {'rule': 'DS103', 'kind': 'contract', 'title': 'drop column', 'message': finding['message']}
    message = finding['message']
    assert message.startswith('ALTER TABLE orders DROP COLUMN legacy breaks the release still running (it may still read legacy')
    assert 'contract migration (first line "-- daylight: contract") in the release after the one that stops using it' in message


@pytest.mark.parametrize('statement, expected_words', [
    ('ALTER TABLE t CHANGE a b INT', ['add b as a new column', 'write both', 'backfill', 'switch reads to b', 'drop a']),
    ('ALTER TABLE t ADD c INT NOT NULL', ['do not name c', "Field 'c' doesn't have a default value", 'DEFAULT']),
    ('RENAME TABLE a TO b', ['still name a', 'backfill', 'drop a']),
    ('ALTER TABLE t DROP INDEX i', ['slow', 'stops needing it']),
    ('ALTER TABLE t ADD UNIQUE (a)', ['duplicates', '-- daylight: allow MF101']),
    ('DELETE FROM t', ['every row of t', 'sql_safe_updates', 'WHERE']),
])
def test_messages_say_why_and_what_instead(statement, expected_words):
    (finding,) = classify(statement)
    for words in expected_words:
        assert words in finding['message']


def test_backquoted_names_are_shown_as_written():
    (finding,) = classify('ALTER TABLE `my orders` DROP COLUMN `old note`')
    assert finding['message'].startswith('ALTER TABLE `my orders` DROP COLUMN `old note` breaks')
    (finding,) = classify('ALTER TABLE `orders` DROP COLUMN `note`')
    assert finding['message'].startswith('ALTER TABLE orders DROP COLUMN note breaks')


def test_every_finding_kind_matches_the_rule_table():
    for statement, _rules in CONTRACT:
        for finding in classify(statement):
            assert (finding['kind'], finding['title']) == RULES[finding['rule']]


# ---------------------------------------------------------------- split_statements

@pytest.mark.parametrize('text, expected', [
    ("SELECT 'a;b'; SELECT 2", [(1, "SELECT 'a;b'"), (1, 'SELECT 2')]),
    ('SELECT "a;b"; SELECT 2', [(1, 'SELECT "a;b"'), (1, 'SELECT 2')]),
    ("SELECT 'it''s;'; SELECT 2", [(1, "SELECT 'it''s;'"), (1, 'SELECT 2')]),
    ("SELECT 'it\\'s;'; SELECT 2", [(1, "SELECT 'it\\'s;'"), (1, 'SELECT 2')]),
    ('SELECT "say \\";\\""; SELECT 2', [(1, 'SELECT "say \\";\\""'), (1, 'SELECT 2')]),
    ("SELECT 'a\\\\'; SELECT 2", [(1, "SELECT 'a\\\\'"), (1, 'SELECT 2')]),
    ('SELECT `a;b` FROM t; SELECT 2', [(1, 'SELECT `a;b` FROM t'), (1, 'SELECT 2')]),
    ('SELECT `a``;b`; SELECT 2', [(1, 'SELECT `a``;b`'), (1, 'SELECT 2')]),
    ('SELECT `a\\`; SELECT 2', [(1, 'SELECT `a\\`'), (1, 'SELECT 2')]),
    ('SELECT 1; -- x; y\nSELECT 2', [(1, 'SELECT 1'), (2, 'SELECT 2')]),
    ('SELECT 1; --\tx; y\nSELECT 2', [(1, 'SELECT 1'), (2, 'SELECT 2')]),
    ('SELECT 1--1;\nSELECT 2', [(1, 'SELECT 1--1'), (2, 'SELECT 2')]),
    ('SELECT 1 --;SELECT 2', [(1, 'SELECT 1 --'), (1, 'SELECT 2')]),
    ('SELECT 1;\n--', [(1, 'SELECT 1')]),
    ('SELECT 1; # a; b\nSELECT 2', [(1, 'SELECT 1'), (2, 'SELECT 2')]),
    ('SELECT /* ; */ 1; /* multi\nline ; */ SELECT 2', [(1, 'SELECT 1'), (2, 'SELECT 2')]),
    ('SELECT/**/1', [(1, 'SELECT 1')]),
    ('/*!40101 SET NAMES utf8 */;\nSELECT 1', [(1, '/*!40101 SET NAMES utf8 */'), (2, 'SELECT 1')]),
    ('/*M!100100 SET x = 1 */;', [(1, '/*M!100100 SET x = 1 */')]),
    ('/*!50003 SET a = 1; SET b = 2 */;', [(1, '/*!50003 SET a = 1; SET b = 2 */')]),
    ('SELECT /*+ hint; */ 1', [(1, 'SELECT 1')]),
    ('\n\n  SELECT\n 1;\n\nSELECT 2;', [(3, 'SELECT\n 1'), (6, 'SELECT 2')]),
    ("SELECT 'multi\nline';\nSELECT 2", [(1, "SELECT 'multi\nline'"), (3, 'SELECT 2')]),
    ('-- header\n/* note */\nALTER TABLE t\n  ADD c INT;', [(3, 'ALTER TABLE t\n  ADD c INT')]),
    (';;SELECT 1;; ;', [(1, 'SELECT 1')]),
    ('SELECT 1', [(1, 'SELECT 1')]),
    ('-- only a comment\n# and another\n', []),
    ('', []),
    ('SELECT delimiter FROM t', [(1, 'SELECT delimiter FROM t')]),
    (u'\ufeffSELECT 1;', [(1, 'SELECT 1')]),
])
def test_split_statements(text, expected):
    assert split_statements(text) == expected


def test_split_removes_comments():
    ((line, sql),) = split_statements('ALTER TABLE t -- why\n  ADD c INT # really\n  /* yes */ NULL;')
    assert line == 1
    assert '--' not in sql and '#' not in sql and '/*' not in sql
    assert sql.split() == ['ALTER', 'TABLE', 't', 'ADD', 'c', 'INT', 'NULL']


@pytest.mark.parametrize('text, line, words', [
    ("SELECT 1;\nSELECT 'abc;\nxyz", 2, 'single-quoted string'),
    ('SELECT 1;\n\nSELECT "abc', 3, 'double-quoted string'),
    ('SELECT `abc', 1, 'backquoted name'),
    ("SELECT 'it\\'", 1, 'single-quoted string'),
    ('SELECT 1;\nSELECT 2;\n/* never closed\n;', 3, '/*'),
    ('SELECT 1;\n/*!40101 SET x = 1;', 2, '/*!'),
])
def test_unterminated_quote_or_comment_names_the_line_it_opened(text, line, words):
    with pytest.raises(MigrationError) as info:
        split_statements(text)
    assert info.value.line == line
    assert 'unterminated' in str(info.value)
    assert words in str(info.value)
    assert str(info.value).startswith('line %d: ' % line)


@pytest.mark.parametrize('text, line', [
    ('SELECT 1;\nDELIMITER //\nCREATE PROCEDURE p() BEGIN SELECT 1; END //\nDELIMITER ;\n', 2),
    ('delimiter ;;\n', 1),
    ('-- x\n\n  DeLiMiTeR $$', 3),
])
def test_delimiter_is_refused(text, line):
    with pytest.raises(MigrationError) as info:
        split_statements(text)
    assert info.value.line == line
    assert 'stored programs are not supported in migrations' in str(info.value)


def test_migration_error_is_a_validation_error():
    assert issubclass(MigrationError, ValidationError)
    error = MigrationError('DS103 drop column: boom', file='0003_x.sql', line=4, rule='DS103')
    assert str(error) == '0003_x.sql line 4: DS103 drop column: boom'
    assert (error.file, error.line, error.rule) == ('0003_x.sql', 4, 'DS103')
    assert str(MigrationError('boom', rule='DS103')) == 'DS103 boom'
    assert str(MigrationError('boom', file='f.sql')) == 'f.sql: boom'
    assert str(MigrationError('boom')) == 'boom'


# ---------------------------------------------------------------- read_directives

@pytest.mark.parametrize('text, expected', [
    ('ALTER TABLE t ADD c INT;', {'phase': 'pre', 'allow': set(), 'offline': False}),
    ('-- daylight: contract\nDROP TABLE t;', {'phase': 'post', 'allow': set(), 'offline': False}),
    ('-- daylight: contract\r\nDROP TABLE t;', {'phase': 'post', 'allow': set(), 'offline': False}),
    (u'\ufeff-- daylight: contract\nDROP TABLE t;', {'phase': 'post', 'allow': set(), 'offline': False}),
    ('-- daylight: allow DS103, cd104\n-- daylight: allow MF101\nSELECT 1;',
     {'phase': 'pre', 'allow': {'DS103', 'CD104', 'MF101'}, 'offline': False}),
    ('-- daylight: allow DS103 CD104\nSELECT 1;', {'phase': 'pre', 'allow': {'DS103', 'CD104'}, 'offline': False}),
    ('-- adds the notes column\n/* ticket 42 */\n# reviewed\n-- daylight: offline\n\nALTER TABLE t ADD c INT;',
     {'phase': 'pre', 'allow': set(), 'offline': True}),
    ('-- daylight: contract\n-- daylight: allow DL000\n-- daylight: offline\nCREATE TRIGGER x;',
     {'phase': 'post', 'allow': {'DL000'}, 'offline': True}),
    ('# daylight: contract\nSELECT 1;', {'phase': 'pre', 'allow': set(), 'offline': False}),
    ("SELECT '\n-- daylight: offline\n';", {'phase': 'pre', 'allow': set(), 'offline': False}),
])
def test_read_directives(text, expected):
    assert read_directives(text) == expected


@pytest.mark.parametrize('text, line, words', [
    ('-- daylight: sometimes\nSELECT 1;', 1, ['"-- daylight: sometimes"', 'contract', 'allow RULE', 'offline']),
    ('-- daylight: allow DS999\nSELECT 1;', 1, ['DS999', 'DS103', 'DL000']),
    ('-- daylight: allow\nSELECT 1;', 1, ['needs rule ids']),
    ('-- hello\n-- daylight: contract\nDROP TABLE t;', 2, ['first line', '"-- daylight: contract"']),
    ('--  daylight:contract\nDROP TABLE t;', 1, ['first line', '"-- daylight: contract"']),
    ('-- daylight: contract now\nDROP TABLE t;', 1, ['takes no argument']),
    ('-- daylight: offline please\nSELECT 1;', 1, ['takes no argument']),
    ('SELECT 1;\n-- daylight: allow DS103\nALTER TABLE t DROP c;', 2, ['after the first statement (line 1)']),
])
def test_bad_directives_are_refused(text, line, words):
    with pytest.raises(MigrationError) as info:
        read_directives(text)
    assert info.value.line == line
    for word in words:
        assert word in str(info.value)


# ---------------------------------------------------------------- with_online_algorithm

@pytest.mark.parametrize('statement, algorithm, expected', [
    ('ALTER TABLE t ADD COLUMN c INT', 'INSTANT', 'ALTER TABLE t ADD COLUMN c INT, ALGORITHM=INSTANT'),
    ('ALTER TABLE t ADD COLUMN c INT', 'INPLACE', 'ALTER TABLE t ADD COLUMN c INT, ALGORITHM=INPLACE, LOCK=NONE'),
    ('alter online table t add c int', 'instant', 'alter online table t add c int, ALGORITHM=INSTANT'),
    ('ALTER TABLE t ADD INDEX i (c), LOCK=SHARED', 'INPLACE', 'ALTER TABLE t ADD INDEX i (c), LOCK=SHARED, ALGORITHM=INPLACE'),
    ('ALTER TABLE t ADD INDEX i (c), LOCK=SHARED', 'INSTANT', 'ALTER TABLE t ADD INDEX i (c), LOCK=SHARED, ALGORITHM=INSTANT'),
    ('ALTER TABLE t ADD COLUMN c INT, ALGORITHM=COPY', 'INPLACE', 'ALTER TABLE t ADD COLUMN c INT, ALGORITHM=COPY'),
    ('alter table t add c int, algorithm = instant', 'INPLACE', 'alter table t add c int, algorithm = instant'),
    ('ALTER TABLE t ADD COLUMN `algorithm` INT', 'INSTANT', 'ALTER TABLE t ADD COLUMN `algorithm` INT, ALGORITHM=INSTANT'),
    ("ALTER TABLE t ADD COLUMN c ENUM('ALGORITHM', 'LOCK')", 'INPLACE',
     "ALTER TABLE t ADD COLUMN c ENUM('ALGORITHM', 'LOCK'), ALGORITHM=INPLACE, LOCK=NONE"),
    ("ALTER TABLE t COMMENT 'x' -- note", 'INSTANT', "ALTER TABLE t COMMENT 'x', ALGORITHM=INSTANT -- note"),
    ('ALTER TABLE t ADD c INT;', 'INSTANT', 'ALTER TABLE t ADD c INT, ALGORITHM=INSTANT;'),
    ('ALTER TABLE t', 'INSTANT', 'ALTER TABLE t ALGORITHM=INSTANT'),
    ('ALTER TABLE t DROP PARTITION p1', 'INPLACE', 'ALTER TABLE t DROP PARTITION p1'),
    ('CREATE INDEX i ON t (a)', 'INPLACE', 'CREATE INDEX i ON t (a)'),
    ('SELECT 1', 'INSTANT', 'SELECT 1'),
    ('ALTER VIEW v AS SELECT 1', 'INSTANT', 'ALTER VIEW v AS SELECT 1'),
])
def test_with_online_algorithm(statement, algorithm, expected):
    assert with_online_algorithm(statement, algorithm) == expected


def test_with_online_algorithm_refuses_other_algorithms():
    with pytest.raises(MigrationError) as info:
        with_online_algorithm('ALTER TABLE t ADD c INT', 'COPY')
    assert 'INSTANT, INPLACE' in str(info.value)


@pytest.mark.parametrize('statement, expected', [
    ('ALTER TABLE t ADD c INT', True),
    ('  alter ignore table t add unique (a)', True),
    ('/* why */ ALTER ONLINE TABLE t ENGINE=InnoDB', True),
    ('ALTER VIEW v AS SELECT 1', False),
    ('ALTER DATABASE d CHARACTER SET utf8mb4', False),
    ('CREATE TABLE t (a INT)', False),
    ("SELECT 'ALTER TABLE t'", False),
    ("ALTER TABLE 't", False),
])
def test_is_alter_table(statement, expected):
    assert is_alter_table(statement) is expected


# ---------------------------------------------------------------- parse_filename

@pytest.mark.parametrize('name, expected', [
    ('0001_create_orders.sql', ('0001', 'create_orders')),
    ('12345_Add_Note.sql', ('12345', 'Add_Note')),
    ('0003_x.SQL', ('0003', 'x')),
])
def test_parse_filename(name, expected):
    assert parse_filename(name) == expected


@pytest.mark.parametrize('name', [
    '001_short.sql', '0001-dash.sql', '0001_with space.sql', '0001_.sql', '0001_x.sql.bak', '0001_x.sql\n',
    'migrations/0001_x.sql', 'x_0001.sql', '', None,
])
def test_parse_filename_refuses_other_names(name):
    with pytest.raises(MigrationError) as info:
        parse_filename(name)
    assert 'NNNN_description.sql' in str(info.value)


# ---------------------------------------------------------------- check_migration

DROP_LEGACY = '-- drops the legacy column\n\nSELECT 1;\nALTER TABLE orders DROP COLUMN legacy;\nDROP TABLE old;\n'


def test_pre_migration_with_a_contract_statement_is_refused():
    with pytest.raises(MigrationError) as info:
        check_migration('0003_drop_legacy.sql', DROP_LEGACY, 'pre')
    error = info.value
    assert (error.file, error.line, error.rule) == ('0003_drop_legacy.sql', 4, 'DS103')
    message = str(error)
    assert message.startswith('0003_drop_legacy.sql line 4: DS103 drop column: ALTER TABLE orders DROP COLUMN legacy '
                              'breaks the release still running')
    assert '"-- daylight: allow DS103"' in message
    assert 'also refused: line 5 DS102' in message


def test_pre_file_is_refused_whatever_the_phase_being_run():
    with pytest.raises(MigrationError) as info:
        check_migration('0003_drop_legacy.sql', DROP_LEGACY, 'post')
    assert info.value.rule == 'DS103'


def test_contract_migration_is_accepted():
    text = '-- daylight: contract\nALTER TABLE orders DROP COLUMN legacy;\nDROP TABLE old;\n'
    result = check_migration('0004_drop_legacy.sql', text, 'post')
    assert result == {
        'version': '0004', 'description': 'drop_legacy', 'phase': 'post', 'offline': False,
        'checksum': sha(text),
        'statements': [
            {'line': 2, 'sql': 'ALTER TABLE orders DROP COLUMN legacy',
             'findings': classify('ALTER TABLE orders DROP COLUMN legacy'), 'accepted': []},
            {'line': 3, 'sql': 'DROP TABLE old', 'findings': classify('DROP TABLE old'), 'accepted': []},
        ]}
    assert check_migration('0004_drop_legacy.sql', text, 'pre')['phase'] == 'post'


def test_contract_migration_still_needs_allow_for_what_is_not_understood():
    text = '-- daylight: contract\nDROP TABLE old;\nGRANT SELECT ON db.* TO app;\n'
    with pytest.raises(MigrationError) as info:
        check_migration('0004_cleanup.sql', text, 'post')
    assert (info.value.line, info.value.rule) == (3, 'DL000')
    allowed = text.replace('\n', '\n-- daylight: allow DL000\n', 1)
    result = check_migration('0004_cleanup.sql', allowed, 'post')
    assert result['statements'][1]['accepted'] == result['statements'][1]['findings']


def test_allow_accepts_the_named_rules_only():
    text = '-- daylight: allow DS103\nALTER TABLE t DROP COLUMN x;\n'
    result = check_migration('0005_drop_x.sql', text, 'pre')
    (statement,) = result['statements']
    assert [finding['rule'] for finding in statement['accepted']] == ['DS103']
    assert statement['accepted'] == statement['findings']
    with pytest.raises(MigrationError) as info:
        check_migration('0005_drop_x.sql', text + 'ALTER TABLE t DROP INDEX i;\n', 'pre')
    assert (info.value.line, info.value.rule) == (3, 'CD104')


def test_expand_migration_result():
    text = '-- daylight: offline\nALTER TABLE t ADD c INT;\nCREATE INDEX i ON t (c);'
    result = check_migration('0006_add_c.sql', text.encode('utf-8'), 'pre')
    assert result['phase'] == 'pre'
    assert result['offline'] is True
    assert result['checksum'] == sha(text)
    assert [(s['line'], s['sql'], s['findings'], s['accepted']) for s in result['statements']] == [
        (2, 'ALTER TABLE t ADD c INT', [], []), (3, 'CREATE INDEX i ON t (c)', [], [])]


@pytest.mark.parametrize('name, text, line, words', [
    ('0007_empty.sql', '-- nothing yet\n', None, 'empty migration'),
    ('0007_empty.sql', '-- daylight: contract\n', None, 'empty migration'),
    ('0007_quote.sql', "SELECT 1;\nSELECT 'x;", 2, 'unterminated'),
    ('0007_proc.sql', 'DELIMITER //\n', 1, 'stored programs'),
    ('0007_directive.sql', '-- daylight: maybe\nSELECT 1;', 1, 'unknown directive'),
    ('7_bad_name.sql', 'SELECT 1;', None, 'NNNN_description.sql'),
])
def test_check_migration_errors_name_the_file(name, text, line, words):
    with pytest.raises(MigrationError) as info:
        check_migration(name, text, 'pre')
    assert info.value.file == name
    assert info.value.line == line
    assert words in str(info.value)
    assert str(info.value).startswith(name)


def test_check_migration_refuses_non_utf8_and_unknown_phase():
    with pytest.raises(MigrationError) as info:
        check_migration('0008_x.sql', b'SELECT "\xff";', 'pre')
    assert 'UTF-8' in str(info.value)
    with pytest.raises(MigrationError) as info:
        check_migration('0008_x.sql', 'SELECT 1;', 'during')
    assert 'pre or post' in str(info.value)


# ---------------------------------------------------------------- plan

FILES = {
    '0001_create_orders.sql': 'CREATE TABLE orders (id INT PRIMARY KEY);',
    '0002_add_note.sql': 'ALTER TABLE orders ADD note TEXT;',
    '0003_drop_legacy.sql': '-- daylight: contract\nALTER TABLE orders DROP COLUMN legacy;',
}


def versions(migrations):
    return [(migration['version'], migration['phase']) for migration in migrations]


@pytest.mark.parametrize('applied, phase, expected', [
    ({}, 'pre', [('0001', 'pre'), ('0002', 'pre')]),
    ({}, 'post', [('0001', 'pre'), ('0002', 'pre'), ('0003', 'post')]),
    ({'0001': sha(FILES['0001_create_orders.sql'])}, 'pre', [('0002', 'pre')]),
    ({'0001': sha(FILES['0001_create_orders.sql']), '0002': sha(FILES['0002_add_note.sql'])}, 'pre', []),
    ({'0001': sha(FILES['0001_create_orders.sql']), '0002': sha(FILES['0002_add_note.sql'])}, 'post', [('0003', 'post')]),
    ({1: sha(FILES['0001_create_orders.sql']).upper()}, 'post', [('0002', 'pre'), ('0003', 'post')]),
    ({'0001': sha(FILES['0001_create_orders.sql']), '0002': sha(FILES['0002_add_note.sql']),
      '0003': sha(FILES['0003_drop_legacy.sql'])}, 'post', []),
])
def test_plan_phases(applied, phase, expected):
    assert versions(plan(FILES, applied, phase)) == expected


@pytest.mark.parametrize('applied, phase, expected', [
    ({}, 'pre', ['0003']),
    ({'0001': sha(FILES['0001_create_orders.sql']), '0002': sha(FILES['0002_add_note.sql'])}, 'pre', ['0003']),
    ({'0001': sha(FILES['0001_create_orders.sql']), '0002': sha(FILES['0002_add_note.sql']),
      '0003': sha(FILES['0003_drop_legacy.sql'])}, 'pre', []),
    ({}, 'post', []),
])
def test_contracts_left_after_a_phase(applied, phase, expected):
    assert contracts_left(FILES, applied, phase) == expected


def test_contracts_left_is_empty_for_a_release_without_contract_migrations():
    files = {name: text for name, text in FILES.items() if not name.startswith('0003')}
    assert contracts_left(files, {}, 'pre') == []


def test_contracts_left_refuses_what_plan_refuses():
    with pytest.raises(MigrationError) as info:
        contracts_left(FILES, {'0001': sha('CREATE TABLE orders (id INT);')}, 'pre')
    assert 'checksum mismatch' in str(info.value)
    with pytest.raises(MigrationError):
        contracts_left(FILES, {}, 'contract')


def test_plan_orders_by_number_not_by_text():
    files = {'10000_d.sql': 'SELECT 4;', '0010_b.sql': 'SELECT 2;', '9999_c.sql': 'SELECT 3;', '0009_a.sql': 'SELECT 1;'}
    assert versions(plan(files, {}, 'pre')) == [('0009', 'pre'), ('0010', 'pre'), ('9999', 'pre'), ('10000', 'pre')]


def test_plan_returns_check_migration_results():
    (migration,) = plan({'0002_add_note.sql': FILES['0002_add_note.sql']}, {}, 'pre')
    assert migration == check_migration('0002_add_note.sql', FILES['0002_add_note.sql'], 'pre')


def test_plan_refuses_a_changed_applied_migration():
    applied = {'0001': sha('CREATE TABLE orders (id INT);')}
    with pytest.raises(MigrationError) as info:
        plan(FILES, applied, 'pre')
    message = str(info.value)
    assert info.value.file == '0001_create_orders.sql'
    assert 'checksum mismatch' in message
    assert sha('CREATE TABLE orders (id INT);') in message
    assert sha(FILES['0001_create_orders.sql']) in message


@pytest.mark.parametrize('second', ['0002_other.sql', '00002_other.sql'])
def test_plan_refuses_two_files_with_one_version(second):
    files = dict(FILES)
    files[second] = 'SELECT 1;'
    with pytest.raises(MigrationError) as info:
        plan(files, {}, 'pre')
    assert '0002_add_note.sql' in str(info.value)
    assert second in str(info.value)
    assert 'share version 2' in str(info.value)


def test_plan_refuses_a_pending_file_older_than_the_newest_applied():
    files = {'0004_late.sql': 'SELECT 1;', '0005_done.sql': 'SELECT 2;'}
    with pytest.raises(MigrationError) as info:
        plan(files, {'0005': sha('SELECT 2;')}, 'pre')
    message = str(info.value)
    assert info.value.file == '0004_late.sql'
    assert 'out of order' in message
    assert '0005_done.sql' in message
    with pytest.raises(MigrationError) as info:
        plan({'0004_late.sql': 'SELECT 1;'}, {'0005': sha('SELECT 2;')}, 'post')
    assert 'version 0004 is pending but 0005 is already applied' in str(info.value)


@pytest.mark.parametrize('phase', ['pre', 'post'])
def test_plan_refuses_a_pending_pre_migration_after_a_pending_contract(phase):
    files = {'0001_drop.sql': '-- daylight: contract\nDROP TABLE t;', '0002_add.sql': 'ALTER TABLE u ADD c INT;'}
    with pytest.raises(MigrationError) as info:
        plan(files, {}, phase)
    assert info.value.file == '0002_add.sql'
    assert '0001_drop.sql' in str(info.value)


def test_plan_checks_pending_contract_files_in_the_pre_phase_too():
    files = {'0001_add.sql': 'ALTER TABLE u ADD c INT;', '0002_cleanup.sql': '-- daylight: contract\nGRANT ALL ON x.* TO y;'}
    with pytest.raises(MigrationError) as info:
        plan(files, {}, 'pre')
    assert (info.value.file, info.value.rule) == ('0002_cleanup.sql', 'DL000')


def test_plan_refuses_bad_history_and_phase():
    with pytest.raises(MigrationError):
        plan(FILES, {'v1': 'abc'}, 'pre')
    with pytest.raises(MigrationError):
        plan(FILES, {}, 'later')


# ---------------------------------------------------------------- read_dir


def test_read_dir_reads_the_sql_files_only(tmp_path):
    (tmp_path / '0002_b.sql').write_text('ALTER TABLE t ADD c INT;', encoding='utf-8')
    (tmp_path / '0001_a.sql').write_text(u'-- caf\u00e9\nCREATE TABLE t (id INT);', encoding='utf-8')
    (tmp_path / 'README.md').write_text('not a migration', encoding='utf-8')
    (tmp_path / 'old.sql').mkdir()
    assert read_dir(str(tmp_path)) == {'0001_a.sql': u'-- caf\u00e9\nCREATE TABLE t (id INT);',
                                       '0002_b.sql': 'ALTER TABLE t ADD c INT;'}


def test_read_dir_of_a_release_without_migrations_is_empty(tmp_path):
    assert read_dir(str(tmp_path / 'migrations')) == {}
    assert read_dir(str(tmp_path)) == {}


def test_read_dir_names_a_file_that_is_not_utf8(tmp_path):
    (tmp_path / '0001_a.sql').write_bytes(b'INSERT INTO t VALUES (\'\xe9\');')
    with pytest.raises(MigrationError) as info:
        read_dir(str(tmp_path))
    assert info.value.file == '0001_a.sql'
    assert 'not UTF-8' in str(info.value)


def test_read_dir_names_a_path_that_is_not_a_directory(tmp_path):
    (tmp_path / 'migrations').write_text('', encoding='utf-8')
    with pytest.raises(MigrationError) as info:
        read_dir(str(tmp_path / 'migrations'))
    assert 'cannot list' in str(info.value) and str(tmp_path / 'migrations') in str(info.value)
