"""Every campaign route streamed to its end on a synthetic store: time to the first line, customers per
second, and the service's RSS growth while it streams (issue 17's targets at 20M events: every route's whole
answer within 60 s, RSS growth under 500 MiB).

    python -m benchmarks.campaigns                       # 1M events
    python -m benchmarks.campaigns --events 20000000     # 20M (about an hour of setup on a loaded machine)

The store is benchmarks.synthetic's (events end at its fixed clock NOW) with benchmarks.dashboard's catalog,
products priced, and trigger material added the way a store would produce it (store_triggers): 2% of the items
out of stock from 20 to 3 days before NOW with views and `notify_me` requests meanwhile, 2% whose price rose 25%
60 days before NOW and fell back 5 days before NOW, and browsing sessions (two to four views of an item) in the
last two days, a third of them followed by a cart. The stock and price history is replayed at bootstrap
(RECS_BOOTSTRAP_CATALOG_CHANGES). The service (`python -m service`, one process, a private redis-server)
trains its first model; then one request (the trending list) builds the retention index over every event, and
is reported on its own; then each route is streamed once, in turn, with `now=` the store's clock and the
contact cap off, while a thread samples the service's RSS every 0.1 s.

Writes benchmarks/results/campaigns.md and campaigns.json.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy loads

import argparse  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from urllib.parse import urlsplit  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from benchmarks.dashboard import busiest, synthetic_catalog, write_store  # noqa: E402
from benchmarks.harness.machine import machine  # noqa: E402
from benchmarks.harness.proc import PeakTreeRss, tree_rss_bytes  # noqa: E402
from benchmarks.harness.processes import BenchError  # noqa: E402
from benchmarks.harness.redis_server import running_redis  # noqa: E402
from benchmarks.harness.report import RESULTS, description, md_table, results_dir, run_record, save_run  # noqa: E402
from benchmarks.harness.service_child import start_service  # noqa: E402
from benchmarks.synthetic import NOW, SyntheticSpec, generate, size_label  # noqa: E402
from recommender.catalog import Catalog  # noqa: E402
from recommender.catalog_changes import write_catalog_changes  # noqa: E402
from recommender.events import EVENT_TYPES, EventTable  # noqa: E402

READ_KEY = "bench-read-key"
EVENTS = 1_000_000
#: Issue 17's targets at 20M events.
TARGET_SECONDS, TARGET_RSS_MIB = 60.0, 500.0
DAY, HOUR = 86_400.0, 3600.0
MIB = 2 ** 20


def routes(item: str) -> dict[str, str]:
    """Each route with the parameters measured (now= and cap_hours=0 are added)."""
    return {
        "lapsed": "/v1/campaigns/lapsed?min_days=240&max_days=365&n=4",
        "abandoned-carts": "/v1/campaigns/abandoned-carts?older_than_hours=24&within_days=7&n=3",
        "back-in-stock": "/v1/campaigns/back-in-stock?within_days=30&n=3",
        "price-drop": "/v1/campaigns/price-drop?min_drop_pct=10&within_days=30&n=3",
        "browse-abandonment": "/v1/campaigns/browse-abandonment?older_than_hours=2&within_hours=48&min_views=2&n=3",
        "audience": f"/v1/items/{item}/audience?n=100000&exclude_bought_days=90",
        "trending": "/v1/items/trending?hours=24&n=100",
    }


def store_triggers(events: EventTable, catalog: Catalog, now: float,
                   seed: int = 0) -> tuple[EventTable, Catalog, list[tuple[float, Catalog]]]:
    """The events with the trigger material added, the catalog (products priced) and its past writes (see the
    module); vectorised, so 20M events take seconds."""
    rng = np.random.default_rng([seed, 17])
    frame = catalog.frame.reset_index(drop=True).copy()
    frame["price"] = np.round(rng.lognormal(3.0, 0.6, len(frame)), 2)
    frame["currency"] = "USD"
    items = frame["item_id"].to_numpy(dtype=object)
    users = pd.unique(events.user_ids)
    share = max(1, len(items) // 50)
    picked = rng.permutation(len(items))
    restocked, repriced = picked[:share], picked[share:2 * share]
    frame.loc[restocked, "in_stock"] = True

    def some(count: int) -> np.ndarray:
        return rng.choice(users, size=count)

    parts = []
    # interest while out of stock (views and notify_me), 10 customers per restocked item
    k = len(restocked) * 10
    parts.append((some(k), items[np.repeat(restocked, 10)], rng.choice(
        [EVENT_TYPES.index("view"), EVENT_TYPES.index("notify_me")], k), now - rng.uniform(4, 19, k) * DAY))
    # views at the higher price, 10 customers per repriced item
    k = len(repriced) * 10
    parts.append((some(k), items[np.repeat(repriced, 10)], np.full(k, EVENT_TYPES.index("view")),
                  now - rng.uniform(6, 29, k) * DAY))
    # browsing sessions of the last two days: one per 200 customers, 2-4 views, a third carted after
    sessions = max(1, len(users) // 200)
    views = rng.integers(2, 5, sessions)
    who, what = some(sessions), items[rng.integers(0, len(items), sessions)]
    start = now - rng.uniform(4, 40, sessions) * HOUR
    step = np.arange(views.sum()) - np.repeat(np.cumsum(views) - views, views)
    parts.append((np.repeat(who, views), np.repeat(what, views), np.full(views.sum(), EVENT_TYPES.index("view")),
                  np.repeat(start, views) + step * 300.0))
    carted = rng.random(sessions) < 1 / 3
    parts.append((who[carted], what[carted], np.full(carted.sum(), EVENT_TYPES.index("add_to_cart")),
                  start[carted] + 1800.0))
    extra = EventTable(*(np.concatenate(column) for column in zip(*parts)),
                       np.ones(sum(len(p[0]) for p in parts), dtype=np.float32))
    extra.types = extra.types.astype(np.int8)
    merged = EventTable.concat([events, extra])

    def write(rows: np.ndarray, **changes: object) -> Catalog:
        part = frame.loc[rows].copy()
        for name, value in changes.items():
            part[name] = value
        return Catalog.from_frame(part.reset_index(drop=True))

    both = np.concatenate([restocked, repriced])
    changes = [(now - 90 * DAY, write(both)),
               (now - 60 * DAY, write(repriced, price=np.round(frame.loc[repriced, "price"] * 1.25, 2))),
               (now - 20 * DAY, write(restocked, in_stock=False)),
               (now - 5 * DAY, write(repriced)),
               (now - 3 * DAY, write(restocked))]
    return merged, Catalog.from_frame(frame), changes


def stream(base: str, path: str, pid: int) -> dict:
    """GET `path` to its end: seconds to the first line and to the end, lines (a JSON answer: its items), bytes,
    and the RSS of the service's process tree before and at its peak meanwhile."""
    before = tree_rss_bytes(pid)
    peak = PeakTreeRss(pid)
    url = urlsplit(base)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=3600)
    started = time.perf_counter()
    connection.request("GET", path, headers={"Authorization": f"Bearer {READ_KEY}"})
    response = connection.getresponse()
    first, lines, size, pending = None, 0, 0, b""
    ndjson = response.getheader("Content-Type", "").startswith("application/x-ndjson")
    whole = []
    while True:
        chunk = response.read1(1 << 16)
        if not chunk:
            break
        if first is None:
            first = time.perf_counter() - started
        size += len(chunk)
        if not ndjson:
            whole.append(chunk)
            continue
        pending += chunk
        lines += pending.count(b"\n")
        pending = pending[pending.rfind(b"\n") + 1:]
    if not ndjson and response.status == 200:
        lines = len(json.loads(b"".join(whole))["items"])
    total = time.perf_counter() - started
    connection.close()
    top = peak.stop()
    if response.status != 200:
        raise BenchError(f"{path}: HTTP {response.status}")
    return {"first_line_s": first if first is not None else total, "total_s": total, "lines": lines,
            "bytes": size, "rss_before": before, "rss_peak": max(top, before)}


