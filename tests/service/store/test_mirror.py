"""SinceTrainingMirror's change-log reads: at most one in flight, callers who arrive during it share the next,
and that next read still sees every change made before they arrived."""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis

from service.store.events.format import change_log_entry as log_entry
from service.store.keys import Keys
from service.store.mirror import SinceTrainingMirror

LOG = Keys("mirror-test").change_log


class HeldMirror(SinceTrainingMirror):
    """A mirror whose change-log reads each wait for `release` after Redis answered (a slow round trip), and
    count themselves."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.release = asyncio.Event()
        self.reads = 0

    async def _apply(self) -> None:
        self.reads += 1
        await super()._apply()
        await self.release.wait()


async def _mirror(redis_url: str, timeout: float = 5.0) -> tuple[aioredis.Redis, HeldMirror]:
    client = aioredis.from_url(redis_url)
    await client.delete(LOG)
    mirror = HeldMirror(client, LOG, max_entries=10, max_age=60, timeout=timeout)
    mirror.release.set()
    assert await mirror.fresh()  # the position (the log is empty)
    await client.xadd(LOG, log_entry(["x"]))
    assert await mirror.fresh()
    token = mirror.begin(["a"])
    mirror.finish(token, ["a"], [{"p1": 1.0}], time.monotonic())
    mirror.release.clear()
    mirror.reads = 0
    return client, mirror


async def test_callers_who_arrive_during_a_read_share_the_next_one_and_see_changes_made_before_them(redis_url):
    client, mirror = await _mirror(redis_url)
    first = asyncio.create_task(mirror.fresh())
    while mirror.reads == 0:  # the first read has been answered and is held
        await asyncio.sleep(0.005)
    await client.xadd(LOG, log_entry(["a"]))  # a change after that read, before the callers below arrive
    later = [asyncio.create_task(mirror.fresh()) for _ in range(5)]
    await asyncio.sleep(0.05)
    assert mirror.reads == 1 and not any(t.done() for t in [first, *later])  # nobody starts a second read
    mirror.release.set()
    assert await first and all(await asyncio.gather(*later))
    assert mirror.reads == 2  # one read for the five
    assert mirror.get("a", time.monotonic()) is None  # the second read began after them: a's change is applied
    await client.aclose()


async def test_a_caller_waits_no_longer_than_the_timeout_from_its_groups_first_arrival(redis_url):
    client, mirror = await _mirror(redis_url, timeout=0.3)
    first = asyncio.create_task(mirror.fresh())
    while mirror.reads == 0:
        await asyncio.sleep(0.005)
    loop = asyncio.get_running_loop()
    arrived = loop.time()
    assert not await mirror.fresh()  # the held reads time out: the first, then this caller's own
    assert loop.time() - arrived < 0.3 + 0.2
    assert not await first
    assert mirror.get("a", time.monotonic()) is None  # a failed read drops the mirror
    await client.aclose()


async def test_cancelling_the_read_in_flight_sends_the_callers_waiting_for_the_next_to_redis(redis_url):
    client, mirror = await _mirror(redis_url)
    first = asyncio.create_task(mirror.fresh())
    while mirror.reads == 0:
        await asyncio.sleep(0.005)
    waiting = asyncio.create_task(mirror.fresh())
    await asyncio.sleep(0.01)
    mirror._reader.cancel()  # as the app's shutdown cancels its tasks
    assert not await waiting  # no read starts for them: they go to Redis (or are cancelled with the app)
    assert not await first
    assert mirror._reader is None and mirror._pending is None and mirror.reads == 1
    await client.aclose()
