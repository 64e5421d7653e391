# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Forward-only MariaDB migrations that run in the daytime, next to the release still running.

A release package carries migrations/NNNN_description.sql (NNNN: 4 or more
digits). Migrations run in numeric order, each exactly once, and the history
table keeps the sha256 of every file applied. Two phases:

- pre: every file whose first line is not "-- daylight: contract". It runs
  before the canary, while the nodes still serve the previous release, so it
  may only *expand* the schema: add what the new release needs, take away
  nothing the previous one uses.
- post: contract files, first line exactly "-- daylight: contract". They run
  once every node serves the new release and remove what only the previous
  release used (expand/contract, also called parallel change).

classify() tells expand from contract per statement with a small MariaDB
tokenizer: this code runs on the database host, which has only the standard
library. Rule ids follow Atlas's migration lint codes (DS destructive, BC
backward incompatible, MF data dependent, CD constraint deletion, MY MySQL),
titles follow squawk's rule names where it has one. Rules Atlas does not have
take the next number in the nearest family (DS104, DS105, BC103-BC105, MF105,
CD104); DL000, "not understood", is ours.

Directives are comment lines at the top of a file, before its first statement::

    -- daylight: contract            first line only: a contract (post) migration
    -- daylight: allow DS103, CD104  accept these findings: the author knows
    -- daylight: offline             add no ALGORITHM/LOCK to its ALTER TABLEs

A pre file is refused when a statement has a finding it does not allow. A
contract file may hold contract statements; a statement the classifier does not
understand needs "allow DL000" in either.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import hashlib
import os
import re

from ansible_collections.daylight.release.plugins.module_utils.errors import ValidationError

FILENAME_PATTERN = re.compile(r'^(\d{4,})_([a-z0-9_]+)\.sql\Z', re.IGNORECASE)
CONTRACT_LINE = '-- daylight: contract'
DIRECTIVE_MARK = 'daylight:'
DIRECTIVES = ('contract', 'allow', 'offline')
PHASES = ('pre', 'post')
ALGORITHMS = ('INSTANT', 'INPLACE')

CONTRACT = 'contract'
UNPARSED = 'unparsed'

# rule id -> (kind, title)
RULES = {
    'DS101': (CONTRACT, 'drop schema'),
    'DS102': (CONTRACT, 'drop table'),
    'DS103': (CONTRACT, 'drop column'),
    'DS104': (CONTRACT, 'truncate table'),
    'DS105': (CONTRACT, 'data removed/overwritten without WHERE'),
    'BC101': (CONTRACT, 'rename table'),
    'BC102': (CONTRACT, 'rename column'),
    'BC103': (CONTRACT, 'column type changed'),
    'BC104': (CONTRACT, 'drop default'),
    'BC105': (CONTRACT, 'drop view'),
    'MF101': (CONTRACT, 'add unique index on existing data'),
    'MF104': (CONTRACT, 'nullable column made NOT NULL'),
    'MF105': (CONTRACT, 'add check constraint on existing data'),
    'MY101': (CONTRACT, 'adding-required-field'),
    'CD101': (CONTRACT, 'drop foreign key'),
    'CD102': (CONTRACT, 'drop check constraint'),
    'CD103': (CONTRACT, 'drop primary key'),
    'CD104': (CONTRACT, 'drop or rename index'),
    'DL000': (UNPARSED, 'not understood'),
}

_CONTRACT_FILE = 'a contract migration (first line "-- daylight: contract")'
_LATER = 'in %s in the release after the one that stops using it' % _CONTRACT_FILE


class MigrationError(ValidationError):
    """A migration cannot run. str(error) names the file, line and rule when they are known."""

    def __init__(self, message, file=None, line=None, rule=None):
        if rule and not message.startswith(rule):
            message = '%s %s' % (rule, message)
        self.detail = message
        self.file = file
        self.line = line
        self.rule = rule
        super(MigrationError, self).__init__(_locate(message, file, line))

    def in_file(self, file):
        """The same error, naming the file it was found in."""
        return MigrationError(self.detail, file=file, line=self.line, rule=self.rule)


def _locate(message, file, line):
    if file and line:
        return '%s line %d: %s' % (file, line, message)
    if file or line:
        return '%s: %s' % (file or 'line %d' % line, message)
    return message


# ---------------------------------------------------------------- lexer

SPACE, COMMENT, EXEC_OPEN, EXEC_CLOSE, SEMICOLON = 'space', 'comment', 'exec_open', 'exec_close', 'semicolon'
WORD, QUOTED, STRING, NUMBER, PUNCT = 'word', 'quoted', 'string', 'number', 'punct'
_QUOTE_KINDS = {"'": STRING, '"': STRING, '`': QUOTED}
_QUOTE_NAMES = {"'": "single-quoted string", '"': 'double-quoted string', '`': 'backquoted name'}
_BOM = u'\ufeff'

_Lexeme = collections.namedtuple('_Lexeme', 'kind text line start')


def _lex(text):
    """Yield every lexeme of MariaDB SQL text, spaces and comments included.

    Raise MigrationError, with the line where it opened, for a quote or a
    comment that is never closed.
    """
    pos, line, exec_line = 0, 1, None
    while pos < len(text):
        kind, end = _lexeme_at(text, pos, line, exec_line is not None)
        if kind == EXEC_OPEN:
            exec_line = line
        elif kind == EXEC_CLOSE:
            exec_line = None
        elif kind == SEMICOLON and exec_line is not None:
            kind = PUNCT  # MariaDB runs the content of /*! */ as part of the statement
        lexeme = _Lexeme(kind, text[pos:end], line, pos)
        yield lexeme
        line += lexeme.text.count('\n')
        pos = end
    if exec_line is not None:
        raise MigrationError('unterminated executable comment: /*! opened on this line is never closed with */', line=exec_line)


