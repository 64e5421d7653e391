# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Toggle bands: which cookie numbers (1-100) see which group of a feature.

Every web session carries a random number 1..100 in a long-lived cookie. Per
feature, bands map ranges of that number to a group. This module validates the
operator's spec, normalises it, renders the toggle file the PHP app reads and
plans a push (no new serial when nothing changed).

Toggle file (format 1), written by render() as JSON with sorted keys, 2-space
indent and a trailing newline::

    {
      "checksum": "sha256:<64 lowercase hex>",
      "features": {
        "<feature>": {
          "bands": [{"from": 1, "group": "new-checkout", "to": 10}, ...],
          "salt": ""
        }
      },
      "format": 1,
      "serial": 7
    }

- feature and group names match NAME_PATTERN, salts match SALT_PATTERN, so no
  string in the file ever needs a JSON escape.
- bands are sorted by "from", tile 1..100 exactly once, and adjacent bands of
  the same group are merged (so one set of numbers has one representation).
- checksum = "sha256:" + hex sha256 of the ASCII bytes of the compact JSON of
  {"features": <features>} with keys sorted at every level, separators "," and
  ":" and no whitespace -- see checksum(). In PHP::

      $doc = json_decode($text);          // objects, NOT assoc arrays: an
                                          // empty {} must stay {}
      $ok = 'sha256:' . hash('sha256', json_encode(['features' => $doc->features]))
            === $doc->checksum;

  This works because the file's keys are already sorted and json_encode emits
  the same compact form for these strings and ints.
- serial only grows; it changes only when the features change.

Lookup for a session with cookie number n: m = permute(n, salt); the group is
the band with from <= m <= to. See permute() for the exact permutation.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import hashlib
import json
import re

from ansible_collections.daylight.release.plugins.module_utils.files import write_atomically  # noqa: F401 (used below)
from ansible_collections.daylight.release.plugins.module_utils.errors import (
    ApplyError,
    ConflictError,
    ValidationError,
)

LOW, HIGH = 1, 100
FORMAT = 1
# Always applied with fullmatch(): with match(), '$' also matches before a trailing newline, so
# 'checkout\n' would pass and then break the PHP reader (which uses /D). The patterns keep
# their ^...$ form because they are shown to operators and mirrored in toggles.php.
NAME_PATTERN = r'^[a-z][a-z0-9_-]{0,62}$'
SALT_PATTERN = r'^[A-Za-z0-9._:-]{0,64}$'
_NAME = re.compile(NAME_PATTERN)
_SALT = re.compile(SALT_PATTERN)
_RANGE = re.compile(r'\s*([0-9]+)\s*(?:-\s*([0-9]+)\s*)?')
_DIGITS = re.compile(r'\s*[0-9]+\s*')  # not str.isdigit(): that accepts '²', which int() rejects
_FEATURE_KEYS = ('salt', 'bands', 'percent', 'rest')


# ---------------------------------------------------------------- helpers

def _fmt(lo, hi):
    return str(lo) if lo == hi else '%d-%d' % (lo, hi)


def _runs(numbers):
    """Sorted ints -> 'a-b, c' (consecutive numbers collapsed)."""
    out = []
    for n in sorted(numbers):
        if out and out[-1][1] == n - 1:
            out[-1][1] = n
        else:
            out.append([n, n])
    return ', '.join(_fmt(lo, hi) for lo, hi in out)


