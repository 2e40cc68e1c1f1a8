"""The in-process caches of the read path: bounded, keyed by model version, and never staler than
Redis, also when another replica writes the events."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pandas as pd
import redis
import redis.asyncio as aioredis

from recommender.catalog import read_catalog
from recommender.events import EVENT_COLUMNS, EventTable
from service.http.app_keys import REDIS, REDIS_KEYS, SERVING
from service.serving.hot_lists import HotLists
from service.store.events.format import change_log_entry as log_entry
from service.store.lists import pack
from service.store.mirror import SinceTrainingMirror
from service.ingest import _plain_table, parse_batch
from service.store.keys import Keys
from service.training.job import fold_stream
from tests.service.conftest import AUTH_ADMIN, AUTH_WRITE, recorder_paused, wait_for

KEYS = Keys()

USER = "u000007"


async def _items(client, user: str, n: int = 10) -> list[str]:
    response = await client.get(f"/v1/users/{user}/recommendations?n={n}")
    assert response.status == 200
    return [i["item_id"] for i in (await response.json())["items"]]


def test_hot_lists_are_bounded_in_bytes_and_evict_the_least_recently_used() -> None:
    blob = pack(np.arange(100), np.linspace(1, 0, 100, dtype=np.float32))
    one = len(blob) + len("k00") + 320
    hot = HotLists(max_bytes=3 * one)
    for k in range(3):
        hot.put(f"k{k:02d}", blob)
    assert hot.get("k00") is not None  # now the most recently used
    hot.put("k03", blob)
    assert len(hot) == 3 and hot.bytes <= hot.max_bytes
    assert hot.get("k01") is None and hot.get("k00") is not None
    ids, scores = hot.get("k03")
    assert ids.tolist() == list(range(100)) and scores[0] == 1.0


def test_a_kept_list_is_unpacked_when_first_read_and_counted_like_any_other() -> None:
    blob = pack(np.arange(100), np.linspace(1, 0, 100, dtype=np.float32))
    hot = HotLists(max_bytes=2 * (len(blob) + len("k00") + 320))
    hot.keep("k00", blob)
    hot.put("k01", blob)
    assert hot.bytes == 2 * (len(blob) + len("k00") + 320)
    ids, scores = hot.get("k00")
    assert ids.tolist() == list(range(100)) and scores[-1] == 0.0
    assert hot.get("k00")[0] is ids  # unpacked once
    hot.keep("k02", blob)  # the least recently used (k01) goes
    assert hot.get("k01") is None and len(hot) == 2


async def test_hot_lists_follow_the_served_model_version(client):
    serving = client.app[SERVING]
    await _items(client, USER)
    before = serving.current.version
    assert any(before in key for key in serving.hot._entries)
    await client.post("/v1/events", json=[{"user_id": "swap-user", "item_id": "p00001", "type": "purchase"}],
                      headers=AUTH_WRITE)
    assert (await client.post("/v1/model/retrain", headers=AUTH_ADMIN)).status == 202

    async def swapped():
        return client.app[SERVING].current.version != before

    await wait_for(swapped)
    body = await (await client.get(f"/v1/users/{USER}/recommendations?n=5")).json()
    after = serving.current.version
    assert body["model_version"] == after
    assert serving.hot._entries and all(after in key for key in serving.hot._entries)


async def test_a_repeated_request_reads_no_list_from_redis(make_client, settings):
    client = await make_client(settings, poll_interval=3600)  # no training-status reads (HGETALL) meanwhile
    first = await _items(client, USER)
    with redis.Redis.from_url(settings.redis_url) as r:
        async with recorder_paused(client):
            r.config_resetstat()
            assert await _items(client, USER) == first
            stats = r.info("commandstats")
    # (GET is the refresh loop polling the version pointer; lists are read by a script)
    assert not {"cmdstat_mget", "cmdstat_hgetall", "cmdstat_eval", "cmdstat_evalsha"} & set(stats)


async def test_events_sent_to_another_replica_are_excluded_at_once(make_client, settings):
    a = await make_client(settings)
    b = await make_client(settings)  # same Redis and model directory: a second replica
    first = (await _items(b, USER, 3))[0]
    assert (await _items(b, USER, 3))[0] == first  # now in b's in-process caches
    assert b.app[SERVING].mirror.get(USER, time.monotonic()) is not None
    posted = await a.post("/v1/events", json={"user_id": USER, "item_id": first, "type": "purchase"},
                          headers=AUTH_WRITE)
    assert posted.status == 202
    again = await _items(b, USER, 10)
    assert first not in again and len(again) == 10


async def _cached(redis_url: str, log_entries: list[tuple[str, str]]) -> tuple[aioredis.Redis, SinceTrainingMirror]:
    """A SinceTrainingMirror following a log written with explicit ids, with user "a" cached after the last."""
    client = aioredis.from_url(redis_url)
    log_key = Keys("t").change_log
    await client.delete(log_key)
    recent = SinceTrainingMirror(client, log_key, max_entries=10, max_age=60)
    assert await recent.fresh()  # establishes the position (the log is empty)
    for entry_id, users in log_entries:
        await client.xadd(log_key, log_entry([users]), id=entry_id)
    assert await recent.fresh()
    token = recent.begin(["a"])
    recent.finish(token, ["a"], [{"p1": 1.0}], time.monotonic())
    assert recent.get("a", time.monotonic()) == {"p1": 1.0}
    return client, recent


async def test_the_recent_cache_follows_the_log_by_user(redis_url):
    client, recent = await _cached(redis_url, [("1000-0", "x")])
    log_key = Keys("t").change_log
    await client.xadd(log_key, log_entry(["b", "c"]), id="1000-1")
    assert await recent.fresh() and recent.get("a", time.monotonic()) == {"p1": 1.0}  # others changed
    await client.xadd(log_key, log_entry(["a"]), id="1001-0")
    assert await recent.fresh() and recent.get("a", time.monotonic()) is None  # a changed
    await client.aclose()


async def test_the_recent_cache_is_dropped_when_the_log_is_reset_within_the_same_millisecond(redis_url):
    """DEL and a new XADD in the millisecond of the last entry read: the new log's entry has the very id
    the cache remembers (issue 21: a wall-clock XADD made this happen by chance on an idle machine)."""
    client, recent = await _cached(redis_url, [("1000-0", "x"), ("1001-0", "b\nc"), ("1002-0", "y")])
    await client.delete(Keys("t").change_log)
    await client.xadd(Keys("t").change_log, log_entry(["z"]), id="1002-0")  # same id, another user
    assert await recent.fresh() and recent.get("a", time.monotonic()) is None
    await client.aclose()


async def test_the_recent_cache_is_dropped_when_a_reset_log_runs_past_the_remembered_id(redis_url):
    """The new log holds the remembered id and one entry after it, so an id check alone passes; the
    change it announced at 1002-0 (user a) would be missed."""
    client, recent = await _cached(redis_url, [("1000-0", "x"), ("1002-0", "y")])
    await client.delete(Keys("t").change_log)
    for entry_id, users in (("1002-0", "a"), ("1002-1", "z")):
        await client.xadd(Keys("t").change_log, log_entry([users]), id=entry_id)
    assert await recent.fresh() and recent.get("a", time.monotonic()) is None
    await client.aclose()


async def test_the_recent_cache_is_dropped_when_a_reset_log_starts_later(redis_url):
    """Time has moved on: the new log's ids are all after the remembered one."""
    client, recent = await _cached(redis_url, [("1000-0", "x"), ("1001-0", "y")])
    await client.delete(Keys("t").change_log)
    await client.xadd(Keys("t").change_log, log_entry(["z"]), id="5000-0")
    assert await recent.fresh() and recent.get("a", time.monotonic()) is None
    await client.aclose()