def _lexeme_at(text, pos, line, in_exec):
    """(kind, end) of the lexeme that starts at pos."""
    char, pair = text[pos], text[pos:pos + 2]
    if _is_space(char):
        return SPACE, _skip(text, pos, _is_space)
    if pair == '*/' and in_exec:
        return EXEC_CLOSE, pos + 2
    if pair == '/*':
        return _block_comment(text, pos, line)
    if char == '#' or (pair == '--' and (pos + 2 == len(text) or text[pos + 2].isspace())):
        end = text.find('\n', pos)  # MariaDB needs a space after --: "1--1" is 1 minus -1
        return COMMENT, len(text) if end < 0 else end
    if char in _QUOTE_KINDS:
        return _QUOTE_KINDS[char], _quote_end(text, pos, line)
    if char == ';':
        return SEMICOLON, pos + 1
    if _is_word_char(char) or (char == '.' and text[pos + 1:pos + 2].isdigit()):
        return _word(text, pos)
    return PUNCT, pos + 1


def _is_space(char):
    return char.isspace() or char == _BOM


def _is_word_char(char):
    return char.isalnum() or char in '_$' or ord(char) > 127


def _skip(text, pos, wanted):
    while pos < len(text) and wanted(text[pos]):
        pos += 1
    return pos


def _block_comment(text, pos, line):
    for opener in ('/*!', '/*M!'):  # executable comments: MariaDB runs what they hold
        if text.startswith(opener, pos):
            return EXEC_OPEN, _skip(text, pos + len(opener), lambda c: c.isdigit())
    end = text.find('*/', pos + 2)
    if end < 0:
        raise MigrationError('unterminated comment: /* opened on this line is never closed with */', line=line)
    return COMMENT, end + 2


def _quote_end(text, pos, line):
    quote, i = text[pos], pos + 1
    while i < len(text):
        if text[i] == '\\' and quote != '`':
            i += 2
        elif text[i] == quote and text[i + 1:i + 2] == quote:
            i += 2  # a doubled quote stands for itself
        elif text[i] == quote:
            return i + 1
        else:
            i += 1
    raise MigrationError('unterminated %s: the %s opened on this line is never closed' % (_QUOTE_NAMES[quote], quote), line=line)


def _word(text, pos):
    end = _skip(text, pos, _is_word_char)
    if not text[pos:end].isdigit() and end > pos:
        return WORD, end
    if text[end:end + 1] == '.' and text[end + 1:end + 2].isdigit():
        end = _skip(text, end + 1, lambda c: c.isdigit())
    return NUMBER, end


# ---------------------------------------------------------------- statements and directives

def split_statements(text):
    """[(line, statement)] of SQL text: comments removed (except /*! */ ones), no trailing ';'.

    line is where the statement's first token starts. Raise MigrationError for
    DELIMITER and for unterminated quotes and comments.
    """
    statements, parts, gap, first_line = [], [], [], None
    for lexeme in _lex(text):
        if lexeme.kind == SEMICOLON:
            if parts:
                statements.append((first_line, ''.join(parts)))
            parts, gap, first_line = [], [], None
        elif lexeme.kind in (SPACE, COMMENT):
            gap.append(lexeme)
        else:
            if first_line is None:
                _refuse_delimiter(lexeme)
                first_line = lexeme.line
            elif gap:
                parts.append(_gap_text(gap))
            parts.append(lexeme.text)
            gap = []
    if parts:
        statements.append((first_line, ''.join(parts)))
    return statements


def _gap_text(gap):
    """The white space between two tokens, with the comments in it taken out."""
    space = ''.join(lexeme.text for lexeme in gap if lexeme.kind == SPACE)
    if len(space) == sum(len(lexeme.text) for lexeme in gap):
        return space
    if '\n' in space:
        return '\n' + space.rsplit('\n', 1)[1]  # keep the line break and the next line's indent
    return ' '


def _refuse_delimiter(lexeme):
    if lexeme.kind == WORD and lexeme.text.upper() == 'DELIMITER':
        raise MigrationError('DELIMITER: stored programs are not supported in migrations (procedures, functions, triggers and '
                             'events need DELIMITER and run code the classifier cannot judge); manage them outside the '
                             'migrations', line=lexeme.line)


def read_directives(text):
    """{'phase': 'pre'|'post', 'allow': set of rule ids, 'offline': bool} from the file's top comments."""
    directives = {'phase': 'pre', 'allow': set(), 'offline': False}
    first_statement = None
    for lexeme in _lex(text):
        if lexeme.kind not in (SPACE, COMMENT) and first_statement is None:
            first_statement = lexeme.line
        body = _directive_body(lexeme)
        if body is None:
            continue
        if first_statement is not None:
            raise MigrationError('"-- %s" comes after the first statement (line %d): directives are read only at the top '
                                 'of the file' % (body, first_statement), line=lexeme.line)
        _apply_directive(directives, body, lexeme.line, text)
    return directives


def _directive_body(lexeme):
    """'daylight: WORD ARGS' of a "-- daylight: ..." comment, None for any other lexeme."""
    if lexeme.kind != COMMENT or not lexeme.text.startswith('--'):
        return None
    body = lexeme.text[2:].strip()
    return body if body.lower().startswith(DIRECTIVE_MARK) else None


def _apply_directive(directives, body, line, text):
    words = body[len(DIRECTIVE_MARK):].strip()
    name, args = (words.split(None, 1) + [''])[:2]
    name = name.lower()
    if name not in DIRECTIVES:
        known = ', '.join('"-- daylight: %s"' % usage for usage in ('contract', 'allow RULE[, RULE...]', 'offline'))
        raise MigrationError('unknown directive "-- %s": the known ones are %s' % (body, known), line=line)
    if name == 'allow':
        directives['allow'].update(_allowed_rules(args, line))
    elif args.strip():
        raise MigrationError('"-- daylight: %s" takes no argument (got "%s")' % (name, args.strip()), line=line)
    elif name == 'offline':
        directives['offline'] = True
    elif line == 1 and text.lstrip(_BOM).split('\n', 1)[0].rstrip() == CONTRACT_LINE:
        directives['phase'] = 'post'
    else:
        raise MigrationError('a contract migration says so on its first line, exactly "%s"' % CONTRACT_LINE, line=line)


