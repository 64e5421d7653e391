# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import re

import pytest
from ansible_collections.daylight.release.plugins.module_utils import toggle_bands as tb
from ansible_collections.daylight.release.plugins.module_utils.errors import (
    ApplyError,
    ConflictError,
    ValidationError,
)
from hypothesis import assume, given
from hypothesis import strategies as st

NUMBERS = range(1, 101)
CHECKOUT = {'checkout': {'bands': {'1-10': 'new-checkout', '11-100': 'control'}}}


def bands_of(features, name='checkout'):
    return tb.normalize(features)['features'][name]['bands']


def reject(features):
    with pytest.raises(ValidationError) as e:
        tb.normalize(features)
    return str(e.value)


def groups(feature):
    return {n: tb.group_for(feature, n) for n in NUMBERS}


# ---------------------------------------------------------------- parsing

def test_bands_example():
    features = dict(CHECKOUT, search={'percent': {'new-search': 25}, 'rest': 'control'})
    assert tb.normalize(features) == {'features': {
        'checkout': {'salt': '', 'bands': [{'from': 1, 'to': 10, 'group': 'new-checkout'},
                                           {'from': 11, 'to': 100, 'group': 'control'}]},
        'search': {'salt': '', 'bands': [{'from': 1, 'to': 25, 'group': 'new-search'},
                                         {'from': 26, 'to': 100, 'group': 'control'}]},
    }}


def test_single_numbers_int_keys_and_merging():
    # YAML turns an unquoted `5:` into an int key; adjacent bands of one group merge.
    bands = bands_of({'checkout': {'bands': {'1-4': 'a', 5: 'b', '6': 'a', '7-50': 'a', '51 - 100': 'a'}}})
    assert bands == [{'from': 1, 'to': 4, 'group': 'a'}, {'from': 5, 'to': 5, 'group': 'b'},
                     {'from': 6, 'to': 100, 'group': 'a'}]


def test_normalised_form_reads_back():
    feature = tb.normalize(CHECKOUT)['features']['checkout']
    assert tb.normalize({'checkout': feature})['features']['checkout'] == feature


@pytest.mark.parametrize('bands, message', [
    ({'1-10': 'control', '5-20': 'new-checkout', '21-100': 'control'},
     "feature 'checkout': band 5-20 (new-checkout) overlaps band 1-10 (control) at 5-10"),
    ({'1-50': 'control', '20': 'new-checkout', '51-100': 'control'},
     "feature 'checkout': band 20 (new-checkout) overlaps band 1-50 (control) at 20"),
    ({'1-40': 'control', '51-100': 'new-checkout'},
     "feature 'checkout': numbers 41-50 are not in any band"),
    ({'1-40': 'control', '42-99': 'new-checkout'},
     "feature 'checkout': numbers 41, 100 are not in any band"),
    ({'2-100': 'control'}, "feature 'checkout': number 1 is not in any band"),
    ({}, "feature 'checkout': numbers 1-100 are not in any band"),
    ({'0-10': 'a', '11-100': 'b'}, "feature 'checkout': '0-10' is outside 1-100"),
    ({'1-10': 'a', '11-101': 'b'}, "feature 'checkout': '11-101' is outside 1-100"),
    ({'20-10': 'a'}, "feature 'checkout': '20-10' runs backwards (20 > 10)"),
    ({'1..10': 'a'}, "feature 'checkout': '1..10' is not a range"),
    ({'-5': 'a'}, "feature 'checkout': '-5' is not a range"),
    ({'1-100': 'New'}, "feature 'checkout': band 1-100 group 'New' must match ^[a-z]"),
    ({'1-100': None}, "feature 'checkout': band 1-100 group None must match"),
    # '$' alone also matches before a trailing newline; repr shows the newline to the operator.
    ({'1-100': 'checkout\n'}, "feature 'checkout': band 1-100 group 'checkout\\n' must match ^[a-z]"),
    ([{'from': 1, 'to': 100, 'group': 'checkout\n'}], "feature 'checkout': band 1-100 group 'checkout\\n' must match"),
])
def test_band_errors_name_the_range(bands, message):
    assert message in reject({'checkout': {'bands': bands}})


