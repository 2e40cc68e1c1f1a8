"""The largest documented batch: 100,000 users, n=100, as JSON and as NDJSON, against the real service on a
100,000-user store. Measures the serving process's peak RSS while the batch runs (over its RSS just before)
and how long /healthz takes meanwhile (probed every 50 ms from another thread), and checks that every user
came back once.

    python -m benchmarks.batch_memory --label after      # appends a row per format to results/batch_memory.md

Each run is kept in results/batch_memory.json under its label with the commit it ran at, so a run before a
change and one after it sit in one table. The store is synthetic (benchmarks.synthetic: 2M events, 100,000
users); every user is precomputed (RECS_ACTIVE_DAYS large), so the lists come from Redis as in the issue.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

import recommender  # noqa: F401 - first: recommender/__init__.py sets OPENBLAS_NUM_THREADS=1 before numpy loads

import numpy as np

from benchmarks.harness.machine import load_averages
from benchmarks.harness.proc import MIB, rss_bytes
from benchmarks.harness.redis_server import running_redis
from benchmarks.harness.report import RESULTS, description, md_table, results_dir
from benchmarks.harness.service_child import start_service
from benchmarks.synthetic import generate_events
from recommender.events import write_events

USERS_EVENTS = 2_000_000  # 20 events per user: 100,000 users
N = 100
PROBE_INTERVAL = 0.05
NAME = "batch_memory"


@dataclass
class BatchRun:
    label: str
    commit: str
    format: str
    status: int
    seconds: float
    body_mib: float
    users_returned: int
    rss_before_mib: float
    rss_peak_mib: float
    healthz_max_s: float
    healthz_p99_s: float
    healthz_probes: int
    load: str


class Sampler:
    """RSS of one process every 20 ms, and /healthz latencies every PROBE_INTERVAL, in threads."""

    def __init__(self, pid: int, base: str) -> None:
        self.pid, self.base = pid, base
        self.peak = rss_bytes(pid)
        self.latencies: list[float] = []
        self._running = True
        self._threads = [threading.Thread(target=self._rss, daemon=True),
                         threading.Thread(target=self._probe, daemon=True)]
        for thread in self._threads:
            thread.start()

    def _rss(self) -> None:
        while self._running:
            self.peak = max(self.peak, rss_bytes(self.pid))
            time.sleep(0.02)

    def _probe(self) -> None:
        while self._running:
            started = time.monotonic()
            with urllib.request.urlopen(f"{self.base}/healthz", timeout=60) as response:
                response.read()
            self.latencies.append(time.monotonic() - started)
            time.sleep(PROBE_INTERVAL)

    def stop(self) -> None:
        self._running = False
        for thread in self._threads:
            thread.join()


def post_batch(base: str, users: list[str], ndjson: bool) -> tuple[int, int, int]:
    """(status, body bytes, users in the body), reading the body in chunks (the client holds none of it)."""
    body = json.dumps({"user_ids": users, "n": N}).encode()
    headers = {"Content-Type": "application/json", **({"Accept": "application/x-ndjson"} if ndjson else {})}
    request = urllib.request.Request(f"{base}/v1/recommendations/batch", data=body, headers=headers, method="POST")
    marker = b'"user_id":'
    size = found = 0
    tail = b""
    with urllib.request.urlopen(request, timeout=600) as response:
        status = response.status
        while chunk := response.read(1 << 20):
            size += len(chunk)
            window = tail + chunk
            found += window.count(marker) - tail.count(marker)
            tail = window[-(len(marker) - 1):]
    return status, size, found


def commit() -> str:
    result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True,
                           check=False).stdout.strip()
    return result.stdout.strip() + ("+dirty" if dirty else "")


def run(label: str, workdir: Path) -> list[BatchRun]:
    events = generate_events(USERS_EVENTS, seed=7)
    users = sorted(set(events.user_ids.tolist()))
    path = workdir / "events.csv"
    write_events(events, path)
    runs = []
    with running_redis(workdir / "redis", durable=False) as server:
        child, base = start_service(workdir, workdir / "data", server.url, {
            "RECS_BOOTSTRAP_EVENTS": str(path), "RECS_ACTIVE_DAYS": "3650", "RECS_RATE_LIMIT": "0",
            "RECS_REFRESH_INTERVAL": "86400", "RECS_LOG_LEVEL": "WARNING"}, ready_timeout=1800,
            desc="training the 100,000-user store")
        try:
            for fmt in ("json", "ndjson"):
                time.sleep(2)
                before = rss_bytes(child.pid)
                sampler = Sampler(child.pid, base)
                started = time.monotonic()
                status, size, found = post_batch(base, users, fmt == "ndjson")
                seconds = time.monotonic() - started
                time.sleep(0.2)
                sampler.stop()
                latencies = np.array(sampler.latencies)
                runs.append(BatchRun(label, commit(), fmt, status, round(seconds, 1), round(size / MIB, 1), found,
                                     round(before / MIB), round(sampler.peak / MIB),
                                     round(float(latencies.max()), 3), round(float(np.quantile(latencies, 0.99)), 3),
                                     len(latencies), load_averages()))
                print(runs[-1])
        finally:
            child.stop()
    return runs


def report(out: Path, runs: list[dict]) -> None:
    rows = [(r["label"], r["commit"], r["format"], r["status"], r["seconds"], r["body_mib"], f"{r['users_returned']:,}",
             r["rss_before_mib"], r["rss_peak_mib"], r["rss_peak_mib"] - r["rss_before_mib"], r["healthz_max_s"],
             r["healthz_p99_s"], r["healthz_probes"], r["load"]) for r in runs]
    text = ("# One batch of 100,000 users, n=100\n\n"
            "`python -m benchmarks.batch_memory --label LABEL`: the service on a synthetic 100,000-user store "
            "(2M events, every user precomputed), one POST /v1/recommendations/batch with every user and n=100, as "
            "JSON and as NDJSON. RSS of the serving process sampled every 20 ms; /healthz probed every 50 ms.\n\n"
            + md_table(["run", "commit", "format", "status", "seconds", "body MiB", "users back", "RSS before MiB",
                        "peak RSS MiB", "growth MiB", "/healthz max s", "/healthz p99 s", "probes", "load (1/5/15 min)"],
                       "lllrrrrrrrrrrl", rows) + "\n")
    (results_dir(out) / f"{NAME}.md").write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=description(__doc__))
    parser.add_argument("--label", required=True, help="name of this run in the table (before, after, ...)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="encore-batch-") as tmp:
        runs = run(args.label, Path(tmp))
    record = args.out / f"{NAME}.json"
    kept = [r for r in (json.loads(record.read_text()) if record.exists() else []) if r["label"] != args.label]
    results_dir(args.out)
    record.write_text(json.dumps(kept + [asdict(r) for r in runs], indent=1))
    report(args.out, kept + [asdict(r) for r in runs])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
