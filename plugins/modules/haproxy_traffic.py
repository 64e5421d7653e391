#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: haproxy_traffic
short_description: "Read a backend's traffic on one HAProxy: counters from the stats socket and per-request figures from its log"
version_added: 0.1.0
description:
  - Runs on a load balancer. Asks HAProxy's stats socket for C(show stat) and returns the counters of
    one backend and of each of its servers as numbers (requests, 5xx, connection and response errors,
    retries, redispatches, health-check downs, current sessions and queue), with their state.
  - With O(since), also reads HAProxy's C(option httplog) log from O(since) to now and returns, per
    server, the requests, the server-side errors, the status classes and the sorted latencies
    (C(%Ta)). A request counts as a server-side error when its status is 5xx or when its termination
    state starts with C(S) or C(s) (the server broke off or timed out, even after a 200); client aborts
    (C(C), C(c)) do not count.
  - Read twice, before and after a window, and subtract the counters with the filter
    P(daylight.release.counter_delta#filter), which copes with HAProxy reloading in between.
  - C(community.general.haproxy) changes server states but reads no counters and no log; the canary
    analysis and the toggle ramp need both, from one place that parses them the same way.
  - It changes nothing. It also reads for real in check mode, so a check run shows real figures.
  - A log that cannot be read does not fail the task, since the counters are still useful;
    RV(log.read) is then false and RV(log.error) says why. A stats socket that does not answer, or a
    backend that HAProxy does not know, fails the task.
  - With O(marker_dir), also lists the servers of O(backend) that have a release marker on this load balancer
    (RV(marked)), the files that M(daylight.release.haproxy_server), given the same
    O(daylight.release.haproxy_server#module:marker_dir), creates when a release drains a server and removes once
    the release has it C(UP) again. They are read in the run that reads the backend, so a re-run of a release
    stopped half way tells a server a release drained from one a person put in maintenance.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - daylight.release.haproxy_log
attributes:
  check_mode:
    support: full
    details: Reads the socket and the log in check mode too; it never changes anything.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  socket:
    description: HAProxy's stats socket (C(stats socket) in haproxy.cfg).
    type: path
    default: /run/haproxy/admin.sock
  backend:
    description: The backend to report on, as named in haproxy.cfg.
    type: str
    required: true
  servers:
    description:
      - Only report these servers in RV(requests). Each of them appears there even without requests.
      - A name that is not a server of O(backend) does not fail the task (a load balancer may not
        have every server yet); it is missing from RV(servers), which always lists exactly the
        backend's servers, so check there.
    type: list
    elements: str
  since:
    description:
      - Start of the window, in epoch seconds on this host's clock (for example RV(now) of an earlier run).
      - When given, the log from O(since) to now is read and RV(requests) and RV(log) are returned.
    type: float
  slow_ms:
    description:
      - With O(since), also count each server's requests slower than this many milliseconds (C(%Ta)) and when the
        first and the last of them were logged (C(slow) in RV(requests)), so a reader can tell slow requests at
        one moment (the node stalled once) from slow requests all along the window.
    type: int
  windows:
    description:
      - Named time windows (C(name), C(start), C(end), epoch seconds on this host's clock) to count the whole
        backend's logged requests in, for the visitors' receipt of a release (RV(windows)); the log is read
        from the earliest start.
      - A request counts in every window its time falls in. Join several load balancers' counts with the
        filter P(daylight.release.visitor_receipt#filter).
    type: list
    elements: dict
    version_added: 0.2.0
  timeout:
    description: Seconds to wait for HAProxy's answer on the stats socket.
    type: float
    default: 5
  marker_dir:
    description:
      - Directory of the release markers on this load balancer, as given to
        O(daylight.release.haproxy_server#module:marker_dir). When set, RV(marked) lists the servers that have a
        marker, the regular files C(MARKER_DIR/BACKEND/SERVER).
      - A directory that does not exist means no marker. One that cannot be read fails the task, as does a
        O(backend) that cannot name a directory (empty, starting with C(.), or containing C(/) or C(..)).
    type: path
    version_added: 0.2.0
notes:
  - Needs read access to the stats socket and the log, usually through become.
  - Counters are per HAProxy process and restart from zero when HAProxy is reloaded.
seealso:
  - module: community.general.haproxy
  - plugin: daylight.release.counter_delta
    plugin_type: filter
  - plugin: daylight.release.haproxy_stats
    plugin_type: filter
author:
  - daylight.release maintainers (@daylight)
"""

EXAMPLES = r"""
- name: Read the counters before the window
  daylight.release.haproxy_traffic:
    backend: web
  register: before
  become: true

- name: Let traffic reach the canary
  ansible.builtin.pause:
    seconds: 60

- name: Read the counters again, and the log since the first reading
  daylight.release.haproxy_traffic:
    backend: web
    servers: [web1]
    since: "{{ before.now }}"
  register: after
  become: true

- name: Judge the canary
  vars:
    window: "{{ before.servers.web1 | daylight.release.counter_delta(after.servers.web1) }}"
    figures: "{{ after.requests.web1 }}"
  ansible.builtin.assert:
    that:
      - window.delta.hrsp_5xx == 0
      - figures.errors == 0
      - not after.log.read or (figures.latencies_ms | last | default(0)) < 2000
    fail_msg: "web1: {{ window.delta.hrsp_5xx }} 5xx in the counters, {{ figures.errors }} server errors in the log"

- name: Find the servers a release drained and did not enable again (the controller was killed mid-turn)
  daylight.release.haproxy_traffic:
    backend: web
    marker_dir: /var/lib/daylight-release/drained
  delegate_to: "{{ item }}"
  loop: "{{ groups['loadbalancers'] }}"
  register: lbs
  become: true

- name: Say which load balancers have web1 drained by a release
  ansible.builtin.debug:
    msg: "{{ lbs.results | selectattr('marked', 'contains', 'web1') | map(attribute='item') | list }}"

- name: Count what visitors got before and during a release, on every load balancer
  daylight.release.haproxy_traffic:
    backend: web
    windows:
      - {name: before, start: "{{ started - 60 }}", end: "{{ started }}"}
      - {name: during, start: "{{ started }}", end: "{{ finished }}"}
  delegate_to: "{{ item }}"
  loop: "{{ groups['loadbalancers'] }}"
  register: counted
  become: true
- name: Say whether visitors had it worse
  ansible.builtin.debug:
    msg: >-
      {{ (counted.results | daylight.release.visitor_receipt([{'name': 'before', 'start': started - 60, 'end': started},
                                                              {'name': 'during', 'start': started, 'end': finished}])).summary }}
- name: Read a log written by rsyslog to a file
  daylight.release.haproxy_traffic:
    backend: web
    since: "{{ before.now }}"
    log_source: file
    log_path: /var/log/haproxy.log
"""

RETURN = r"""
now:
  description: This host's time (epoch seconds) right after the statistics were read; pass it as O(since) to the next run.
  returned: always
  type: float
  sample: 1764000060.52
backend:
  description: The backend's own row (C(BACKEND)), as the servers' entries.
  returned: always
  type: dict
  sample: {req_tot: 1840, hrsp_5xx: 2, econ: 0, eresp: 0, wretr: 0, wredis: 0, chkdown: 0, scur: 3, qcur: 0,
           status: UP, weight: 3, check_status: "", addr: ""}
servers:
  description:
    - Server name to its counters and state, for every server of the backend.
    - C(req_tot), C(hrsp_5xx), C(econ), C(eresp), C(wretr), C(wredis) and C(chkdown) are cumulative since
      HAProxy started; C(scur) and C(qcur) are current sessions and queued requests; an empty column is 0.
    - C(status) is HAProxy's state (C(UP), C(DOWN), C(MAINT), C(DRAIN), C(UP 1/3), ...), C(weight) the
      effective weight, C(check_status) the last health check's result (C(L7OK), C(L4CON), ...) and C(addr)
      the address HAProxy sends the server's requests to (C(10.89.0.5:80)).
  returned: always
  type: dict
  sample:
    web1: {req_tot: 612, hrsp_5xx: 2, econ: 0, eresp: 0, wretr: 0, wredis: 0, chkdown: 0, scur: 1, qcur: 0,
           status: UP, weight: 1, check_status: L7OK, addr: "10.89.0.5:80"}
requests:
  description:
    - Per server (only O(servers) when given), the requests HAProxy logged from O(since) to RV(now).
    - C(requests), C(errors) (5xx, or termination state starting with C(S)/C(s)), C(statuses) (count per
      class such as C(2xx) and C(5xx); C(-1) for requests that got no response), C(latencies_ms)
      (sorted total times C(%Ta) in milliseconds) and C(slowest), the slowest requests (at most three), slowest first,
      with where their time went (C(tw) queue, C(tc) connect, C(tr) the server's answer, C(ta) in all, in ms;
      -1 when not reached), their C(time), C(path), C(status) and C(termination).
    - With O(slow_ms), C(slow) too, C({over_ms, requests, first, last}), how many requests took longer than
      O(slow_ms) and the times of the first and the last of them (null without any).
    - Empty when the log could not be read; see RV(log).
  returned: when O(since) is given
  type: dict
  sample:
    web1: {requests: 1, errors: 1, statuses: {5xx: 1}, latencies_ms: [30001],
           slowest: [{time: 1796290706.468, path: /, status: 504, termination: sH--, ta: 30001, tw: 0, tc: 0, tr: -1}],
           slow: {over_ms: 500, requests: 1, first: 1796290706.468, last: 1796290706.468}}
marked:
  description:
    - Sorted names of the servers of O(backend) that have a release marker in O(marker_dir) on this load balancer
      (a regular file C(MARKER_DIR/BACKEND/SERVER)); empty when there is none or the directory does not exist.
    - Taken from the files, not from HAProxy, so a marker of a server HAProxy does not list (any more) is listed too.
      Hidden files and names HAProxy would not allow are left out.
  returned: when O(marker_dir) is given
  type: list
  elements: str
  sample: [web1]
windows:
  description:
    - Per window of O(windows), the backend's requests HAProxy logged in it, C(errors) counted as in RV(requests),
      C(statuses) per class, and C(latency_ms), a histogram of the total times C(%Ta) (milliseconds kept to two
      significant digits, as a string, to the number of requests), so that load balancers' counts add up.
    - Empty when the log could not be read; see RV(log).
  returned: when O(windows) is given
  type: dict
  sample:
    before: {requests: 4, errors: 0, statuses: {2xx: 4}, latency_ms: {"12": 3, "130": 1}}
log:
  description: How the log was read.
  returned: when O(since) or O(windows) is given
  type: dict
  contains:
    source:
      description: O(log_source).
      type: str
      sample: journal
    read:
      description: Whether the log could be read. When false, RV(requests) is empty and says nothing about traffic.
      type: bool
      sample: true
    lines:
      description:
        - Log lines of the backend (and of O(servers)) in the window; with O(windows), of the backend since the
          earliest start.
      type: int
      sample: 3
    error:
      description: Why the log could not be read; null when it could.
      type: str
      sample: null
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.daylight.release.plugins.module_utils.errors import DaylightError, UnavailableError
from ansible_collections.daylight.release.plugins.module_utils.haproxy import (
    LOG_ARGUMENT_SPEC,
    is_server_error,
    log_window,
    parse_log_line,
    parse_show_stat,
    read_log,
    read_show_stat,
    server_table,
)
from ansible_collections.daylight.release.plugins.module_utils.haproxy_server import marked_servers
from ansible_collections.daylight.release.plugins.module_utils.receipt import check_windows, count_windows


def main():
    module = AnsibleModule(
        argument_spec=dict(
            socket=dict(type='path', default='/run/haproxy/admin.sock'),
            backend=dict(type='str', required=True),
            servers=dict(type='list', elements='str'),
            since=dict(type='float'),
            slow_ms=dict(type='int'),
            windows=dict(type='list', elements='dict'),
            **LOG_ARGUMENT_SPEC,
            timeout=dict(type='float', default=5),
            marker_dir=dict(type='path'),
        ),
        # Read-only, so check mode reads for real.
        supports_check_mode=True,
    )
    p = module.params
    try:
        windows = check_windows(p['windows']) if p['windows'] is not None else None
    except DaylightError as e:
        module.fail_json(msg=str(e), windows=p['windows'])
    try:
        text = read_show_stat(p['socket'], p['timeout'])
        now = time.time()
        table = server_table(parse_show_stat(text), p['backend'])
    except DaylightError as e:
        module.fail_json(msg=str(e), socket=p['socket'], backend=p['backend'])

    result = dict(changed=False, now=now, backend=table['backend'], servers=table['servers'])
    if p['marker_dir'] is not None:
        # Read-only, so in check mode too.
        try:
            result['marked'] = marked_servers(p['marker_dir'], p['backend'])
        except DaylightError as e:
            module.fail_json(msg=str(e), socket=p['socket'], backend=p['backend'], marker_dir=p['marker_dir'])
    if p['since'] is not None or windows is not None:
        log = dict(source=p['log_source'], read=False, lines=0, error=None)
        requests, counted = {}, {}
        starts = [start for _name, start, _end in windows or []] + ([p['since']] if p['since'] is not None else [])

        def run(argv):
            # handle_exceptions=False: a missing journalctl must not fail the module, only the log part.
            return module.run_command(argv, errors='surrogate_then_replace', handle_exceptions=False)
        try:
            lines = read_log(p['log_source'], min(starts) if starts else now, identifier=p['log_identifier'],
                             path=p['log_path'], max_lines=p['max_log_lines'], run=run)
            if p['since'] is not None:
                requests, log['lines'] = log_window(lines, p['backend'], p['since'], now,
                                                    servers=p['servers'], slow_ms=p['slow_ms'])
            if windows is not None:
                entries = [e for e in map(parse_log_line, lines) if e is not None and e['backend'] == p['backend']]
                counted = count_windows(entries, windows, is_server_error)
                log['lines'] = max(log['lines'], len(entries))
            log['read'] = True
        except UnavailableError as e:
            log['error'] = str(e)
        except DaylightError as e:  # wrong options: the operator must fix them, not read past them
            module.fail_json(msg=str(e), socket=p['socket'], backend=p['backend'])
        if p['since'] is not None:
            result['requests'] = requests
        if windows is not None:
            result['windows'] = counted
        result['log'] = log
    module.exit_json(**result)


if __name__ == '__main__':
    main()
