"""Online feedback on the read side: what each model version and route served (impressions, tallied
in process and flushed to Redis every FLUSH_SECONDS in one script, so a hot request does no Redis work
for them) and the report of impressions, clicks, purchases, orders and revenue per version and route.

If Redis is away the tallies wait for the next flush; they are lost only if the process dies in
between (at most FLUSH_SECONDS of impressions). Counts are for comparing versions and routes, not
for billing. The id format and the counters' storage: service.store.online.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter as Tally
from collections.abc import Sequence
from dataclasses import dataclass, field

import redis.asyncio as aioredis

from recommender.units import SECONDS_PER_DAY
from service.metrics import Metrics
from service.periodic import pause
from service.store.client import REDIS_ERRORS
from service.store.experiments import add_exposures
from service.store.keys import Keys
from service.store.online import COUNTERS, MICROS, MONEY_COUNTERS, add_counts, read_days, split_field, utc_day
from service.outage_log import OutageLog

log = logging.getLogger(__name__)
outage = OutageLog(log)
FLUSH_SECONDS = 1.0
#: Customers per variant a process remembers having written as exposed (about 100 bytes each).
RECORDED_EXPOSURES = 200_000
_NOTHING_RECORDED: frozenset[str] = frozenset()


class OnlineRecorder:
    """Impressions per day, version and route, tallied in process and flushed to Redis."""

    def __init__(self, redis: aioredis.Redis, keys: Keys, metrics: Metrics) -> None:
        self.redis, self.keys = redis, keys
        self._totals: Tally[tuple[str, str]] = Tally()
        self._exposed: dict[tuple[str, str], set[str]] = {}  # (experiment, variant) -> customers served
        self._recorded: dict[tuple[str, str], set[str]] = {}  # ... and already written to Redis
        self._lock = asyncio.Lock()
        self._task: asyncio.Task | None = None
        self._stop = asyncio.Event()  # set by stop(): the flush loop ends after its round
        self._failures = metrics.counter("encore_online_flush_failures_total",
                                         "Impression flushes that failed (the tallies are kept for the next one)")

    def served(self, version: str, route: str, impressions: int, now: float | None = None) -> None:
        """Count what a response showed; never blocks, never raises."""
        day = utc_day(time.time() if now is None else now)
        self._totals[(day, f"{version}|{route}|impressions")] += impressions

    def exposed(self, experiment: str, variant: str, user_ids: Sequence[str]) -> None:
        """Customers an experiment's variant just served (its exposed customers); never blocks. Customers
        this process has already written for the variant cost one set look-up each (up to RECORDED_EXPOSURES)."""
        key = (experiment, variant)
        recorded = self._recorded.get(key, _NOTHING_RECORDED)
        if not recorded.issuperset(user_ids):  # the hot path, each one written before, does nothing more
            self._exposed.setdefault(key, set()).update(u for u in user_ids if u not in recorded)

    def start(self) -> None:
        if self._task is None:
            self._stop.clear()  # stop() set it and awaited the last loop: a restart needs it clear
            self._task = asyncio.create_task(self._run(), name="encore-online-recorder")

    async def stop(self, timeout: float = 5.0) -> None:
        """Stop the flush loop (service.periodic: an event, not cancellation, which a flush mid-command could
        swallow), then write what is tallied (for up to `timeout` seconds)."""
        if self._task is not None:
            self._stop.set()
            await self._task  # at most the flush in progress
            self._task = None
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.flush(), timeout)

    async def _run(self) -> None:
        while not await pause(self._stop, FLUSH_SECONDS):
            await self.flush()

    async def flush(self) -> bool:
        """Add the tallies to Redis in one script; on failure keep them for the next flush."""
        async with self._lock:
            totals, self._totals = self._totals, Tally()
            exposed, self._exposed = self._exposed, {}
            try:
                if totals:
                    await add_counts(self.redis, self.keys, dict(totals))
            except REDIS_ERRORS as exc:
                self._totals.update(totals)  # all or nothing (one script): safe to add again later
                self._keep_exposed(exposed)
                self._failures.inc()
                outage.warning("could not record impressions of %d version/route pairs: %s", len(totals), exc)
                return False
            try:
                if exposed:
                    await add_exposures(self.redis, self.keys, exposed)
            except REDIS_ERRORS as exc:
                self._keep_exposed(exposed)  # adding a customer to a set twice changes nothing
                self._failures.inc()
                log.warning("could not record the exposed customers of %d variants: %s", len(exposed), exc)
                return False
            for key, users in exposed.items():
                recorded = self._recorded.setdefault(key, set())
                if len(recorded) + len(users) > RECORDED_EXPOSURES:
                    recorded.clear()  # bounded: a customer forgotten here is only written again
                recorded.update(users)
            return True

    def _keep_exposed(self, exposed: dict[tuple[str, str], set[str]]) -> None:
        for key, users in exposed.items():
            self._exposed.setdefault(key, set()).update(users)


@dataclass
class Tallies:
    """Counters of one version and route (or a sum of them): counts, and per currency the revenue (integer
    micro-units) and the orders."""

    impressions: int = 0
    clicks: int = 0
    purchases: int = 0
    revenue: Tally[str] = field(default_factory=Tally)  # currency -> micro-units
    orders: Tally[str] = field(default_factory=Tally)  # currency -> orders

    def add(self, counter: str, value: int) -> None:
        """Add one stored counter: a count, `revenue.<CUR>` or `orders.<CUR>`."""
        name, _, currency = counter.partition(".")
        if name in MONEY_COUNTERS and currency:
            getattr(self, name)[currency] += value
        elif counter in COUNTERS:
            setattr(self, counter, getattr(self, counter) + value)

    def add_all(self, other: Tallies) -> None:
        for counter in COUNTERS:
            self.add(counter, getattr(other, counter))
        self.revenue.update(other.revenue)
        self.orders.update(other.orders)

    def to_dict(self) -> dict:
        ctr = self.clicks / self.impressions if self.impressions else 0.0
        revenue = {c: micros / MICROS for c, micros in sorted(self.revenue.items())}
        return {"impressions": self.impressions, "clicks": self.clicks, "click_through_rate": round(ctr, 6),
                "purchases": self.purchases, "orders": sum(self.orders.values()),
                "revenue": {c: round(amount, 6) for c, amount in revenue.items()},
                "aov": {c: round(amount / self.orders[c], 6) for c, amount in revenue.items() if self.orders[c]},
                "revenue_per_mille": {c: round(1000 * amount / self.impressions, 6) for c, amount in revenue.items()
                                      if self.impressions}}


async def online_stats(redis: aioredis.Redis, keys: Keys, days: int, now: float | None = None) -> dict:
    """Counters of the last `days` UTC days (today included), summed per model version and route,
    per version, per route and in total, and per day and version (`by_day`, oldest first, for
    charts); one round trip. Money is per currency, never summed across
    currencies: `revenue` (currency units), `aov` (revenue / orders in that currency) and
    `revenue_per_mille` (revenue per 1,000 items served)."""
    now = time.time() if now is None else now
    dates = [utc_day(now - SECONDS_PER_DAY * back) for back in range(days)]
    rows: dict[tuple[str, str], Tallies] = {}
    daily: dict[tuple[str, str], Tallies] = {}
    for date, fields in zip(dates, await read_days(redis, keys, dates)):
        for name, value in fields.items():
            version, route, counter = split_field(name)
            rows.setdefault((version, route), Tallies()).add(counter, value)
            daily.setdefault((date, version), Tallies()).add(counter, value)
    by_version: dict[str, Tallies] = {}
    by_route: dict[str, Tallies] = {}
    total = Tallies()
    for (version, route), tally in rows.items():
        for target in (by_version.setdefault(version, Tallies()), by_route.setdefault(route, Tallies()), total):
            target.add_all(tally)
    return {
        "days": days, "from": dates[-1], "to": dates[0],
        "total": total.to_dict(),
        "by_version_and_route": [{"model_version": v, "route": r, **t.to_dict()} for (v, r), t in sorted(rows.items())],
        "by_version": [{"model_version": v, **t.to_dict()} for v, t in sorted(by_version.items())],
        "by_route": [{"route": r, **t.to_dict()} for r, t in sorted(by_route.items())],
        "by_day": [{"date": d, "model_version": v, **t.to_dict()} for (d, v), t in sorted(daily.items())],
    }
