"""Steady HTTP load on the lab's load balancer, with every response checked.

Used by the end-to-end test and by `make demo`. Targets loopback only (the lab's published
ports), and every loop is bounded in time: it stops by itself after `max_seconds`.

What is recorded per request: when it was sent, the status (or the connection error), the
release version and node named in the response headers, and, for /probe.php, whether the
response was assembled from one release. A second thread polls HAProxy's CSV stats to learn
when each server went back to UP, which is what "stale" is measured against.
"""

import csv
import http.client
import io
import json
import os
import threading
import time
from dataclasses import dataclass, field

PATHS = ("/", "/probe.php")


@dataclass
class Response:
    sent: float
    path: str
    status: int = 0
    version: str = ""
    node: str = ""
    consistent: bool = True
    error: str = ""

    @property
    def failed(self):
        return bool(self.error) or not 200 <= self.status < 300


@dataclass
class Report:
    old_version: str
    new_version: str
    responses: list
    enabled_at: dict = field(default_factory=dict)  # node -> times it went from MAINT to UP
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
        }


class Load:
    """Sends `rate` requests per second to host:port until stopped (or max_seconds)."""

    def __init__(self, host="127.0.0.1", port=None, stats_port=None, rate=60, workers=8, max_seconds=900):
        # The lab publishes on these loopback ports (lab/lab.sh: LAB_HTTP_PORT, LAB_STATS_PORT).
        port = port or int(os.environ.get("LAB_HTTP_PORT", "8080"))
        stats_port = stats_port or int(os.environ.get("LAB_STATS_PORT", "8404"))
        self.host, self.port, self.stats_port = host, port, stats_port
        self.rate, self.workers, self.max_seconds = rate, workers, max_seconds
        self.responses = []
        self.enabled_at = {}
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
            r = self._request(PATHS[i % len(PATHS)])
            i += 1
            with self._lock:
                self.responses.append(r)

    def _request(self, path):
        r = Response(sent=time.monotonic(), path=path)
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            conn.request("GET", path, headers={"Connection": "close"})
            resp = conn.getresponse()
            body = resp.read()
            r.status = resp.status
            r.version = resp.getheader("X-Release-Version", "")
            r.node = resp.getheader("X-Served-By", "")
            if path == "/probe.php" and 200 <= resp.status < 300:
                r.consistent = bool(json.loads(body).get("consistent"))
        except (OSError, http.client.HTTPException, ValueError) as e:
            r.error = "%s: %s" % (type(e).__name__, e)
        finally:
            conn.close()
        return r

    def _watch_haproxy(self):
        previous = {}
        while self._running():
            try:
                conn = http.client.HTTPConnection(self.host, self.stats_port, timeout=2)
                conn.request("GET", "/stats;csv")
                text = conn.getresponse().read().decode()
                conn.close()
            except (OSError, http.client.HTTPException):
                time.sleep(0.2)
                continue
            now = time.monotonic()
            for row in csv.DictReader(io.StringIO(text.lstrip("# "))):
                if row["svname"] in ("FRONTEND", "BACKEND"):
                    continue
                node, status = row["svname"], row["status"]
                if status.startswith("UP") and previous.get(node, "UP").startswith("MAINT"):
                    with self._lock:
                        self.enabled_at.setdefault(node, []).append(now)
                previous[node] = status
            time.sleep(0.1)