def _whole(value):
    """int for an int or a string of digits (templating may yield '25'), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        return int(value)
    return None


def _check_name(feature, what, value):
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise ValidationError('feature %r: %s %r must match %s' % (feature, what, value, NAME_PATTERN))


# ---------------------------------------------------------------- validation

def _parse_range(feature, key):
    text = str(key) if _whole(key) is not None else key
    m = _RANGE.fullmatch(text) if isinstance(text, str) else None
    if not m:
        raise ValidationError("feature %r: %r is not a range; write 'a-b' or 'n' with whole numbers"
                              % (feature, key))
    lo = int(m.group(1))
    hi = int(m.group(2)) if m.group(2) is not None else lo
    return _check_range(feature, text.strip(), lo, hi)


def _check_range(feature, text, lo, hi):
    if lo > hi:
        raise ValidationError('feature %r: %r runs backwards (%d > %d)' % (feature, text, lo, hi))
    if lo < LOW or hi > HIGH:
        raise ValidationError('feature %r: %r is outside %d-%d' % (feature, text, LOW, HIGH))
    return lo, hi


def _bands_from_spec(feature, bands):
    """[(lo, hi, group)] from a dict {'a-b': group} or a list of {from, to, group}."""
    out = []
    if isinstance(bands, dict):
        for key, group in bands.items():
            lo, hi = _parse_range(feature, key)
            _check_name(feature, 'band %s group' % _fmt(lo, hi), group)
            out.append((lo, hi, group))
    elif isinstance(bands, list):
        # The normalised form, so a file we wrote (or the module's output) reads back in.
        for i, band in enumerate(bands, 1):
            if not isinstance(band, dict) or sorted(band) != ['from', 'group', 'to']:
                raise ValidationError('feature %r: band #%d must be a dict with keys from, to, group; got %r'
                                      % (feature, i, band))
            lo, hi = _whole(band['from']), _whole(band['to'])
            if lo is None or hi is None:
                raise ValidationError('feature %r: band #%d: from and to must be whole numbers; got %r'
                                      % (feature, i, band))
            lo, hi = _check_range(feature, _fmt(lo, hi), lo, hi)
            _check_name(feature, 'band %s group' % _fmt(lo, hi), band['group'])
            out.append((lo, hi, band['group']))
    else:
        raise ValidationError("feature %r: bands must be a dict like {'1-10': group} or a list; got %s"
                              % (feature, type(bands).__name__))
    return out


def _bands_from_percent(feature, percent, rest):
    if not isinstance(percent, dict):
        raise ValidationError('feature %r: percent must be a dict {group: whole number}; got %s'
                              % (feature, type(percent).__name__))
    _check_name(feature, 'rest group', rest)
    if rest in percent:
        raise ValidationError('feature %r: rest group %r also has a percentage; name it in one place only'
                              % (feature, rest))
    out, start = [], LOW
    for group, pct in percent.items():
        _check_name(feature, 'group', group)
        value = _whole(pct)
        if value is None or not 0 <= value <= HIGH:
            raise ValidationError('feature %r: percent for %r must be a whole number 0-100, got %r'
                                  % (feature, group, pct))
        if value:
            out.append((start, start + value - 1, group))
            start += value
    total = start - LOW
    if total > HIGH:
        raise ValidationError('feature %r: percentages add up to %d (more than 100)' % (feature, total))
    if start <= HIGH:
        out.append((start, HIGH, rest))
    return out


def _tile(feature, bands):
    """Check the bands cover LOW..HIGH exactly once; return them sorted and merged."""
    bands = sorted(bands)
    reach = None  # the band reaching furthest right so far
    for band in bands:
        if reach is not None and band[0] <= reach[1]:
            raise ValidationError('feature %r: band %s (%s) overlaps band %s (%s) at %s'
                                  % (feature, _fmt(band[0], band[1]), band[2], _fmt(reach[0], reach[1]),
                                     reach[2], _fmt(band[0], min(band[1], reach[1]))))
        if reach is None or band[1] > reach[1]:
            reach = band
    covered = set()
    for lo, hi, _group in bands:
        covered.update(range(lo, hi + 1))
    missing = sorted(set(range(LOW, HIGH + 1)) - covered)
    if missing:
        raise ValidationError('feature %r: %s %s %s not in any band'
                              % (feature, 'numbers' if len(missing) > 1 else 'number', _runs(missing),
                                 'are' if len(missing) > 1 else 'is'))
    merged = []
    for lo, hi, group in bands:
        if merged and merged[-1]['group'] == group:
            merged[-1]['to'] = hi
        else:
            merged.append({'from': lo, 'to': hi, 'group': group})
    return merged


def normalize_feature(name, spec):
    """One feature's spec -> {'salt': str, 'bands': [...]}; raises ValidationError."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValidationError('feature %r: name must match %s' % (name, NAME_PATTERN))
    if not isinstance(spec, dict):
        raise ValidationError("feature %r: expected a dict with 'bands' or 'percent', got %s"
                              % (name, type(spec).__name__))
    unknown = sorted(set(spec) - set(_FEATURE_KEYS), key=str)
    if unknown:
        raise ValidationError('feature %r: unknown key(s) %s; expected %s'
                              % (name, ', '.join(repr(k) for k in unknown), ', '.join(_FEATURE_KEYS)))
    salt = spec.get('salt')
    salt = '' if salt is None else salt
    if not isinstance(salt, str) or not _SALT.fullmatch(salt):
        raise ValidationError('feature %r: salt %r must match %s' % (name, salt, SALT_PATTERN))
    if ('bands' in spec) == ('percent' in spec):
        raise ValidationError("feature %r: give exactly one of 'bands' or 'percent'" % (name,))
    if 'bands' in spec:
        if 'rest' in spec:
            raise ValidationError("feature %r: 'rest' only applies with 'percent'" % (name,))
        bands = _bands_from_spec(name, spec['bands'])
    else:
        rest = spec.get('rest')
        bands = _bands_from_percent(name, spec['percent'], 'control' if rest is None else rest)
    return {'salt': salt, 'bands': _tile(name, bands)}


