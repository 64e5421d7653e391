"""Steady HTTP load on the lab's load balancers, with every response checked.

Used by the end-to-end test and by `make demo`. Targets loopback only (the lab's published
ports), and every loop is bounded in time: it stops by itself after `max_seconds`.

What is recorded per request: when it was sent, how long it took, the status (or the connection
error), the release version and node named in the response headers, the load balancer it went
through, and, for /probe.php, whether the response was assembled from one release. Requests go
round-robin over every load balancer (found from the running containers' podman labels
daylight.http_port / daylight.stats_port). A second thread polls every load balancer's CSV stats
to learn when each server went back to UP on all of them, which is what "stale" is measured
against.
"""

import csv
import http.client
import io
import json
import itertools
import os
import subprocess
import threading
import time
from dataclasses import dataclass, field

PATHS = ("/", "/probe.php")
# Visitors on several pages, with query strings that vary as real links do: what the dark launch
# samples from the load balancers' logs (23 distinct requests, a few more than its 20 for a verdict;
# about a quarter of them /features.php, which the smoke test does not ask for).
MIXED_PATHS = (("/", "/probe.php", "/features.php") + tuple("/?ref=%d" % n for n in range(10))
               + tuple("/probe.php?ref=%d" % n for n in range(5)) + tuple("/features.php?tab=%d" % n for n in range(5)))


@dataclass
class Response:
    sent: float
    path: str
    status: int = 0
    version: str = ""
    node: str = ""
    consistent: bool = True
    error: str = ""
    lb: str = ""
    # Seconds from sending to the whole response read, or to the error.
    elapsed: float = 0.0

    @property
    def failed(self):
        return bool(self.error) or not 200 <= self.status < 300


@dataclass
class Report:
    old_version: str
    new_version: str
    responses: list
    # node -> times it went from MAINT to UP on every load balancer (the time of the last one)
    enabled_at: dict = field(default_factory=dict)
    duration: float = 0.0

    def failed(self):
        return [r for r in self.responses if r.failed]

    def inconsistent(self):
        return [r for r in self.responses if not r.failed and not r.consistent]

    def stale(self):
        """Old-version responses from a node after it was back in the pool on the new release.

        A node counts as back when HAProxy reported it UP again after maintenance, or when it
        served the new version through the load balancer (it can only do that once enabled).
        """
        back_at = {}
        for node, times in self.enabled_at.items():
            back_at[node] = min(times)
        for r in sorted(self.responses, key=lambda r: r.sent):
            if not r.failed and r.version == self.new_version:
                back_at[r.node] = min(back_at.get(r.node, r.sent), r.sent)
        return [
            r for r in self.responses
            if not r.failed and r.version == self.old_version and r.node in back_at and r.sent > back_at[r.node]
        ]

    def mixed_seconds(self):
        """Seconds (whole, by send time) in which both versions were served."""
        by_second = {}
        for r in self.responses:
            if not r.failed:
                by_second.setdefault(int(r.sent), set()).add(r.version)
        return sum(1 for versions in by_second.values() if len(versions) > 1)

    def summary(self):
        elapsed = (max(r.sent for r in self.responses) - min(r.sent for r in self.responses)) if self.responses else 0
        return {
            "requests": len(self.responses),
            "rate_per_second": round(len(self.responses) / elapsed, 1) if elapsed else 0.0,
            "failed": len(self.failed()),
            "inconsistent": len(self.inconsistent()),
            "stale": len(self.stale()),
            "seconds_with_mixed_versions": self.mixed_seconds(),
            "versions_served": sorted({r.version for r in self.responses if not r.failed}),
            "per_lb": self.per_lb(),
        }

    def per_lb(self):
        """{lb: {"requests": n, "failed": n}} for every load balancer the load went through."""
        counts = {}
        for r in self.responses:
            c = counts.setdefault(r.lb, {"requests": 0, "failed": 0})
            c["requests"] += 1
            c["failed"] += r.failed
        return dict(sorted(counts.items()))