async def test_the_recent_cache_is_dropped_when_the_log_is_trimmed_past_it(redis_url):
    client, recent = await _cached(redis_url, [("1000-0", "x")])
    log_key = Keys("t").change_log
    for seq in range(5):
        await client.xadd(log_key, log_entry(["a" if seq == 0 else "q"]), id=f"2000-{seq}")
    await client.xtrim(log_key, minid="2000-3")  # the entry naming a is gone before the cache read it
    assert await recent.fresh() and recent.get("a", time.monotonic()) is None
    await client.aclose()


async def test_the_recent_cache_starts_again_after_a_reset_and_caches_from_there(redis_url):
    client, recent = await _cached(redis_url, [("1000-0", "x")])
    log_key = Keys("t").change_log
    await client.delete(log_key)
    await client.xadd(log_key, log_entry(["z"]), id="1000-0")
    assert await recent.fresh() and recent.get("a", time.monotonic()) is None
    token = recent.begin(["a"])
    recent.finish(token, ["a"], [{"p2": 1.0}], time.monotonic())
    assert await recent.fresh() and recent.get("a", time.monotonic()) == {"p2": 1.0}  # followed again
    await client.xadd(log_key, log_entry(["a"]), id="1000-1")
    assert await recent.fresh() and recent.get("a", time.monotonic()) is None
    await client.aclose()


