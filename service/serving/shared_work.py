"""The read path's work that requests of one event-loop pass share (service.serving.coalescing): the
Redis read of precomputed lists and users' since-training state (one round trip,
service.store.events.since_training, under a deadline, so a hung Redis cannot hang the page), the
computation of cache misses (in the event loop, a slice of users at a time), and their write-back, which
the answers do not wait for (one pipeline in flight, carrying what was computed meanwhile).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import redis.asyncio as aioredis

from recommender.models import Recommender

from service.serving.coalescing import Coalescer
from service.settings import Settings
from service.store.client import REDIS_ERRORS
from service.store.events.since_training import UserState, read_lists_and_states
from service.store.keys import Keys
from service.store.lists import write_blobs
from service.outage_log import OutageLog

log = logging.getLogger(__name__)
outage = OutageLog(log)


class ReadOrder(NamedTuple):
    """One request's share of a coalesced Redis read."""

    list_keys: list[str]
    users: list[str]
    deadline: float
    folded_through: str | None = None  # the serving model's (`SharedReads.read`); a batch reads under one


ReadReply = tuple[list[bytes | None] | None, list[UserState] | None]


class SharedReads:
    """Lists and since-training states read with a deadline (RECS_REDIS_READ_TIMEOUT), alone or
    shared (`submit`): one read in flight at most, shared by every request that arrived meanwhile."""

    def __init__(self, redis: aioredis.Redis, keys: Keys, settings: Settings) -> None:
        self.redis, self.keys, self.settings = redis, keys, settings
        self._coalescer: Coalescer[ReadOrder, ReadReply] = Coalescer(self._together, "encore-shared-read",
                                                                     one_in_flight=True)

    async def submit(self, order: ReadOrder) -> ReadReply:
        """`order`'s lists and states, read with the other orders of this loop pass."""
        return await self._coalescer.submit(order)

    async def read(self, list_keys: list[str], users: Sequence[str], deadline: float | None = None,
                    folded_through: str | None = None) -> tuple[list[bytes | None] | None, list[UserState] | None]:
        """Lists and since-training states in one round trip (service.store.events.since_training),
        waiting at most until `deadline` (default RECS_REDIS_READ_TIMEOUT from now): a hung Redis must
        not hang the page. States leave out what the model folded through `folded_through` holds.
        Both None when Redis could not answer, so the in-memory model answers."""
        if deadline is None:
            deadline = asyncio.get_running_loop().time() + self.settings.redis_read_timeout
        try:
            async with asyncio.timeout_at(deadline):
                return await read_lists_and_states(self.redis, self.keys, list_keys, users, self.settings.fatigue_days,
                                                   folded_through)
        except REDIS_ERRORS as exc:  # TimeoutError is an OSError
            outage.warning("redis read failed, serving from the in-memory model: %r", exc)
            return None, None

    async def _together(self, orders: list[ReadOrder]) -> list[ReadReply]:
        """The reads of one loop pass as one `read` (one round trip) per serving model they were
        made under (two only across a swap), split back per request; a batch waits until the
        earliest of its requests' deadlines."""
        groups: dict[str | None, list[int]] = {}
        for k, order in enumerate(orders):
            groups.setdefault(order.folded_through, []).append(k)
        replies: list[ReadReply] = [(None, None)] * len(orders)
        for folded_through, members in groups.items():
            group = [orders[k] for k in members]
            if len(group) == 1:
                replies[members[0]] = await self.read(*group[0])
                continue
            blobs, states = await self.read([key for o in group for key in o.list_keys],
                                             [u for o in group for u in o.users],
                                             min(o.deadline for o in group), folded_through)
            if blobs is None or states is None:
                continue
            k = u = 0
            for member, order in zip(members, group):
                replies[member] = (blobs[k:k + len(order.list_keys)], states[u:u + len(order.users)])
                k, u = k + len(order.list_keys), u + len(order.users)
        return replies


Lists = tuple[np.ndarray, np.ndarray]
#: Computed lists waiting to be written back at most (about 1.2 KB each at n=100): beyond, while Redis is slow
#: to take them, more are dropped (they are only a cache).
WRITE_BEHIND_LISTS = 20_000


#: Cache misses scored in one go at most; a pass with more scores them in slices, letting the event loop run what
#: became ready in between, so a pass full of misses holds up other requests for a few milliseconds at most.
COMPUTE_SLICE = 16