def _allowed_rules(args, line):
    rules = [rule.upper() for rule in args.replace(',', ' ').split()]
    unknown = [rule for rule in rules if rule not in RULES]
    if not rules or unknown:
        raise MigrationError('"-- daylight: allow" needs rule ids from %s (got "%s")' % (
            ', '.join(sorted(RULES)), args.strip()), line=line)
    return rules


# ---------------------------------------------------------------- tokens for the classifier

_Token = collections.namedtuple('_Token', 'kind text upper depth')


class _Unparsed(Exception):
    """The statement is not one the classifier understands; str() says where it got lost."""


def _tokenize(statement):
    """Significant tokens of one statement, each with its parenthesis depth ('(' and ')' at the outer one)."""
    tokens, depth, ended = [], 0, False
    try:
        for lexeme in _lex(statement):
            if lexeme.kind in (SPACE, COMMENT, EXEC_OPEN, EXEC_CLOSE):
                continue
            if lexeme.kind == SEMICOLON or ended:
                if ended and lexeme.kind != SEMICOLON:
                    raise _Unparsed('more than one statement')
                ended = True
                continue
            if lexeme.kind == PUNCT and lexeme.text == ')':
                depth -= 1
                if depth < 0:
                    raise _Unparsed('a ) closes nothing')
            tokens.append(_Token(lexeme.kind, lexeme.text, lexeme.text.upper() if lexeme.kind == WORD else None, depth))
            if lexeme.kind == PUNCT and lexeme.text == '(':
                depth += 1
    except MigrationError as error:
        raise _Unparsed(error.detail)
    if depth:
        raise _Unparsed('a ( is never closed')
    return tokens


class _Cursor:
    """Reads tokens front to back; keywords match bare words only, case-insensitively."""

    def __init__(self, tokens):
        self.tokens = tokens
        self.pos = 0

    def peek(self, offset=0):
        index = self.pos + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def rest(self):
        return self.tokens[self.pos:]

    def at_end(self):
        return self.pos >= len(self.tokens)

    def is_word_at(self, offset, *words):
        token = self.peek(offset)
        return token is not None and token.kind == WORD and token.upper in words

    def is_word(self, *words):
        return self.is_word_at(0, *words)

    def is_punct(self, text):
        token = self.peek()
        return token is not None and token.kind == PUNCT and token.text == text

    def accept(self, *words):
        """The keyword matched (upper case) and moved past, or None."""
        if not self.is_word(*words):
            return None
        self.pos += 1
        return self.tokens[self.pos - 1].upper

    def accept_all(self, *words):
        if not all(self.is_word_at(i, word) for i, word in enumerate(words)):
            return False
        self.pos += len(words)
        return True

    def expect(self, *words):
        found = self.accept(*words)
        if not found:
            raise _Unparsed('expected %s' % ' or '.join(words))
        return found

    def name(self):
        """A name, possibly qualified (db.table), as messages show it."""
        parts = [self._identifier()]
        while self.is_punct('.'):
            self.pos += 1
            parts.append(self._identifier())
        return '.'.join(parts)

    def _identifier(self):
        token = self.peek()
        if token is None or token.kind not in (WORD, QUOTED):
            raise _Unparsed('expected a name')
        self.pos += 1
        if token.kind == WORD:
            return token.text
        name = token.text[1:-1].replace('``', '`')
        return name if all(_is_word_char(c) for c in name) else token.text


def _render(tokens, limit=120):
    """The tokens as SQL text for a message, shortened to limit characters."""
    text = ''
    for previous, token in zip([None] + tokens[:-1], tokens):
        glued = previous is None or token.text in (',', ')', '.') or previous.text in ('(', '.') or (
            token.text == '(' and previous.kind in (WORD, QUOTED))
        text += ('' if glued else ' ') + token.text
    return text if len(text) <= limit else text[:limit - 3] + '...'


def _split_top_level(tokens, depth):
    """Split tokens at the commas found at the given depth."""
    parts, current = [], []
    for token in tokens:
        if token.kind == PUNCT and token.text == ',' and token.depth == depth:
            parts.append(current)
            current = []
        else:
            current.append(token)
    parts.append(current)
    return parts


def _column_traits(definition):
    """What a column definition (after its name) says at its own level."""
    base = definition[0].depth if definition else 0
    top = [token.upper or token.text for token in definition if token.depth == base]
    pairs = set(zip(top, top[1:]))
    return {
        'not_null': ('NOT', 'NULL') in pairs,
        'default': 'DEFAULT' in top,
        'non_null_default': 'DEFAULT' in top and ('DEFAULT', 'NULL') not in pairs,
        'auto_increment': 'AUTO_INCREMENT' in top or 'SERIAL' in top,
        'generated': ('AS', '(') in pairs or 'GENERATED' in top,
        'unique': 'UNIQUE' in top or ('PRIMARY', 'KEY') in pairs,
    }


# ---------------------------------------------------------------- findings

def _finding(rule, message):
    kind, title = RULES[rule]
    return {'rule': rule, 'kind': kind, 'title': title, 'message': message}


def _breaks(rule, what, why, instead):
    return _finding(rule, '%s breaks the release still running (%s); %s' % (what, why, instead))


def _not_understood(what, reason):
    return _finding('DL000', 'the classifier does not understand %s (%s), so it cannot tell whether the release still '
                             'running can live with it; if it can, declare it at the top of the file with "-- daylight: '
                             'allow DL000", or move it to %s, which needs the same line' % (what, reason, _CONTRACT_FILE))


def _drop_column(table, column):
    return _breaks('DS103', 'ALTER TABLE %s DROP COLUMN %s' % (table, column),
                   'it may still read %s, and its INSERTs naming it fail' % column, 'drop it %s' % _LATER)


def _rename_column(table, old, new, what):
    return _breaks('BC102', what, 'its queries still name %s.%s' % (table, old),
                   'add %s as a new column, write both, backfill, switch reads to %s, then drop %s in %s in a later '
                   'release' % (new, new, old, _CONTRACT_FILE))