def normalize(features):
    """The playbook's dict of features -> {'features': {name: {'salt', 'bands'}}}.

    Percent groups take consecutive numbers in the order given, from 1 up, and
    the rest go to `rest`. Raising one group's percentage therefore only adds
    numbers to that group (taken from the groups after it, which shift up);
    put a group last to take its new numbers from `rest` alone.
    """
    if not isinstance(features, dict):
        raise ValidationError('features must be a dict {feature: spec}; got %s' % type(features).__name__)
    if not features:
        # Most likely an undefined/empty variable; wiping every feature is never what was meant.
        raise ValidationError('features is empty; give at least one feature')
    return {'features': {name: normalize_feature(name, spec) for name, spec in features.items()}}


# ---------------------------------------------------------------- lookup

_PERMUTATIONS = {}


def permutation(salt):
    """The list p with p[n] = permute(n, salt) for n in 1..100 (p[0] unused).

    Algorithm (reproduce exactly in PHP):

    - salt == "": identity, p[n] = n.
    - otherwise start with p[n] = n for n = 1..100, then for i = 100 down to 2:
        h = lowercase hex sha256 of the UTF-8 bytes of salt . ":" . i
            (i in decimal, no padding; e.g. "s1:100")
        j = 1 + (int(h[0:8], base 16) mod i)      # 1 <= j <= i
        swap p[i] and p[j]
      PHP: $j = 1 + hexdec(substr(hash('sha256', $salt . ':' . $i), 0, 8)) % $i;
    """
    if salt not in _PERMUTATIONS:
        p = list(range(HIGH + 1))
        if salt:
            for i in range(HIGH, 1, -1):
                h = hashlib.sha256(('%s:%d' % (salt, i)).encode('utf-8')).hexdigest()
                j = 1 + int(h[:8], 16) % i
                p[i], p[j] = p[j], p[i]
        _PERMUTATIONS[salt] = p
    return _PERMUTATIONS[salt]


def permute(number, salt):
    """Map a cookie number 1..100 to the number looked up in the bands (see permutation())."""
    if not LOW <= number <= HIGH:
        raise ValueError('number %r is outside %d-%d' % (number, LOW, HIGH))
    return permutation(salt)[number]


def group_for(feature, number):
    """Group of cookie `number` for one normalised feature {'salt', 'bands'}."""
    m = permute(number, feature['salt'])
    for band in feature['bands']:
        if band['from'] <= m <= band['to']:
            return band['group']
    raise ValueError('number %d is not in any band' % m)  # normalised features always cover 1..100


# ---------------------------------------------------------------- file

def checksum(normalised):
    """'sha256:<hex>' over the compact, key-sorted JSON of {'features': ...} (see module docstring)."""
    blob = json.dumps({'features': normalised['features']}, sort_keys=True, separators=(',', ':'),
                      ensure_ascii=True)
    return 'sha256:' + hashlib.sha256(blob.encode('ascii')).hexdigest()


def render(normalised, serial):
    """The toggle file's text for these features and serial."""
    doc = {'format': FORMAT, 'serial': serial, 'features': normalised['features'],
           'checksum': checksum(normalised)}
    return json.dumps(doc, sort_keys=True, indent=2, separators=(',', ': ')) + '\n'


def parse(text):
    """A toggle file's text -> (normalised, serial); ValidationError says why it is not valid."""
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise ValidationError('not JSON (%s)' % e)
    if not isinstance(doc, dict):
        raise ValidationError('not a JSON object')
    if doc.get('format') != FORMAT:
        raise ValidationError('format is %r, expected %d' % (doc.get('format'), FORMAT))
    serial = doc.get('serial')
    if isinstance(serial, bool) or not isinstance(serial, int) or serial < 1:
        raise ValidationError('serial %r is not a whole number >= 1' % (serial,))
    normalised = normalize(doc.get('features'))
    if normalised['features'] != doc['features']:
        raise ValidationError('features are not in normalised form')
    if doc.get('checksum') != checksum(normalised):
        raise ValidationError('checksum %r does not match the features' % (doc.get('checksum'),))
    return normalised, serial