def discover_load_balancers(host="127.0.0.1"):
    """[(name, http_port, stats_port)] of the running lab load balancers, sorted by name.

    Read from the podman labels lab/lab.sh sets; [] when podman is missing or none run.
    """
    try:
        out = subprocess.run(
            ["podman", "ps", "--filter", "label=daylight.group=loadbalancers", "--format",
             '{{.Names}} {{ index .Labels "daylight.http_port" }} {{ index .Labels "daylight.stats_port" }}'],
            capture_output=True, text=True, check=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    found = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
            found.append((parts[0], int(parts[1]), int(parts[2])))
    return sorted(found)


class Load:
    """Sends `rate` requests per second, round-robin over the load balancers, until stopped (or max_seconds).

    Without `port`, the load balancers are the lab's running ones (podman labels); when that
    finds none, the single one on LAB_HTTP_PORT / LAB_STATS_PORT. With `port`, only host:port.
    """

    def __init__(self, host="127.0.0.1", port=None, stats_port=None, rate=60, workers=8, max_seconds=900,
                 long_requests=0, hold=3.0, paths=PATHS):
        lbs = [] if port else discover_load_balancers(host)
        if not lbs:
            # The lab publishes lb1 on these loopback ports (lab/lab.sh: LAB_HTTP_PORT, LAB_STATS_PORT).
            port = port or int(os.environ.get("LAB_HTTP_PORT", "8080"))
            stats_port = stats_port or int(os.environ.get("LAB_STATS_PORT", "8404"))
            lbs = [("%s:%d" % (host, port), port, stats_port)]
        self.load_balancers = lbs  # [(name, http_port, stats_port)]
        self.host, self.port, self.stats_port = host, lbs[0][1], lbs[0][2]
        self.rate, self.workers, self.max_seconds = rate, workers, max_seconds
        self.paths = tuple(paths)
        # `long_requests` more workers keep that many /probe.php?hold=`hold` requests in flight.
        self.long_requests, self.hold = long_requests, hold
        self.responses = []
        self.enabled_at = {}
        self._next_lb = itertools.cycle(lbs)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = []

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        self._started = time.monotonic()
        self._wall_offset = time.time() - self._started
        for n in range(self.workers):
            t = threading.Thread(target=self._work, args=(n,), daemon=True)
            t.start()
            self._threads.append(t)
        for _n in range(self.long_requests):
            t = threading.Thread(target=self._work_long, daemon=True)
            t.start()
            self._threads.append(t)
        t = threading.Thread(target=self._watch_haproxy, daemon=True)
        t.start()
        self._threads.append(t)

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(timeout=10)

    def report(self, old_version, new_version):
        with self._lock:
            return Report(old_version, new_version, list(self.responses), dict(self.enabled_at),
                          time.monotonic() - self._started)

    def _running(self):
        return not self._stop.is_set() and time.monotonic() - self._started < self.max_seconds

    def _work(self, n):
        # Open loop: each worker keeps its own schedule, so a slow response does not lower the rate.
        interval = self.workers / self.rate
        next_at = time.monotonic() + n * interval / self.workers
        i = n
        while self._running():
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            next_at += interval
            with self._lock:
                lb = next(self._next_lb)
            r = self._request(self.paths[i % len(self.paths)], lb)
            i += 1
            with self._lock:
                self.responses.append(r)

    def _work_long(self):
        """Back to back: one long request in flight at all times."""
        while self._running():
            with self._lock:
                lb = next(self._next_lb)
            r = self._request("/probe.php?hold=%g" % self.hold, lb, timeout=self.hold + 10)
            with self._lock:
                self.responses.append(r)

    def _request(self, path, lb, timeout=10):
        name, port = lb[0], lb[1]
        r = Response(sent=time.monotonic(), path=path, lb=name)
        conn = http.client.HTTPConnection(self.host, port, timeout=timeout)
        try:
            conn.request("GET", path, headers={"Connection": "close"})
            resp = conn.getresponse()
            body = resp.read()
            r.status = resp.status
            r.version = resp.getheader("X-Release-Version", "")
            r.node = resp.getheader("X-Served-By", "")
            if path.startswith("/probe.php") and 200 <= resp.status < 300:
                r.consistent = bool(json.loads(body).get("consistent"))
        except (OSError, http.client.HTTPException, ValueError) as e:
            r.error = "%s: %s" % (type(e).__name__, e)
        finally:
            conn.close()
            r.elapsed = time.monotonic() - r.sent
        return r

    def _stats(self, stats_port):
        """{server: status} from one load balancer's CSV stats page; None when it does not answer."""
        try:
            conn = http.client.HTTPConnection(self.host, stats_port, timeout=2)
            try:
                conn.request("GET", "/stats;csv")
                text = conn.getresponse().read().decode()
            finally:
                conn.close()
        except (OSError, http.client.HTTPException, UnicodeDecodeError):
            return None
        return {row["svname"]: row["status"] for row in csv.DictReader(io.StringIO(text.lstrip("# ")))
                if row.get("svname") not in (None, "FRONTEND", "BACKEND")}

    def _watch_haproxy(self):
        """Record when a server went MAINT -> UP on every load balancer (the time of the last one)."""
        names = [lb[0] for lb in self.load_balancers]
        previous = {name: {} for name in names}
        # node -> {lb: time it went MAINT -> UP there}, for the cycle not yet seen on all of them
        pending = {}
        while self._running():
            for name, _port, stats_port in self.load_balancers:
                states = self._stats(stats_port)
                if states is None:
                    continue
                now = time.monotonic()
                for node, status in states.items():
                    was = previous[name].get(node, "UP")
                    if status.startswith("MAINT") and not was.startswith("MAINT"):
                        # A new maintenance cycle: an UP seen here before it no longer counts.
                        pending.setdefault(node, {}).pop(name, None)
                    if status.startswith("UP") and was.startswith("MAINT"):
                        up = pending.setdefault(node, {})
                        up[name] = now
                        if set(up) >= set(names):
                            with self._lock:
                                self.enabled_at.setdefault(node, []).append(max(up.values()))
                            del pending[node]
                    previous[name][node] = status
            time.sleep(0.1)