def _changed_column(table, column, spec):
    """MODIFY, or CHANGE keeping the name: the old definition is not in the statement, so assume the worst."""
    what = 'ALTER TABLE %s %s' % (table, _render(spec))
    if _column_traits(spec)['not_null']:
        return _breaks('MF104', what, 'if %s was nullable, its writes of NULL now fail, and the ALTER fails on rows that '
                                      'hold NULL' % column,
                       'make the new release always write %s, backfill the NULLs, then set NOT NULL in %s in the release '
                       'after; if %s already was NOT NULL and nothing else narrows, declare it with "-- daylight: allow '
                       'MF104"' % (column, _CONTRACT_FILE, column))
    return _breaks('BC103', what, 'the old type is not in the statement: a narrower type, another character set or a lost '
                                  'default can make its reads and writes fail or truncate, and MariaDB may copy the table',
                   'add a new column with the new type, write both, backfill, switch reads, then drop the old one in %s '
                   'in a later release; if the change only widens %s (VARCHAR(50) to VARCHAR(100)), declare it with '
                   '"-- daylight: allow BC103"' % (_CONTRACT_FILE, column))


def _added_unique(what):
    return _breaks('MF101', what,
                   'it fails if rows already hold duplicates, and afterwards its writes of a duplicate fail',
                   'make the new release keep the values unique, remove the duplicates, then add the key in %s in the '
                   'release after; if the old release already keeps them unique, declare it with "-- daylight: allow '
                   'MF101"' % _CONTRACT_FILE)


def _dropped_index(table, index, what):
    return _breaks('CD104', what, 'not for correctness: its queries that used %s may turn into full scans and slow the '
                                  'database, and its USE/FORCE INDEX (%s) hints fail' % (index, index),
                   'drop it in %s in the release after the one that stops needing it' % _CONTRACT_FILE)


def _without_where(verb, table):
    return _finding('DS105', '%s %s without WHERE %s every row of %s while the release still running reads and writes '
                             'them (MariaDB\'s sql_safe_updates refuses it for that reason); add a WHERE that names the rows, '
                             'or if every row is meant, declare it with "-- daylight: allow DS105"' % (
                                 verb, table, 'deletes' if verb.startswith('DELETE') else 'overwrites', table))


# ---------------------------------------------------------------- classify

def classify(statement):
    """Findings for one statement: [] when the release still running can live with it (expand).

    Each finding is {'rule', 'kind': 'contract'|'unparsed', 'title', 'message'}.
    """
    try:
        tokens = _tokenize(statement)
    except _Unparsed as reason:
        return [_not_understood('the statement', reason)]
    if not tokens:
        return []
    try:
        return _classify_tokens(_Cursor(tokens))
    except _Unparsed as reason:
        return [_not_understood('"%s"' % _render(tokens, 80), reason)]


def _classify_tokens(cursor):
    verb = cursor.peek().upper
    if verb not in _STATEMENTS:
        raise _Unparsed('%s is not a statement it knows' % (verb or 'a statement starting with %s' % cursor.peek().text))
    return _STATEMENTS[verb](cursor)


def _expand(cursor):
    return []


def _classify_set(cursor):
    cursor.expect('SET')
    if cursor.accept('STATEMENT'):  # SET STATEMENT var=value FOR <statement>: judge the statement
        while not cursor.at_end() and not (cursor.is_word('FOR') and cursor.peek().depth == 0):
            cursor.pos += 1
        cursor.expect('FOR')
        return _classify_tokens(_Cursor(cursor.rest()))
    if any(token.upper in ('GLOBAL', 'PERSIST', 'PASSWORD', 'ROLE') for token in cursor.rest()):
        raise _Unparsed('it changes more than this session')
    return []


def _classify_create(cursor):
    cursor.expect('CREATE')
    replace = cursor.accept_all('OR', 'REPLACE')
    modifiers = set()
    while not cursor.at_end() and not cursor.is_word('TABLE', 'VIEW', 'INDEX', 'DATABASE', 'SCHEMA', 'SEQUENCE',
                                                     'PROCEDURE', 'FUNCTION', 'TRIGGER', 'EVENT', 'USER', 'ROLE'):
        modifiers.add(cursor.peek().upper)
        cursor.pos += 1
    kind = cursor.accept('TABLE', 'VIEW', 'INDEX', 'DATABASE', 'SCHEMA', 'SEQUENCE')
    if not kind:
        raise _Unparsed('CREATE %s is not judged' % (cursor.peek().text if cursor.peek() else 'without an object'))
    if kind == 'TABLE' and replace and 'TEMPORARY' not in modifiers:
        table = cursor.name()
        return [_breaks('DS102', 'CREATE OR REPLACE TABLE %s' % table, 'it drops the existing %s and its rows first' % table,
                        'use CREATE TABLE IF NOT EXISTS, or create the new table under another name and drop the old one '
                        '%s' % _LATER)]
    if kind == 'INDEX' and 'UNIQUE' in modifiers:
        return [_added_unique(_render(cursor.tokens))]
    return []


def _index_table(cursor):
    """The table of CREATE/DROP INDEX name ON table."""
    while not cursor.at_end() and not cursor.is_word('ON'):
        cursor.pos += 1
    cursor.expect('ON')
    return cursor.name()


def _classify_drop(cursor):
    cursor.expect('DROP')
    temporary = cursor.accept('TEMPORARY')
    kind = cursor.expect('TABLE', 'VIEW', 'INDEX', 'DATABASE', 'SCHEMA')
    if kind == 'INDEX':
        cursor.accept_all('IF', 'EXISTS')
        index = cursor.name()
        table = _index_table(cursor)
        if index.upper() == 'PRIMARY':
            return [_dropped_primary_key(table)]
        return [_dropped_index(table, index, 'DROP INDEX %s ON %s' % (index, table))]
    cursor.accept_all('IF', 'EXISTS')
    names = ', '.join(_render(part) for part in _split_top_level(cursor.rest(), 0))
    if kind == 'TABLE':
        if temporary:
            return []  # a temporary table lives in this session only
        return [_breaks('DS102', 'DROP TABLE %s' % names, 'it may still read or write %s, and the rows are gone for good'
                        % names, 'drop it %s' % _LATER)]
    if kind == 'VIEW':
        return [_breaks('BC105', 'DROP VIEW %s' % names, 'it may still query %s' % names, 'drop it %s' % _LATER)]
    return [_breaks('DS101', 'DROP %s %s' % (kind, names), 'every table in it goes, with its rows, while it may still '
                    'use them', 'drop it %s' % _LATER)]