@pytest.mark.parametrize('features, message', [
    ({'Check out': {'bands': {'1-100': 'a'}}}, "feature 'Check out': name must match ^[a-z][a-z0-9_-]{0,62}$"),
    ({'checkout': ['1-100']}, "feature 'checkout': expected a dict with 'bands' or 'percent', got list"),
    ({'checkout': {'band': {}}}, "feature 'checkout': unknown key(s) 'band'"),
    ({'checkout': {'salt': 'x'}}, "feature 'checkout': give exactly one of 'bands' or 'percent'"),
    ({'checkout': {'bands': {'1-100': 'a'}, 'percent': {}}}, "give exactly one of 'bands' or 'percent'"),
    ({'checkout': {'bands': {'1-100': 'a'}, 'rest': 'b'}}, "'rest' only applies with 'percent'"),
    ({'checkout': {'bands': {'1-100': 'a'}, 'salt': 'a b'}}, "feature 'checkout': salt 'a b' must match"),
    ({'search': {'percent': {'a': 60, 'b': 50}}}, "feature 'search': percentages add up to 110 (more than 100)"),
    ({'search': {'percent': {'a': 25.5}}}, "feature 'search': percent for 'a' must be a whole number 0-100, got 25.5"),
    ({'search': {'percent': {'a': -1}}}, "percent for 'a' must be a whole number 0-100, got -1"),
    ({'search': {'percent': {'a': True}}}, "percent for 'a' must be a whole number 0-100, got True"),
    ({'search': {'percent': {'control': 10}}}, "feature 'search': rest group 'control' also has a percentage"),
    ({'search': {'percent': {'a': 10}, 'rest': 'Rest'}}, "feature 'search': rest group 'Rest' must match"),
    ({'checkout\n': {'bands': {'1-100': 'a'}}}, "feature 'checkout\\n': name must match ^[a-z][a-z0-9_-]{0,62}$"),
    ({'search': {'percent': {'checkout\n': 10}}}, "feature 'search': group 'checkout\\n' must match"),
    ({'search': {'percent': {'a': 10}, 'rest': 'checkout\n'}}, "feature 'search': rest group 'checkout\\n' must match"),
    ({'checkout': {'bands': {'1-100': 'a'}, 'salt': 'checkout\n'}},
     "feature 'checkout': salt 'checkout\\n' must match ^[A-Za-z0-9._:-]{0,64}$"),
    ({}, 'features is empty'),
    ([], 'features must be a dict'),
])
def test_feature_errors(features, message):
    assert message in reject(features)


# ---------------------------------------------------------------- percentages

def test_percentages_in_order_rest_and_zero():
    bands = bands_of({'s': {'percent': {'a': 10, 'zero': 0, 'b': '15'}, 'rest': 'old'}}, 's')
    assert bands == [{'from': 1, 'to': 10, 'group': 'a'}, {'from': 11, 'to': 25, 'group': 'b'},
                     {'from': 26, 'to': 100, 'group': 'old'}]
    assert bands_of({'s': {'percent': {'a': 100}}}, 's') == [{'from': 1, 'to': 100, 'group': 'a'}]
    assert bands_of({'s': {'percent': {}}}, 's') == [{'from': 1, 'to': 100, 'group': 'control'}]


def test_raising_a_percentage_only_adds_numbers():
    before = tb.normalize({'s': {'percent': {'a': 10, 'b': 10}}})['features']['s']
    after = tb.normalize({'s': {'percent': {'a': 15, 'b': 10}}})['features']['s']
    old, new = groups(before), groups(after)
    assert {n for n in NUMBERS if old[n] == 'a'} < {n for n in NUMBERS if new[n] == 'a'}
    assert tb.summarize({'s': before}, {'s': after}) == ['s: 11-15 b -> a', 's: 21-25 control -> b']


def test_raising_the_last_group_takes_only_from_rest():
    before = {'s': tb.normalize({'s': {'percent': {'a': 10, 'b': 10}}})['features']['s']}
    after = {'s': tb.normalize({'s': {'percent': {'a': 10, 'b': 30}}})['features']['s']}
    assert tb.summarize(before, after) == ['s: 21-40 control -> b']


# ---------------------------------------------------------------- permutation

def reference_permutation(salt):
    """The documented algorithm, written again independently of the module."""
    p = list(range(101))
    for i in range(100, 1, -1):
        j = 1 + int(hashlib.sha256((salt + ':' + str(i)).encode()).hexdigest()[:8], 16) % i
        p[i], p[j] = p[j], p[i]
    return p


@pytest.mark.parametrize('salt', ['s1', 'checkout-2024', 'x', '0'])
def test_permutation_is_a_bijection_matching_the_documented_algorithm(salt):
    image = [tb.permute(n, salt) for n in NUMBERS]
    assert sorted(image) == list(NUMBERS)
    assert image != list(NUMBERS)
    assert image == reference_permutation(salt)[1:]


def test_permutation_fixed_values():
    # Pinned so a change to the algorithm (which would reshuffle every session) is caught.
    assert [tb.permute(n, 's1') for n in range(1, 11)] == [93, 42, 59, 27, 81, 35, 50, 89, 56, 84]


def test_empty_salt_is_identity_and_bounds():
    assert [tb.permute(n, '') for n in NUMBERS] == list(NUMBERS)
    for n in (0, 101):
        with pytest.raises(ValueError):
            tb.permute(n, 's1')


