#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: haproxy_server
short_description: Drain, enable or disable a server (or a batch) on HAProxy and wait for the outcome, polling sub-second
version_added: 0.1.0
description:
  - Runs on a load balancer and talks to HAProxy's runtime API on its stats socket. Changes the administrative
    state of one server of one backend and waits, reading C(show stat) every O(poll_interval) seconds, for what
    a release needs next.
  - O(state=drained) sends C(set server BACKEND/SERVER state drain) (new sessions stop; persistent ones still
    come; the weight is left alone), waits until the server's current sessions (C(scur)) and queued requests
    (C(qcur)) are 0, then sends C(set server BACKEND/SERVER state maint).
  - If O(drain_timeout) passes first, the server still goes to maintenance, and the sessions it still has are
    closed with C(shutdown sessions server BACKEND/SERVER) (maintenance alone lets them run on); their number is
    returned in RV(sessions_cut) and a warning names it. The task does not fail and does not hang. The timeout
    is the longest the operator accepts to wait, and what a release does next (swap the code, smoke test, watch
    the canary) expects a node this load balancer no longer talks to.
  - O(state=ready) sends C(set server BACKEND/SERVER state ready) and waits until the status is C(UP) (or
    C(no check) when the server has no health checks). C(UP 1/3) (up, fewer than C(fall) checks passed in a row,
    as just after maintenance) and C(DOWN 1/2) (checks passing, fewer than C(rise)) are waited for. Plain C(DOWN)
    means HAProxy's own C(rise)/C(fall) rules found the health check failing; it is waited for too (the first
    check after a graceful reload may fail on a busy node), and a server still C(DOWN) at O(ready_timeout) fails
    the task with the check's result (C(check_status), C(check_code), C(last_chk)) in its message, for example
    C(health check L7STS 500) and the check's text, C(HTTP status check returned code <500>).
  - A server found DOWN is left in the ready state, not put back in maintenance. HAProxy sends a DOWN server no
    traffic and keeps checking it, so it comes back by itself once its checks pass; a release's rescue, which
    puts the node back on its previous release and enables it again, finds it ready.
  - O(state=maint) sends C(set server BACKEND/SERVER state maint) and does not wait. Sessions in progress run
    to their end; HAProxy only stops sending new ones.
  - Nothing is sent when the server is already in the wanted state (forced maintenance for O(state=drained) and
    O(state=maint); ready and C(UP) for O(state=ready)); the administrative state is read with
    C(show servers state), since a drained server that is DOWN shows C(DOWN), not C(DRAIN), in C(show stat).
  - C(community.general.haproxy) waits in whole seconds (O(community.general.haproxy#module:wait_interval) is an
    integer), needs separate runs to drain, wait and disable, and, waiting for C(UP), loops until its retries run
    out on a server whose checks fail, without saying why. This module polls at O(poll_interval) (0.1 s by
    default), drains and disables in one call, and fails on C(DOWN) with the health check's result.
  - With O(marker_dir), the module also keeps a release marker on the load balancer it runs on, the file
    C(MARKER_DIR/BACKEND/SERVER), in the same run that changes the server, so that a run of a release that was
    stopped half way (the controller killed mid-turn) can tell a server a release drained (resume it) from one a
    person put in maintenance (leave it alone). M(daylight.release.haproxy_traffic), given the same
    O(daylight.release.haproxy_traffic#module:marker_dir), lists a backend's markers.
  - O(state=drained) creates the marker, synced to disk, after reading the server and before sending HAProxy
    anything, so a run killed right after the drain command leaves it. It is created even when the server is in
    maintenance already, and left as it is when it exists.
  - O(state=ready) removes it only once the server is C(UP) on this load balancer; when the task fails (the
    server still C(DOWN) at O(ready_timeout), ...) the marker stays. O(state=maint) never touches it, as maintenance
    by hand is not a release's.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - daylight.release.attributes
options:
  socket:
    description:
      - HAProxy's stats socket (C(stats socket) in haproxy.cfg). Changing a server needs C(level admin) on it.
    type: path
    default: /run/haproxy/admin.sock
  backend:
    description: The backend, as named in haproxy.cfg.
    type: str
    required: true
  server:
    description:
      - The server of O(backend), as named in haproxy.cfg.
      - One of O(server) and O(servers) is required.
    type: str
  servers:
    description:
      - Several servers of O(backend), brought to O(state) together in one run, each in its own thread, so their
        waits overlap. A batch of a release is one run, not one run per server on the same load balancer.
      - Each server keeps its own release marker and its own outcome (RV(servers)); one that fails does not stop
        the others, and the task then fails naming each that did (RV(failed_servers)).
      - One of O(server) and O(servers) is required.
    type: list
    elements: str
    version_added: 0.4.0
  state:
    description:
      - V(drained) stops new sessions, waits for the current ones to end (at most O(drain_timeout)), then puts the
        server in maintenance.
      - V(ready) takes it out of maintenance or drain and waits until HAProxy reports it C(UP) (at most
        O(ready_timeout)); fails at once if its health checks fail.
      - V(maint) puts it in maintenance without waiting.
    type: str
    required: true
    choices: [drained, ready, maint]
  poll_interval:
    description: Seconds between two readings of C(show stat) while waiting. Fractions of a second are fine.
    type: float
    default: 0.1
  drain_timeout:
    description:
      - For O(state=drained), the longest wait, in seconds, for the server's sessions to end.
      - After it the server is put in maintenance and its remaining sessions are closed; see RV(sessions_cut).
    type: float
    default: 30
  ready_timeout:
    description:
      - For O(state=ready), the longest wait, in seconds, for HAProxy to report the server C(UP).
      - A server still C(DOWN) then fails the task with the health check's result.
    type: float
    default: 30
  timeout:
    description: Seconds to wait for HAProxy's answer to each command on the stats socket.
    type: float
    default: 5
  marker_dir:
    description:
      - Directory, on the load balancer the module runs on, of the release markers. The marker of a server is
        the file C(MARKER_DIR/BACKEND/SERVER); its presence says "a release drained this server on this load
        balancer" (its content, one line of JSON with the time, is for people).
      - O(state=drained) creates it (and the missing directories, mode C(0755); the file is C(0644)) before the
        first command; O(state=ready) removes it once the server is C(UP); O(state=maint) leaves it alone.
        See RV(marker).
      - With it set, O(backend) and O(server) must not be empty, start with C(.), or contain C(/) or C(..); such
        a name fails the task before anything is done.
      - Not set (the default), no marker is read or written.
    type: path
    version_added: 0.2.0
  name:
    description:
      - This load balancer's name in RV(failed_on) and RV(down_on) (its inventory name). Defaults to O(socket).
    type: str
    version_added: 0.3.0
  peers:
    description:
      - The other load balancers, each reached on HAProxy's runtime API over TCP (C(stats socket
        ipv4@ADDRESS:PORT level admin) in their haproxy.cfg, bound to the management network only).
      - The server is brought to O(state) on this load balancer and on every peer at once, in one run, each in
        its own thread, so the waits overlap instead of adding up. Every one is tried even when another fails;
        the task then fails naming each that did (RV(failed_peers)).
      - The release marker (O(marker_dir)) stays on this load balancer and covers them all; it is created before
        any of them is sent anything, and removed only once the server is C(UP) on every one.
    type: list
    elements: dict
    default: []
    version_added: 0.3.0
    suboptions:
      name:
        description: The peer's name in results and messages (its inventory name).
        type: str
        required: true
      address:
        description: C(HOST:PORT) of the peer's runtime API.
        type: str
        required: true