def _classify_rename(cursor):
    cursor.expect('RENAME')
    cursor.expect('TABLE')
    what = 'RENAME TABLE %s' % _render(cursor.rest())
    old = cursor.name()
    return [_renamed_table(old, what)]


def _renamed_table(old, what):
    return _breaks('BC101', what, 'its queries still name %s' % old,
                   'create the new table, write both (or leave a view under the old name), backfill, switch reads, then '
                   'drop %s in %s in a later release' % (old, _CONTRACT_FILE))


def _classify_truncate(cursor):
    cursor.expect('TRUNCATE')
    cursor.accept('TABLE')
    table = cursor.name()
    return [_breaks('DS104', 'TRUNCATE TABLE %s' % table, 'it deletes every row of %s, which it reads and writes' % table,
                    'delete the data in %s once no release needs it; if %s only holds data the application rebuilds, '
                    'declare it with "-- daylight: allow DS104"' % (_CONTRACT_FILE, table))]


def _classify_delete_update(cursor):
    verb = cursor.peek().upper
    if any(token.upper == 'WHERE' and token.depth == 0 for token in cursor.rest()):
        return []
    cursor.pos += 1
    while cursor.accept('LOW_PRIORITY', 'QUICK', 'IGNORE'):
        pass
    if verb == 'DELETE':
        cursor.accept('FROM')
        verb = 'DELETE FROM'
    return [_without_where(verb, cursor.name())]


def _classify_alter(cursor):
    cursor.expect('ALTER')
    modifiers = set()
    while not cursor.at_end() and not cursor.is_word('TABLE', 'VIEW', 'DATABASE', 'SCHEMA', 'EVENT', 'FUNCTION',
                                                     'PROCEDURE', 'SEQUENCE', 'USER', 'SERVER', 'TABLESPACE'):
        modifiers.add(cursor.peek().upper)
        cursor.pos += 1
    kind = cursor.accept('TABLE', 'VIEW')
    if not kind:
        raise _Unparsed('ALTER %s is not judged' % (cursor.peek().text if cursor.peek() else 'without an object'))
    if kind == 'VIEW':
        return []
    if not modifiers <= {'ONLINE', 'IGNORE'}:
        raise _Unparsed('unexpected words before TABLE')
    table = _alter_table_name(cursor)
    if cursor.at_end():
        return []
    findings = []
    for spec in _split_top_level(cursor.rest(), 0):
        findings.extend(_judge_alter_spec(table, spec))
    return findings


def _alter_table_name(cursor):
    """The table of ALTER ... TABLE [IF EXISTS] name [WAIT n | NOWAIT], the cursor left on the first specification."""
    cursor.accept_all('IF', 'EXISTS')
    table = cursor.name()
    if cursor.accept('WAIT'):
        cursor.pos += 1
    cursor.accept('NOWAIT')
    return table


_STATEMENTS = {
    'ALTER': _classify_alter,
    'CREATE': _classify_create,
    'DROP': _classify_drop,
    'RENAME': _classify_rename,
    'TRUNCATE': _classify_truncate,
    'DELETE': _classify_delete_update,
    'UPDATE': _classify_delete_update,
    'INSERT': _expand,
    'REPLACE': _expand,
    'SELECT': _expand,
    'SET': _classify_set,
}


# ---------------------------------------------------------------- ALTER TABLE specifications

# table options and clauses that change no column a query names
_TABLE_OPTIONS = frozenset((
    'ALGORITHM', 'LOCK', 'COMMENT', 'ENGINE', 'AUTO_INCREMENT', 'AVG_ROW_LENGTH', 'CHARACTER', 'CHARSET', 'CHECKSUM',
    'COLLATE', 'DEFAULT', 'DELAY_KEY_WRITE', 'ENCRYPTED', 'ENCRYPTION_KEY_ID', 'KEY_BLOCK_SIZE', 'MAX_ROWS', 'MIN_ROWS',
    'PACK_KEYS', 'PAGE_CHECKSUM', 'PAGE_COMPRESSED', 'PAGE_COMPRESSION_LEVEL', 'ROW_FORMAT', 'STATS_AUTO_RECALC',
    'STATS_PERSISTENT', 'STATS_SAMPLE_PAGES', 'TRANSACTIONAL', 'FORCE', 'ENABLE', 'DISABLE', 'ORDER',
))
_PARTITIONING = frozenset(('PARTITION', 'PARTITIONING', 'PARTITIONS'))


def _judge_alter_spec(table, spec):
    if not spec:
        return [_not_understood('an empty ALTER TABLE %s specification' % table, 'nothing between two commas')]
    cursor = _Cursor(spec)
    verb = cursor.peek().upper
    try:
        if verb in _TABLE_OPTIONS:
            return []
        if verb in _SPEC_JUDGES:
            cursor.pos += 1
            return _SPEC_JUDGES[verb](table, cursor, spec)
        raise _Unparsed('unknown specification')
    except _Unparsed as reason:
        return [_not_understood('"ALTER TABLE %s %s"' % (table, _render(spec, 80)), reason)]


