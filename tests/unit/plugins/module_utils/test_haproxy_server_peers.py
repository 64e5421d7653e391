# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One load balancer driving its peers over their runtime API on TCP, in one run.

The peers are FakeHAProxy servers on 127.0.0.1 (HAProxy is not installed on the controller);
the lab's real load balancers do it in the end-to-end tests and the benchmark.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import socket

import pytest

from ansible_collections.daylight.release.plugins.module_utils.errors import UnavailableError, ValidationError
from ansible_collections.daylight.release.plugins.module_utils.haproxy import tcp_address
from ansible_collections.daylight.release.plugins.module_utils.haproxy_server import (
    PeersError,
    Runtime,
    ServersError,
    marker_path,
    set_server_state_with_peers,
    set_servers_state,
)
from ansible_collections.daylight.release.tests.unit.plugins.module_utils.test_haproxy_server import (
    FAILING,
    Clock,
    FakeHAProxy,
)


@pytest.fixture
def estate(tmp_path):
    """estate(peers=2, **servers) -> (this load balancer's fake, [(name, peer's fake)]), the peers on TCP."""
    fakes = []

    def start(peers=2, **servers):
        servers = servers or {'web1': {}}
        fakes.append(FakeHAProxy(str(tmp_path / 'admin.sock'), servers))
        others = []
        for number in range(peers):
            fakes.append(FakeHAProxy(None, servers))
            others.append(('lb%d' % (number + 2), fakes[-1]))
        return fakes[0], others
    yield start
    for fake in fakes:
        fake.close()


def everywhere(here, peers, state, **options):
    clock = Clock()
    return set_server_state_with_peers(Runtime(here.path, 5), [(name, Runtime(fake.path, 5)) for name, fake in peers],
                                       'web', 'web1', state, clock=clock, sleep=clock.sleep, **options)


def closed_port():
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return '127.0.0.1:%d' % probe.getsockname()[1]


@pytest.mark.parametrize('text, address', [('/run/haproxy/admin.sock', None), ('lb2:9999', ('lb2', 9999)),
                                           ('10.89.0.12:9999', ('10.89.0.12', 9999))])
def test_tcp_address(text, address):
    assert tcp_address(text) == address


@pytest.mark.parametrize('text', ['admin.sock', 'lb2:', ':9999', 'lb2:port', 'lb2:70000'])
def test_tcp_address_refuses_what_is_neither(text):
    with pytest.raises(UnavailableError, match='neither the absolute path of a stats socket nor HOST:PORT'):
        tcp_address(text)


def test_drained_everywhere_marker_first(estate, tmp_path):
    here, peers = estate()
    marker = marker_path(str(tmp_path / 'markers'), 'web', 'web1')
    for dummy, fake in peers:
        fake.watch = marker
    changed, result, dummy = everywhere(here, peers, 'drained', marker_dir=str(tmp_path / 'markers'))
    assert changed and result['marker'] == 'created' and os.path.exists(marker)
    for fake in [here] + [fake for dummy, fake in peers]:
        assert fake.changes() == ['set server web/web1 state drain', 'set server web/web1 state maint']
    for name, fake in peers:
        assert result['peers'][name]['state_after'] == 'MAINT'
        # every command a peer got came after the marker was on disk
        assert [seen for seen in fake.seen if not seen[1]] == []
    assert result['failed_peers'] == []


def test_ready_everywhere_removes_the_marker_once_up_on_all(estate, tmp_path):
    here, peers = estate()
    markers = str(tmp_path / 'markers')
    everywhere(here, peers, 'drained', marker_dir=markers)
    for fake in [here] + [fake for dummy, fake in peers]:
        fake.script('web1', 'ready', dict(status='UP 1/2'), dict(status='UP'))
    changed, result, dummy = everywhere(here, peers, 'ready', marker_dir=markers)
    assert changed and result['marker'] == 'removed'
    assert not os.path.exists(marker_path(markers, 'web', 'web1'))
    assert result['state_after'] == 'UP'
    assert {name: r['state_after'] for name, r in result['peers'].items()} == {'lb2': 'UP', 'lb3': 'UP'}


def test_ready_down_on_one_peer_fails_naming_it_and_keeps_the_marker(estate, tmp_path):
    here, peers = estate()
    markers = str(tmp_path / 'markers')
    everywhere(here, peers, 'drained', marker_dir=markers)
    for fake in (here, peers[0][1]):
        fake.script('web1', 'ready', dict(status='UP'))
    peers[1][1].script('web1', 'ready', dict(status='DOWN', **FAILING))
    with pytest.raises(PeersError) as failure:
        everywhere(here, peers, 'ready', marker_dir=markers, ready_timeout=1)
    assert 'on lb3: web/web1 is still DOWN' in str(failure.value)
    assert 'lb2' not in str(failure.value)
    result = failure.value.result
    assert result['failed_peers'] == ['lb3'] and result['marker'] == 'kept'
    assert result['failed_on'] == ['lb3'] and result['down_on'] == ['lb3']
    assert os.path.exists(marker_path(markers, 'web', 'web1'))
    assert result['state_after'] == 'UP' and result['peers']['lb2']['state_after'] == 'UP'


def test_a_peer_that_does_not_answer_is_named_and_the_others_are_still_drained(estate):
    here, peers = estate(peers=1)
    peers.append(('lb3', FakeHAProxy.__new__(FakeHAProxy)))
    peers[1][1].path = closed_port()
    with pytest.raises(PeersError) as failure:
        everywhere(here, peers, 'drained')
    assert 'on lb3: nothing answers on 127.0.0.1:' in str(failure.value)
    assert failure.value.result['failed_peers'] == ['lb3']
    assert failure.value.result['failed_on'] == ['lb3'] and failure.value.result['down_on'] == []
    assert here.servers['web1']['status'] == 'MAINT' and peers[0][1].servers['web1']['status'] == 'MAINT'


