"""Single-user requests that arrive together share their Redis read and their cache-miss computation
(service.serving.coalescing), and every one still gets exactly the list it gets alone; a cache miss is
computed as the training's precompute would have stored it, and written back behind the answer."""

from __future__ import annotations

import asyncio
import dataclasses
import threading

import numpy as np
import orjson
import pytest
import redis
import redis.asyncio as aioredis

from service.http.app_keys import REDIS_KEYS, SERVING
from service.serving import shared_work
from service.serving.requests import ListRequest, lookup
from service.serving.shared_work import COMPUTE_SLICE, SharedComputes, SharedWrites
from service.store.embedded import free_port
from service.store.lists import pack, unpack, write_blobs
from tests.service.conftest import AUTH_WRITE

#: Request-time filters a page may ask for (the demo catalog has these categories and kinds).
REQUESTS = {
    "none": ListRequest(n=10),
    "kind-product": ListRequest(n=10, kind="product"),
    "kind-content": ListRequest(n=5, kind="content"),
    "category": ListRequest(n=5, category="kitchen"),
    "in-stock": ListRequest(n=10, in_stock_only=True),
    "exclude": ListRequest(n=10, exclude=frozenset({"p00001", "p00002", "p00003", "guide-0001"})),
    "cap-1": ListRequest(n=8, max_per_category=1),
    "products-in-stock-cap-2": ListRequest(n=8, kind="product", in_stock_only=True, max_per_category=2),
}


def forget_in_process(serving) -> None:
    """As if the requests came to a replica that has not served these users yet."""
    serving.hot.clear()
    serving.served.clear()
    serving.mirror.clear()


def answers(results) -> list[list[tuple[str, float]]]:
    """(item, score) per result, of its items or of its remembered answer's JSON (a single user's first read)."""
    return [[(item["item_id"], item["score"])
             for item in (result.items if result.remembered is None else orjson.loads(orjson.dumps(result.remembered.items)))]
            for result in results]


def assert_same_lists(got, expected) -> None:
    assert [[i for i, _ in row] for row in got] == [[i for i, _ in row] for row in expected]
    for row_got, row_expected in zip(got, expected):
        np.testing.assert_allclose([s for _, s in row_got], [s for _, s in row_expected], atol=2e-6)


@pytest.fixture
async def users(client) -> list[str]:
    """Twenty known users, two of them with events since training (excluded from their lists)."""
    model = client.app[SERVING].current.model
    chosen = [str(u) for u in model.user_ids.ids[::17][:20]]
    events = [{"user_id": chosen[0], "item_id": "p00005", "type": "purchase"},
              {"user_id": chosen[1], "item_id": "p00010", "type": "view"}]
    assert (await client.post("/v1/events", json=events, headers=AUTH_WRITE)).status == 202
    return chosen


async def test_concurrent_first_reads_share_one_round_trip_and_get_the_lists_they_get_alone(client, settings,
                                                                                           users) -> None:
    serving = client.app[SERVING]
    for req in REQUESTS.values():
        forget_in_process(serving)
        alone = [(await serving.for_users([u], req))[1][0] for u in users]
        forget_in_process(serving)
        with redis.Redis.from_url(settings.redis_url) as r:
            r.config_resetstat()
            together = [result for _, (result,) in
                        await asyncio.gather(*(serving.for_users([u], req) for u in users))]
            stats = r.info("commandstats")
        assert_same_lists(answers(together), answers(alone))
        assert stats["cmdstat_evalsha"]["calls"] == 1  # twenty users, one read
    assert answers(together)[0] and "p00005" not in {i for i, _ in answers(together)[0]}


async def test_cache_misses_computed_together_match_the_general_ranking_for_every_filter(client, settings,
                                                                                        users) -> None:
    """The slow path is what a miss was before: recommend_indices (implicit's recommend, filters,
    back-fill) for one user at a time. Its lists, put where the precompute puts lists, must give
    the same answers as misses computed together by precompute_indices."""
    serving = client.app[SERVING]
    current = serving.current
    keys = client.app[REDIS_KEYS]
    list_keys = [keys.user_recs(current.version, u) for u in users]
    codes = lookup(current.model.user_ids, users)
    with redis.Redis.from_url(settings.redis_url) as r:
        for name, req in REQUESTS.items():
            r.delete(*list_keys)
            forget_in_process(serving)
            together = [result for _, (result,) in
                        await asyncio.gather(*(serving.for_users([u], req) for u in users))]
            await serving.flush_writes()
            written = [r.get(key) for key in list_keys]
            assert all(blob is not None for blob in written), name  # written back
            fast_ids, fast_scores = current.model.precompute_indices(codes, settings.precompute_n)
            for row, blob in enumerate(written):
                ids, scores = unpack(blob)
                keep = fast_ids[row] >= 0
                assert ids.tolist() == fast_ids[row][keep].tolist()
                np.testing.assert_allclose(scores, fast_scores[row][keep])

            for key, code in zip(list_keys, codes):
                ids, scores = current.model.recommend_indices(np.array([code]), settings.precompute_n)
                r.set(key, pack(ids[0], scores[0]))
            forget_in_process(serving)
            alone = [(await serving.for_users([u], req))[1][0] for u in users]
            assert_same_lists(answers(together), answers(alone))
            assert all(len(row) == req.n for row in answers(together)), name


