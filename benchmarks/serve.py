"""Serving benchmark: the real service under wrk, next to bare aiohttp endpoints in the same run.

What it does, start to finish:

1. starts its own redis-server on a free loopback port (AOF on, `appendfsync always`: the setting
   the README asks of an external Redis, so a 202 from the events route means on disk);
2. writes 1M synthetic interactions (`benchmarks.synthetic`) to an events file and starts the real
   service (`python -m service`) with `RECS_BOOTSTRAP_EVENTS` pointing at it, so the service itself
   trains, evaluates and precomputes; `RECS_ACTIVE_DAYS` is small, so only recently active users
   are precomputed and the rest are known to the model but not cached (the cache-miss route);
3. starts two bare aiohttp apps (`benchmarks.bare_server`): hello-world, and one redis.asyncio GET;
4. drives every route with wrk (same threads, connections and duration for all; Lua scripts spread
   ids and carry POST bodies; a Lua `done()` hook prints the p95 that `--latency` does not);
5. measures implicit's own batched recommend on the very model the service serves (users/s), to
   compare with the batch route;
6. writes `benchmarks/results/serve.md` (table, targets met or missed, machine) and
   `benchmarks/results/serve_latency.png`, and prints the table.

    python -m benchmarks.serve                          # 1M interactions, 10 s per route
    python -m benchmarks.serve --rounds 3               # median of three passes over the routes
    python -m benchmarks.serve --workdir /tmp/encore-serve   # keep (and reuse) the trained service
    python -m benchmarks.serve --profile /tmp/profiles  # py-spy record the service on each route
    python -m benchmarks.serve --workers 2              # python -m service --workers 2 (RSS and PSS per worker)

Only loopback is ever a load target. The machine may be shared: compare the ratios of one run
(every route against the bare endpoints measured minutes apart), not absolute numbers across runs.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import urllib.error  # noqa: E402
import urllib.request  # noqa: E402
from collections.abc import Iterator, Sequence  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from service.store.keys import Keys  # noqa: E402
from service.store.embedded import RedisServerError, free_port, wait_until_answering  # noqa: E402

HOST = "127.0.0.1"
WRITE_KEY = "bench-write-key"
KEY_PREFIX = "encore"
KEYS = Keys(KEY_PREFIX)
BARE_KEY = "bench:blob"
DEFAULT_OUT = Path("benchmarks/results")
BATCH_USERS = 1000
EVENTS_PER_REQUEST = 500
LIST_N = 10
#: Precomputed users requested over and over (a store's active shoppers); the rest are read once each.
HOT_USERS = 5_000
#: Items whose similar lists are requested over and over (the popular product pages).
HOT_ITEMS = 5_000
NEW_USERS = 20_000  # event ingestion writes for users the model does not know, so no other route sees them

INSTALL_WRK = ("wrk is not installed. On Debian/Ubuntu: `apt-get install -y wrk` (run `apt-get update` first "
               "if the package is not found); on macOS: `brew install wrk`; or build it from "
               "https://github.com/wg/wrk.")


class BenchError(RuntimeError):
    """Something the benchmark needs is missing or broke; the message says what."""


# -- processes --------------------------------------------------------------------------------
def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise BenchError(INSTALL_WRK)
    return path


def http(method: str, url: str, body: object | None = None, headers: dict[str, str] | None = None,
         timeout: float = 60) -> tuple[int, bytes]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@dataclass
class Child:
    """A subprocess whose output goes to a log file, stopped with SIGTERM (then SIGKILL)."""

    name: str
    process: subprocess.Popen
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            tail = self.log.read_text(errors="replace").strip().splitlines()[-15:]
            raise BenchError(f"{self.name} exited with {self.process.returncode}; last lines of {self.log}:\n"
                             + "\n".join(f"  {line}" for line in tail))

    def stop(self, timeout: float = 30) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start(name: str, command: Sequence[str], log: Path, env: dict[str, str] | None = None,
          cwd: Path | None = None) -> Child:
    handle = open(log, "ab")
    process = subprocess.Popen(list(command), stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                               start_new_session=True)
    handle.close()
    return Child(name, process, log)


def wait_http(child: Child, url: str, timeout: float, desc: str) -> None:
    """Poll `url` until it answers 200, with a progress bar in seconds."""
    deadline = time.monotonic() + timeout
    with tqdm(total=int(timeout), desc=desc, unit="s", leave=False, mininterval=5) as bar:
        began = time.monotonic()
        while time.monotonic() < deadline:
            child.check_alive()
            with contextlib.suppress(OSError):
                status, _ = http("GET", url, timeout=5)
                if status == 200:
                    return
            time.sleep(0.5)
            bar.update(int(time.monotonic() - began) - bar.n)
    raise BenchError(f"{child.name} was not ready at {url} after {timeout:.0f}s (log: {child.log})")


def wait_workers(child: Child, base: str, workers: int, timeout: float = 120) -> None:
    """Until `workers` distinct processes answered /healthz with one model version (one ready worker
    makes /readyz answer 200 while another may still be loading)."""
    deadline = time.monotonic() + timeout
    seen: dict[int, str | None] = {}
    while time.monotonic() < deadline:
        child.check_alive()
        body = json.loads(http("GET", f"{base}/healthz", timeout=5)[1])
        seen[body["pid"]] = body["model_version"]
        if len(seen) == workers and len(set(seen.values())) == 1 and None not in seen.values():
            return
        time.sleep(0.05)
    raise BenchError(f"not all {workers} workers served one model after {timeout:.0f}s: {seen}")


def start_redis(workdir: Path, port: int) -> tuple[Child, str]:
    server = shutil.which("redis-server")
    if server is None:
        raise BenchError("redis-server is not installed: apt-get install -y redis-server")
    directory = workdir / "redis"
    directory.mkdir(parents=True, exist_ok=True)
    child = start("redis-server", [server, "--bind", HOST, "--port", str(port), "--dir", str(directory),
                                   "--save", "", "--appendonly", "yes", "--appendfsync", "always",
                                   "--protected-mode", "yes", "--daemonize", "no"],
                  workdir / "redis.log")
    url = f"redis://{HOST}:{port}/0"
    try:
        wait_until_answering(port, child.process, timeout=120)  # loading a kept AOF takes a moment
    except RedisServerError:
        raise BenchError(f"redis-server did not answer on {url} (log: {child.log})") from None
    return child, url


# -- data -------------------------------------------------------------------------------------
def synthetic_events(interactions: int, seed: int):
    """benchmarks.synthetic's generator (power-law users, Zipf items, clusters, a year of time)."""
    from benchmarks.synthetic import generate_events

    return generate_events(interactions, seed=seed)