def test_group_for_applies_permutation_then_bands():
    feature = {'salt': 's1', 'bands': [{'from': 1, 'to': 50, 'group': 'a'}, {'from': 51, 'to': 100, 'group': 'b'}]}
    assert tb.group_for(feature, 1) == 'b'  # permute(1, 's1') == 93
    assert tb.group_for(feature, 2) == 'a'  # permute(2, 's1') == 42
    assert tb.group_for(dict(feature, salt=''), 1) == 'a'


# ---------------------------------------------------------------- file

def test_render_is_canonical_with_verifiable_checksum():
    normalised = tb.normalize(CHECKOUT)
    text = tb.render(normalised, 3)
    assert text.endswith('}\n')
    doc = json.loads(text)
    assert text == json.dumps(doc, sort_keys=True, indent=2) + '\n'
    assert doc['serial'] == 3 and doc['format'] == 1 and doc['features'] == normalised['features']
    # What a reader hashes: compact, key-sorted JSON of {"features": ...}.
    blob = json.dumps({'features': doc['features']}, sort_keys=True, separators=(',', ':'))
    assert doc['checksum'] == 'sha256:' + hashlib.sha256(blob.encode()).hexdigest()
    assert tb.parse(text) == (normalised, 3)


def test_plan_new_file_then_no_op():
    normalised = tb.normalize(CHECKOUT)
    changed, text, diff = tb.plan(None, normalised, path='/t.json')
    assert changed and json.loads(text)['serial'] == 1
    assert diff['before'] == '' and diff['after'] == text
    assert diff['before_header'] == '/t.json (absent)' and diff['after_header'] == '/t.json (serial 1)'
    assert diff['summary'] == ['checkout: added (1-10 new-checkout, 11-100 control)']

    # Same bands, written differently and with a serial given: nothing to do, serial kept.
    same = tb.normalize({'checkout': {'percent': {'new-checkout': 10}}})
    assert tb.plan(text, same, serial=99, path='/t.json') == (False, text, {
        'before_header': '/t.json (serial 1)', 'after_header': '/t.json (serial 1)',
        'before': text, 'after': text, 'summary': []})


def test_plan_change_bumps_serial_and_summarises_moves():
    current = tb.render(tb.normalize(CHECKOUT), 7)
    new = tb.normalize({'checkout': {'bands': {'1-25': 'new-checkout', '26-100': 'control'}},
                        'search': {'percent': {'new-search': 5}}})
    changed, text, diff = tb.plan(current, new)
    assert changed and json.loads(text)['serial'] == 8
    assert diff['summary'] == ['checkout: 11-25 control -> new-checkout',
                               'search: added (1-5 new-search, 6-100 control)']
    assert json.loads(tb.plan(current, new, serial=20)[1])['serial'] == 20


def test_plan_removed_feature_and_salt_change():
    current = tb.render(tb.normalize(dict(CHECKOUT, search={'percent': {'new-search': 5}})), 2)
    new = tb.normalize({'checkout': dict(CHECKOUT['checkout'], salt='s1')})
    summary = tb.plan(current, new)[2]['summary']
    assert summary[0] == "checkout: salt '' -> 's1' reshuffles which cookie numbers fall in which band"
    assert summary[-1] == 'search: removed (was 1-5 new-search, 6-100 control)'


def test_plan_refuses_serial_that_does_not_grow():
    current = tb.render(tb.normalize(CHECKOUT), 7)
    new = tb.normalize({'checkout': {'bands': {'1-100': 'control'}}})
    with pytest.raises(ConflictError, match='serial 7 is not greater than the current serial 7'):
        tb.plan(current, new, serial=7)


@pytest.mark.parametrize('text, reason, serial', [
    ('', 'not JSON', 1),
    ('{"serial": 4, "format": 1, "features": {"checkout": ', 'not JSON', 1),
    ('[]', 'not a JSON object', 1),
    ('{"format": 2, "serial": 4}', 'format is 2, expected 1', 5),
    ('{"format": 1, "serial": 0}', 'serial 0 is not a whole number >= 1', 1),
    ('{"format": 1, "serial": 4, "features": {"x": {"bands": {"1-50": "a"}}}}', 'numbers 51-100 are not in any band', 5),
    (b'\xff\xfe'.decode('utf-8', 'replace'), 'not JSON', 1),
])
def test_plan_corrupt_current_file_is_rewritten(text, reason, serial):
    changed, new_text, diff = tb.plan(text, tb.normalize(CHECKOUT), path='/t.json')
    assert changed
    assert diff['summary'][0].startswith('/t.json is not a valid toggle file (')
    assert reason in diff['summary'][0]
    assert diff['summary'][1] == 'checkout: added (1-10 new-checkout, 11-100 control)'
    assert json.loads(new_text)['serial'] == serial  # a readable serial survives, so serials only grow