def _judge_add(table, cursor, spec):
    if cursor.accept('COLUMN') or cursor.is_punct('('):
        return _judge_added_columns(table, cursor)
    if cursor.accept('CONSTRAINT'):
        cursor.accept_all('IF', 'NOT', 'EXISTS')
        if not cursor.is_word('UNIQUE', 'PRIMARY', 'FOREIGN', 'CHECK'):
            cursor.name()  # the constraint's symbol
        if not cursor.is_word('UNIQUE', 'PRIMARY', 'FOREIGN', 'CHECK'):
            raise _Unparsed('expected UNIQUE, PRIMARY KEY, FOREIGN KEY or CHECK after CONSTRAINT')
    if cursor.is_word('UNIQUE', 'PRIMARY'):
        return [_added_unique('ALTER TABLE %s %s' % (table, _render(spec)))]
    if cursor.is_word('CHECK'):
        return [_breaks('MF105', 'ALTER TABLE %s %s' % (table, _render(spec)),
                        'the ALTER fails if rows already break the check, and afterwards its writes that break it fail',
                        'make the new release write valid values, fix the rows, then add the check in %s in the release '
                        'after' % _CONTRACT_FILE)]
    if cursor.is_word('INDEX', 'KEY', 'FULLTEXT', 'SPATIAL', 'FOREIGN'):
        return []
    if cursor.is_word(*_PARTITIONING) or (
            cursor.is_word('PERIOD') and cursor.is_word_at(1, 'FOR')) or (
            cursor.is_word('SYSTEM') and cursor.is_word_at(1, 'VERSIONING')):
        raise _Unparsed('partitions, periods and system versioning are not judged')
    return _judge_added_columns(table, cursor)


def _judge_added_columns(table, cursor):
    """ADD [COLUMN] [IF NOT EXISTS] c definition, or ADD [COLUMN] (c1 definition, c2 definition, ...)."""
    cursor.accept_all('IF', 'NOT', 'EXISTS')
    if not cursor.is_punct('('):
        return _judge_new_column(table, cursor)
    depth = cursor.peek().depth
    inside = cursor.rest()[1:-1]
    if cursor.rest()[-1].text != ')' or not inside:
        raise _Unparsed('expected (column definition, ...)')
    findings = []
    for element in _split_top_level(inside, depth + 1):
        element_cursor = _Cursor(element)
        if element_cursor.is_word('INDEX', 'KEY', 'UNIQUE', 'PRIMARY', 'CONSTRAINT', 'FOREIGN', 'CHECK', 'FULLTEXT', 'SPATIAL'):
            findings.extend(_judge_add(table, element_cursor, [_Token(WORD, 'ADD', 'ADD', depth)] + element))
        else:
            findings.extend(_judge_new_column(table, element_cursor))
    return findings


def _judge_new_column(table, cursor):
    column = cursor.name()
    definition = cursor.rest()
    if not definition:
        raise _Unparsed('a column needs a type')
    traits = _column_traits(definition)
    what = 'ALTER TABLE %s ADD COLUMN %s %s' % (table, column, _render(definition))
    findings = []
    if traits['not_null'] and not (traits['default'] or traits['auto_increment'] or traits['generated']):
        findings.append(_breaks(
            'MY101', what + ' (NOT NULL without DEFAULT)',
            'its INSERTs do not name %s and fail in strict mode: "Field \'%s\' doesn\'t have a default value"' % (
                column, column.strip('`')),
            'add %s with a DEFAULT, or as NULL, now; make it NOT NULL without default in %s once every running release '
            'writes it' % (column, _CONTRACT_FILE)))
    if traits['unique'] and traits['non_null_default'] and not traits['auto_increment']:
        findings.append(_added_unique(what))
    return findings


def _judge_drop(table, cursor, spec):
    if cursor.accept_all('PRIMARY', 'KEY'):
        return [_dropped_primary_key(table)]
    if cursor.accept_all('FOREIGN', 'KEY'):
        return [_breaks('CD101', 'ALTER TABLE %s %s' % (table, _render(spec)),
                        'it may rely on the database refusing orphan rows or cascading its deletes',
                        'drop it in %s in the release after the one that stops relying on it' % _CONTRACT_FILE)]
    if cursor.accept('CONSTRAINT', 'CHECK'):
        return [_breaks('CD102', 'ALTER TABLE %s %s' % (table, _render(spec)),
                        'it may rely on the database refusing values the constraint forbids (a CHECK, or in MariaDB a '
                        'UNIQUE or FOREIGN KEY constraint too)',
                        'drop it in %s in the release after the one that stops relying on it' % _CONTRACT_FILE)]
    if cursor.accept('INDEX', 'KEY'):
        cursor.accept_all('IF', 'EXISTS')
        index = cursor.name()
        return [_dropped_index(table, index, 'ALTER TABLE %s DROP INDEX %s' % (table, index))]
    if cursor.is_word(*_PARTITIONING) or cursor.is_word('PERIOD', 'SYSTEM'):
        raise _Unparsed('partitions, periods and system versioning are not judged')
    cursor.accept('COLUMN')
    cursor.accept_all('IF', 'EXISTS')
    column = cursor.name()
    cursor.accept('RESTRICT', 'CASCADE')
    if not cursor.at_end():
        raise _Unparsed('unexpected words after the column name')
    return [_drop_column(table, column)]


def _dropped_primary_key(table):
    return _breaks('CD103', 'ALTER TABLE %s DROP PRIMARY KEY' % table,
                   'it may rely on the key for uniqueness and fast lookups, and MariaDB copies the table',
                   'drop it in %s in the release after the one that stops relying on it' % _CONTRACT_FILE)


def _judge_change(table, cursor, spec):
    cursor.accept('COLUMN')
    cursor.accept_all('IF', 'EXISTS')
    old = cursor.name()
    new = cursor.name()
    if cursor.at_end():
        raise _Unparsed('a column needs a type')
    if old.lower() != new.lower():  # MariaDB column names ignore case
        return [_rename_column(table, old, new, 'ALTER TABLE %s CHANGE %s %s' % (table, old, new))]
    return [_changed_column(table, old, spec)]


def _judge_modify(table, cursor, spec):
    cursor.accept('COLUMN')
    cursor.accept_all('IF', 'EXISTS')
    column = cursor.name()
    if cursor.at_end():
        raise _Unparsed('a column needs a type')
    return [_changed_column(table, column, spec)]