class SharedComputes:
    """Cache misses computed as the training's precompute computes them (Recommender.precompute_indices,
    top `n`), the misses of one loop pass together, in the event loop itself, COMPUTE_SLICE users at a time.

    Not in a worker thread: a miss's scoring is a few hundred microseconds of numpy calls, most too small to
    release the GIL, so a worker thread holds the GIL while the event loop comes back from each of its system
    calls (every socket send and receive, every epoll wait) and must wait for it. On two cores that waiting,
    and the hand-off itself, cost more than the scoring: the loop idles with requests ready (benchmarks/README.md,
    Serving). A batch request's misses, a chunk of up to a thousand users at once, still go to a worker thread
    (`Serving._user_chunk`)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self._coalescer: Coalescer[tuple[Recommender, np.ndarray], Lists] = Coalescer(
            self._together, "encore-shared-compute")

    async def submit(self, order: tuple[Recommender, np.ndarray]) -> Lists:
        """(ids, scores), int64 and float32 of shape (len(codes), n), for `order` = (model, user codes)."""
        return await self._coalescer.submit(order)

    async def _together(self, orders: list[tuple[Recommender, np.ndarray]]) -> list[Lists]:
        """One `precompute_indices` call per model and slice (a swap may fall between two requests of a pass)."""
        out: list[Lists | None] = [None] * len(orders)
        for model in {id(m): m for m, _ in orders}.values():
            mine = [k for k, (m, _) in enumerate(orders) if m is model]
            ids, scores = await self._sliced(model, np.concatenate([orders[k][1] for k in mine]))
            start = 0
            for k in mine:
                stop = start + len(orders[k][1])
                out[k] = (ids[start:stop], scores[start:stop])
                start = stop
        return out  # type: ignore[return-value]

    async def _sliced(self, model: Recommender, codes: np.ndarray) -> Lists:
        parts: list[Lists] = []
        for start in range(0, len(codes), COMPUTE_SLICE):
            if start:
                await asyncio.sleep(0)  # what became ready during the slice before runs now
            parts.append(model.precompute_indices(codes[start:start + COMPUTE_SLICE], self.n))
        if len(parts) == 1:
            return parts[0]
        return np.concatenate([ids for ids, _ in parts]), np.concatenate([scores for _, scores in parts])


class SharedWrites:
    """Computed lists written back to Redis (RECS_CACHE_TTL) behind the answers: a request hands its lists
    in (`later`) and answers at once, and one pipeline at most is in flight, carrying every list handed in
    while the one before it was out. The lists are only a cache (a replica that misses them computes them
    again), so a failed write is logged, never raised, and lists handed in beyond WRITE_BEHIND_LISTS while
    Redis is slow are dropped rather than held."""

    def __init__(self, redis: aioredis.Redis, settings: Settings) -> None:
        self.redis, self.settings = redis, settings
        self._pipelines: Coalescer[tuple[list[str], list[bytes]], None] = Coalescer(
            self._write_batch, "encore-write-behind", one_in_flight=True)
        self._waiting = 0  # lists handed in and not yet sent
        self._last: asyncio.Future[None] | None = None  # the last hand-in's: done when all before it are

    def later(self, keys: list[str], blobs: list[bytes]) -> None:
        """Write `blobs` under `keys` with the next pipeline; returns at once."""
        if not keys:
            return
        if self._waiting + len(keys) > WRITE_BEHIND_LISTS:
            log.warning("write-behind queue full: %d computed lists not cached", len(keys))
            return
        self._waiting += len(keys)
        self._last = self._pipelines.post((keys, blobs))

    async def flush(self) -> None:
        """Wait until every list handed in before this call was written or given up on (an erasure; shutdown).
        Lists handed in later are not waited for, so a flush ends under a steady stream of cache misses."""
        if self._last is not None and not self._last.done():
            await asyncio.wait([self._last])  # written, failed or cancelled: never raises here

    async def _write_batch(self, batch: list[tuple[list[str], list[bytes]]]) -> list[None]:
        keys = [key for part, _ in batch for key in part]
        self._waiting -= len(keys)
        await self.write(keys, [blob for _, part in batch for blob in part])
        return [None] * len(batch)

    async def write(self, keys: list[str], blobs: list[bytes]) -> None:
        """Write `blobs` under `keys` now, within RECS_REDIS_READ_TIMEOUT."""
        try:
            async with asyncio.timeout(self.settings.redis_read_timeout):
                await write_blobs(self.redis, keys, blobs, int(self.settings.cache_ttl))
        except REDIS_ERRORS as exc:
            # not the whole message: redis-py puts a failed pipeline command's arguments in it, packed lists included
            outage.warning("could not cache %d computed lists: %s: %s", len(keys), type(exc).__name__,
                           str(exc).rsplit("caused error: ", 1)[-1][:200])