def test_plan_tampered_file_is_rewritten_even_with_same_features():
    text = tb.render(tb.normalize(CHECKOUT), 3).replace('sha256:', 'sha256:0')
    changed, new_text, diff = tb.plan(text, tb.normalize(CHECKOUT))
    assert changed and 'checksum' in diff['summary'][0] and json.loads(new_text)['serial'] == 4


def test_write_atomically(tmp_path):
    path = str(tmp_path / 'toggles.json')
    tb.write_atomically(path, 'one\n')
    tb.write_atomically(path, 'two\n')
    with open(path) as f:
        assert f.read() == 'two\n'
    assert os.stat(path).st_mode & 0o777 == 0o644
    assert os.listdir(str(tmp_path)) == ['toggles.json']


def test_write_atomically_failure_names_path_and_cleans_up(tmp_path):
    target = tmp_path / 'toggles.json'
    target.mkdir()  # rename over a directory fails
    with pytest.raises(ApplyError, match='cannot write %s: ' % re.escape(str(target))):
        tb.write_atomically(str(target), 'x')
    assert os.listdir(str(tmp_path)) == ['toggles.json']
    with pytest.raises(ApplyError, match='cannot write .*missing'):
        tb.write_atomically(str(tmp_path / 'missing' / 't.json'), 'x')


# ---------------------------------------------------------------- properties

@st.composite
def partitions(draw):
    """Random tiling of 1..100 into ranges: [(lo, hi, group)]."""
    starts = sorted(draw(st.sets(st.integers(2, 100), max_size=20)) | {1})
    ends = [s - 1 for s in starts[1:]] + [100]
    names = st.sampled_from(['a', 'b', 'c', 'control'])
    return [(lo, hi, draw(names)) for lo, hi in zip(starts, ends)]


def as_spec(bands):
    return {'f': {'bands': {tb._fmt(lo, hi): g for lo, hi, g in bands}}}


@given(partitions())
def test_random_partitions_are_accepted(bands):
    feature = tb.normalize(as_spec(bands))['features']['f']
    assert groups(feature) == {n: g for lo, hi, g in bands for n in range(lo, hi + 1)}


@given(st.lists(st.tuples(st.integers(1, 100), st.integers(0, 30), st.sampled_from('ab')), max_size=12))
def test_accepted_band_sets_cover_every_number_exactly_once(raw):
    bands = [(lo, min(lo + length, 100), g) for lo, length, g in raw]
    assume(len({(lo, hi) for lo, hi, dummy in bands}) == len(bands))  # dict keys must be distinct
    counts = {n: sum(lo <= n <= hi for lo, hi, dummy in bands) for n in NUMBERS}
    try:
        tb.normalize(as_spec(bands))
    except ValidationError:
        assert set(counts.values()) != {1}
    else:
        assert set(counts.values()) == {1}


@given(partitions(), st.data())
def test_dropping_a_range_is_rejected(bands, data):
    assume(len(bands) > 1)
    lo, hi, dummy = bands.pop(data.draw(st.integers(0, len(bands) - 1)))
    assert '%s %s not in any band' % (tb._fmt(lo, hi), 'is' if lo == hi else 'are') in reject(as_spec(bands))


@given(partitions(), st.data())
def test_extending_a_range_into_its_neighbour_is_rejected(bands, data):
    assume(len(bands) > 1)
    i = data.draw(st.integers(0, len(bands) - 2))
    lo, hi, g = bands[i]
    n_lo, n_hi, dummy = bands[i + 1]
    by = data.draw(st.integers(1, n_hi - n_lo + 1))
    bands[i] = (lo, hi + by, g)
    message = reject(as_spec(bands))
    assert 'overlaps' in message and 'at %s' % tb._fmt(n_lo, hi + by) in message


@given(st.text(min_size=1, max_size=20).filter(lambda s: not any(0xD800 <= ord(c) <= 0xDFFF for c in s)))
def test_permutation_is_a_bijection_for_random_salts(salt):
    assert sorted(tb.permute(n, salt) for n in NUMBERS) == list(NUMBERS)


@given(st.lists(st.integers(0, 40), min_size=1, max_size=4), st.data())
def test_raising_a_percentage_never_moves_a_number_out_of_that_group(pcts, data):
    names = ['g%d' % i for i in range(len(pcts))]
    assume(sum(pcts) < 100)
    i = data.draw(st.integers(0, len(pcts) - 1))
    raised = list(pcts)
    raised[i] += data.draw(st.integers(1, 100 - sum(pcts)))
    salt = data.draw(st.sampled_from(['', 's1']))

    def members(p):
        feature = tb.normalize({'f': {'salt': salt, 'percent': dict(zip(names, p))}})['features']['f']
        return {n for n, g in groups(feature).items() if g == names[i]}

    assert members(pcts) <= members(raised)
    assert len(members(raised)) == raised[i]
