"""Both event write paths against a real Redis: the one atomic script (a single Redis) and the cluster
path (shared slot, then each user's, then the change log) leave the same state behind."""

from __future__ import annotations

import numpy as np
import pytest
import redis.asyncio as aioredis

from recommender.events import EVENT_TYPES, EventTable
from recommender.matrix import EventWeights
from service.ingest import EventBatch
from service.store.events.format import STREAM_FIELDS
from service.store.events.write import EventIdReused, StoreLimits, store_events
from service.store.keys import Keys
from service.store.online import new_recommendation_id, utc_day

NOW = 1_790_000_000.0
VERSION = "20260922T000000Z-0123abcd"
LIMITS = StoreLimits(since_training_ttl=3600, event_id_ttl=3600, fatigue_days=14, online_days=7)


def _batch() -> EventBatch:
    rid = new_recommendation_id(VERSION, "recommendations", now=NOW - 60)
    rows = [  # user, item, type, seconds before NOW, value, event id, recommendation id
        ("u1", "p1", "view", 50, 1.0, "e1", None),
        ("u1", "p1", "purchase", 40, 1.0, "e2", rid),
        ("u1", "p2", "impression", 30, 1.0, None, None),
        ("u2", "p3", "review", 20, 4.0, "e3", None),
        ("u2", "p1", "click", 10, 1.0, None, rid),
        ("u3", "p4", "impression", 5, 1.0, None, None),
    ]
    events = EventTable(np.array([r[0] for r in rows], dtype=object), np.array([r[1] for r in rows], dtype=object),
                        np.array([EVENT_TYPES.index(r[2]) for r in rows], dtype=np.int8),
                        np.array([NOW - r[3] for r in rows]), np.array([r[4] for r in rows], dtype=np.float32))
    return EventBatch(events, [r[5] for r in rows], [r[6] for r in rows])


async def _state(client: aioredis.Redis, keys: Keys) -> dict:
    stream = [{k.decode(): v.decode() for k, v in fields.items()} for _, fields in await client.xrange(keys.events)]
    users = ("u1", "u2", "u3")
    return {
        "stream": stream,
        "since_training": {u: await client.hgetall(keys.since_training(u)) for u in users},
        "since_training_ids": {u: sorted(await client.hkeys(keys.since_training_ids(u))) for u in users},
        "shown": {u: await client.zrange(keys.shown(u), 0, -1, withscores=True) for u in users},
        "bought": {u: await client.hgetall(keys.since_training_bought(u)) for u in users},
        "online": await client.hgetall(keys.online(utc_day(NOW))),
        "seen": sorted([await client.exists(keys.event_seen(e)) for e in ("e1", "e2", "e3")]),
        "announced": sorted({u for _, f in await client.xrange(keys.change_log) for u in f[b"u"].decode().split("\n")}),
        "generation": await client.exists(keys.events_generation),
    }


@pytest.mark.parametrize("sharded", [False, True])
async def test_an_id_stored_for_another_event_refuses_the_whole_request(redis_url, sharded):
    """A retry (same customer, item and type, even stamped anew) is a duplicate; the same id on a different event
    is refused with its index before anything of the request is written, on both paths."""
    client = aioredis.from_url(redis_url)
    keys = Keys("t")
    assert await store_events(client, keys, _batch(), EventWeights(), LIMITS, now=NOW, sharded=sharded) == 6
    before = await _state(client, keys)
    retry = _batch()
    retry.events.timestamps[:] += 5  # no timestamp sent: the retry is stamped when it arrives
    assert await store_events(client, keys, retry, EventWeights(), LIMITS, now=NOW + 5, sharded=sharded) == 3
    reused = _batch()
    reused.events.types[3] = EVENT_TYPES.index("purchase")  # e3 was u2's review of p3
    with pytest.raises(EventIdReused) as refused:
        await store_events(client, keys, reused, EventWeights(), LIMITS, now=NOW, sharded=sharded)
    assert (refused.value.index, refused.value.event_id) == (3, "e3")
    after = await _state(client, keys)
    assert len(after["stream"]) == len(before["stream"]) + 3  # the retry's three events without ids, nothing more
    await client.set(keys.event_seen("e1"), "1")  # stored before fingerprints: matches any event
    other = _batch()
    other.events.item_ids[0] = "p9"
    assert await store_events(client, keys, other, EventWeights(), LIMITS, now=NOW, sharded=sharded) == 3
    await client.aclose()


@pytest.mark.parametrize("sharded", [False, True])
async def test_a_batch_is_stored_once_and_a_retry_adds_nothing(redis_url, sharded):
    client = aioredis.from_url(redis_url)
    keys = Keys("t")
    assert await store_events(client, keys, _batch(), EventWeights(), LIMITS, now=NOW, sharded=sharded) == 6
    state = await _state(client, keys)
    assert [e["u"] for e in state["stream"]] == ["u1", "u1", "u1", "u2", "u2", "u3"]
    assert all(set(STREAM_FIELDS) <= set(e) for e in state["stream"])
    assert state["stream"][1]["e"] == "e2" and "r" in state["stream"][1]
    assert state["since_training"]["u1"] == {b"p1": b"6"}  # view 1 + purchase 5; the impression is not one
    assert state["since_training"]["u2"] == {b"p3": b"4", b"p1": b"1"}  # 4 stars, a click
    assert state["shown"]["u1"] == [(b"p2", NOW - 30)] and state["shown"]["u3"] == [(b"p4", NOW - 5)]
    assert state["bought"] == {"u1": {b"p1": repr(NOW - 40).encode()}, "u2": {}, "u3": {}}  # purchases only
    assert state["online"] == {f"{VERSION}|recommendations|purchases".encode(): b"1",
                               f"{VERSION}|recommendations|clicks".encode(): b"1",  # no price: no revenue
                               f"{VERSION}|recommendations|orders.USD".encode(): b"1"}
    assert state["seen"] == [1, 1, 1] and state["generation"] == 1
    assert set(state["announced"]) >= {"u1", "u2"}
    # the client retries after a lost reply: the events with ids are skipped, the others stored again
    assert await store_events(client, keys, _batch(), EventWeights(), LIMITS, now=NOW, sharded=sharded) == 3
    again = await _state(client, keys)
    assert len(again["stream"]) == 9 and again["online"][f"{VERSION}|recommendations|clicks".encode()] == b"2"
    assert again["bought"] == state["bought"]  # the purchase had an event id: not stored again
    await client.aclose()


async def test_both_write_paths_leave_the_same_state(redis_url):
    client = aioredis.from_url(redis_url)
    atomic, sharded = Keys("a"), Keys("b")
    batch = _batch()
    await store_events(client, atomic, batch, EventWeights(), LIMITS, now=NOW, sharded=False)
    await store_events(client, sharded, batch, EventWeights(), LIMITS, now=NOW, sharded=True)
    assert await _state(client, atomic) == await _state(client, sharded)
    await client.aclose()
