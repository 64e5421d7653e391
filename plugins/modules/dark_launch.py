#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: dark_launch
short_description: "Replay recent real requests to the drained canary and to a baseline node, and compare the answers"
version_added: 0.2.0
description:
  - A dark launch. While the canary is drained (after its smoke test, before it is enabled) no visitor reaches it.
    This module sends it a sample of the requests the load balancers logged in the last minutes, and the same
    requests to a node still on the old release, and compares the two answers request by request, so a release
    that answers worse stops before any visitor sees it.
  - It runs in two steps, chosen by O(mode), because the requests come from every load balancer's log and are
    replayed once.
  - O(mode=sample) runs on a load balancer (C(delegate_to) each of them). It reads HAProxy's C(option httplog) log
    of the last O(minutes) (or since O(since)), keeps the requests of O(backend) whose method is in O(methods), and
    returns up to O(limit) distinct requests (method and path with its query string), the most frequent first, then
    the most recent. Paths matching O(exclude), paths that are not printable ASCII starting with C(/), and paths
    with a query parameter named like a credential (C(password), C(token), C(session), C(auth), C(key), ...) are
    left out. Only the method and the path leave the log; HAProxy logs no cookies or other headers.
  - O(mode=replay) runs on a host that reaches the web nodes directly (a load balancer, through C(delegate_to)).
    It merges the O(requests) sampled on the load balancers (adding up their counts), applies O(methods),
    O(exclude) and O(limit) again, and sends each request to O(canary_url) and to O(baseline_url), taking turns
    as to which goes first, at most O(rate) requests per second in all. When no request was sampled (no log could
    be read, or it had no request of O(backend)) it replays O(paths) instead, with C(GET).
  - Requests carry a C(User-Agent) of C(daylight.release dark launch) and, when set, O(host_header); never
    cookies or credentials. Redirects are not followed (a 301 is the answer compared), and the environment's
    proxy settings are ignored.
  - "Only requests the baseline answered are judged. The verdict is V(fail) when the canary answers more than
    O(thresholds.max_new_5xx) of them with a 5xx or not at all while the baseline did not; when more than
    O(thresholds.max_mismatch_ratio) of them get an answer in another status class than the baseline's (a canary
    answering where the baseline gave a 5xx does not count); or, over the requests both answered, when the
    canary's median or 95th percentile latency is more than O(thresholds.max_p50_increase_ms) or
    O(thresholds.max_p95_increase_ms) above the baseline's. Latency is only judged on at least
    O(thresholds.min_requests) requests; with fewer judged requests the verdict is V(inconclusive) unless a 5xx
    or status class rule already fails."
  - On V(fail) the task fails, unless O(fail_on_verdict=false), with a message naming the reasons and the worst
    requests with both answers. On V(inconclusive) it warns and succeeds; the caller decides.
  - The rules are the docstring of C(compare) in C(plugins/module_utils/replay.py).
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - daylight.release.haproxy_log
attributes:
  check_mode:
    support: full
    details: Only reads logs and sends safe requests (GET, HEAD, OPTIONS), so it runs for real in check mode too.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  mode:
    description:
      - V(sample) reads and samples this load balancer's HAProxy log and returns RV(requests).
      - V(replay) replays O(requests) (or O(paths)) to O(canary_url) and O(baseline_url) and judges the canary.
    type: str
    choices: [sample, replay]
    default: replay
  backend:
    description: The HAProxy backend whose requests are sampled, as named in haproxy.cfg. Required with O(mode=sample).
    type: str
  since:
    description:
      - For O(mode=sample), start of the sampled log window, in epoch seconds on this host's clock.
      - Default is O(minutes) before now.
    type: float
  minutes:
    description: For O(mode=sample) without O(since), how many minutes of the log to sample, up to now.
    type: float
    default: 15
  methods:
    description:
      - Request methods replayed. Only safe methods are allowed, since the log has no request bodies and the
        dark launch must change nothing.
    type: list
    elements: str
    choices: [GET, HEAD, OPTIONS]
    default: [GET, HEAD]
  limit:
    description: At most this many distinct requests are sampled and replayed, the most frequent first.
    type: int
    default: 200
  exclude:
    description:
      - Python regular expressions; a path (with its query string) any of them matches (C(re.search)) is neither
        sampled nor replayed. For pages whose answers legitimately differ between releases.
    type: list
    elements: str
    default: []
  requests:
    description:
      - For O(mode=replay), the RV(requests) of O(mode=sample) from every load balancer, as one list. Each item
        has C(method) and C(path), optionally C(count) and C(last_seen); anything else is ignored.
    type: list
    elements: dict
    default: []
  paths:
    description:
      - For O(mode=replay), the paths (with query string) replayed with C(GET) when O(requests) holds no request to
        replay. Each must start with C(/) and be printable ASCII without spaces or C(#).
    type: list
    elements: str
    default: []
  canary_url:
    description: The canary as C(http://host[:port]), asked directly, not through the load balancer. Required with O(mode=replay).
    type: str
  baseline_url:
    description: A node still on the old release, as C(http://host[:port]). Required with O(mode=replay).
    type: str
  host_header:
    description: The C(Host) header sent, for a node whose virtual host is chosen by name. Default is the host of the URL.
    type: str
  rate:
    description: At most this many requests per second, to both nodes together.
    type: float
    default: 10
  timeout:
    description: Seconds one request may take; no answer in time counts as no answer.
    type: float
    default: 10
  max_seconds:
    description: No new request is started after this many seconds of replay; what was answered is judged.
    type: float
    default: 300
  thresholds:
    description: When the canary fails. Each left out keeps its default.
    type: dict
    suboptions:
      max_new_5xx:
        description: Requests the canary may answer with a 5xx or not at all where the baseline did not.
        type: int
        default: 0
      max_mismatch_ratio:
        description: Share of the judged requests (0 to 1) that may be answered in another status class than the baseline's.
        type: float
        default: 0.02
      max_p50_increase_ms:
        description: Milliseconds the canary's median latency may be above the baseline's, on the same requests.
        type: float
        default: 100
      max_p95_increase_ms:
        description: Milliseconds the canary's 95th percentile latency may be above the baseline's, on the same requests.
        type: float
        default: 200
      min_requests:
        description: Judged requests needed for a conclusive verdict and for latency to be judged.
        type: int
        default: 20
  worst:
    description: How many requests RV(worst) lists.
    type: int
    default: 10
  fail_on_verdict:
    description: Fail the task when the verdict is V(fail). When false, the verdict is only returned.
    type: bool
    default: true
notes:
  - The log is read as M(daylight.release.haproxy_traffic) reads it, usually with become.
  - The replay takes about (2 x requests) / O(rate) seconds plus the answers' time; give the task a matching
    C(timeout).
seealso:
  - module: daylight.release.haproxy_traffic
  - module: daylight.release.smoke_check
  - module: daylight.release.log_findings
author:
  - daylight.release maintainers (@daylight)
"""

EXAMPLES = r"""
- name: Sample the requests each load balancer logged in the last 15 minutes
  daylight.release.dark_launch:
    mode: sample
    backend: web
  delegate_to: "{{ item }}"
  loop: "{{ groups['loadbalancers'] }}"
  register: dark_launch_samples
  become: true

- name: Replay them to the drained canary and to a node on the old release
  daylight.release.dark_launch:
    requests: "{{ dark_launch_samples.results | map(attribute='requests') | flatten }}"
    paths: [/, /probe.php]
    exclude: ['^/admin/', '[?&]nocache=']
    canary_url: http://web1
    baseline_url: http://web2
    thresholds:
      max_p95_increase_ms: 300
  delegate_to: "{{ groups['loadbalancers'] | first }}"
  register: dark_launch

- name: Show the verdict
  ansible.builtin.debug:
    msg: "{{ dark_launch.summary }}"
"""

RETURN = r"""
requests:
  description:
    - With O(mode=sample), the distinct requests to replay, the most frequent first, then the most recent.
    - C(method), C(path) (with query string), C(count) (times logged in the window) and C(last_seen) (epoch seconds).
  returned: when O(mode=sample)
  type: list
  elements: dict
  sample:
    - {method: GET, path: /, count: 412, last_seen: 1764000059.2}
    - {method: GET, path: "/search?q=shoes", count: 3, last_seen: 1764000041.9}
sampled:
  description: Requests sampled (O(mode=sample)), or about to be replayed (O(mode=replay)).
  returned: always
  type: int
  sample: 2
dropped:
  description:
    - How many log entries (O(mode=sample)) or requests (O(mode=replay)) were left out, by reason.
    - C(method) (not in O(methods)), C(invalid) (not printable ASCII starting with C(/), too long, or
      escaped by HAProxy), C(credentials) (a query parameter named like a credential), C(excluded) (O(exclude)),
      C(over_limit) (distinct requests beyond O(limit)).
  returned: always
  type: dict
  sample: {method: 31, invalid: 0, credentials: 2, excluded: 5, over_limit: 0}
log:
  description: How the log was read; when it could not be, RV(requests) is empty and C(log.error) says why.
  returned: when O(mode=sample)
  type: dict
  sample: {source: journal, read: true, lines: 1840, error: null}
since:
  description: Start of the sampled window, epoch seconds on this host's clock.
  returned: when O(mode=sample)
  type: float
  sample: 1764000000.5
now:
  description: End of the sampled window, epoch seconds on this host's clock.
  returned: when O(mode=sample)
  type: float
  sample: 1764000900.5
source:
  description: V(log) when the sampled O(requests) were replayed, V(paths) when O(paths) were.
  returned: when O(mode=replay)
  type: str
  sample: log
replayed:
  description: Requests sent to both nodes (fewer than RV(sampled) when O(max_seconds) cut the replay short).
  returned: when O(mode=replay)
  type: int
  sample: 180
seconds:
  description: How long the replay took.
  returned: when O(mode=replay)
  type: float
  sample: 41.3
verdict:
  description: V(pass), V(fail) or V(inconclusive).
  returned: when O(mode=replay)
  type: str
  sample: fail
reasons:
  description: Why the verdict is V(fail) or V(inconclusive), naming the figures; empty on V(pass).
  returned: when O(mode=replay)
  type: list
  elements: str
  sample: ["the canary answered 2 of 180 requests with a 5xx or not at all where the baseline did not (at most 0
           allowed), e.g. GET /cart: canary 500 in 31 ms, baseline 200 in 12 ms"]
notes:
  description: What limited the comparison (the fallback paths used, requests not judged, latency not judged).
  returned: when O(mode=replay)
  type: list
  elements: str
summary:
  description: One line for the operator.
  returned: when O(mode=replay)
  type: str
judged:
  description: Requests the baseline answered, on which the canary is judged.
  returned: when O(mode=replay)
  type: int
  sample: 180
new_5xx:
  description: Judged requests the canary answered with a 5xx or not at all while the baseline did not.
  returned: when O(mode=replay)
  type: int
  sample: 2
fixed_5xx:
  description: Judged requests the canary answered without the 5xx the baseline gave.
  returned: when O(mode=replay)
  type: int
  sample: 0
mismatches:
  description: Judged requests answered in another status class than the baseline's (fixed 5xx not counted).
  returned: when O(mode=replay)
  type: int
  sample: 2
mismatch_ratio:
  description: RV(mismatches) over RV(judged).
  returned: when O(mode=replay)
  type: float
  sample: 0.0111
canary:
  description:
    - The canary's answers. C(answered), C(no_answer), C(errors_5xx), C(statuses) (count per class, C(none) for no
      answer), C(p50_ms) and C(p95_ms) (whole ms, over the requests both nodes answered; null without any).
  returned: when O(mode=replay)
  type: dict
  sample: {answered: 180, no_answer: 0, errors_5xx: 2, statuses: {2xx: 170, 3xx: 8, 5xx: 2}, p50_ms: 14, p95_ms: 61}
baseline:
  description: The baseline's answers, the same keys as RV(canary).
  returned: when O(mode=replay)
  type: dict
  sample: {answered: 180, no_answer: 0, errors_5xx: 0, statuses: {2xx: 172, 3xx: 8}, p50_ms: 12, p95_ms: 55}
worst:
  description:
    - Up to O(worst) requests, worst first; C(problem) is V(canary 5xx), V(canary no answer), V(status class)
      or V(slower), and C(canary) and C(baseline) hold each answer's C(status) (0 without answer), C(ms) and C(error).
  returned: when O(mode=replay)
  type: list
  elements: dict
  sample:
    - method: GET
      path: /cart
      problem: canary 5xx
      canary: {status: 500, ms: 31.2, error: null}
      baseline: {status: 200, ms: 12.4, error: null}
thresholds:
  description: The thresholds applied, defaults filled in.
  returned: when O(mode=replay)
  type: dict
  sample: {max_new_5xx: 0, max_mismatch_ratio: 0.02, max_p50_increase_ms: 100, max_p95_increase_ms: 200, min_requests: 20}
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.daylight.release.plugins.module_utils.errors import DaylightError, UnavailableError
from ansible_collections.daylight.release.plugins.module_utils.haproxy import LOG_ARGUMENT_SPEC, read_log
from ansible_collections.daylight.release.plugins.module_utils.replay import (
    DEFAULT_THRESHOLDS,
    compare,
    describe,
    log_entries,
    replay,
    requests_from_paths,
    sample_requests,
    thresholds_with_defaults,
)


def sample(module):
    p = module.params
    if p['since'] is None and p['minutes'] <= 0:
        module.fail_json(msg='minutes must be above 0, got %g' % p['minutes'])
    now = time.time()
    since = p['since'] if p['since'] is not None else now - p['minutes'] * 60
    log = dict(source=p['log_source'], read=False, lines=0, error=None)
    entries = []

    def run(argv):
        # handle_exceptions=False: a missing journalctl must not fail the module; the replay falls back to paths.
        return module.run_command(argv, errors='surrogate_then_replace', handle_exceptions=False)
    try:
        try:
            lines = read_log(p['log_source'], since, identifier=p['log_identifier'], path=p['log_path'],
                             max_lines=p['max_log_lines'], run=run)
            entries = log_entries(lines, p['backend'], since, now)
            log.update(read=True, lines=len(entries))
        except UnavailableError as e:
            log['error'] = str(e)
        requests, dropped = sample_requests(entries, p['limit'], p['methods'], p['exclude'])
    except DaylightError as e:  # wrong options: the operator must fix them, not sample past them
        module.fail_json(msg=str(e), backend=p['backend'])
    module.exit_json(changed=False, requests=requests, sampled=len(requests), dropped=dropped, log=log,
                     since=since, now=now)


def failure_message(p, verdict):
    # The requests answered differently say more than the slowest ones; those only when latency failed alone.
    different = [item for item in verdict['worst'] if item['problem'] != 'slower']
    worst = [describe(item) for item in (different or verdict['worst'])]
    return ('dark launch: %s answered worse than %s on the same %d requests: %s. Worst: %s. If these pages '
            'legitimately answer differently in the new release, add a pattern for them to exclude.'
            % (p['canary_url'], p['baseline_url'], verdict['judged'], '; '.join(verdict['reasons']),
               '; '.join(worst[:5])))


def replay_and_compare(module):
    p = module.params
    try:
        thresholds = thresholds_with_defaults(p['thresholds'])  # checked before any request is sent
        fallback, excluded_paths = requests_from_paths(p['paths'], p['exclude'])
        requests, dropped = sample_requests(p['requests'], p['limit'], p['methods'], p['exclude'])
        notes = []
        if requests:
            source = 'log'
        else:
            source, requests = 'paths', fallback
            notes.append('no request was sampled from the load balancers\' logs: replaying the %d paths given%s'
                         % (len(fallback), ' (%d excluded)' % len(excluded_paths) if excluded_paths else ''))
        replayed = replay(requests, {'canary': p['canary_url'], 'baseline': p['baseline_url']}, p['rate'],
                          p['timeout'], host_header=p['host_header'], max_seconds=p['max_seconds'])
        verdict = compare(replayed['results'], thresholds, p['worst'])
    except DaylightError as e:
        module.fail_json(msg=str(e), canary_url=p['canary_url'], baseline_url=p['baseline_url'])
    if not replayed['complete']:
        notes.append('max_seconds (%g s) was reached: %d of %d requests replayed'
                     % (p['max_seconds'], len(replayed['results']), len(requests)))
    verdict['notes'] = notes + verdict['notes']
    result = dict(changed=False, source=source, sampled=len(requests), replayed=len(replayed['results']),
                  dropped=dropped, seconds=replayed['seconds'], thresholds=thresholds, **verdict)
    if verdict['verdict'] == 'fail' and p['fail_on_verdict']:
        module.fail_json(msg=failure_message(p, verdict), **result)
    if verdict['verdict'] == 'inconclusive':
        module.warn('dark launch %s' % verdict['summary'])
    module.exit_json(**result)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            mode=dict(type='str', choices=['sample', 'replay'], default='replay'),
            backend=dict(type='str'),
            since=dict(type='float'),
            minutes=dict(type='float', default=15),
            **LOG_ARGUMENT_SPEC,
            methods=dict(type='list', elements='str', choices=['GET', 'HEAD', 'OPTIONS'], default=['GET', 'HEAD']),
            limit=dict(type='int', default=200),
            exclude=dict(type='list', elements='str', default=[]),
            requests=dict(type='list', elements='dict', default=[]),
            paths=dict(type='list', elements='str', default=[]),
            canary_url=dict(type='str'),
            baseline_url=dict(type='str'),
            host_header=dict(type='str'),
            rate=dict(type='float', default=10),
            timeout=dict(type='float', default=10),
            max_seconds=dict(type='float', default=300),
            thresholds=dict(type='dict', apply_defaults=True, options=dict(
                max_new_5xx=dict(type='int', default=DEFAULT_THRESHOLDS['max_new_5xx']),
                max_mismatch_ratio=dict(type='float', default=DEFAULT_THRESHOLDS['max_mismatch_ratio']),
                max_p50_increase_ms=dict(type='float', default=DEFAULT_THRESHOLDS['max_p50_increase_ms']),
                max_p95_increase_ms=dict(type='float', default=DEFAULT_THRESHOLDS['max_p95_increase_ms']),
                min_requests=dict(type='int', default=DEFAULT_THRESHOLDS['min_requests']),
            )),
            worst=dict(type='int', default=10),
            fail_on_verdict=dict(type='bool', default=True),
        ),
        required_if=[
            ('mode', 'sample', ['backend']),
            ('mode', 'replay', ['canary_url', 'baseline_url']),
        ],
        # Reads logs and sends safe requests only: check mode runs for real, so a --check release judges the canary too.
        supports_check_mode=True,
    )
    if module.params['mode'] == 'sample':
        sample(module)
    else:
        replay_and_compare(module)


if __name__ == '__main__':
    main()