def prepare_events(workdir: Path, interactions: int, seed: int):
    """The events table, and its CSV for RECS_BOOTSTRAP_EVENTS (reused when already written)."""
    from recommender.events import read_events, write_events

    path = workdir / "events.csv"
    meta = workdir / "events.json"
    wanted = {"interactions": interactions, "seed": seed}
    if path.exists() and meta.exists() and json.loads(meta.read_text()) == wanted:
        return read_events(path), path
    events = synthetic_events(interactions, seed)
    write_events(events, path)
    meta.write_text(json.dumps(wanted))
    return events, path


def active_users(events, active_days: float) -> np.ndarray:
    """The users the service precomputes: the same rule as service.refresh.Refresher.precompute."""
    horizon = events.timestamps.max() - active_days * 86400.0
    return np.unique(events.user_ids[events.timestamps >= horizon])


# -- wrk --------------------------------------------------------------------------------------
LUA = r"""
-- generated by benchmarks/serve.py: cycle through prebuilt requests, print percentiles at the end
local method = "%(method)s"
local paths = {%(paths)s}
local bodies = {%(bodies)s}
%(headers)s
local prepared = {}
local i = 0

function setup(thread)
  thread:set("offset", %(offset)d)
end

function init(args)
  for k = 1, #paths do
    local body = nil
    if #bodies > 0 then body = bodies[((k - 1) %% #bodies) + 1] end
    prepared[k] = wrk.format(method, paths[k], nil, body)
  end
  i = offset or 0
end

function request()
  i = i + 1
  if i > #prepared then i = 1 end
  return prepared[i]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("ENCORE_DONE requests=%%d duration_us=%%d p50_us=%%d p90_us=%%d p95_us=%%d p99_us=%%d max_us=%%d "
    .. "connect=%%d read=%%d write=%%d status=%%d timeout=%%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(95), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def lua_string(text: str) -> str:
    level = "=" * 3
    if f"]{level}]" in text:
        raise ValueError("cannot quote this text in Lua")
    return f"[{level}[{text}]{level}]"


def write_lua(path: Path, method: str, paths: Sequence[str], bodies: Sequence[str] = (),
              headers: dict[str, str] | None = None, offset: int = 0) -> Path:
    header_lines = "\n".join(f"wrk.headers[ {lua_string(k)} ] = {lua_string(v)}" for k, v in (headers or {}).items())
    path.write_text(LUA % {
        "method": method,
        "paths": ",\n".join(lua_string(p) for p in paths),
        "bodies": ",\n".join(lua_string(b) for b in bodies),
        "headers": header_lines,
        "offset": offset,
    })
    return path


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def parse_duration_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not match:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


@dataclass
class WrkResult:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    non_2xx: int
    socket_errors: int
    raw: str = field(repr=False, default="")


def parse_wrk(output: str) -> WrkResult:
    """Requests/sec and the --latency distribution from wrk's text, p95 from our done() hook."""
    done = re.search(r"ENCORE_DONE (.*)", output)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if not done or not rps:
        raise BenchError(f"could not parse wrk output:\n{output}")
    fields = dict(pair.split("=") for pair in done.group(1).split())
    dist = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)\s*$", output, flags=re.M))
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = sum(int(fields[k]) for k in ("connect", "read", "write", "timeout"))
    return WrkResult(
        requests=int(fields["requests"]), seconds=int(fields["duration_us"]) / 1e6, rps=float(rps.group(1)),
        p50_ms=parse_duration_ms(dist["50"]) if "50" in dist else int(fields["p50_us"]) / 1e3,
        p90_ms=parse_duration_ms(dist["90"]) if "90" in dist else int(fields["p90_us"]) / 1e3,
        p95_ms=int(fields["p95_us"]) / 1e3,
        p99_ms=parse_duration_ms(dist["99"]) if "99" in dist else int(fields["p99_us"]) / 1e3,
        max_ms=int(fields["max_us"]) / 1e3,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0, socket_errors=errors, raw=output,
    )


def run_wrk(wrk: str, url: str, script: Path, seconds: float, threads: int, connections: int,
            timeout_s: float = 30) -> WrkResult:
    seconds = max(1, int(seconds))  # wrk takes whole seconds
    command = [wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", f"{timeout_s:g}s",
               "--latency", "-s", str(script), url]
    result = subprocess.run(command, capture_output=True, text=True, timeout=seconds + timeout_s + 60)
    if result.returncode != 0 or result.stderr.strip():  # a Lua error only shows on stderr
        raise BenchError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr}{result.stdout}")
    return parse_wrk(result.stdout)