notes:
  - Run it on each load balancer (C(delegate_to) in a loop), or on one of them with the others as O(peers); each
    HAProxy has its own state. Needs access to the socket, usually through become.
  - HAProxy reports C(UP) by its own rules. With C(fall 1) a server is C(UP) as soon as it leaves maintenance,
    before any check; with C(fall 2) or more it shows C(UP 1/2) until its first check passes.
  - With O(marker_dir), check mode changes no file either; RV(marker) says what a real run would do, and a marker
    created or removed makes the task C(changed). Diff mode shows whether the marker is there before and after.
  - Standard library only; runs on Python 3.8 and later.
seealso:
  - module: community.general.haproxy
  - module: daylight.release.haproxy_traffic
author:
  - daylight.release maintainers (@daylight)
"""

EXAMPLES = r"""
- name: Drain web1 on lb1 and, over their runtime API, on lb2 and lb3, in one run
  daylight.release.haproxy_server:
    backend: web
    server: web1
    state: drained
    peers:
      - {name: lb2, address: "10.0.0.12:9999"}
      - {name: lb3, address: "10.0.0.13:9999"}
  delegate_to: lb1
  become: true

- name: Drain web1 on every load balancer, then put it in maintenance
  daylight.release.haproxy_server:
    backend: web
    server: web1
    state: drained
    drain_timeout: 60
  delegate_to: "{{ item }}"
  loop: "{{ groups['loadbalancers'] }}"
  become: true
  register: drain