def _salvage_serial(text):
    """The serial of a file we cannot otherwise trust, so serials still only grow."""
    try:
        serial = json.loads(text).get('serial')
    except (ValueError, AttributeError):
        return None
    return serial if isinstance(serial, int) and not isinstance(serial, bool) and serial >= 1 else None


def _describe(feature):
    bands = ', '.join('%s %s' % (_fmt(b['from'], b['to']), b['group']) for b in feature['bands'])
    return bands + (', salt %r' % feature['salt'] if feature['salt'] else '')


def summarize(before, after):
    """Human lines: per feature, which cookie numbers move from which group to which."""
    lines = []
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        if old == new:
            continue
        if old is None:
            lines.append('%s: added (%s)' % (name, _describe(new)))
            continue
        if new is None:
            lines.append('%s: removed (was %s)' % (name, _describe(old)))
            continue
        if old['salt'] != new['salt']:
            lines.append('%s: salt %r -> %r reshuffles which cookie numbers fall in which band'
                         % (name, old['salt'], new['salt']))
        moves = {}
        for n in range(LOW, HIGH + 1):
            a, b = group_for(old, n), group_for(new, n)
            if a != b:
                moves.setdefault((a, b), []).append(n)
        # Order by the first number that moves, so lines read from 1 upwards.
        for (a, b), numbers in sorted(moves.items(), key=lambda item: item[1][0]):
            lines.append('%s: %s %s -> %s' % (name, _runs(numbers), a, b))
        if not moves:
            lines.append('%s: bands rewritten; no cookie number changes group' % name)
    return lines


def plan(current_text, normalised, serial=None, path='toggles.json'):
    """Decide what to write.

    :arg current_text: the file's current text, or None when it does not exist.
    :arg normalised: output of normalize().
    :arg serial: serial for the new file; default current serial + 1 (1 if none).
        Ignored when the features are unchanged, so re-running is a no-op.
    :returns: (changed, new_text, diff) where diff has before_header,
        after_header, before, after and summary (list of str).
    :raises ConflictError: `serial` is not above the current file's serial.
    """
    current, current_serial, summary = {}, None, []
    if current_text is not None:
        try:
            parsed, current_serial = parse(current_text)
            current = parsed['features']
        except ValidationError as e:
            current_serial = _salvage_serial(current_text)
            summary.append('%s is not a valid toggle file (%s); rewriting it' % (path, e))

    if not summary and current_text is not None and current == normalised['features']:
        return False, current_text, {
            'before_header': '%s (serial %d)' % (path, current_serial),
            'after_header': '%s (serial %d)' % (path, current_serial),
            'before': current_text, 'after': current_text, 'summary': [],
        }

    if serial is None:
        serial = (current_serial or 0) + 1
    elif current_serial is not None and serial <= current_serial:
        # Readers may cache by serial; a serial that does not grow could hide this push.
        raise ConflictError('serial %d is not greater than the current serial %d of %s'
                            % (serial, current_serial, path))
    elif serial < 1:
        raise ValidationError('serial %d must be >= 1' % serial)
    text = render(normalised, serial)
    summary.extend(summarize(current, normalised['features']))
    if current_text is None:
        before_header = '%s (absent)' % path
    elif current_serial is None:
        before_header = path
    else:
        before_header = '%s (serial %d)' % (path, current_serial)
    return True, text, {
        'before_header': before_header,
        'after_header': '%s (serial %d)' % (path, serial),
        'before': current_text or '', 'after': text, 'summary': summary,
    }


def read(path):
    """The file's text, or None if it does not exist."""
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except OSError as e:
        if e.errno == errno.ENOENT:
            return None
        raise ApplyError('cannot read %s: %s' % (path, e))
    # Undecodable bytes become U+FFFD, which then fails validation: reported as corrupt, not a crash.
    return data.decode('utf-8', 'replace')


def push(path, normalised, serial=None, check_mode=False):
    """Bring the toggle file at `path` to `normalised`; the one place check mode is decided.

    :returns: (changed, result) with keys path, serial, checksum, summary, features, diff.
    """
    changed, text, diff = plan(read(path), normalised, serial=serial, path=path)
    if changed and not check_mode:
        write_atomically(path, text)
    summary = diff.pop('summary')
    result = {
        'path': path,
        'serial': parse(text)[1],  # the kept file's serial when unchanged, else the new one
        'checksum': checksum(normalised),
        'summary': summary,
        'features': normalised['features'],
        'diff': diff,
    }
    return changed, result
