"""Soak: mixed load against a real service for ten minutes, with a retrain every two minutes.

Reports requests, errors (must be 0), p99 latency per window, the service's RSS at start and
end (growth must stay under 10%), and that every event answered with 202 was stored, less the events of the
customers erased (a small share of the requests erase a customer or merge a visitor into one).

Erasures and merges are counted exactly: each worker writes events for its own share of the store's
customers (and its own visitors) only, one request at a time, so it knows how many events each of them has
when it erases one (the store's own events of that customer, plus those it sent, plus those of visitors it
merged into them). After the load a last retrain folds every erasure; then stream + snapshot must equal the
store's events plus those accepted, less those erased.

The ten minutes follow a warm-up of the same load (two minutes by default, one retrain
interval) whose requests, errors and events count like the rest: only the RSS baseline is taken
after it. The service's in-process caches are bounded (service.serving.read_path: hot lists 32 MiB,
remembered answers about 12 MB, since-training events of 100,000 users) and fill during the
first minutes; growth from a full cache to the end is what shows a leak. The report gives the
RSS before the warm-up too.

    python -m benchmarks.soak                 # 10 minutes (make soak)
    python -m benchmarks.soak --minutes 1     # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import recommender  # noqa: F401 - first: recommender/__init__.py sets OPENBLAS_NUM_THREADS=1 before numpy loads

import aiohttp
import numpy as np
import pandas as pd
import redis
from tqdm import tqdm

from benchmarks.harness.proc import MIB, rss_bytes
from benchmarks.harness.processes import BenchError
from benchmarks.harness.redis_server import running_redis
from benchmarks.harness.report import RESULTS, md_table, pyplot, results_dir
from benchmarks.harness.service_child import start_service
from recommender.demo import generate_storefront, write_storefront
from service.store.keys import Keys
from service.store.snapshot import load_snapshot

KEYS = Keys()

WRITE, ADMIN = "soak-write", "soak-admin"
WINDOW_SECONDS = 30


@dataclass
class Tally:
    latencies: list[tuple[float, float]] = field(default_factory=list)  # (seconds since start, latency)
    requests: int = 0
    errors: list[str] = field(default_factory=list)
    events_accepted: int = 0
    retrains: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)  # trainings by outcome (GET /v1/model/history)
    erasures: int = 0
    merges: int = 0
    events_erased: int = 0  # the store's own and the soak's events of the customers erased
    rss: list[tuple[float, int]] = field(default_factory=list)


#: Shares of the mix: user lists, similar items, batches, event batches, merges; the rest erasures.
LISTS, SIMILAR, BATCHES, EVENTS, MERGES = 0.65, 0.78, 0.83, 0.997, 0.999


@dataclass
class Owned:
    """What one worker alone writes: its customers (the store's users it may send events for, erase or merge
    into), how many events each has now, and a counter for its visitors' ids."""

    users: list[str]
    events: dict[str, int]
    name: str
    visitors: int = 0


async def _post(session: aiohttp.ClientSession, url: str, body: object, key: str, tally: Tally) -> dict | None:
    async with session.post(url, json=body, headers={"Authorization": f"Bearer {key}"}) as response:
        payload = await response.read()
        if response.status >= 300:
            tally.errors.append(f"{response.status} {payload[:200]!r}")
            return None
        return json.loads(payload)


async def _identity(session: aiohttp.ClientSession, base: str, items: list[str], owned: Owned, tally: Tally,
                    rng: random.Random, erase: bool) -> None:
    """Erase one of the worker's customers, or merge a new visitor (with 20 events) into one."""
    if len(owned.users) < 2:
        return
    if erase:
        user = owned.users.pop(rng.randrange(len(owned.users)))
        async with session.delete(f"{base}/v1/users/{user}", headers={"Authorization": f"Bearer {ADMIN}"}) as response:
            if response.status != 202:
                tally.errors.append(f"erase answered {response.status} {(await response.read())[:200]!r}")
                return
        tally.erasures += 1
        tally.events_erased += owned.events.pop(user, 0)
        return
    owned.visitors += 1
    visitor, customer = f"soak-anon-{owned.name}-{owned.visitors}", rng.choice(owned.users)
    events = [{"user_id": visitor, "item_id": rng.choice(items), "type": "view"} for _ in range(20)]
    answer = await _post(session, f"{base}/v1/events", events, WRITE, tally)
    if answer is None:
        return
    tally.events_accepted += int(answer["accepted"])
    if await _post(session, f"{base}/v1/users/{customer}/merge", {"from": visitor}, WRITE, tally) is not None:
        tally.merges += 1
        owned.events[customer] = owned.events.get(customer, 0) + int(answer["accepted"])