- name: Say how long the drain took
  ansible.builtin.debug:
    msg: "{{ item.item }}: {{ item.waited_seconds }} s, {{ item.sessions_cut }} session(s) cut"
  loop: "{{ drain.results }}"
  loop_control:
    label: "{{ item.item }}"

- name: Enable web1 again and wait until its health checks pass
  daylight.release.haproxy_server:
    backend: web
    server: web1
    state: ready
    ready_timeout: 20
  delegate_to: "{{ item }}"
  loop: "{{ groups['loadbalancers'] }}"
  become: true

- name: Drain web1 for a release, leaving a marker on each load balancer first
  daylight.release.haproxy_server:
    backend: web
    server: web1
    state: drained
    marker_dir: /var/lib/daylight-release/drained  # the marker is /var/lib/daylight-release/drained/web/web1
  delegate_to: "{{ item }}"
  loop: "{{ groups['loadbalancers'] }}"
  become: true

- name: Enable it again; each load balancer removes its marker once web1 is UP there
  daylight.release.haproxy_server:
    backend: web
    server: web1
    state: ready
    marker_dir: /var/lib/daylight-release/drained
  delegate_to: "{{ item }}"
  loop: "{{ groups['loadbalancers'] }}"
  become: true

- name: Drain a batch of three servers in one run, on lb1 and over its runtime API on lb2
  daylight.release.haproxy_server:
    backend: web
    servers: [web2, web3, web4]
    state: drained
    peers:
      - {name: lb2, address: "10.0.0.12:9999"}
  delegate_to: lb1
  run_once: true
  become: true

- name: Take web2 out at once, without waiting for its sessions
  daylight.release.haproxy_server:
    socket: /var/run/haproxy.sock
    backend: web
    server: web2
    state: maint
  become: true
"""

RETURN = r"""
servers:
  description:
    - With O(servers), each server's own result (the keys below, for that server), by name; where it failed, the
      reason in C(msg). With O(servers) the keys below are not returned at the top level, except RV(failed_on),
      RV(down_on) and RV(backend), which cover every server.
  returned: with O(servers)
  type: dict
  sample: {web2: {state_before: UP, state_after: MAINT, waited_seconds: 0.21, failed_on: [], down_on: []}}
failed_servers:
  description: With O(servers), the servers that did not reach O(state), in the order given.
  returned: with O(servers)
  type: list
  elements: str
  sample: [web3]
peers:
  description:
    - With O(peers), each peer's own result (the keys below, without the marker), by name; where it failed, the
      reason in C(msg).
  returned: with O(server)
  type: dict
  sample: {lb2: {state_before: UP, state_after: MAINT, waited_seconds: 0.21}}
failed_peers:
  description: The names of the peers where the server did not reach O(state).
  returned: with O(server)
  type: list
  elements: str
  sample: [lb2]
failed_on:
  description:
    - The names (O(name) for this one, and the peers') of the load balancers where the server did not reach
      O(state); empty on success.
  returned: always
  type: list
  elements: str
  sample: [lb1, lb2]
down_on:
  description:
    - Of RV(failed_on), those where the server is C(DOWN) because HAProxy's own health checks fail on it (the
      node's fault, not the load balancer's).
  returned: always
  type: list
  elements: str
  sample: [lb2]
state_before:
  description:
    - The server's status in C(show stat) before the change (C(UP), C(UP 1/2), C(DOWN), C(DRAIN), C(MAINT),
      C(no check), ...).
  returned: with O(server)
  type: str
  sample: UP
state_after:
  description:
    - The status after the change and the wait; in check mode, the status expected (C(MAINT), C(UP)).
    - On failure of O(state=ready), the last status read (C(DOWN), C(UP 1/2), ...).
  returned: with O(server)
  type: str
  sample: MAINT
sessions_before:
  description: The server's current sessions (C(scur)) before the change.
  returned: with O(server)
  type: int
  sample: 4
waited_seconds:
  description:
    - Seconds spent waiting, to the millisecond, from the first command (or, when none was needed, the first
      reading). For O(state=drained), until the server was put in maintenance; for O(state=ready), until it was
      seen C(UP) (or found C(DOWN)). 0 when nothing was to be done, in check mode, and for O(state=maint).
  returned: with O(server)
  type: float
  sample: 0.412
sessions_cut:
  description:
    - Sessions the server still had after O(drain_timeout), closed with C(shutdown sessions server). 0 when the
      drain ended in time, and for the other states.
  returned: with O(server)
  type: int
  sample: 0