def _judge_alter_column(table, cursor, spec):
    if cursor.is_word('INDEX', 'KEY', 'CONSTRAINT', 'CHECK'):
        raise _Unparsed('ALTER INDEX/CONSTRAINT is not judged')
    cursor.accept('COLUMN')
    column = cursor.name()
    if cursor.accept_all('SET', 'DEFAULT'):
        return []
    if cursor.accept_all('DROP', 'DEFAULT') and cursor.at_end():
        return [_breaks('BC104', 'ALTER TABLE %s ALTER COLUMN %s DROP DEFAULT' % (table, column),
                        'its INSERTs that leave %s out rely on the default and fail in strict mode' % column,
                        'drop the default in %s in the release after the one that always writes %s' % (_CONTRACT_FILE, column))]
    raise _Unparsed('only SET DEFAULT and DROP DEFAULT are judged')


def _judge_rename(table, cursor, spec):
    if cursor.accept('COLUMN'):
        old = cursor.name()
        cursor.expect('TO')
        new = cursor.name()
        return [_rename_column(table, old, new, 'ALTER TABLE %s RENAME COLUMN %s TO %s' % (table, old, new))]
    if cursor.accept('INDEX', 'KEY'):
        old = cursor.name()
        cursor.expect('TO')
        return [_breaks('CD104', 'ALTER TABLE %s %s' % (table, _render(spec)),
                        'its USE/FORCE INDEX (%s) hints fail' % old,
                        'add the index under the new name, move the hints, then drop %s in %s in a later release'
                        % (old, _CONTRACT_FILE))]
    cursor.accept('TO', 'AS')
    new = cursor.name()
    return [_renamed_table(table, 'ALTER TABLE %s RENAME TO %s' % (table, new))]


def _judge_convert(table, cursor, spec):
    cursor.expect('TO')
    return [_breaks('BC103', 'ALTER TABLE %s %s' % (table, _render(spec)),
                    'it changes the character set of every text column: values and lengths can change under it, and '
                    'MariaDB copies the table',
                    'convert in %s, or declare it with "-- daylight: allow BC103" when the old release handles the new '
                    'character set' % _CONTRACT_FILE)]


_SPEC_JUDGES = {
    'ADD': _judge_add,
    'DROP': _judge_drop,
    'CHANGE': _judge_change,
    'MODIFY': _judge_modify,
    'ALTER': _judge_alter_column,
    'RENAME': _judge_rename,
    'CONVERT': _judge_convert,
}


# ---------------------------------------------------------------- online ALTER

def is_alter_table(statement):
    """True for ALTER [ONLINE] [IGNORE] TABLE statements."""
    try:
        cursor = _Cursor(_tokenize(statement))
    except _Unparsed:
        return False
    if not cursor.accept('ALTER'):
        return False
    while cursor.accept('ONLINE', 'IGNORE'):
        pass
    return cursor.is_word('TABLE')


def with_online_algorithm(statement, algorithm):
    """The ALTER TABLE statement with ", ALGORITHM=INSTANT" or ", ALGORITHM=INPLACE, LOCK=NONE" added.

    The ALTER then fails at once, instead of copying or locking the table, when
    MariaDB cannot do it that way. Unchanged: statements other than ALTER
    TABLE, ALTERs that name ALGORITHM already, and partition maintenance
    (where the clause does not go after a comma). An existing LOCK= is kept.
    """
    algorithm = str(algorithm).upper()
    if algorithm not in ALGORITHMS:
        raise MigrationError('algorithm must be one of %s, not %s' % (', '.join(ALGORITHMS), algorithm))
    if not is_alter_table(statement):
        return statement
    top_words = set(token.upper for token in _tokenize(statement) if token.depth == 0 and token.kind == WORD)
    if 'ALGORITHM' in top_words or top_words & _PARTITIONING:
        return statement
    clause = 'ALGORITHM=%s' % algorithm
    if algorithm == 'INPLACE' and 'LOCK' not in top_words:
        clause += ', LOCK=NONE'
    end = _end_of_sql(statement)
    separator = ', ' if _has_specifications(statement) else ' '
    return statement[:end] + separator + clause + statement[end:]


def _end_of_sql(statement):
    """Index just after the last token, so trailing comments and ';' stay behind the added clause."""
    end = 0
    for lexeme in _lex(statement):
        if lexeme.kind not in (SPACE, COMMENT, SEMICOLON):
            end = lexeme.start + len(lexeme.text)
    return end


def _has_specifications(statement):
    cursor = _Cursor(_tokenize(statement))
    cursor.expect('ALTER')
    while cursor.accept('ONLINE', 'IGNORE'):
        pass
    cursor.expect('TABLE')
    try:
        _alter_table_name(cursor)
    except _Unparsed:
        return True
    return not cursor.at_end()


# ---------------------------------------------------------------- files

def parse_filename(name):
    """(version, description) of NNNN_description.sql; version keeps its digits as written."""
    match = FILENAME_PATTERN.match(name or '')
    if not match:
        raise MigrationError('a migration file is named NNNN_description.sql: 4 or more digits, an underscore, then '
                             'letters, digits and underscores (e.g. 0007_add_orders_note.sql)', file=name or repr(name))
    return match.group(1), match.group(2)


def read_dir(path):
    """{file name: text} of the *.sql files in `path` (a release's migrations/); {} when it does not exist.

    One read on the host that runs the migrations, instead of one round trip per file: a release
    package carries every migration of its application's history, so their number only grows.
    """
    try:
        names = sorted(os.listdir(path))
    except OSError as e:
        if not os.path.lexists(path):
            return {}
        raise MigrationError('cannot list the release\'s migrations: %s' % (e.strerror or e), file=path)
    files = {}
    for name in names:
        full = os.path.join(path, name)
        if not name.endswith('.sql') or not os.path.isfile(full):
            continue
        try:
            with open(full, 'rb') as f:
                files[name] = f.read().decode('utf-8')
        except UnicodeDecodeError as e:
            raise MigrationError('not UTF-8 text (byte %d): save the file as UTF-8' % e.start, file=name)
        except (IOError, OSError) as e:
            raise MigrationError('cannot read it: %s' % (e.strerror or e), file=name)
    return files


