"""The online recorder's flush loop against a real Redis: it stops when told to, even when a flush in
progress turns the stop into a Redis error (what redis-py may do with a cancellation mid-command)."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis
import redis.exceptions

from service.metrics import Metrics
from service.serving import online
from service.serving.online import OnlineRecorder
from service.store.keys import Keys

VERSION = "20261201T000000Z-0000abcd"


async def test_stop_ends_the_loop_even_when_a_flush_in_progress_swallows_a_cancellation(redis_url, monkeypatch):
    entered, release = asyncio.Event(), asyncio.Event()
    write = online.add_counts

    async def slow_write(client, keys, counts):
        entered.set()
        try:
            await release.wait()
        except asyncio.CancelledError:  # the command broken off: redis-py reports a lost connection
            raise redis.exceptions.ConnectionError("connection closed while cancelled") from None
        await write(client, keys, counts)

    monkeypatch.setattr(online, "add_counts", slow_write)
    client = aioredis.Redis.from_url(redis_url)
    recorder = OnlineRecorder(client, Keys(), Metrics())
    recorder.start()
    recorder.served(VERSION, "recommendations", 3)
    await asyncio.wait_for(entered.wait(), 10)  # the loop's flush is writing
    stopping = asyncio.create_task(recorder.stop(timeout=5))
    await asyncio.sleep(0.05)
    release.set()
    done, _ = await asyncio.wait({stopping}, timeout=10)  # no cancellation on timeout: stop() must end by itself
    assert stopping in done, "stop() did not return"
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "encore-online-recorder"]
    (day,) = [k.decode() for k in await client.keys(Keys().online("*"))]
    assert await client.hgetall(day) == {f"{VERSION}|recommendations|impressions".encode(): b"3"}
    await client.aclose()


async def test_a_customer_already_written_as_exposed_is_not_written_again(redis_url, monkeypatch):
    written: list[dict] = []
    add = online.add_exposures

    async def recording(client, keys, exposed):
        written.append({pair: set(users) for pair, users in exposed.items()})
        await add(client, keys, exposed)

    monkeypatch.setattr(online, "add_exposures", recording)
    client = aioredis.Redis.from_url(redis_url)
    recorder = OnlineRecorder(client, Keys(), Metrics())
    recorder.exposed("spring", "treatment", ["a", "b"])
    recorder.exposed("spring", "holdout", ("h",))
    assert await recorder.flush()
    recorder.exposed("spring", "treatment", ["a"])  # written: nothing to do
    recorder.exposed("spring", "treatment", ["b", "c", "c"])  # only c is new
    recorder.exposed("autumn", "treatment", ["a"])  # another experiment's exposure is its own
    assert await recorder.flush()
    recorder.exposed("spring", "treatment", ("a", "c"))
    assert await recorder.flush()
    assert written == [{("spring", "treatment"): {"a", "b"}, ("spring", "holdout"): {"h"}},
                       {("spring", "treatment"): {"c"}, ("autumn", "treatment"): {"a"}}]
    assert await client.smembers(Keys().experiment_exposed("spring", "treatment")) == {b"a", b"b", b"c"}
    await client.aclose()
