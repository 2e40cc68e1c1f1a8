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

The request mixes are in benchmarks/serve_routes.py, what is read off the service in
benchmarks/serve_probes.py, the report in benchmarks/serve_report.py; processes, redis-server, wrk
and /proc come from benchmarks/harness/.

Only loopback is ever a load target. The machine may be shared: compare the ratios of one run
(every route against the bare endpoints measured minutes apart), not absolute numbers across runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import recommender  # noqa: F401 - first: recommender/__init__.py sets OPENBLAS_NUM_THREADS=1 before numpy loads

import numpy as np
from tqdm import tqdm

from benchmarks.harness.machine import load_averages, machine
from benchmarks.harness.proc import cpu_seconds, tree_cpu_seconds
from benchmarks.harness.processes import BenchError, Child, http, start, wait_http
from benchmarks.harness.redis_server import HOST, start_redis
from benchmarks.harness.report import RESULTS, results_dir
from benchmarks.harness.service_child import start_service
from benchmarks.harness.wrk import WrkResult, require_wrk, run_wrk, write_lua
from benchmarks.harness.proc import profiling
from benchmarks.serve_probes import drain, implicit_rate, service_counters, service_memory, wait_workers
from benchmarks.serve_report import RouteResult, markdown, memory_table, plot, table, unsteady, verdicts
from benchmarks.serve_routes import (BARE_KEY, HOT_USERS, KEY_PREFIX, LIST_N, ROUTE_NAMES, WRITE_KEY, Route,
                                     build_routes, check_routes, prepare_catalog, prepare_events, reset_state)
from recommender.events import active_users
from service.store.embedded import free_port

#: Routes in the order they are measured; the two bare apps always come first.
ORDER = ("hello", "bare_get", "bare_get_user", "cached", "cached_fields", "first_read", "miss", "similar",
         "similar_first", "batch", "events", "events_priced")
#: Routes that read what no request read before; the bare per-user GET is measured with them (their floor).
FIRST_READS = ("first_read", "miss")


@dataclass
class Servers:
    """What one run started: redis-server, the service and the two bare apps, and where they answer."""

    redis_pid: int
    redis_url: str
    base: str
    urls: dict[str, str]  # route target -> base URL
    pids: dict[str, int]  # route target -> process id
    model_info: dict


def start_servers(args: argparse.Namespace, workdir: Path, events_path: Path, catalog_path: Path,
                  children: list[Child], steps: tqdm) -> Servers:
    """redis-server, the service (trained on `events_path`, all its workers ready) and the bare apps;
    each is appended to `children` as soon as it runs, so the caller stops them whatever happens."""
    steps.set_postfix_str("redis-server")
    redis_server = start_redis(workdir / "redis")
    children.append(redis_server.child)
    steps.update()

    steps.set_postfix_str("service: train, evaluate, precompute")
    service, base = start_service(
        workdir, workdir / "service", redis_server.url,
        {"RECS_BOOTSTRAP_EVENTS": str(events_path), "RECS_BOOTSTRAP_CATALOG": str(catalog_path),
         "RECS_WRITE_KEYS": WRITE_KEY,
         "RECS_ACTIVE_DAYS": f"{args.active_days:g}", "RECS_REFRESH_INTERVAL": "604800", "RECS_LOG_LEVEL": "WARNING",
         "RECS_KEY_PREFIX": KEY_PREFIX, "RECS_WORKERS": str(args.workers)},
        args.ready_timeout, "waiting for /readyz (training)")
    children.append(service)
    wait_workers(service, base, args.workers)
    model_info = json.loads(http("GET", f"{base}/v1/model")[1])
    steps.update()

    steps.set_postfix_str("bare apps")
    import redis

    blob = np.arange(200, dtype="<i4").tobytes()  # the size of a precomputed list of 100
    redis.Redis.from_url(redis_server.url).set(BARE_KEY, blob)
    hello_port, get_port = free_port(), free_port()
    bare = [sys.executable, "-m", "benchmarks.bare_server"]
    hello = start("bare hello", [*bare, "hello", "--port", str(hello_port)], workdir / "hello.log")
    children.append(hello)
    getter = start("bare redis-get", [*bare, "redis-get", "--port", str(get_port), "--redis-url", redis_server.url,
                                      "--key", BARE_KEY], workdir / "bare_get.log")
    children.append(getter)
    urls = {"service": base, "hello": f"http://{HOST}:{hello_port}", "bare_get": f"http://{HOST}:{get_port}"}
    wait_http(hello, urls["hello"] + "/", 60, "bare hello")
    wait_http(getter, urls["bare_get"] + "/", 60, "bare redis-get")
    steps.update()
    return Servers(redis_server.child.pid, redis_server.url, base, urls,
                   {"service": service.pid, "hello": hello.pid, "bare_get": getter.pid}, model_info)


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


def cache_note(key: str, round_number: int, seconds: float, before: dict, after: dict) -> str:
    """Where a read route's lists came from in one run: the in-process cache, Redis, or computed."""
    kind = "similar" if key.startswith("similar") else "user"
    delta = {x: after[f"{kind}_{x}"] - before[f"{kind}_{x}"] for x in ("hits", "misses", "hot", "rendered")}
    total = max(delta["hits"] + delta["misses"], 1)
    rendered = f" ({delta['rendered'] / total:.0%} answered as rendered at training)" if delta["rendered"] else ""
    return (f"Round {round_number}: {seconds:g} s, {delta['hot'] / total:.0%} of lists from the in-process cache, "
            f"{(delta['hits'] - delta['hot']) / total:.0%} from Redis{rendered}, {delta['misses'] / total:.0%} "
            "computed.")