def test_check_mode_sends_nothing_anywhere(estate, tmp_path):
    here, peers = estate()
    changed, result, dummy = everywhere(here, peers, 'drained', check_mode=True, marker_dir=str(tmp_path / 'm'))
    assert changed and result['marker'] == 'created' and not os.path.exists(str(tmp_path / 'm'))
    assert [fake.changes() for fake in [here] + [f for dummy, f in peers]] == [[], [], []]
    assert result['peers']['lb2']['commands'] == ['set server web/web1 state drain', 'set server web/web1 state maint']


def batch(here, peers, servers, state, **options):
    clock = Clock()
    return set_servers_state(Runtime(here.path, 5), [(name, Runtime(fake.path, 5)) for name, fake in peers],
                             'web', servers, state, name='lb1', clock=clock, sleep=clock.sleep, **options)


def test_a_batch_is_drained_everywhere_in_one_run_each_with_its_marker(estate, tmp_path):
    here, peers = estate(web1={}, web2={}, web3={})
    markers = str(tmp_path / 'markers')
    changed, result, dummy = batch(here, peers, ['web2', 'web3'], 'drained', marker_dir=markers)
    assert changed and result['failed_servers'] == [] and result['failed_on'] == []
    assert sorted(result['servers']) == ['web2', 'web3']
    for server in ('web2', 'web3'):
        assert result['servers'][server]['state_after'] == 'MAINT'
        assert result['servers'][server]['marker'] == 'created'
        assert os.path.exists(marker_path(markers, 'web', server))
        for fake in [here] + [fake for dummy, fake in peers]:
            assert fake.servers[server]['status'] == 'MAINT'
    # the server outside the batch is not touched anywhere
    assert not os.path.exists(marker_path(markers, 'web', 'web1'))
    for fake in [here] + [fake for dummy, fake in peers]:
        assert fake.servers['web1']['status'] == 'UP'
        assert not [command for command in fake.changes() if 'web1' in command]


def test_a_batch_where_one_server_is_down_fails_naming_it_and_enables_the_others(estate, tmp_path):
    here, peers = estate(web1={}, web2={})
    markers = str(tmp_path / 'markers')
    batch(here, peers, ['web1', 'web2'], 'drained', marker_dir=markers)
    for fake in [here] + [fake for dummy, fake in peers]:
        fake.script('web1', 'ready', dict(status='UP'))
        fake.script('web2', 'ready', dict(status='DOWN', **FAILING))
    with pytest.raises(ServersError) as failure:
        batch(here, peers, ['web1', 'web2'], 'ready', marker_dir=markers, ready_timeout=1)
    assert str(failure.value).startswith('web2: on lb1: web/web2 is still DOWN')
    assert 'web1:' not in str(failure.value)
    result = failure.value.result
    assert result['failed_servers'] == ['web2']
    assert result['servers']['web2']['down_on'] == ['lb1', 'lb2', 'lb3'] == result['down_on']
    assert result['servers']['web2']['marker'] == 'kept' and result['servers']['web2']['msg']
    assert result['servers']['web1']['failed_on'] == [] and result['servers']['web1']['marker'] == 'removed'
    assert not os.path.exists(marker_path(markers, 'web', 'web1'))
    assert os.path.exists(marker_path(markers, 'web', 'web2'))


def test_a_batch_alone_without_peers(estate):
    here, dummy = estate(peers=0, web1={}, web2={})
    changed, result, dummy = batch(here, [], ['web1', 'web2'], 'maint')
    assert changed and here.servers['web1']['status'] == here.servers['web2']['status'] == 'MAINT'
    assert result['servers']['web1']['peers'] == {} and result['failed_on'] == []


def test_a_batch_in_check_mode_sends_nothing_and_diffs_each_server(estate):
    here, peers = estate(web1={}, web2={})
    changed, result, dummy = batch(here, peers, ['web1', 'web2'], 'drained', check_mode=True)
    assert changed and [fake.changes() for fake in [here] + [f for dummy, f in peers]] == [[], [], []]
    assert result['diff']['before'] == 'web1: UP\nweb2: UP\n'
    assert result['diff']['after'] == 'web1: MAINT\nweb2: MAINT\n'


@pytest.mark.parametrize('servers, message', [([], 'servers must name at least one server'),
                                              (['web1', 'web2', 'web1'], 'servers names web1 more than once')])
def test_a_batch_that_names_no_server_or_one_twice_is_refused_before_anything_is_sent(estate, servers, message):
    here, peers = estate(web1={}, web2={})
    with pytest.raises(ValidationError, match=message):
        batch(here, peers, servers, 'drained')
    assert [fake.changes() for fake in [here] + [f for dummy, f in peers]] == [[], [], []]


def test_a_batch_with_a_bad_server_name_fails_that_server_only(estate):
    here, peers = estate(peers=0, web1={})
    with pytest.raises(ServersError) as failure:
        batch(here, [], ['web1', 'web 2'], 'maint')
    assert failure.value.result['failed_servers'] == ['web 2']
    assert "server 'web 2' is not a name HAProxy allows" in failure.value.result['servers']['web 2']['msg']
    assert failure.value.result['failed_on'] == ['lb1'] and here.servers['web1']['status'] == 'MAINT'