def checksum(text):
    """sha256 hex of the file's bytes (text is encoded as UTF-8)."""
    data = text if isinstance(text, bytes) else text.encode('utf-8')
    return hashlib.sha256(data).hexdigest()


def check_migration(name, text, phase):
    """Parse, classify and vet one migration file.

    phase is the phase being run ('pre' or 'post'). The file's own phase comes
    from its first line. A pre file with a finding it does not allow is refused
    whatever the phase being run: it would run next to the previous release. A
    contract file is refused only for statements not understood (DL000) that it
    does not allow.
    """
    _check_phase(phase)
    version, description = parse_filename(name)
    digest = checksum(text)
    try:
        if isinstance(text, bytes):
            text = text.decode('utf-8')
        found = split_statements(text)
        directives = read_directives(text)
        statements = [_checked_statement(line, sql, directives) for line, sql in found]
    except UnicodeDecodeError as error:
        raise MigrationError('not UTF-8 text (%s)' % error, file=name)
    except MigrationError as error:
        raise error.in_file(name)
    if not statements:
        raise MigrationError('empty migration: it holds no SQL statement', file=name)
    _refuse_findings(name, directives, statements)
    return {'version': version, 'description': description, 'phase': directives['phase'],
            'offline': directives['offline'], 'statements': statements, 'checksum': digest}


def _check_phase(phase):
    if phase not in PHASES:
        raise MigrationError('phase must be pre or post, not %r' % (phase,))


def _checked_statement(line, sql, directives):
    findings = classify(sql)
    accepted = [finding for finding in findings if finding['rule'] in directives['allow']]
    return {'line': line, 'sql': sql, 'findings': findings, 'accepted': accepted}


def _refuse_findings(name, directives, statements):
    refused = [(statement['line'], finding) for statement in statements for finding in statement['findings']
               if finding not in statement['accepted'] and (directives['phase'] == 'pre' or finding['kind'] == UNPARSED)]
    if not refused:
        return
    line, finding = refused[0]
    message = '%s: %s' % (finding['title'], finding['message'])
    if finding['kind'] == CONTRACT:
        message += ' (if the release still running really can live with it, declare it at the top of the file with ' \
                   '"-- daylight: allow %s")' % finding['rule']
    if len(refused) > 1:
        others = ', '.join('line %d %s' % (other_line, other['rule']) for other_line, other in refused[1:])
        message += '; also refused: %s' % others
    raise MigrationError(message, file=name, line=line, rule=finding['rule'])


def plan(files, applied, phase):
    """The migrations to run now, in version order, each as check_migration() returns it.

    files: {file name: text} from the release package. applied: {version:
    sha256} from the history table. phase 'pre' returns the pending pre
    migrations; 'post' returns every pending migration. Refused: an applied
    file that changed, two files with one version, a pending file older than
    the newest applied one, and a pending pre file after a pending contract one.
    """
    return plan_with_contracts_left(files, applied, phase)[0]


def contracts_left(files, applied, phase):
    """The versions of the contract (post) migrations still pending once `phase` has run.

    After a pre phase these are the release's contract migrations not applied
    yet; after a post phase, none (that phase runs them all). Empty means a
    later post phase of these files has nothing to do.
    """
    return plan_with_contracts_left(files, applied, phase)[1]


def plan_with_contracts_left(files, applied, phase):
    """(plan(...), contracts_left(...)) from one reading of the files."""
    _check_phase(phase)
    by_number = _files_by_number(files)
    applied_by_number = _applied_by_number(applied)
    newest = max(applied_by_number) if applied_by_number else None
    pending = []
    for number in sorted(by_number):
        name = by_number[number]
        if number in applied_by_number:
            _check_unchanged(name, files[name], applied_by_number[number])
            continue
        if newest is not None and number < newest:
            raise MigrationError('out of order: version %s is pending but %s is already applied; migrations only run '
                                 'forward, so renumber it after %s' % (
                                     parse_filename(name)[0], by_number.get(newest, applied_by_number[newest][0]),
                                     applied_by_number[newest][0]), file=name)
        pending.append((name, check_migration(name, files[name], phase)))
    _check_contracts_come_last(pending)
    if phase == 'post':
        return [migration for name, migration in pending], []
    return ([migration for name, migration in pending if migration['phase'] == 'pre'],
            [migration['version'] for name, migration in pending if migration['phase'] == 'post'])


def _files_by_number(files):
    by_number = {}
    for name in files:
        number = int(parse_filename(name)[0])
        if number in by_number:
            first, second = sorted((by_number[number], name))
            raise MigrationError('%s and %s share version %d: give one of them the next free number' % (
                first, second, number), file=second)
        by_number[number] = name
    return by_number


def _applied_by_number(applied):
    by_number = {}
    for version, digest in (applied or {}).items():
        if not str(version).isdigit():
            raise MigrationError('the history table holds version %r, which is not a number' % (version,))
        by_number[int(version)] = (str(version), str(digest or '').lower())
    return by_number


def _check_unchanged(name, text, applied):
    version, applied_digest = applied
    digest = checksum(text)
    if digest != applied_digest:
        raise MigrationError('migration checksum mismatch for version %s: applied with sha256 %s, the file now has %s; an '
                             'applied migration must never change: restore it and put the change in a new migration' % (
                                 version, applied_digest, digest), file=name)


def _check_contracts_come_last(pending):
    """Pre migrations run before the canary and contract ones after it, so a pending pre cannot follow a pending contract."""
    contract = None
    for name, migration in pending:
        if migration['phase'] == 'post':
            contract = contract or name
        elif contract:
            raise MigrationError('this pre migration comes after %s, a contract migration that has not run yet; pre '
                                 'migrations run before the canary and contract ones after every node serves the release, '
                                 'so number a release\'s contract migrations after its pre ones, and run the post phase of '
                                 'the release that carries %s before a later release\'s pre phase' % (contract, contract),
                                 file=name)