def run_routes(wrk: str, args: argparse.Namespace, routes: dict[str, Route], servers: Servers, workdir: Path,
               children: list[Child]) -> dict[str, RouteResult]:
    """Every selected route, `args.rounds` times, each run after its warm-up."""
    wanted = {"hello", "bare_get", *args.routes} | ({"bare_get_user"} if set(args.routes) & set(FIRST_READS) else set())
    selected = [k for k in ORDER if k in wanted]
    scripts = workdir / "lua"
    scripts.mkdir(exist_ok=True)
    results = {k: RouteResult(routes[k]) for k in selected}
    plan = [(r, k) for r in range(args.rounds) for k in selected]
    offsets = {k: 0 for k in selected}
    with tqdm(plan, desc="wrk runs", unit="run") as bar:
        for r, k in bar:
            route = routes[k]
            bar.set_postfix_str(f"round {r + 1}: {route.name}")
            url = servers.urls[route.target]
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
            if route.key in ("cached", "cached_fields", "similar") and r == 0:
                # one pass over the hot set, so the measured run sees the steady state
                warm_seconds = max(args.warmup, math.ceil(3 * len(route.paths) / max(results["bare_get"].rps, 1.0)))
            if warm_seconds > 0:
                run_wrk(wrk, url, warm, warm_seconds, args.threads, args.connections)
                if route.target == "service":
                    drain(servers.base, servers.pids["service"], args.workers)
            result, cpu_us, redis_us, before, after = measure(
                wrk, args, route, url, script, servers.pids[route.target], servers.redis_pid, servers.base,
                f"{k}-{r + 1}", seconds)
            offsets[k] += result.requests
            for child in children:
                child.check_alive()
            res = results[k]
            res.runs.append(result)
            res.cpu_us.append(cpu_us)
            res.redis_cpu_us.append(redis_us)
            if (route.target == "service" and args.workers == 1
                    and k in ("cached", "cached_fields", "first_read", "miss", "similar", "similar_first")):
                res.notes.append(cache_note(k, r + 1, seconds, before, after))
            if result.non_2xx or result.socket_errors:
                tqdm.write(f"warning: {route.name}: {result.non_2xx} non-2xx, {result.socket_errors} socket errors")
    return results


def run(args: argparse.Namespace) -> int:
    wrk = require_wrk()
    command = "python -m benchmarks.serve" + "".join(f" {a}" for a in (args.argv or []))
    load_start = load_averages()
    keep = args.workdir is not None
    workdir = Path(args.workdir) if keep else Path(tempfile.mkdtemp(prefix="encore-serve-"))
    workdir.mkdir(parents=True, exist_ok=True)
    out = results_dir(Path(args.out))
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
        catalog_path = prepare_catalog(workdir, np.unique(events.item_ids), args.seed)
        steps.update()
        servers = start_servers(args, workdir, events_path, catalog_path, children, steps)
        version = servers.model_info["version"]

        steps.set_postfix_str("request mixes")
        precomputed = np.sort(active_users(events, args.active_days))
        known = np.unique(events.user_ids)
        # known users not precomputed, sorted; hashed: np.setdiff1d compares every pair of an object array
        pool = np.array(sorted(set(known.tolist()).difference(precomputed.tolist())), dtype=object)
        rng.shuffle(pool)
        items, counts = np.unique(events.item_ids, return_counts=True)
        popular_items = items[np.argsort(-counts, kind="stable")]
        reset_state(servers.redis_url, version, pool)
        routes = build_routes(rng, precomputed, pool, items, popular_items, version)
        empty = [k for k in args.routes if not routes[k].paths]
        if empty:
            raise BenchError(f"no requests to make for {', '.join(empty)}: {len(precomputed):,} users precomputed "
                             f"(the first {HOT_USERS:,} are the hot set), {len(pool):,} not; use more --interactions "
                             "or leave these out of --routes")
        check_routes(servers.base, routes, servers.redis_url, version, pool, precomputed, servers.urls["bare_get"])
        steps.update()
        steps.close()

        results = run_routes(wrk, args, routes, servers, workdir, children)

        implicit = None
        if "batch" in results:
            batches = [json.loads(b)["user_ids"] for b in routes["batch"].bodies]
            with tqdm(total=1, desc="implicit batched recommend", leave=False) as bar:
                implicit = implicit_rate(workdir / "service" / "models" / f"{version}.npz", batches, LIST_N)
                bar.update()

        memory = service_memory(servers.pids["service"])
        info = machine()
        setup = {"workers": args.workers, "threads": args.threads, "connections": args.connections,
                 "duration": args.duration, "rounds": args.rounds, "seed": args.seed, "precomputed": len(precomputed),
                 "not_precomputed": len(pool), "active_days": args.active_days, "load_start": load_start,
                 "interactions": len(events), "users": len(known), "items": len(items),
                 "algorithm": servers.model_info.get("algorithm", "?")}
        targets = verdicts(results, implicit)
        title = (f"encore serving, {args.workers} worker(s): wrk -t{args.threads} -c{args.connections} "
                 f"-d{args.duration:g}s, {len(events):,} interactions, {info['cores']} shared cores")
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
        warning = unsteady(results)
        if warning:
            print(f"\nwarning: {warning}")
        print(f"\nwrote {out / 'serve.md'}, {out / 'serve.json'} and {out / 'serve_latency.png'}")
        return 0
    finally:
        for child in reversed(children):
            child.stop()
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)


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
    parser.add_argument("--out", default=str(RESULTS))
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