def measure(events: EventTable, catalog: Catalog, changes: list, workdir: Path) -> dict:
    events_path, catalog_path = write_store(workdir / "store", events, catalog)
    changes_path = workdir / "store" / "catalog_changes.jsonl"
    write_catalog_changes(changes, changes_path)
    purchases = events.item_ids[events.types == EVENT_TYPES.index("purchase")]
    item = busiest(purchases if len(purchases) else events.item_ids)
    settings = {"RECS_BOOTSTRAP_EVENTS": str(events_path), "RECS_BOOTSTRAP_CATALOG": str(catalog_path),
                "RECS_BOOTSTRAP_CATALOG_CHANGES": str(changes_path), "RECS_READ_KEYS": READ_KEY,
                "RECS_LOG_LEVEL": "WARNING", "RECS_RATE_LIMIT": "0", "RECS_ALGORITHM": "als",
                "RECS_REPEAT": "off"}
    clock = f"now={int(NOW)}&cap_hours=0"
    with running_redis(workdir / "redis", durable=False) as redis:
        started = time.perf_counter()
        service, base = start_service(workdir, workdir / "data", redis.url, settings, ready_timeout=7200,
                                      desc="first training")
        ready = time.perf_counter() - started
        try:
            paths = routes(item)
            index = stream(base, f"{paths['trending']}&now={int(NOW)}", service.pid)
            rows = {name: stream(base, f"{path}&{clock}", service.pid) for name, path in paths.items()}
        finally:
            service.stop()
    return {"events": len(events), "users": len(np.unique(events.user_ids)), "items": len(np.unique(events.item_ids)),
            "ready_seconds": ready, "index_build": index, "routes": rows, "paths": paths}


