# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Who used the lab machine's CPU during each batch of a release.

    python tests/bench/cpu.py sample SAMPLES.jsonl            # until stopped (Ctrl-C, kill)
    python tests/bench/cpu.py report SAMPLES.jsonl TIMELINE.jsonl

`sample` writes, every 0.25 s, the machine's busy CPU-seconds (/proc/stat), each lab container's
(its cgroup's cpuacct.usage; cgroup v1, as podman sets it up here) and the CPU-seconds of the
processes that are not in a container: the controller (every `ansible-playbook` with the workers
it has reaped), the benchmark with its load generator, and the SSH ControlPersist masters. Run it
beside `tests/bench/bench.py`; `report` then splits each batch of the release's timeline (the
daylight.release.timeline callback's file, see tests/bench/phases.py) into those shares.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import bisect
import glob
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import phases  # noqa: E402

CGROUPS = '/sys/fs/cgroup/cpuacct/libpod_parent'
# Processes outside the containers, by a piece of their command line.
PROCESSES = (('controller', 'ansible-playbook'), ('bench', 'tests/bench/bench.py'), ('ssh masters', 'ssh: '))
GROUPS = ('controller', 'batch nodes', 'other web nodes', 'load balancers', 'database', 'bench', 'ssh masters', 'rest')


def _container_names():
    env = dict(os.environ, CONTAINERS_CONF=os.path.join(ROOT, 'lab', 'containers.conf'))
    out = subprocess.run(['podman', 'ps', '--no-trunc', '--format', '{{.ID}} {{.Names}}'],
                         capture_output=True, text=True, env=env, check=False).stdout
    return dict(line.split(None, 1) for line in out.splitlines() if line.strip())


def _process_seconds(hz):
    """CPU-seconds of the PROCESSES, children they have reaped included."""
    seconds = {}
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open('/proc/%s/cmdline' % pid, 'rb') as f:
                command = f.read().replace(b'\0', b' ').decode(errors='replace')
            with open('/proc/%s/stat' % pid) as f:
                fields = f.read().rsplit(')', 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        for group, piece in PROCESSES:
            if piece in command:
                seconds[group] = seconds.get(group, 0) + sum(int(x) for x in fields[11:15]) / hz
                break
    return seconds


def sample(path, interval=0.25):
    hz = os.sysconf('SC_CLK_TCK')
    names, named_at = {}, 0
    with open(path, 'w') as out:
        while True:
            now = time.time()
            if now - named_at > 10:  # the bench scales the lab: new containers, new names
                names, named_at = _container_names(), now
            containers = {}
            for cgroup in glob.glob(CGROUPS + '/libpod-*'):
                container_id = cgroup.rsplit('libpod-', 1)[1]
                try:
                    with open(cgroup + '/cpuacct.usage') as f:
                        containers[names.get(container_id, container_id[:12])] = int(f.read()) / 1e9
                except OSError:
                    continue
            with open('/proc/stat') as f:
                ticks = [int(x) for x in f.readline().split()[1:]]
            busy = (sum(ticks) - ticks[3] - ticks[4]) / hz  # all but idle and iowait
            out.write(json.dumps({'time': now, 'busy': busy, 'containers': containers,
                                  'processes': _process_seconds(hz)}) + '\n')
            out.flush()
            time.sleep(interval)


def _group(container, batch_nodes):
    if container in batch_nodes:
        return 'batch nodes'
    for prefix, group in (('web', 'other web nodes'), ('lb', 'load balancers'), ('db', 'database')):
        if container.startswith(prefix):
            return group
    return 'rest'


def shares(before, after, batch_nodes):
    """CPU-seconds by group between two samples; 'rest' is what no group accounts for."""
    result = dict.fromkeys(GROUPS, 0.0)
    for container, seconds in after['containers'].items():
        result[_group(container, batch_nodes)] += seconds - before['containers'].get(container, seconds)
    for group, _piece in PROCESSES:
        result[group] += after['processes'].get(group, 0) - before['processes'].get(group, 0)
    busy = after['busy'] - before['busy']
    result['rest'] += busy - sum(result.values())
    result.update(busy=busy, wall=after['time'] - before['time'])
    return result


def by_batch(samples, spans):
    """For every span of phases.batch_spans: its name, nodes and shares (the nearest samples at
    or after its start and its end)."""
    times = [s['time'] for s in samples]

    def at(moment):
        return samples[min(bisect.bisect_left(times, moment), len(samples) - 1)]

    return [dict(name=span['name'], nodes=span['nodes'], **shares(at(span['start']), at(span['end']), span['nodes']))
            for span in spans]


def report(samples_path, timeline_path, cores=None):
    with open(samples_path) as f:
        samples = [json.loads(line) for line in f]
    cores = cores or os.cpu_count()
    lines = ['| batch | wall s | busy CPU-s (of %d cores) | %s |' % (cores, ' | '.join(GROUPS)),
             '| --- | ---: | ---: |' + ' ---: |' * len(GROUPS)]
    for row in by_batch(samples, phases.batch_spans(phases.load(timeline_path))):
        lines.append('| %s (%s) | %.1f | %.1f (%.0f %%) | %s |' % (
            row['name'], ', '.join(row['nodes']), row['wall'], row['busy'], 100 * row['busy'] / (cores * row['wall']),
            ' | '.join('%.1f' % row[group] for group in GROUPS)))
    return '\n'.join(lines)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ['sample'] and len(argv) == 2:
        sample(argv[1])
    elif argv[:1] == ['report'] and len(argv) == 3:
        print(report(argv[1], argv[2]))
    else:
        sys.exit(__doc__)


if __name__ == '__main__':
    main()
