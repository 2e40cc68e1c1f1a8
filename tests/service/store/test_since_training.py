"""The one-round-trip read of precomputed lists and users' since-training state, against a real Redis:
one command for any number of lists and users, the same answer as reading each structure on its own,
also after the server forgot its scripts; users' purchases since training written by the event script
with the rest of the since-training state, read back in that round trip, announced in the change log,
and forgotten with the since-training entries the fold drops."""

from __future__ import annotations

import time

import numpy as np
import pytest
import redis.asyncio as aioredis

from recommender.events import EVENT_TYPES, EventTable
from recommender.matrix import EventWeights
from service.ingest import EventBatch
from service.store.events.since_training import (
    NO_STATE,
    forget_folded,
    read_lists_and_states,
)
from service.store.events.write import StoreLimits, store_events
from service.store.events.write_lua import MAX_BOUGHT_TIMES
from service.store.keys import Keys
from service.store.lists import pack

FATIGUE_DAYS = 14
NOW = 1_790_000_000.0
LIMITS = StoreLimits(since_training_ttl=3600, event_id_ttl=3600, fatigue_days=FATIGUE_DAYS, online_days=7)


def batch(rows: list[tuple[str, str, str, float]]) -> EventBatch:
    """(user, item, type, seconds before NOW) rows."""
    return EventBatch(EventTable(
        np.array([r[0] for r in rows], dtype=object), np.array([r[1] for r in rows], dtype=object),
        np.array([EVENT_TYPES.index(r[2]) for r in rows], dtype=np.int8), np.array([NOW - r[3] for r in rows]),
        np.ones(len(rows), dtype=np.float32)))


@pytest.mark.parametrize("sharded", [False, True])
async def test_purchases_since_training_are_read_with_the_rest_of_the_state(redis_url, sharded):
    client = aioredis.from_url(redis_url)
    keys = Keys("t")
    await store_events(client, keys, batch([
        ("u1", "milk", "purchase", 300), ("u1", "milk", "view", 200), ("u1", "milk", "purchase", 100),
        ("u1", "tea", "add_to_cart", 50), ("u2", "tea", "purchase", 40), ("u2", "lamp", "impression", 30),
        ("u3", "lamp", "view", 20)]), EventWeights(), LIMITS, now=NOW, sharded=sharded)
    _, one = await read_lists_and_states(client, keys, [], ["u1"], 1000)
    _, many = await read_lists_and_states(client, keys, [], ["u1", "u2", "u3", "u4"], 1000)
    assert one[0] == many[0]
    assert dict(many[0].bought) == {"milk": (NOW - 300, NOW - 100)}  # in arrival order; the cart is no purchase
    assert dict(many[1].bought) == {"tea": (NOW - 40,)} and dict(many[1].shown) == {"lamp": NOW - 30}
    assert not many[2].bought and many[2].since_training and many[3] is NO_STATE
    announced = {u for _, f in await client.xrange(keys.change_log) for u in f[b"u"].decode().split("\n")}
    assert {"u1", "u2"} <= announced
    assert await client.ttl(keys.since_training_bought("u1")) > 0
    await client.aclose()


async def test_a_user_keeps_the_newest_purchase_times_of_an_item(redis_url):
    client = aioredis.from_url(redis_url)
    keys = Keys("t")
    for k in range(MAX_BOUGHT_TIMES + 3):
        await store_events(client, keys, batch([("u1", "milk", "purchase", 1000 - k)]), EventWeights(), LIMITS,
                           now=NOW)
    _, (state,) = await read_lists_and_states(client, keys, [], ["u1"], 1000)
    assert state.bought["milk"] == tuple(NOW - 1000 + k for k in range(3, MAX_BOUGHT_TIMES + 3))
    await client.aclose()