async def worker(session: aiohttp.ClientSession, base: str, users: list[str], items: list[str], owned: Owned,
                 tally: Tally, began: float, until: float, rng: random.Random) -> None:
    while time.monotonic() < until:
        pick = rng.random()
        user = rng.choice(users) if rng.random() < 0.8 else f"soak-new-{rng.randrange(100_000)}"
        started = time.monotonic()
        if pick >= EVENTS:
            try:
                await _identity(session, base, items, owned, tally, rng, erase=pick >= MERGES)
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                tally.errors.append(f"{type(exc).__name__}: {exc}")
            tally.requests += 1
            tally.latencies.append((started - began, time.monotonic() - started))
            continue
        if pick < LISTS:
            request = session.get(f"{base}/v1/users/{user}/recommendations?n=10")
        elif pick < SIMILAR:
            request = session.get(f"{base}/v1/items/{rng.choice(items)}/similar?n=10&kind=product")
        elif pick < BATCHES:
            request = session.post(f"{base}/v1/recommendations/batch",
                                   json={"user_ids": rng.sample(users, 50), "n": 5})
        else:  # events only for this worker's customers or new ids, so it can count what an erasure removes
            if not user.startswith("soak-new-"):
                user = rng.choice(owned.users)
            events = [{"user_id": user, "item_id": rng.choice(items),
                       "type": rng.choice(["view", "view", "add_to_cart", "purchase"])} for _ in range(20)]
            request = session.post(f"{base}/v1/events", json=events, headers={"Authorization": f"Bearer {WRITE}"})
        try:
            async with request as response:
                body = await response.read()
                if response.status >= 300:
                    tally.errors.append(f"{response.status} {body[:200]!r}")
                elif pick >= BATCHES:
                    accepted = int(json.loads(body)["accepted"])
                    tally.events_accepted += accepted
                    if not user.startswith("soak-new-"):
                        owned.events[user] = owned.events.get(user, 0) + accepted
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            tally.errors.append(f"{type(exc).__name__}: {exc}")
        tally.requests += 1
        tally.latencies.append((started - began, time.monotonic() - started))


async def drive(base: str, pid: int, users: list[str], items: list[str], store_events: dict[str, int],
                seconds: float, retrain_every: float, concurrency: int) -> Tally:
    tally = Tally()
    began = time.monotonic()
    until = began + seconds
    timeout = aiohttp.ClientTimeout(total=60)
    owned = [Owned(users[k::concurrency], {u: store_events[u] for u in users[k::concurrency]}, str(k))
             for k in range(concurrency)]
    async with aiohttp.ClientSession(timeout=timeout) as session:
        workers = [asyncio.create_task(worker(session, base, users, items, owned[seed], tally, began, until,
                                              random.Random(seed))) for seed in range(concurrency)]
        next_retrain = began + retrain_every
        with tqdm(total=int(seconds), desc="soak", unit="s") as bar:
            while time.monotonic() < until:
                await asyncio.sleep(1)
                now = time.monotonic()
                tally.rss.append((now - began, rss_bytes(pid)))
                if now >= next_retrain:
                    async with session.post(f"{base}/v1/model/retrain",
                                            headers={"Authorization": f"Bearer {ADMIN}"}) as response:
                        if response.status != 202:
                            tally.errors.append(f"retrain answered {response.status}")
                    tally.retrains += 1
                    next_retrain += retrain_every
                bar.update(min(int(now - began), int(seconds)) - bar.n)
                bar.set_postfix(requests=tally.requests, errors=len(tally.errors))
        await asyncio.gather(*workers)
        # let a retrain in progress finish, then one more fold every erasure, before counting what was stored
        await _trained(session, base)
        async with session.post(f"{base}/v1/model/retrain", headers={"Authorization": f"Bearer {ADMIN}"}) as response:
            if response.status != 202:
                tally.errors.append(f"the last retrain answered {response.status}")
        await asyncio.sleep(2)
        await _trained(session, base)
        async with session.get(f"{base}/v1/model/history?n=500") as response:
            history = await response.json()
        for record in history.get("trainings", history if isinstance(history, list) else []):
            tally.outcomes[record["outcome"]] = tally.outcomes.get(record["outcome"], 0) + 1
    return tally