async def test_a_read_racing_a_change_is_not_cached(redis_url):
    client = aioredis.from_url(redis_url)
    log_key = Keys("t").change_log
    recent = SinceTrainingMirror(client, log_key, max_entries=10, max_age=60)
    assert await recent.fresh()
    token = recent.begin(["a"])  # a read of a's hash is in flight ...
    await client.xadd(log_key, log_entry(["a"]))  # ... while a's events change
    assert await recent.fresh()
    recent.finish(token, ["a"], [{}], time.monotonic())
    assert recent.get("a", time.monotonic()) is None
    await client.aclose()


def test_plain_event_parsing_matches_the_pandas_path() -> None:
    rng = np.random.default_rng(0)
    events = [{"user_id": str(rng.choice(["u1", "ü-ser", "a b", "x" * 256])), "item_id": f"p{k % 7}",
               "type": str(rng.choice(["view", "click", "add_to_cart", "purchase", "review"]))}
              for k in range(300)]
    for k, event in enumerate(events):
        if k % 3 == 0:
            event["timestamp"] = [1_700_000_000, 1.7e9 + 0.25, 0, None][k % 4]
        if k % 5 == 0 or event["type"] == "review":  # a review always has its rating
            event["value"] = 4 if event["type"] == "review" else 2.5
    plain = _plain_table(events, 123.0)
    frame = pd.DataFrame({c: [e.get(c) for e in events] for c in EVENT_COLUMNS}, dtype=object)
    slow = EventTable.from_frame(frame, default_timestamp=123.0)
    assert plain is not None
    for name in ("user_ids", "item_ids", "types", "timestamps", "values"):
        assert getattr(plain, name).dtype == getattr(slow, name).dtype
        assert np.array_equal(getattr(plain, name), getattr(slow, name)), name
    # anything unusual goes the pandas way, which still parses dates and names the bad event
    assert _plain_table([{"user_id": "u", "item_id": "p", "type": "review"}], 1.0) is None  # no rating
    assert _plain_table([{"user_id": "u", "item_id": "p", "type": "view", "timestamp": "2026-01-01T00:00:00Z"}],
                        1.0) is None
    assert parse_batch([{"user_id": "u", "item_id": "p", "type": "view",
                         "timestamp": "2026-01-01T00:00:00Z"}]).events.timestamps[0] == 1_767_225_600.0


async def test_ingested_events_keep_their_stream_layout(client, settings):
    events = [{"user_id": "s-user", "item_id": "p00001", "type": "review", "value": 4, "timestamp": 1_790_000_000},
              {"user_id": "s-user", "item_id": "p00001", "type": "purchase", "timestamp": 1_790_000_001.5}]
    assert (await client.post("/v1/events", json=events, headers=AUTH_WRITE)).status == 202
    price = read_catalog(settings.bootstrap_catalog).get("p00001").price  # a purchase sent without one takes it
    with redis.Redis.from_url(settings.redis_url) as r:
        entries = r.xrange(KEYS.events)
        assert [fields for _, fields in entries] == [
            {b"u": b"s-user", b"i": b"p00001", b"t": b"review", b"ts": b"1790000000.0", b"v": b"4.0"},
            {b"u": b"s-user", b"i": b"p00001", b"t": b"purchase", b"ts": b"1790000001.5", b"v": b"1.0",
             b"p": repr(price).encode()}]
        assert float(r.hget(KEYS.since_training("s-user"), "p00001")) == 4.0 + 5.0  # 4 stars, plus a purchase
        assert 0 < r.ttl(KEYS.since_training("s-user")) <= settings.since_training_ttl
        last = r.xrange(KEYS.change_log)[-1][1]
        assert last[b"u"] == b"s-user" and len(last[b"n"]) == 16  # the users, and the entry's nonce
    snapshot = await fold_stream(client.app[REDIS], client.app[REDIS_KEYS], settings)  # read back unchanged
    assert len(snapshot.events) > 0


async def test_a_hung_redis_does_not_hang_reads(make_client, settings, redis_server):
    """SIGSTOP: connections stay open and nothing answers, the worst case for a page render. The read
    gives up after RECS_REDIS_READ_TIMEOUT, not the 10 s socket timeout, and the model answers."""
    client = await make_client(settings, redis_read_timeout=0.3)
    path = "/v1/users/u000002/recommendations?n=5"  # not read yet: its list is not in the hot cache
    os.kill(redis_server.process.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        response = await client.get(path)
        waited = time.monotonic() - started
        body = await response.json()
    finally:
        os.kill(redis_server.process.pid, signal.SIGCONT)
    assert response.status == 200 and body["source"] == "in_memory_model" and len(body["items"]) == 5
    assert waited < 5, waited  # generous: two reads of 0.3 s and a computed list, on a loaded machine

    async def from_redis_again():
        return (await (await client.get(path)).json())["source"] == "personalized"

    await wait_for(from_redis_again)