class _Scorer:
    """A model's precompute_indices that records where and how many users it was called with: user u's list is
    [u, u + 1, ...] with scores -u."""

    def __init__(self, trace: list) -> None:
        self.trace = trace

    def precompute_indices(self, codes: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        self.trace.append(("slice", len(codes), threading.get_ident()))
        ids = codes[:, None] + np.arange(n)[None, :]
        return ids.astype(np.int64), np.repeat(-codes[:, None], n, axis=1).astype(np.float32)


async def test_a_pass_of_misses_is_scored_in_the_event_loop_a_slice_at_a_time_with_other_work_in_between() -> None:
    """No worker thread (its GIL would keep the loop waiting after each socket call), and a pass with more than
    COMPUTE_SLICE misses lets the loop run other work between slices; every order gets its own users' lists."""
    trace: list = []
    computes, model = SharedComputes(3), _Scorer(trace)
    orders = [np.arange(k * 10, k * 10 + 10) for k in range(4)]  # 40 users from four requests of one pass
    running = True

    async def other_request() -> None:
        while running:
            trace.append(("other",))
            await asyncio.sleep(0)

    other = asyncio.create_task(other_request())
    got = await asyncio.gather(*(computes.submit((model, codes)) for codes in orders))
    running = False
    await other
    slices = [(k, entry) for k, entry in enumerate(trace) if entry[0] == "slice"]
    sizes = [min(COMPUTE_SLICE, 40 - start) for start in range(0, 40, COMPUTE_SLICE)]
    assert [entry[1] for _, entry in slices] == sizes
    assert len(slices) > 1
    assert {entry[2] for _, entry in slices} == {threading.get_ident()}
    for (before, _), (after, _) in zip(slices, slices[1:]):
        assert ("other",) in trace[before + 1:after]
    for codes, (ids, scores) in zip(orders, got):
        assert ids.tolist() == [[u, u + 1, u + 2] for u in codes.tolist()]
        assert scores.tolist() == [[-u] * 3 for u in codes.tolist()]


# -- write-behind of computed lists (SharedWrites) ----------------------------------------------------------------
def _writes(redis_url: str, settings, monkeypatch) -> tuple[SharedWrites, list[list[str]]]:
    """SharedWrites on the test's Redis, recording the keys of every pipeline it sends."""
    pipelines: list[list[str]] = []

    async def recording(client, keys, blobs, ttl):
        pipelines.append(list(keys))
        await write_blobs(client, keys, blobs, ttl)

    monkeypatch.setattr(shared_work, "write_blobs", recording)
    return SharedWrites(aioredis.Redis.from_url(redis_url), settings), pipelines


async def test_lists_handed_in_are_written_behind_one_pipeline_in_flight_carrying_what_came_meanwhile(
        redis_url, settings, monkeypatch) -> None:
    writes, pipelines = _writes(redis_url, settings, monkeypatch)
    keys = [f"wb:{k}" for k in range(5)]
    blobs = [pack(np.array([k, k + 1]), np.array([1.0, 0.5], dtype=np.float32)) for k in range(5)]
    for k in range(3):  # one pass: nothing is written before the pass ends, then all three together
        writes.later([keys[k]], [blobs[k]])
    assert pipelines == []
    await asyncio.sleep(0)
    assert pipelines == [keys[:3]]  # the first pipeline is out ...
    writes.later(keys[3:], blobs[3:])  # ... so these wait for it, then go together
    await writes.flush()
    assert pipelines == [keys[:3], keys[3:]]
    with redis.Redis.from_url(redis_url) as r:
        assert [r.get(key) for key in keys] == blobs
        assert 0 < r.ttl(keys[4]) <= int(settings.cache_ttl)
    await writes.flush()  # nothing pending: returns at once
    await writes.redis.aclose()


async def test_beyond_the_write_behind_bound_lists_are_dropped_not_held(redis_url, settings, monkeypatch) -> None:
    writes, pipelines = _writes(redis_url, settings, monkeypatch)
    monkeypatch.setattr(shared_work, "WRITE_BEHIND_LISTS", 3)
    blob = pack(np.array([1]), np.array([1.0], dtype=np.float32))
    writes.later(["wb:a", "wb:b"], [blob, blob])
    writes.later(["wb:c", "wb:d"], [blob, blob])  # would make 4: dropped
    writes.later(["wb:e"], [blob])
    await writes.flush()
    assert pipelines == [["wb:a", "wb:b", "wb:e"]]
    await writes.redis.aclose()


async def test_a_write_behind_that_redis_refuses_is_logged_and_the_next_one_still_goes(
        redis_url, settings, monkeypatch, caplog) -> None:
    writes, _ = _writes(redis_url, settings, monkeypatch)
    working = writes.redis
    writes.redis = aioredis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=1)  # nobody there
    blob = pack(np.array([1]), np.array([1.0], dtype=np.float32))
    writes.later(["wb:lost"], [blob])
    await writes.flush()  # no exception reaches anyone
    assert "could not cache 1 computed lists" in caplog.text
    writes.redis = working
    writes.later(["wb:kept"], [blob])
    await writes.flush()
    with redis.Redis.from_url(redis_url) as r:
        assert r.get("wb:kept") == blob and r.get("wb:lost") is None
    await working.aclose()