check:
  description:
    - The server's last health check as HAProxy reports it at the end.
    - Empty strings when there is none (no health checks, or checks paused in maintenance).
  returned: with O(server)
  type: dict
  contains:
    status:
      description: C(check_status), such as C(L7OK), C(L7STS), C(L4CON), C(L4TOUT).
      type: str
      sample: L7STS
    code:
      description: C(check_code), the HTTP status of a layer 7 check.
      type: str
      sample: "500"
    description:
      description: C(last_chk), the check's own words (or C(check_desc) when it has none).
      type: str
      sample: HTTP status check returned code <500>
commands:
  description: The commands sent to HAProxy, in order; in check mode, the commands that would be sent.
  returned: with O(server)
  type: list
  elements: str
  sample: [set server web/web1 state drain, set server web/web1 state maint]
marker:
  description:
    - What became of the release marker (O(marker_dir)) on this load balancer; in check mode, what a real run would
      do. Returned on failure too.
    - V(created) (O(state=drained); it was not there), V(removed) (O(state=ready), the server is C(UP)),
      V(kept) (it is there and stays there; for O(state=drained) it was there already, for O(state=ready) the
      task failed, for O(state=maint) it is never touched) or V(absent) (not there, and not created).
    - Null without O(marker_dir), or when the task failed before the marker's path was known (a O(backend) or
      O(server) that cannot name one).
  returned: with O(server)
  type: str
  sample: created
marker_path:
  description: The release marker's path, C(MARKER_DIR/BACKEND/SERVER); null without O(marker_dir).
  returned: with O(server)
  type: str
  sample: /var/lib/daylight-release/drained/web/web1
backend:
  description: O(backend).
  returned: always
  type: str
  sample: web
server:
  description: O(server).
  returned: with O(server)
  type: str
  sample: web1
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.daylight.release.plugins.module_utils.errors import DaylightError
from ansible_collections.daylight.release.plugins.module_utils.haproxy_server import (
    STATES,
    NotReadyError,
    PeersError,
    Runtime,
    ServersError,
    health_checks_fail,
    set_server_state,
    set_server_state_with_peers,
    set_servers_state,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            socket=dict(type='path', default='/run/haproxy/admin.sock'),
            backend=dict(type='str', required=True),
            server=dict(type='str'),
            servers=dict(type='list', elements='str'),
            state=dict(type='str', required=True, choices=list(STATES)),
            poll_interval=dict(type='float', default=0.1),
            drain_timeout=dict(type='float', default=30),
            ready_timeout=dict(type='float', default=30),
            timeout=dict(type='float', default=5),
            marker_dir=dict(type='path'),
            name=dict(type='str'),
            peers=dict(type='list', elements='dict', default=[], options=dict(
                name=dict(type='str', required=True),
                address=dict(type='str', required=True),
            )),
        ),
        supports_check_mode=True,
        mutually_exclusive=[('server', 'servers')],
        required_one_of=[('server', 'servers')],
    )
    p = module.params
    name = p['name'] or p['socket']
    try:
        here = Runtime(p['socket'], p['timeout'])
        options = dict(check_mode=module.check_mode, poll_interval=p['poll_interval'],
                       drain_timeout=p['drain_timeout'], ready_timeout=p['ready_timeout'], marker_dir=p['marker_dir'])
        peers = [(peer['name'], Runtime(peer['address'], p['timeout'])) for peer in p['peers']]
        if p['servers'] is not None:
            changed, result, warnings = set_servers_state(here, peers, p['backend'], p['servers'], p['state'],
                                                          name=name, **options)
        elif peers:
            changed, result, warnings = set_server_state_with_peers(here, peers, p['backend'], p['server'],
                                                                    p['state'], name=name, **options)
        else:
            changed, result, warnings = set_server_state(here, p['backend'], p['server'], p['state'], **options)
            result.update(peers={}, failed_peers=[], failed_on=[], down_on=[])
    except (NotReadyError, PeersError, ServersError) as e:
        if not module._diff:
            e.result.pop('diff', None)
        if isinstance(e, NotReadyError):
            e.result.update(peers={}, failed_peers=[], failed_on=[name], down_on=[name] if health_checks_fail(e.result) else [])
        module.fail_json(msg=str(e), socket=p['socket'], **e.result)
    except DaylightError as e:
        # What became of the marker, when its path was known.
        marker = getattr(e, 'marker', None) or dict(marker=None, marker_path=None)
        module.fail_json(msg=str(e), socket=p['socket'], backend=p['backend'], server=p['server'], peers={},
                         failed_peers=[], failed_on=[name], down_on=[], **marker)

    for warning in warnings:
        module.warn(warning)
    diff = result.pop('diff', None)
    if module._diff and diff:
        result['diff'] = diff
    result.pop('changed')
    module.exit_json(changed=changed, **result)


if __name__ == '__main__':
    main()
