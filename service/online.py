"""Online feedback: what each model version and route served, and the clicks and purchases that
came back for it.

Every personalized response carries a `recommendation_id` that says where it came from:
`{route}.{model version}.{served at, hex epoch seconds}{random hex}`. A click or purchase event
carrying one counts for that version and route (service.event_store, in the script that
stores the event, and never twice for a retried event), if it was served within
RECS_ONLINE_DAYS. So nothing is stored per response: an earlier design kept an id -> version key
per response, which at a few thousand responses a second is hundreds of millions of Redis keys a
week. Ids are not secret; only clients with a write key send events, so a forged id can only
skew the statistics of the store that forged it.

Impressions (items shown per version and route) are tallied in process and added to the daily
hash `encore:online:{YYYY-MM-DD}` every FLUSH_SECONDS in one script: a hot request does no
Redis work for them. If Redis is away the tallies wait for the next flush; they are lost only if
the process dies in between (at most FLUSH_SECONDS of impressions). Counts are for comparing
versions and routes, not for billing.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import re
import time
from collections import Counter as Tally
from collections.abc import AsyncIterator
from dataclasses import dataclass

import redis.asyncio as aioredis
from aiohttp import web

from service.keys import Keys
from service.metrics import Metrics
from service.redis_client import REDIS_ERRORS

log = logging.getLogger(__name__)
FLUSH_SECONDS = 1.0
MAX_DAYS = 90
#: Daily online-feedback hashes outlive the longest report (GET /v1/stats/online?days=90).
ONLINE_KEEP_SECONDS = 92 * 86_400
COUNTERS = ("impressions", "clicks", "purchases")
ROUTES = ("recommendations", "batch")
# Adds counts to the days' hashes and keeps them ONLINE_KEEP_SECONDS, atomically (a script, not
# MULTI: see service.catalog_store). KEYS: the days' hashes (one slot). ARGV: the TTL, then per
# counter the KEYS index of its day, the field and the count.
_ADD = """
for j = 2, #ARGV, 3 do
  redis.call('HINCRBY', KEYS[tonumber(ARGV[j])], ARGV[j + 1], ARGV[j + 2])
end
for k = 1, #KEYS do
  redis.call('EXPIRE', KEYS[k], ARGV[1])
end
return 1
"""
_VERSION = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{8}")
_STAMP = re.compile(r"[0-9a-f]{8}[0-9a-f]{8}")


def utc_day(timestamp: float) -> str:
    """YYYY-MM-DD of an epoch time in UTC: the online-feedback counters are kept per day."""
    return _day_name(int(timestamp // 86_400))


@functools.lru_cache(maxsize=16)
def _day_name(day: int) -> str:  # every served response asks; strftime costs more than a cache hit
    return time.strftime("%Y-%m-%d", time.gmtime(day * 86_400))


def new_recommendation_id(version: str, route: str, now: float | None = None) -> str:
    served_at = int(time.time() if now is None else now)
    # Python's own generator, not secrets: ids are not secret (above), and os.urandom is a
    # system call on every hot request. It is seeded from the OS per process and after fork.
    return f"{route}.{version}.{served_at:08x}{random.getrandbits(32):08x}"


def attribution(recommendation_id: str, now: float, window_days: float) -> str | None:
    """`version|route` a recommendation_id was served by, if it is one of ours and was served in the
    last `window_days` (an hour of clock skew tolerated); None otherwise."""
    route, _, rest = recommendation_id.partition(".")
    version, _, stamp = rest.partition(".")
    if route not in ROUTES or not _VERSION.fullmatch(version) or not _STAMP.fullmatch(stamp):
        return None
    served_at = int(stamp[:8], 16)
    if not now - window_days * 86_400 <= served_at <= now + 3600:
        return None
    return f"{version}|{route}"


class OnlineRecorder:
    """Impressions per day, version and route, tallied in process and flushed to Redis."""

    def __init__(self, redis: aioredis.Redis, keys: Keys, metrics: Metrics) -> None:
        self.redis, self.keys = redis, keys
        self._totals: Tally[tuple[str, str]] = Tally()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task | None = None
        self._failures = metrics.counter("encore_online_flush_failures_total",
                                         "Impression flushes that failed (the tallies are kept for the next one)")

    def served(self, version: str, route: str, impressions: int, now: float | None = None) -> None:
        """Count what a response showed; never blocks, never raises."""
        day = utc_day(time.time() if now is None else now)
        self._totals[(day, f"{version}|{route}|impressions")] += impressions

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="encore-online-recorder")

    async def stop(self, timeout: float = 5.0) -> None:
        """Stop the task, then write what is tallied (for up to `timeout` seconds)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.flush(), timeout)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            await self.flush()

    async def flush(self) -> bool:
        """Add the tallies to Redis in one script; on failure keep them for the next flush."""
        async with self._lock:
            totals, self._totals = self._totals, Tally()
            if not totals:
                return True
            days = {day: k + 1 for k, day in enumerate(sorted({day for day, _ in totals}))}  # -> KEYS index
            fields = [value for (day, field), count in totals.items() for value in (days[day], field, count)]
            try:
                await self.redis.eval(_ADD, len(days), *(self.keys.online(d) for d in days), ONLINE_KEEP_SECONDS,
                                      *fields)
            except REDIS_ERRORS as exc:
                self._totals.update(totals)  # all or nothing (one script): safe to add again later
                self._failures.inc()
                log.warning("could not record impressions of %d version/route pairs: %s", len(totals), exc)
                return False
            return True


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


ONLINE = web.AppKey("online", OnlineRecorder)


async def online_ctx(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context (after serving_ctx): the recorder's task runs while the app serves, and
    what is still tallied at shutdown is written (for up to 5 s) before Redis is closed."""
    from service.app_keys import METRICS, REDIS, REDIS_KEYS

    recorder = OnlineRecorder(app[REDIS], app[REDIS_KEYS], app[METRICS])
    app[ONLINE] = recorder
    recorder.start()
    yield
    await recorder.stop()
