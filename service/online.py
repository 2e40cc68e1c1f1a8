"""Online feedback: what each model version and route served, and the clicks and purchases that
came back for it.

Every personalized response carries a `recommendation_id`. Serving it adds the number of items
shown to a per-day counter `{version}|{route}|impressions` (service.keys.Keys.online) and
remembers `recommendation_id -> version|route` for RECS_ONLINE_DAYS; a later click or purchase
event carrying that id increments `clicks` or `purchases` of the same version and route
(service.ingest's store script, atomically with storing the event).

The serving side never waits for Redis: responses hand their records to a bounded in-process
queue that one background task writes, many responses per pipelined round trip. The trade-off,
chosen so a hot cached request stays at zero Redis round trips: a record can be lost (the queue
is full, Redis fails, the process dies before the next write; each counted in
encore_online_records_dropped_total), and a click sent within milliseconds of its response may
arrive before the id is written and then is not attributed. Counts are for comparing versions
and routes, not for billing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import Counter as Tally
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis
from aiohttp import web
from prometheus_client import Counter
from redis.exceptions import RedisError

from service.ingest import ONLINE_KEEP_SECONDS, utc_day
from service.keys import Keys
from service.metrics import Metrics

log = logging.getLogger(__name__)
#: Recommendation ids waiting to be written, at most; past it new records are dropped (and counted).
MAX_PENDING_IDS = 200_000
#: Commands per pipeline when writing records.
WRITE_CHUNK = 2000
MAX_DAYS = 90
COUNTERS = ("impressions", "clicks", "purchases")


def new_recommendation_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Served:
    """Responses of one model version and route: their ids and how many items they showed."""

    version: str
    route: str
    recommendation_ids: tuple[str, ...]
    impressions: int
    at: float


class OnlineRecorder:
    """The bounded queue of served records and the task that writes them to Redis."""

    def __init__(self, redis: aioredis.Redis, keys: Keys, metrics: Metrics, remember_seconds: float) -> None:
        self.redis, self.keys = redis, keys
        self.remember_seconds = max(int(remember_seconds), 1)
        self._pending: list[Served] = []
        self._pending_ids = 0
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task | None = None
        registry = metrics.registry
        self._dropped = _counter(registry, "encore_online_records_dropped_total",
                                 "Served-response records not written (queue full or Redis error): their "
                                 "impressions are not counted and their clicks not attributed")

    def served(self, version: str, route: str, recommendation_ids: Sequence[str], impressions: int) -> None:
        """Queue a record; never blocks, never raises (a full queue drops it)."""
        if self._pending_ids + len(recommendation_ids) > MAX_PENDING_IDS:
            self._dropped.inc(len(recommendation_ids) or 1)
            return
        self._pending.append(Served(version, route, tuple(recommendation_ids), impressions, time.time()))
        self._pending_ids += len(recommendation_ids)
        self._idle.clear()
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="encore-online-recorder")

    async def stop(self, timeout: float = 5.0) -> None:
        """Write what is queued (up to `timeout` seconds), then stop the task."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.flush(), timeout)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def flush(self) -> None:
        """Return once everything queued before the call has been written (or dropped)."""
        await self._idle.wait()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._pending, self._pending_ids = self._pending, [], 0
            if batch:
                try:
                    await self._write(batch)
                except (RedisError, OSError) as exc:
                    self._dropped.inc(sum(len(s.recommendation_ids) or 1 for s in batch))
                    log.warning("could not record %d served responses: %s", len(batch), exc)
            if not self._pending:
                self._idle.set()

    async def _write(self, batch: list[Served]) -> None:
        totals: Tally[tuple[str, str]] = Tally()
        for served in batch:
            totals[(utc_day(served.at), f"{served.version}|{served.route}|impressions")] += served.impressions
        commands: list[tuple] = []
        for (day, field), count in totals.items():
            commands.append(("hincrby", self.keys.online(day), field, count))
        for day in {day for day, _ in totals}:
            commands.append(("expire", self.keys.online(day), ONLINE_KEEP_SECONDS))
        for served in batch:
            value = f"{served.version}|{served.route}"
            commands.extend(("set", self.keys.served(rid), value, self.remember_seconds)
                            for rid in served.recommendation_ids)
        for start in range(0, len(commands), WRITE_CHUNK):
            pipe = self.redis.pipeline(transaction=False)
            for name, *args in commands[start:start + WRITE_CHUNK]:
                if name == "set":
                    pipe.set(args[0], args[1], ex=args[2])
                else:
                    getattr(pipe, name)(*args)
            await pipe.execute()