@pytest.mark.parametrize("cluster_path", [False, True])
async def test_the_fold_forgets_purchases_with_their_since_training_entries(redis_url, cluster_path, monkeypatch):
    from service.store.events import since_training

    monkeypatch.setattr(since_training, "is_cluster", lambda _: cluster_path)
    client = aioredis.from_url(redis_url)
    keys = Keys("t")
    await store_events(client, keys, batch([("u1", "milk", "purchase", 100), ("u1", "tea", "purchase", 90)]),
                       EventWeights(), LIMITS, now=NOW)
    folded = (await client.xrevrange(keys.events, count=1))[0][0].decode()
    await store_events(client, keys, batch([("u1", "tea", "purchase", 10)]), EventWeights(), LIMITS, now=NOW)
    await forget_folded(client, keys, np.array(["u1"], dtype=object), folded)
    _, (state,) = await read_lists_and_states(client, keys, [], ["u1"], 1000)
    # milk was folded; tea has a newer event, so its entry stays whole (as its since-training weight does)
    assert dict(state.bought) == {"tea": (NOW - 90, NOW - 10)} and set(state.since_training) == {"tea"}


VERSION = "20261201T000000Z-0123abcd"


async def _store(client: aioredis.Redis, keys: Keys, now: float) -> None:
    rows = [  # user, item, type, seconds before now, value
        ("u1", "p1", "view", 50, 1.0),
        ("u1", "p2", "purchase", 40, 1.0),
        ("u1", "p3", "impression", 30, 1.0),
        ("u2", "p3", "impression", 20 * 86400, 1.0),  # shown before the fatigue window
        ("u3", "p4", "review", 10, 4.0),
    ]
    events = EventTable(np.array([r[0] for r in rows], dtype=object), np.array([r[1] for r in rows], dtype=object),
                        np.array([EVENT_TYPES.index(r[2]) for r in rows], dtype=np.int8),
                        np.array([now - r[3] for r in rows]), np.array([r[4] for r in rows], dtype=np.float32))
    await store_events(client, keys, EventBatch(events, [None] * len(rows), [None] * len(rows)), EventWeights(),
                       LIMITS, now=now)
    for user, size in (("u1", 3), ("u3", 5)):
        blob = pack(np.arange(size), np.linspace(1, 0, size, dtype=np.float32))
        await client.set(keys.user_recs(VERSION, user), blob)


async def _expected(client: aioredis.Redis, keys: Keys, user: str, now: float) -> tuple[dict, dict]:
    since = {k.decode(): float(v) for k, v in (await client.hgetall(keys.since_training(user))).items()}
    shown = {m.decode(): at for m, at in await client.zrangebyscore(
        keys.shown(user), now - FATIGUE_DAYS * 86400 - 60, "+inf", withscores=True)}
    return since, shown


@pytest.mark.parametrize("users", [["u1"], ["u1", "u2", "u3", "nobody"], []])
async def test_lists_and_states_come_in_one_command_as_each_structure_holds_them(redis_url, users) -> None:
    client = aioredis.from_url(redis_url)
    keys = Keys("t")
    now = time.time()
    await _store(client, keys, now)
    list_keys = [keys.user_recs(VERSION, u) for u in ("u1", "u2", "u3")]
    await client.config_resetstat()
    blobs, states = await read_lists_and_states(client, keys, list_keys, users, FATIGUE_DAYS)
    stats = await client.info("commandstats")
    assert stats["cmdstat_evalsha"]["calls"] == 1 and "cmdstat_mget" not in stats
    assert blobs == [await client.get(key) for key in list_keys]
    assert blobs[1] is None and len(blobs[0]) == 3 * 8
    assert len(states) == len(users)
    for user, state in zip(users, states):
        since, shown = await _expected(client, keys, user, now)
        assert dict(state.since_training) == since and dict(state.shown) == shown
        assert (state is NO_STATE) == (not since and not shown)
    if "u2" in users:
        assert states[users.index("u2")] is NO_STATE  # its one impression is older than the window
    if "u1" in users:
        assert states[users.index("u1")].since_training == {"p1": 1.0, "p2": 5.0}
        assert set(states[users.index("u1")].shown) == {"p3"}
    await client.aclose()


async def test_the_read_works_after_the_server_forgot_its_scripts(redis_url) -> None:
    client = aioredis.from_url(redis_url)
    keys = Keys("t")
    now = time.time()
    await _store(client, keys, now)
    list_keys = [keys.user_recs(VERSION, "u3")]
    first = await read_lists_and_states(client, keys, list_keys, ["u3"], FATIGUE_DAYS)
    await client.script_flush()
    assert await read_lists_and_states(client, keys, list_keys, ["u3"], FATIGUE_DAYS) == first
    assert dict(first[1][0].since_training) == {"p4": 4.0}
    await client.aclose()