async def test_a_cache_miss_answers_before_its_list_is_written_and_shutdown_writes_it(make_client, settings,
                                                                                      monkeypatch) -> None:
    async def slow(client, keys, blobs, ttl):  # a write still out when the app stops
        await asyncio.sleep(0.5)
        await write_blobs(client, keys, blobs, ttl)

    monkeypatch.setattr(shared_work, "write_blobs", slow)
    client = await make_client(settings)
    serving = client.app[SERVING]
    user = str(serving.current.model.user_ids.ids[3])
    key = client.app[REDIS_KEYS].user_recs(serving.current.version, user)
    with redis.Redis.from_url(settings.redis_url) as r:
        r.delete(key)
        forget_in_process(serving)
        body = await (await client.get(f"/v1/users/{user}/recommendations?n=5")).json()
        assert body["source"] == "personalized" and r.get(key) is None  # answered first
        await client.close()  # the app's shutdown writes what the answers left behind
        ids, _ = unpack(r.get(key))
        assert [i["item_id"] for i in body["items"]] == [serving.current.model.item_ids.ids[i] for i in ids[:5]]


async def test_a_flush_waits_for_the_lists_handed_in_before_it_not_for_those_after(redis_url, settings,
                                                                                  monkeypatch) -> None:
    """An erasure flushes while misses keep coming: it must not wait for lists handed in after it."""
    async def slow(client, keys, blobs, ttl):
        await asyncio.sleep(0.2)
        await write_blobs(client, keys, blobs, ttl)

    monkeypatch.setattr(shared_work, "write_blobs", slow)
    writes = SharedWrites(aioredis.Redis.from_url(redis_url), settings)
    blob = pack(np.array([1]), np.array([1.0], dtype=np.float32))
    writes.later(["wb:before"], [blob])
    flushing = asyncio.create_task(writes.flush())
    await asyncio.sleep(0.05)  # the first pipeline is out
    writes.later(["wb:after"], [blob])  # goes in the next one, which the flush does not wait for
    await asyncio.wait_for(flushing, 0.35)
    with redis.Redis.from_url(redis_url) as r:
        assert r.get("wb:before") == blob and r.get("wb:after") is None
    await writes.flush()
    with redis.Redis.from_url(redis_url) as r:
        assert r.get("wb:after") == blob
    await writes.redis.aclose()


async def test_a_refused_write_behind_logs_redis_reason_without_the_packed_lists(redis_url, settings, caplog):
    """redis-py puts a failed pipeline command's arguments in its message: a packed list is binary."""
    writes = SharedWrites(aioredis.Redis.from_url(redis_url), dataclasses.replace(settings, cache_ttl=0.5))  # EX 0
    blob = pack(np.array([7, 255]), np.array([0.5, -1.0], dtype=np.float32))
    writes.later(["wb:binary"], [blob])
    await writes.flush()
    line = next(r.getMessage() for r in caplog.records if "could not cache" in r.getMessage())
    assert line.startswith("could not cache 1 computed lists: ResponseError: ") and "invalid expire time" in line
    assert "wb:binary" not in line and "\\x" not in line
    await writes.redis.aclose()