# -- profiling (optional) ---------------------------------------------------------------------
@contextlib.contextmanager
def profiling(directory: Path | None, pid: int, name: str, seconds: float, fmt: str = "flamegraph") -> Iterator[None]:
    """py-spy record the service while a route runs, when --profile is given: a flame graph to look
    at, or (raw) collapsed stacks to add up per function."""
    if directory is None:
        yield
        return
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        raise BenchError("--profile needs py-spy: pip install py-spy")
    directory.mkdir(parents=True, exist_ok=True)
    out = directory / f"{name}.{'svg' if fmt == 'flamegraph' else 'txt'}"
    child = subprocess.Popen([spy, "record", "--pid", str(pid), "--duration", f"{max(1, int(seconds))}",
                              "--rate", "250", "--nonblocking", "--format", fmt, "--output", str(out)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield
    finally:
        try:
            child.wait(seconds + 60)
        except subprocess.TimeoutExpired:
            child.terminate()
            child.wait()


# -- routes -----------------------------------------------------------------------------------
@dataclass
class Route:
    key: str
    name: str
    label: str
    target: str  # "service" | "hello" | "bare_get"
    method: str
    paths: list[str]
    bodies: list[str] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    per_request: int = 1  # users or events per request
    unit: str = "req"
    warm_paths: list[str] | None = None  # warm up on these (default: the route's own requests)
    warm_seconds: float | None = None
    unique: bool = False  # every request a different key: the run is cut short rather than repeat one


@dataclass
class RouteResult:
    route: Route
    runs: list[WrkResult] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)  # server process CPU per request
    redis_cpu_us: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def median(self, attr: str) -> float:
        return float(statistics.median(getattr(r, attr) for r in self.runs))

    @property
    def rps(self) -> float:
        return self.median("rps")

    @property
    def work_rate(self) -> float:
        return self.rps * self.route.per_request


def metric_value(text: str, name: str, labels: str = "") -> float:
    pattern = re.escape(name) + (r"\{" + re.escape(labels) + r"\}" if labels else "") + r"\s+([0-9.e+-]+)"
    match = re.search(pattern, text)
    return float(match.group(1)) if match else 0.0


def service_counters(base: str) -> dict[str, float]:
    """Cache counters and the request total, from the service's /metrics."""
    _, body = http("GET", f"{base}/metrics")
    text = body.decode()
    out = {"requests": sum(float(v) for v in re.findall(r"^encore_http_requests_total\{[^}]*\}\s+(\S+)", text,
                                                         flags=re.M))}
    for kind in ("user", "similar"):
        out[f"{kind}_hits"] = metric_value(text, "encore_cache_hits_total", f'kind="{kind}"')
        out[f"{kind}_misses"] = metric_value(text, "encore_cache_misses_total", f'kind="{kind}"')
        out[f"{kind}_hot"] = metric_value(text, "encore_hot_cache_hits_total", f'kind="{kind}"')
    return out


def drain(base: str, pid: int, workers: int, timeout: float = 300) -> None:
    """Wait until the service has finished what wrk left queued (aiohttp finishes handlers whose
    client went away), so one route's backlog never runs into the next route's measurement.

    With several workers /metrics shows whichever worker answered, so then wait until the
    processes stop using CPU instead."""
    deadline = time.monotonic() + timeout
    if workers > 1:
        last = tree_cpu_seconds(pid)
        while time.monotonic() < deadline:
            time.sleep(0.5)
            now = tree_cpu_seconds(pid)
            if now - last < 0.03:
                return
            last = now
        raise BenchError(f"the service was still busy {timeout:.0f}s after wrk stopped")
    last = service_counters(base)["requests"]
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = service_counters(base)["requests"]
        if now - last <= 1:  # only our own /metrics request
            return
        last = now
    raise BenchError(f"the service was still busy {timeout:.0f}s after wrk stopped")


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int) -> float:
    """User plus system CPU of a process so far, from /proc (0 where there is no /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def process_tree(pid: int) -> list[int]:
    """`pid` and every live descendant (the workers of `--workers N` and their training forkservers)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
    tree, frontier = [pid], [pid]
    while frontier:
        frontier = [child for child, parent in parents.items() if parent in frontier]
        tree += frontier
    return tree


def tree_cpu_seconds(pid: int) -> float:
    return sum(cpu_seconds(p) for p in process_tree(pid))


@dataclass
class ProcessMemory:
    """One process's memory from /proc: RSS and PSS overall (smaps_rollup) and of its mappings of
    model artifacts (smaps), where PSS well under RSS means the pages are shared."""

    pid: int
    role: str
    rss_mib: float
    pss_mib: float
    artifact_rss_mib: float
    artifact_pss_mib: float


def _smaps_kib(lines: Sequence[str], field_name: str) -> int:
    return sum(int(line.split()[1]) for line in lines if line.startswith(field_name + ":"))


def process_memory(pid: int, role: str) -> ProcessMemory:
    rollup = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
    artifact: list[str] = []
    inside = False
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
            inside = line.rstrip().endswith(".npz")
        elif inside:
            artifact.append(line)
    return ProcessMemory(pid, role, _smaps_kib(rollup, "Rss") / 1024, _smaps_kib(rollup, "Pss") / 1024,
                         _smaps_kib(artifact, "Rss") / 1024, _smaps_kib(artifact, "Pss") / 1024)


def service_memory(pid: int) -> list[ProcessMemory]:
    """The service's processes: the parent (or the only process) and each worker."""
    out = []
    for p in process_tree(pid):
        with contextlib.suppress(OSError):
            command = Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0")
            if b"service" in command and b"-m" in command:
                out.append(process_memory(p, "parent" if p == pid and len(out) == 0 else "worker"))
    if len(out) == 1:
        out[0] = dataclasses.replace(out[0], role="single process")
    return out