def markdown(run: dict) -> str:
    info = run["machine"]
    lines = ["# Campaign routes streamed to their end", "",
             f"`{run['command']}`, {run['finished']}: {info['cores']} cores ({info['cpu']}), load average "
             f"{info['load']} at the end (the machine is shared).", "",
             "One service process on a private redis-server, the store's first model trained (ALS); each route "
             "streamed once after the retention index was built, `now=` the store's clock, contact cap off. "
             "Lines: customers (trending: items). RSS growth: the peak RSS of the service's process tree during the "
             "request minus its RSS before it.", ""]
    for store in run["results"]:
        build = store["index_build"]
        lines += [f"## {size_label(store['events'])} events: {store['events']:,} events, {store['users']:,} "
                  f"customers, {store['items']:,} items", "",
                  f"Service ready (bootstrap and first training) after {store['ready_seconds']:.0f} s. The first "
                  f"request (trending) built the retention index over every event: {build['total_s']:.1f} s, RSS "
                  f"+{(build['rss_peak'] - build['rss_before']) / MIB:.0f} MiB.", ""]
        table = []
        for name, r in store["routes"].items():
            rate = r["lines"] / r["total_s"] if r["total_s"] > 0 else 0.0
            table.append([name, f"`{store['paths'][name]}`", f"{r['first_line_s'] * 1000:.0f}", f"{r['total_s']:.2f}",
                          f"{r['lines']:,}", f"{rate:,.0f}", f"{(r['rss_peak'] - r['rss_before']) / MIB:.0f}"])
        lines += [md_table(["route", "request", "first line (ms)", "whole answer (s)", "lines", "lines per s",
                            "RSS growth (MiB)"], "llrrrrr", table), ""]
        slowest = max(r["total_s"] for r in store["routes"].values())
        growth = max(r["rss_peak"] - r["rss_before"] for r in store["routes"].values()) / MIB
        verdict = (f"targets (whole answer within {TARGET_SECONDS:.0f} s, RSS growth under {TARGET_RSS_MIB:.0f} "
                   f"MiB): **{'met' if slowest < TARGET_SECONDS and growth < TARGET_RSS_MIB else 'not met'}**"
                   if store["events"] >= 20_000_000 else "the targets are set at 20M events")
        lines += [f"Slowest route {slowest:.2f} s, largest RSS growth {growth:.0f} MiB; {verdict}.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=description(__doc__))
    parser.add_argument("--events", type=int, nargs="+", default=[EVENTS], help="synthetic store sizes")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--workdir", type=Path, help="keep the stores and logs here (default: a temporary directory)")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    results = []
    try:
        with tempfile.TemporaryDirectory(prefix="encore-campaigns-") as tmp:
            workdir = args.workdir or Path(tmp)
            for size in args.events:
                print(f"{size_label(size)}: generating the store", file=sys.stderr)
                table = generate(SyntheticSpec.for_interactions(size, seed=0))
                events, catalog, changes = store_triggers(table, synthetic_catalog(table, NOW), NOW)
                results.append(measure(events, catalog, changes, workdir / size_label(size)))
    except (BenchError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    command = "python -m benchmarks.campaigns" + (
        f" --events {' '.join(map(str, args.events))}" if args.events != [EVENTS] else "")
    run = run_record(command, time.perf_counter() - began, results, machine=machine())
    text = markdown(run)
    (results_dir(args.out) / "campaigns.md").write_text(text + "\n")
    save_run(args.out, "campaigns", run)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