async def _trained(session: aiohttp.ClientSession, base: str) -> None:
    for _ in range(600):
        async with session.get(f"{base}/v1/model") as response:
            if not (await response.json())["training"]["running"]:
                return
        await asyncio.sleep(0.5)


def stored_events(redis_url: str, snapshot_path: Path, bootstrap_count: int) -> tuple[int, dict[str, int]]:
    """Events now in the stream plus those the trainer folded into the snapshot, less the store's own; and the
    erasures by state."""
    with redis.Redis.from_url(redis_url) as client:
        for _ in range(120):  # the trainer completes erasures just after the pointer moved (and `running` went 0)
            if not client.hlen(KEYS.erasures_pending) and not client.hlen(KEYS.erasures_folded):
                break
            time.sleep(0.5)
        in_stream = client.xlen(KEYS.events)
        states: dict[str, int] = {}
        for raw in client.hvals(KEYS.erasure_records):
            state = json.loads(raw)["state"]
            states[state] = states.get(state, 0) + 1
    snapshot = load_snapshot(snapshot_path)
    folded = len(snapshot.events) - bootstrap_count if snapshot else 0
    return in_stream + folded, states


def report(tally: Tally, seconds: float, warmup: float, retrain_every: float, stored: int,
           erasure_states: dict[str, int], out: Path) -> str:
    times = np.array([t for t, _ in tally.latencies])
    latency = np.array([lat for _, lat in tally.latencies]) * 1000
    windows = []
    for start_s in range(0, int(seconds), WINDOW_SECONDS):
        mask = (times >= start_s) & (times < start_s + WINDOW_SECONDS)
        if mask.any():
            windows.append((start_s, float(np.percentile(latency[mask], 99)), int(mask.sum())))
    warm = [rss for t, rss in tally.rss if t >= warmup] or [r for _, r in tally.rss]
    rss_first, rss_start, rss_end = tally.rss[0][1], warm[0], tally.rss[-1][1]
    growth = (rss_end - rss_start) / rss_start
    lines = [
        "# Soak", "",
        f"{(seconds - warmup) / 60:g} minutes of mixed load (65% user lists, 13% similar items, 5% batches of "
        f"50, 16.7% event batches of 20, 0.2% merges of a new visitor with 20 events into a customer, 0.1% "
        f"erasures of a customer) after {warmup:.0f} s of the same load as a warm-up, a retrain every "
        f"{retrain_every:.0f} s and one more after the load. Requests, errors, latency and events count the "
        "warm-up too; stored events are counted after the last retrain, which folds every erasure.", "",
        md_table(("measure", "value", "target"), "lrl", [
            ("requests", f"{tally.requests:,} ({tally.requests / seconds:,.0f}/s)", ""),
            ("errors", len(tally.errors), 0),
            ("retrains requested (and the trainings' outcomes)",
             f"{tally.retrains} ({', '.join(f'{k} {v}' for k, v in sorted(tally.outcomes.items()))})", ""),
            ("p99 latency, whole run", f"{np.percentile(latency, 99):.1f} ms", ""),
            ("RSS at the first second of load (caches empty)", f"{rss_first / MIB:,.0f} MiB", ""),
            ("RSS after warm-up / at end", f"{rss_start / MIB:,.0f} MiB / {rss_end / MIB:,.0f} MiB ({growth:+.1%})",
             "under +10%"),
            ("erasures / merges (202)", f"{tally.erasures:,} / {tally.merges:,}", ""),
            ("erasure records by state", ", ".join(f"{k} {v:,}" for k, v in sorted(erasure_states.items())) or "none",
             "all done"),
            ("events accepted (202) less erased (the store's own and the soak's) / stored (stream + snapshot, "
             "less the store's events before the soak)",
             f"{tally.events_accepted:,} - {tally.events_erased:,} = {tally.events_accepted - tally.events_erased:,}"
             f" / {stored:,}", "equal"),
        ]), "",
        "p99 latency per 30 s window:", "",
        md_table(("from s", "p99 ms", "requests"), "rrr", [(s, f"{p:.1f}", f"{n:,}") for s, p, n in windows]),
    ]
    if tally.errors:
        lines += ["", "First errors:", "", *[f"- {e}" for e in tally.errors[:10]]]
    text = "\n".join(lines) + "\n"
    (out / "soak.md").write_text(text)
    plt = pyplot()
    fig, left = plt.subplots(figsize=(8, 4))
    left.plot([w[0] for w in windows], [w[1] for w in windows], marker="o", label="p99 latency (ms)")
    left.set_xlabel("seconds")
    left.set_ylabel("p99 ms")
    right = left.twinx()
    right.plot([t for t, _ in tally.rss], [r / MIB for _, r in tally.rss], color="tab:red", label="RSS MiB")
    left.axvline(warmup, color="grey", linestyle=":", label="end of warm-up")
    right.set_ylabel("RSS MiB")
    fig.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(out / "soak.png", dpi=120)
    ok = (not tally.errors and growth < 0.10 and stored == tally.events_accepted - tally.events_erased
          and set(erasure_states) <= {"done"})
    return text + ("\nall soak targets met\n" if ok else "\nSOAK TARGETS MISSED\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="measured minutes, after the warm-up")
    parser.add_argument("--warmup", type=float, default=120.0,
                        help="seconds of the same load before the RSS baseline is taken (default 120)")
    parser.add_argument("--retrain-every", type=float, default=120.0, help="seconds")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    results_dir(args.out)
    data = generate_storefront(n_users=args.users, n_products=2000, n_content=200, seed=11)
    try:
        with (tempfile.TemporaryDirectory(prefix="encore-soak-") as tmp,
              running_redis(Path(tmp) / "redis") as redis_server):
            workdir = Path(tmp)
            events_path, catalog_path = write_storefront(data, workdir / "store")
            service, base = start_service(
                workdir, workdir / "svc", redis_server.url,
                {"RECS_BOOTSTRAP_EVENTS": str(events_path), "RECS_BOOTSTRAP_CATALOG": str(catalog_path),
                 "RECS_WRITE_KEYS": WRITE, "RECS_ADMIN_KEYS": ADMIN, "RECS_RATE_LIMIT": "0", "RECS_POLL_INTERVAL": "1",
                 # the soak's events are random items, so the quality gate refuses every model trained on them;
                 # the soak is about serving through model swaps (and completing erasures), so it lets them serve
                 "RECS_MAX_QUALITY_DROP": "1"},
                300, "training the first model")
            try:
                users = sorted(set(data.events.user_ids))
                items = sorted(set(data.events.item_ids))
                per_user = pd.Series(data.events.user_ids).value_counts().to_dict()
                seconds = args.warmup + args.minutes * 60
                tally = asyncio.run(drive(base, service.pid, users, items, per_user, seconds, args.retrain_every,
                                          args.concurrency))
                stored, states = stored_events(redis_server.url, workdir / "svc" / "models" / "snapshot.npz",
                                               len(data.events))
                text = report(tally, seconds, args.warmup, args.retrain_every, stored, states, args.out)
            finally:
                service.stop()
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(text)
    return 0 if "all soak targets met" in text else 1


if __name__ == "__main__":
    sys.exit(main())
