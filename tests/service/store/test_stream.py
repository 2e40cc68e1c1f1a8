"""Following the event stream by position: a stream deleted and written again, even with the same ids,
is noticed by the fold into the snapshot and by the retention index, and nothing accepted is skipped."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from recommender.events import EventTable
from service.http.app_keys import SERVING
from service.http.app_keys import HISTORY
from service.store.keys import Keys
from service.settings import Settings
from service.store.snapshot import Snapshot, load_snapshot, save_snapshot
from service.store.events.stream import START, StreamCursor, StreamReset, read_after
from service.training.job import fold_stream, snapshot_path
from tests.service.conftest import AUTH_WRITE

KEYS = Keys()


def _event(user: str, item: str = "p00001") -> dict[str, str]:
    """A stream entry as service.store.events.write writes it."""
    return {"u": user, "i": item, "t": "view", "ts": "1790000000.0", "v": "1.0"}


async def _write(client: aioredis.Redis, entries: list[tuple[str, str]], generation: str | None = "g1") -> None:
    """Stream entries with explicit ids, the generation set as the writers set it when they create it."""
    if generation is not None and not await client.exists(KEYS.events):
        await client.set(KEYS.events_generation, generation)
    for entry_id, user in entries:
        await client.xadd(KEYS.events, _event(user), id=entry_id)


async def _read(client: aioredis.Redis, cursor: StreamCursor, count: int = 10):
    return await read_after(client, KEYS.events, KEYS.events_generation, cursor, count)


async def test_a_missing_stream_reads_as_empty(redis_url):
    client = aioredis.from_url(redis_url)
    assert await _read(client, StreamCursor()) == ([], StreamCursor(START, None))
    await client.aclose()


async def test_pages_advance_the_cursor_and_adopt_the_generation(redis_url):
    client = aioredis.from_url(redis_url)
    await _write(client, [(f"1000-{k}", f"u{k}") for k in range(5)])
    entries, cursor = await _read(client, StreamCursor(), 2)
    assert [e[0] for e in entries] == [b"1000-0", b"1000-1"] and cursor == StreamCursor("1000-1", "g1")
    entries, cursor = await _read(client, cursor, 2)
    entries, cursor = await _read(client, cursor, 2)
    assert [e[1][b"u"] for e in entries] == [b"u4"] and cursor == StreamCursor("1000-4", "g1")
    assert await _read(client, cursor, 2) == ([], cursor)
    await client.xtrim(KEYS.events, minid="1000-5")  # trimmed to empty: the stream and its generation stay
    await _write(client, [("1001-0", "u5")], generation="g2")
    entries, cursor = await _read(client, cursor)
    assert [e[0] for e in entries] == [b"1001-0"] and cursor == StreamCursor("1001-0", "g1")
    await client.aclose()


@pytest.mark.parametrize("new_ids", [
    ["1000-0"],  # same millisecond: the new stream's entry has the very id remembered
    ["1000-0", "1000-1", "1000-2"],  # same millisecond, and on past the remembered id
    ["900-0"],  # the clock stepped back
    ["9000-0", "9000-1"],  # time has moved on
])
async def test_a_stream_written_again_is_a_reset(redis_url, new_ids):
    client = aioredis.from_url(redis_url)
    await _write(client, [("1000-0", "a"), ("1000-1", "b")])
    _, cursor = await _read(client, StreamCursor())
    await client.delete(KEYS.events)
    await _write(client, [(entry_id, "new") for entry_id in new_ids], generation="g2")
    with pytest.raises(StreamReset):
        await _read(client, cursor)
    await client.flushall()  # Redis lost everything, and something else wrote the stream again
    await _write(client, [("1000-1", "other")], generation=None)
    with pytest.raises(StreamReset):
        await _read(client, cursor)
    await client.aclose()


def _settings(tmp_path, redis_url) -> Settings:
    return Settings(redis_url=redis_url, data_dir=tmp_path)


async def test_the_fold_takes_every_entry_of_a_stream_written_again_in_the_same_millisecond(tmp_path, redis_url):
    client = aioredis.from_url(redis_url)
    settings = _settings(tmp_path, redis_url)
    await _write(client, [("1000-0", "a"), ("1000-1", "b")])
    snapshot = await fold_stream(client, KEYS, settings)
    assert len(snapshot.events) == 2 and snapshot.cursor == StreamCursor("1000-1", "g1")
    assert await client.xlen(KEYS.events) == 0
    # Redis loses the stream; new events arrive with ids at and before the snapshot's last one
    await client.delete(KEYS.events)
    await _write(client, [("1000-0", "c"), ("1000-1", "d"), ("1000-2", "e")], generation="g2")
    snapshot = await fold_stream(client, KEYS, settings)
    assert sorted(snapshot.events.user_ids) == ["a", "b", "c", "d", "e"]
    assert snapshot.cursor == StreamCursor("1000-2", "g2") and await client.xlen(KEYS.events) == 0
    assert load_snapshot(snapshot_path(settings)).cursor == snapshot.cursor
    await _write(client, [("1001-0", "f")])  # and it follows the new stream from there
    assert sorted((await fold_stream(client, KEYS, settings)).events.user_ids) == ["a", "b", "c", "d", "e", "f"]
    await client.aclose()


async def test_a_snapshot_without_a_generation_is_folded_onto_and_gets_one(tmp_path, redis_url):
    client = aioredis.from_url(redis_url)
    settings = _settings(tmp_path, redis_url)
    path = snapshot_path(settings)
    await _write(client, [("1000-0", "a"), ("1000-1", "b")])
    save_snapshot(Snapshot(EventTable.empty(), StreamCursor("1000-0", None)), path)  # as an older version saved it
    assert load_snapshot(path).cursor == StreamCursor("1000-0", None)
    snapshot = await fold_stream(client, KEYS, settings)
    assert list(snapshot.events.user_ids) == ["b"] and snapshot.cursor == StreamCursor("1000-1", "g1")
    await client.aclose()


async def test_the_retention_index_reads_a_stream_written_again_from_its_start(client, settings):
    redis = client.app[SERVING].redis
    history = client.app[HISTORY]
    current = client.app[SERVING].current
    response = await client.post("/v1/events", json={"user_id": "before-reset", "item_id": "p00001",
                                                     "type": "view"}, headers=AUTH_WRITE)
    assert response.status == 202
    index = await history.get(current)
    assert index.history.user_code("before-reset") is not None
    (last_id, _), = await redis.xrange(KEYS.events)
    # Redis loses the stream; the writers start a new one, whose entry happens to get the same id
    await redis.delete(KEYS.events)
    await _write(client.app[SERVING].redis, [(last_id.decode(), "after-reset")], generation="g2")
    index = await history.get(current)
    assert index.history.user_code("after-reset") is not None
    assert index.history.user_code("before-reset") is None  # gone from Redis before a training folded it


async def test_the_event_writers_start_a_new_generation_with_a_new_stream(client, settings):
    redis = client.app[SERVING].redis
    event = {"user_id": "g-user", "item_id": "p00001", "type": "view"}
    assert (await client.post("/v1/events", json=event, headers=AUTH_WRITE)).status == 202
    first = await redis.get(KEYS.events_generation)
    assert first and len(first) == 16
    assert (await client.post("/v1/events", json=event, headers=AUTH_WRITE)).status == 202
    assert await redis.get(KEYS.events_generation) == first  # the same stream
    await redis.delete(KEYS.events)
    assert (await client.post("/v1/events", json=event, headers=AUTH_WRITE)).status == 202
    assert await redis.get(KEYS.events_generation) not in (None, first)