@dataclass
class Tallies:
    impressions: int = 0
    clicks: int = 0
    purchases: int = 0

    def add(self, counter: str, value: int) -> None:
        setattr(self, counter, getattr(self, counter) + value)

    def to_dict(self) -> dict:
        ctr = self.clicks / self.impressions if self.impressions else 0.0
        return {"impressions": self.impressions, "clicks": self.clicks, "click_through_rate": round(ctr, 6),
                "purchases": self.purchases}


async def online_stats(redis: aioredis.Redis, keys: Keys, days: int, now: float | None = None) -> dict:
    """Counters of the last `days` UTC days (today included), summed per model version and route,
    per version, per route and in total; one round trip."""
    now = time.time() if now is None else now
    dates = [utc_day(now - 86_400 * back) for back in range(days)]
    pipe = redis.pipeline(transaction=False)
    for day in dates:
        pipe.hgetall(keys.online(day))
    hashes = await pipe.execute()
    rows: dict[tuple[str, str], Tallies] = {}
    for fields in hashes:
        for raw_field, raw_value in fields.items():
            name = raw_field.decode() if isinstance(raw_field, bytes) else raw_field
            version, route, counter = _split(name)
            if counter not in COUNTERS:
                continue
            rows.setdefault((version, route), Tallies()).add(counter, int(raw_value))
    by_version: dict[str, Tallies] = {}
    by_route: dict[str, Tallies] = {}
    total = Tallies()
    for (version, route), tally in rows.items():
        for target in (by_version.setdefault(version, Tallies()), by_route.setdefault(route, Tallies()), total):
            for counter in COUNTERS:
                target.add(counter, getattr(tally, counter))
    return {
        "days": days, "from": dates[-1], "to": dates[0],
        "total": total.to_dict(),
        "by_version_and_route": [{"model_version": v, "route": r, **t.to_dict()} for (v, r), t in sorted(rows.items())],
        "by_version": [{"model_version": v, **t.to_dict()} for v, t in sorted(by_version.items())],
        "by_route": [{"route": r, **t.to_dict()} for r, t in sorted(by_route.items())],
    }


def _split(field: str) -> tuple[str, str, str]:
    """`version|route|counter`; a version may hold '|', routes and counters never do."""
    head, _, counter = field.rpartition("|")
    version, _, route = head.rpartition("|")
    return version, route, counter


def _counter(registry, name: str, documentation: str) -> Counter:
    try:
        return Counter(name, documentation, registry=registry)
    except ValueError:  # already registered in this registry
        return registry._names_to_collectors[name]  # type: ignore[attr-defined,return-value]


ONLINE = web.AppKey("online", OnlineRecorder)


async def online_ctx(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context (after serving_ctx): the recorder's task runs while the app serves, and
    what is still queued at shutdown is written (for up to 5 s) before Redis is closed."""
    from service.app_keys import METRICS, REDIS, REDIS_KEYS, SETTINGS

    recorder = OnlineRecorder(app[REDIS], app[REDIS_KEYS], app[METRICS], app[SETTINGS].online_days * 86_400)
    app[ONLINE] = recorder
    recorder.start()
    yield
    await recorder.stop()