def memory_table(memory: list[ProcessMemory]) -> str:
    lines = ["| process | pid | RSS MiB | PSS MiB | artifact RSS MiB | artifact PSS MiB |",
             "|---|---:|---:|---:|---:|---:|"]
    for m in memory:
        lines.append(f"| {m.role} | {m.pid} | {m.rss_mib:,.1f} | {m.pss_mib:,.1f} | {m.artifact_rss_mib:,.1f} | "
                     f"{m.artifact_pss_mib:,.1f} |")
    return "\n".join(lines)


# -- implicit's own rate ----------------------------------------------------------------------
def implicit_rate(model_path: Path, user_batches: list[list[str]], n: int, min_seconds: float = 3.0) -> dict:
    """Users/s of `algorithm.recommend` (batched, already-liked filtered) on the served model."""
    from recommender.artifacts import load_model

    model, info = load_model(model_path)
    algorithm, user_items = model.algorithm, model.user_items
    batches = [model.user_ids.lookup(batch) for batch in user_batches]
    algorithm.recommend(batches[0], user_items[batches[0]], N=n)  # warm up
    users, began, k = 0, time.perf_counter(), 0
    while True:
        codes = batches[k % len(batches)]
        algorithm.recommend(codes, user_items[codes], N=n, filter_already_liked_items=True)
        users += len(codes)
        k += 1
        elapsed = time.perf_counter() - began
        if elapsed >= min_seconds and k >= 3:
            break
    return {"users_per_s": users / elapsed, "batches": k, "seconds": elapsed,
            "threads": getattr(algorithm, "num_threads", None), "algorithm": info.algorithm,
            "factors": int(getattr(algorithm, "factors", 0) or 0), "users": info.users, "items": info.items,
            "interactions": info.interactions, "version": info.version}


# -- the machine ------------------------------------------------------------------------------
def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for name in ("aiohttp", "redis", "implicit", "numpy"):
        with contextlib.suppress(PackageNotFoundError):
            versions[name] = version(name)
    wrk_version = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    redis_version = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.strip()
    return {
        "cpu": cpu, "cores": str(os.cpu_count()), "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "packages": ", ".join(f"{k} {v}" for k, v in versions.items()),
        "wrk": wrk_version.replace(" Copyright (C) 2012 Will Glozer", "").strip(),
        "redis": redis_version.split(" sha=")[0],
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


# -- report -----------------------------------------------------------------------------------
@dataclass
class Target:
    name: str
    wanted: str
    measured: str
    met: bool


def verdicts(results: dict[str, RouteResult], implicit: dict | None) -> list[Target]:
    bare = results["bare_get"]
    out: list[Target] = []
    for key, label in (("cached", "cached user recommendations"), ("similar", "similar items")):
        if key not in results:
            continue
        r = results[key]
        out.append(Target(f"{label}: throughput", f">= bare Redis GET ({bare.rps:,.0f} req/s)",
                          f"{r.rps:,.0f} req/s ({r.rps / bare.rps:.2f}x)", r.rps >= bare.rps))
        limit = 2 * bare.median("p99_ms")
        out.append(Target(f"{label}: p99", f"<= 2x bare GET p99 ({limit:.1f} ms)",
                          f"{r.median('p99_ms'):.1f} ms ({r.median('p99_ms') / bare.median('p99_ms'):.2f}x)",
                          r.median("p99_ms") <= limit))
    if "batch" in results and implicit:
        r = results["batch"]
        want = 0.8 * implicit["users_per_s"]
        out.append(Target("batch route", f">= 80% of implicit's batched recommend ({want:,.0f} users/s)",
                          f"{r.work_rate:,.0f} users/s ({r.work_rate / implicit['users_per_s']:.0%})",
                          r.work_rate >= want))
    if "events" in results:
        r = results["events"]
        out.append(Target("event ingestion", ">= 20,000 events/s in batches of 500",
                          f"{r.work_rate:,.0f} events/s", r.work_rate >= 20_000))
    return out


def table(results: dict[str, RouteResult]) -> str:
    bare = results["bare_get"]
    lines = ["| route | req/s | users or events/s | vs bare GET | p50 ms | p95 ms | p99 ms | p99 vs bare GET | "
             "server CPU µs/req | redis CPU µs/req | errors |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results.values():
        work = f"{r.work_rate:,.0f}" if r.route.per_request > 1 else ""
        errors = sum(x.non_2xx + x.socket_errors for x in r.runs)
        cpu = f"{statistics.median(r.cpu_us):,.0f}" if r.cpu_us else ""
        redis_cpu = f"{statistics.median(r.redis_cpu_us):,.1f}" if r.redis_cpu_us else ""
        lines.append(
            f"| {r.route.name} | {r.rps:,.0f} | {work} | {r.rps / bare.rps:.2f}x | "
            f"{r.median('p50_ms'):.2f} | {r.median('p95_ms'):.2f} | {r.median('p99_ms'):.2f} | "
            f"{r.median('p99_ms') / bare.median('p99_ms'):.2f}x | {cpu} | {redis_cpu} | {errors} |")
    return "\n".join(lines)


def plot(results: dict[str, RouteResult], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    labels = [results[n].route.name for n in names]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 0.55 * len(names) + 2.2),
                                      gridspec_kw={"width_ratios": [3, 2]})
    y = np.arange(len(names))
    height = 0.26
    for k, (attr, label) in enumerate((("p50_ms", "p50"), ("p95_ms", "p95"), ("p99_ms", "p99"))):
        left.barh(y + (k - 1) * height, [results[n].median(attr) for n in names], height, label=label)
    left.set_yticks(y, labels)
    left.invert_yaxis()
    left.set_xscale("log")
    left.set_xlabel("latency (ms, log scale)")
    left.legend(loc="lower right")
    left.grid(axis="x", which="both", alpha=0.3)
    bare = results["bare_get"].rps
    ratios = [results[n].rps / bare for n in names]
    right.barh(y, ratios, color=["#888888" if results[n].route.target != "service" else "#3b75af" for n in names])
    right.axvline(1.0, color="black", linewidth=0.8, linestyle="--")
    right.set_yticks(y, [])
    right.invert_yaxis()
    right.set_xscale("log")
    right.set_xlabel("requests/s relative to the bare Redis-GET endpoint (log)")
    for yy, ratio, n in zip(y, ratios, names):
        right.text(ratio, yy, f" {results[n].rps:,.0f}/s", va="center", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def markdown(results: dict[str, RouteResult], targets: list[Target], implicit: dict | None, setup: dict,
             info: dict[str, str], command: str, memory: list[ProcessMemory]) -> str:
    lines = [
        "# Serving benchmark",
        "",
        f"`{command}`: wrk `-t{setup['threads']} -c{setup['connections']} -d{setup['duration']:g}s --latency` per "
        f"route after a warm-up, {setup['rounds']} round(s) (median shown); every route and both bare endpoints "
        "were measured in this one run, minutes apart, so compare the ratios, not the absolute numbers.",
        "",
        f"Model: {setup['algorithm']} on {setup['interactions']:,} synthetic interactions ({setup['users']:,} users x "
        f"{setup['items']:,} items, seed {setup['seed']}); {setup['precomputed']:,} users precomputed "
        f"(RECS_ACTIVE_DAYS={setup['active_days']:g}), {setup['not_precomputed']:,} known users not precomputed.",
        "",
        table(results),
        "",
        "CPU columns: CPU time the server's processes (and redis-server) used during the run, per request; on a",
        "shared machine they move less than requests/s does.",
        "",
        f"Memory after the run, {setup['workers']} worker(s) (`/proc/PID/smaps_rollup`; artifact: the mappings of",
        "the model's .npz, whose arrays are used in place; PSS splits each shared page between its processes):",
        "",
        memory_table(memory),
        "",
        "Routes:",
        "",
    ]
    for r in results.values():
        lines.append(f"- **{r.route.name}**: {r.route.label}." + (" " + " ".join(r.notes) if r.notes else ""))
    if implicit:
        lines += [
            "",
            f"implicit's own batched recommend on the served model: **{implicit['users_per_s']:,.0f} users/s** "
            f"(`model.recommend(userids, user_items[userids], N={LIST_N})` on the artifact the service loaded, "
            f"the batch route's 1,000-user batches, num_threads={implicit['threads']} (0: all cores), "
            f"{implicit['seconds']:.1f} s).",
        ]
    lines += [
        "",
        "## Targets",
        "",
        "| target | wanted | measured | |",
        "|---|---|---|---|",
    ]
    for t in targets:
        lines.append(f"| {t.name} | {t.wanted} | {t.measured} | {'met' if t.met else '**missed**'} |")
    lines += [
        "",
        "## Machine",
        "",
        f"- CPU: {info['cpu']}, {info['cores']} cores, shared with other work (load average at start "
        f"{setup['load_start']}, at end {info['load']})",
        f"- {info['os']}, Python {info['python']}; {info['packages']}",
        f"- {info['redis']} with AOF on and appendfsync always; {info['wrk']}",
        "- wrk, the service, redis-server and the bare apps all on this machine, over 127.0.0.1",
        "",
        "![latency per route](serve_latency.png)",
        "",
    ]
    return "\n".join(lines)


# -- the run ----------------------------------------------------------------------------------
def build_routes(rng: np.random.Generator, precomputed: np.ndarray, pool: np.ndarray, items: np.ndarray,
                 popular_items: np.ndarray) -> dict[str, Route]:
    """Request mixes; every list is shuffled so consecutive requests touch different keys."""
    order = rng.permutation(precomputed)
    hot_users, first_users = order[:HOT_USERS], order[HOT_USERS:]
    hot_items = rng.permutation(popular_items[:HOT_ITEMS])
    first_items = rng.permutation(np.setdiff1d(items, popular_items[:HOT_ITEMS]))

    def user_path(u: str) -> str:
        return f"/v1/users/{u}/recommendations?n={LIST_N}"

    def item_path(i: str) -> str:
        return f"/v1/items/{i}/similar?n={LIST_N}"

    hot_user_paths = [user_path(u) for u in hot_users]
    hot_item_paths = [item_path(i) for i in hot_items]
    batch_bodies = [json.dumps({"user_ids": rng.choice(precomputed, BATCH_USERS, replace=False).tolist(),
                                "n": LIST_N}) for _ in range(40)]
    now = time.time()
    types = ("view", "view", "view", "click", "add_to_cart", "purchase")
    new_users = np.array([f"bench-new-{k:05d}" for k in range(NEW_USERS)], dtype=object)
    event_bodies = []
    for _ in range(40):
        users = rng.choice(new_users, EVENTS_PER_REQUEST)
        chosen = rng.choice(items, EVENTS_PER_REQUEST)
        kinds = rng.choice(len(types), EVENTS_PER_REQUEST)
        event_bodies.append(json.dumps([
            {"user_id": str(u), "item_id": str(i), "type": types[k], "timestamp": round(now - float(s), 3)}
            for u, i, k, s in zip(users, chosen, kinds, rng.uniform(0, 3600, EVENTS_PER_REQUEST))]))
    json_headers = {"Content-Type": "application/json"}
    return {
        "hello": Route("hello", "bare hello", "bare aiohttp app answering a fixed JSON body", "hello", "GET", ["/"]),
        "bare_get": Route("bare_get", "bare Redis GET", "bare aiohttp app doing one redis.asyncio GET of an "
                          "800-byte value (a precomputed list's size) per request", "bare_get", "GET", ["/"]),
        "cached": Route("cached", "user recs, cached (hot)",
                        f"`GET /v1/users/{{id}}/recommendations?n={LIST_N}` over {len(hot_users):,} precomputed users "
                        "in random order, after a warm-up that has read each once (steady state: lists and "
                        "since-training events come from the in-process caches)", "service", "GET", hot_user_paths,
                        warm_seconds=None),
        "first_read": Route("first_read", "user recs, cached (first read)",
                            f"the same route over the other {len(first_users):,} precomputed users, each requested "
                            "once (the list and the user's events come from Redis)", "service", "GET",
                            [user_path(u) for u in first_users], warm_paths=hot_user_paths, unique=True),
        "miss": Route("miss", "user recs, cache miss",
                      "the same route for known users who were not precomputed: the list is computed from the "
                      "model in a worker thread and written back", "service", "GET", [user_path(u) for u in pool],
                      warm_paths=hot_user_paths, unique=True),
        "similar": Route("similar", "similar items (hot)",
                         f"`GET /v1/items/{{id}}/similar?n={LIST_N}` over the {len(hot_items):,} most popular items in "
                         "random order, after a warm-up that has read each once", "service", "GET", hot_item_paths),
        "similar_first": Route("similar_first", "similar items (first read)",
                               f"the same route over the other {len(first_items):,} items, each requested once "
                               "(read from Redis)", "service", "GET", [item_path(i) for i in first_items],
                               warm_paths=hot_item_paths, unique=True),
        "batch": Route("batch", "batch, 1,000 users",
                       f"`POST /v1/recommendations/batch` with {BATCH_USERS:,} random precomputed users, n={LIST_N} "
                       "(JSON response; batches read Redis and bypass the in-process caches)", "service", "POST",
                       ["/v1/recommendations/batch"] * len(batch_bodies), batch_bodies, json_headers, BATCH_USERS,
                       "users"),
        "events": Route("events", "events, 500 per request",
                        f"`POST /v1/events` with {EVENTS_PER_REQUEST} events per request for users the model does not "
                        "know (so no other route sees them); 202 means on disk", "service", "POST",
                        ["/v1/events"] * len(event_bodies), event_bodies,
                        {**json_headers, "Authorization": f"Bearer {WRITE_KEY}"}, EVENTS_PER_REQUEST, "events"),
    }


def reset_state(redis_url: str, version: str, pool: np.ndarray) -> None:
    """Forget what earlier runs in a kept workdir left behind: since-training events, written-back
    misses. Runs before the service has answered any request, so its in-process caches are empty."""
    import redis

    client = redis.Redis.from_url(redis_url)
    pipe = client.pipeline(transaction=False)
    for k, user in enumerate(pool):
        pipe.delete(KEYS.user_recs(version, user))
        if k % 5000 == 4999:
            pipe.execute()
    pipe.execute()
    batch = []
    for key in client.scan_iter(match=KEYS.recent("*"), count=5000):
        batch.append(key)
        if len(batch) >= 5000:
            client.delete(*batch)
            batch = []
    if batch:
        client.delete(*batch)
    client.delete(KEYS.events)
    client.close()


def check_routes(base: str, routes: dict[str, Route], redis_url: str, version: str, pool: np.ndarray,
                 precomputed: np.ndarray) -> None:
    """Before timing anything: precomputed lists where expected, none for the miss pool, and one
    request per read route with the right status and source."""
    import redis

    client = redis.Redis.from_url(redis_url)
    if not all(client.exists(KEYS.user_recs(version, u)) for u in precomputed[:50]):
        raise BenchError("precomputed users have no cached list: the benchmark's active-user rule and "
                         "service.training.refresh disagree")
    if any(client.exists(KEYS.user_recs(version, u)) for u in pool[:200]):
        raise BenchError("users meant to miss the cache have a cached list")
    client.close()
    status, body = http("GET", base + routes["cached"].paths[0])
    reply = json.loads(body)
    if status != 200 or reply.get("source") != "personalized" or len(reply.get("items", [])) != LIST_N:
        raise BenchError(f"cached user route answered {status}: {body[:300]!r}")
    status, body = http("GET", base + routes["similar"].paths[0])
    if status != 200 or len(json.loads(body).get("items", [])) != LIST_N:
        raise BenchError(f"similar route answered {status}: {body[:300]!r}")
    status, body = http("POST", base + "/v1/recommendations/batch", json.loads(routes["batch"].bodies[0]))
    if status != 200 or len(json.loads(body).get("results", [])) != BATCH_USERS:
        raise BenchError(f"batch route answered {status}: {body[:300]!r}")


def measure(wrk: str, args: argparse.Namespace, route: Route, url: str, script: Path, pid: int, redis_pid: int,
            base: str, profile_name: str, seconds: float) -> tuple[WrkResult, float, float, dict, dict]:
    """One measured wrk run with the server's and redis-server's CPU time and the service counters."""
    before = service_counters(base) if route.target == "service" else {}
    cpu0, redis0 = tree_cpu_seconds(pid), cpu_seconds(redis_pid)
    with profiling(args.profile, pid, profile_name, seconds, args.profile_format):
        result = run_wrk(wrk, url, script, seconds, args.threads, args.connections)
    if route.target == "service":
        drain(base, pid, args.workers)
    cpu1, redis1 = tree_cpu_seconds(pid), cpu_seconds(redis_pid)
    after = service_counters(base) if route.target == "service" else {}
    done = max(result.requests, 1)
    return result, 1e6 * (cpu1 - cpu0) / done, 1e6 * (redis1 - redis0) / done, before, after


def run(args: argparse.Namespace) -> int:
    wrk = require_wrk()
    command = "python -m benchmarks.serve" + "".join(f" {a}" for a in (args.argv or []))
    load_start = " ".join(f"{x:.2f}" for x in os.getloadavg())
    keep = args.workdir is not None
    workdir = Path(args.workdir) if keep else Path(tempfile.mkdtemp(prefix="encore-serve-"))
    workdir.mkdir(parents=True, exist_ok=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    children: list[Child] = []
    rng = np.random.default_rng(args.seed)
    state = {"interactions": args.interactions, "seed": args.seed, "active_days": args.active_days}
    meta = workdir / "setup.json"
    if meta.exists() and json.loads(meta.read_text()) != state:  # a kept workdir trained another way
        for stale in ("service", "redis"):
            shutil.rmtree(workdir / stale, ignore_errors=True)
    meta.write_text(json.dumps(state))
    try:
        steps = tqdm(total=5, desc="setup", bar_format="{desc}: {n}/{total} {postfix}")
        steps.set_postfix_str("synthetic events")
        events, events_path = prepare_events(workdir, args.interactions, args.seed)
        steps.update()

        steps.set_postfix_str("redis-server")
        redis_child, redis_url = start_redis(workdir, free_port())
        children.append(redis_child)
        steps.update()

        steps.set_postfix_str("service: train, evaluate, precompute")
        port = free_port()
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "REDIS_URL": redis_url, "RECS_HOST": HOST,
               "RECS_PORT": str(port), "RECS_DATA_DIR": str(workdir / "service"),
               "RECS_BOOTSTRAP_EVENTS": str(events_path), "RECS_WRITE_KEYS": WRITE_KEY,
               "RECS_ACTIVE_DAYS": f"{args.active_days:g}", "RECS_REFRESH_INTERVAL": "604800",
               "RECS_LOG_LEVEL": "WARNING", "RECS_KEY_PREFIX": KEY_PREFIX, "RECS_WORKERS": str(args.workers)}
        service = start("service", [sys.executable, "-m", "service"], workdir / "service.log", env)
        children.append(service)
        base = f"http://{HOST}:{port}"
        wait_http(service, f"{base}/readyz", args.ready_timeout, "waiting for /readyz (training)")
        wait_workers(service, base, args.workers)
        _, body = http("GET", f"{base}/v1/model")
        model_info = json.loads(body)
        version = model_info["version"]
        steps.update()

        steps.set_postfix_str("bare apps")
        hello_port, get_port = free_port(), free_port()
        import redis

        blob = np.arange(200, dtype="<i4").tobytes()  # the size of a precomputed list of 100
        redis.Redis.from_url(redis_url).set(BARE_KEY, blob)
        bare = [sys.executable, "-m", "benchmarks.bare_server"]
        hello = start("bare hello", [*bare, "hello", "--port", str(hello_port)], workdir / "hello.log")
        children.append(hello)
        getter = start("bare redis-get", [*bare, "redis-get", "--port", str(get_port), "--redis-url", redis_url,
                                          "--key", BARE_KEY], workdir / "bare_get.log")
        children.append(getter)
        wait_http(hello, f"http://{HOST}:{hello_port}/", 60, "bare hello")
        wait_http(getter, f"http://{HOST}:{get_port}/", 60, "bare redis-get")
        steps.update()

        steps.set_postfix_str("request mixes")
        precomputed = active_users(events, args.active_days)
        known = np.unique(events.user_ids)
        pool = np.setdiff1d(known, precomputed)
        rng.shuffle(pool)
        items, counts = np.unique(events.item_ids, return_counts=True)
        popular_items = items[np.argsort(-counts, kind="stable")]
        reset_state(redis_url, version, pool)
        routes = build_routes(rng, precomputed, pool, items, popular_items)
        check_routes(base, routes, redis_url, version, pool, precomputed)
        urls = {"service": base, "hello": f"http://{HOST}:{hello_port}", "bare_get": f"http://{HOST}:{get_port}"}
        pids = {"service": service.pid, "hello": hello.pid, "bare_get": getter.pid}
        steps.update()
        steps.close()

        order = ("hello", "bare_get", "cached", "first_read", "miss", "similar", "similar_first", "batch", "events")
        selected = [k for k in order if k in ("hello", "bare_get") or k in args.routes]
        scripts = workdir / "lua"
        scripts.mkdir(exist_ok=True)
        results = {k: RouteResult(routes[k]) for k in selected}
        plan = [(r, k) for r in range(args.rounds) for k in selected]
        offsets = {k: 0 for k in selected}
        with tqdm(plan, desc="wrk runs", unit="run") as bar:
            for r, k in bar:
                route = routes[k]
                bar.set_postfix_str(f"round {r + 1}: {route.name}")
                url = urls[route.target]
                seconds = args.duration
                if route.unique:
                    # never ask for a key twice: cut the run short when the ids would run out at the rate
                    # the bare GET endpoint reached (the fastest these routes can plausibly go)
                    left = len(route.paths) - offsets[k]
                    cap = 0.9 * left / max(results["bare_get"].rps * 1.5, 1.0)
                    seconds = float(max(1, int(min(seconds, cap))))
                script = write_lua(scripts / f"{k}.lua", route.method, route.paths, route.bodies, route.headers,
                                   offsets[k])
                warm = script
                if route.warm_paths is not None:
                    warm = write_lua(scripts / f"{k}-warm.lua", "GET", route.warm_paths)
                warm_seconds = args.warmup
                if route.key in ("cached", "similar") and r == 0:
                    # one pass over the hot set, so the measured run sees the steady state
                    warm_seconds = max(args.warmup, math.ceil(3 * len(route.paths) / max(results["bare_get"].rps, 1.0)))
                if warm_seconds > 0:
                    run_wrk(wrk, url, warm, warm_seconds, args.threads, args.connections)
                    if route.target == "service":
                        drain(base, pids["service"], args.workers)
                result, cpu_us, redis_us, before, after = measure(
                    wrk, args, route, url, script, pids[route.target], redis_child.pid, base, f"{k}-{r + 1}", seconds)
                offsets[k] += result.requests
                for child in children:
                    child.check_alive()
                res = results[k]
                res.runs.append(result)
                res.cpu_us.append(cpu_us)
                res.redis_cpu_us.append(redis_us)
                kind = "similar" if k.startswith("similar") else "user"
                if (route.target == "service" and args.workers == 1
                        and k in ("cached", "first_read", "miss", "similar", "similar_first")):
                    delta = {x: after[f"{kind}_{x}"] - before[f"{kind}_{x}"] for x in ("hits", "misses", "hot")}
                    total = max(delta["hits"] + delta["misses"], 1)
                    res.notes.append(f"Round {r + 1}: {seconds:g} s, {delta['hot'] / total:.0%} of lists from the "
                                     f"in-process cache, {(delta['hits'] - delta['hot']) / total:.0%} from Redis, "
                                     f"{delta['misses'] / total:.0%} computed.")
                if result.non_2xx or result.socket_errors:
                    tqdm.write(f"warning: {route.name}: {result.non_2xx} non-2xx, {result.socket_errors} "
                               "socket errors")

        implicit = None
        if "batch" in selected:
            batches = [json.loads(b)["user_ids"] for b in routes["batch"].bodies]
            with tqdm(total=1, desc="implicit batched recommend", leave=False) as bar:
                implicit = implicit_rate(workdir / "service" / "models" / f"{version}.npz", batches, LIST_N)
                bar.update()

        memory = service_memory(service.pid)
        info = machine()
        setup = {"workers": args.workers, "threads": args.threads, "connections": args.connections, "duration": args.duration,
                 "rounds": args.rounds, "seed": args.seed, "precomputed": len(precomputed),
                 "not_precomputed": len(pool), "active_days": args.active_days, "load_start": load_start,
                 "interactions": len(events), "users": len(known), "items": len(items),
                 "algorithm": model_info.get("algorithm", "?")}
        targets = verdicts(results, implicit)
        title = (f"encore serving, {args.workers} worker(s): wrk -t{args.threads} -c{args.connections} "
                 f"-d{args.duration:g}s, "
                 f"{len(events):,} interactions, {info['cores']} shared cores")
        plot(results, out / "serve_latency.png", title)
        (out / "serve.md").write_text(markdown(results, targets, implicit, setup, info, command, memory))
        (out / "serve.json").write_text(json.dumps({
            "setup": setup, "machine": info, "implicit": implicit,
            "memory": [dataclasses.asdict(m) for m in memory],
            "routes": {k: {"name": r.route.name, "label": r.route.label, "rps": r.rps, "work_rate": r.work_rate,
                           "cpu_us": r.cpu_us, "redis_cpu_us": r.redis_cpu_us, "notes": r.notes,
                           "runs": [dataclasses.asdict(x) | {"raw": None} for x in r.runs]}
                       for k, r in results.items()},
            "targets": [dataclasses.asdict(t) for t in targets],
        }, indent=1))
        print()
        print(table(results))
        print()
        print(memory_table(memory))
        if implicit:
            print(f"\nimplicit batched recommend on the same model: {implicit['users_per_s']:,.0f} users/s")
        for t in targets:
            print(f"{'met   ' if t.met else 'MISSED'}  {t.name}: {t.measured} (wanted {t.wanted})")
        print(f"\nwrote {out / 'serve.md'}, {out / 'serve.json'} and {out / 'serve_latency.png'}")
        return 0
    finally:
        for child in reversed(children):
            child.stop()
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)


ROUTE_NAMES = ("cached", "first_read", "miss", "similar", "similar_first", "batch", "events")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m benchmarks.serve", description=__doc__.splitlines()[0])
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of wrk per route (default 10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of wrk before each measured run")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1: one core for wrk)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=1, help="passes over all routes; the median is reported")
    parser.add_argument("--active-days", type=float, default=90.0,
                        help="RECS_ACTIVE_DAYS: users active this recently are precomputed (default 90, the "
                             "service's default)")
    parser.add_argument("--routes", nargs="+", choices=ROUTE_NAMES, default=list(ROUTE_NAMES))
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    parser.add_argument("--workdir", help="keep redis, model and events here and reuse them next time")
    parser.add_argument("--ready-timeout", type=float, default=1800.0, help="seconds to wait for the first model")
    parser.add_argument("--profile", type=Path, help="py-spy record the service into this directory per route")
    parser.add_argument("--profile-format", choices=("flamegraph", "raw"), default="flamegraph",
                        help="flame graph SVGs (default) or raw collapsed stacks (.txt) to add up per function")
    parser.add_argument("--workers", type=int, default=1, help="python -m service --workers N (default 1)")
    args = parser.parse_args(argv)
    args.argv = argv
    try:
        return run(args)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
