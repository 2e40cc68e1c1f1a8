"""Erasing a customer and merging a visitor into a customer, through HTTP against the real Redis: what goes at
once, what the next training removes (nothing of the erased id left in any Redis key or value, nor in any file
of the model directory), a delete during a training, a restart in between, and bad input writing nothing."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
import redis

from service.http.app_keys import REFRESHER, SERVING
from service.serving import shared_work
from service.store.erasures import digest
from service.store.keys import Keys
from service.store.lists import write_blobs
from service.store.snapshot import load_snapshot
from service.training.job import snapshot_path
from tests.redis_values import key_values
from tests.service.conftest import AUTH_ADMIN, AUTH_WRITE, wait_for

KEYS = Keys()
ERASED, KEPT = "u000007", "u000011"  # known to the demo model; no demo id contains another


def dump_values(url: str) -> dict[bytes, list[bytes]]:
    """Every key of the database and every string its value holds (all types, streams' fields included)."""
    out: dict[bytes, list[bytes]] = {}
    with redis.Redis.from_url(url) as r:
        for key in r.scan_iter(count=1000):
            out[key] = key_values(r, key)
    return out


def mentions(url: str, user: str) -> list[bytes]:
    """Keys whose name or value holds `user`."""
    needle = user.encode()
    return [key for key, values in dump_values(url).items() if needle in key or any(needle in v for v in values)]


def files_mentioning(directory, user: str) -> list[str]:
    needle = user.encode()
    return [str(p) for p in directory.rglob("*") if p.is_file() and needle in p.read_bytes()]


def redis_dump(url: str) -> dict[bytes, bytes]:
    """Every key and its dumped value, but the online counters (reads tally impressions in the background) and
    the rate limiter's buckets (every call takes a token)."""
    skip = (KEYS.online("").encode(), f"{KEYS.prefix}:ratelimit:".encode())
    with redis.Redis.from_url(url) as r:
        keys = sorted(k for k in r.scan_iter(count=1000) if not k.startswith(skip))
        return {k: r.dump(k) for k in keys}


async def _retrain(client) -> str:
    report = await client.app[REFRESHER].train("test")
    assert report.outcome == "trained", report.message
    return report.version


async def _erasure(client, user: str) -> dict:
    response = await client.get(f"/v1/users/{user}/erasure", headers=AUTH_ADMIN)
    assert response.status == 200
    return await response.json()


def _snapshot_users(settings) -> np.ndarray:
    return load_snapshot(snapshot_path(settings)).events.user_ids


async def test_an_erased_customer_leaves_nothing_in_redis_or_the_model_directory_after_the_next_training(
        client, settings):
    first = (await (await client.get(f"/v1/users/{ERASED}/recommendations?n=3")).json())
    rid = first["recommendation_id"]
    item = first["items"][0]["item_id"]
    events = [{"user_id": ERASED, "item_id": item, "type": "click", "recommendation_id": rid},
              {"user_id": ERASED, "item_id": "p00002", "type": "purchase", "event_id": "order-erased-1"}]
    assert (await client.post("/v1/events", json=events, headers=AUTH_WRITE)).status == 202
    assert (await client.post(f"/v1/users/{ERASED}/shown", json={"item_ids": ["p00003"]},
                              headers=AUTH_WRITE)).status == 202
    assert (await client.post(f"/v1/users/{ERASED}/contacted", json={"campaign": "win_back"},
                              headers=AUTH_WRITE)).status == 202
    version = (await (await client.get("/v1/model")).json())["version"]
    for unseen in (f"p{k:05d}" for k in range(1, 40)):  # an item whose audience the model's scores put them in
        if ERASED in await _audience(client, unseen):
            break
    else:
        raise AssertionError(f"{ERASED} is in no audience")
    assert await _new_for_you_sources(client, ERASED) == ["personalized", "personalized"]
    await client.app[SERVING].flush_writes()
    with redis.Redis.from_url(settings.redis_url) as r:
        assert r.exists(KEYS.since_training(ERASED), KEYS.shown(ERASED), KEYS.user_recs(version, ERASED)) == 3
        assert r.zscore(KEYS.contacted, ERASED) is not None
    assert (await client.delete(f"/v1/users/{ERASED}", headers=AUTH_WRITE)).status == 403  # an admin's route

    response = await client.delete(f"/v1/users/{ERASED}", headers=AUTH_ADMIN)
    assert response.status == 202
    body = await response.json()
    assert body["state"] == "pending" and body["erased_through"] != "0-0"
    with redis.Redis.from_url(settings.redis_url) as r:  # at once
        assert r.exists(KEYS.since_training(ERASED), KEYS.since_training_ids(ERASED),
                        KEYS.since_training_bought(ERASED), KEYS.shown(ERASED), KEYS.user_recs(version, ERASED)) == 0
        assert r.zscore(KEYS.contacted, ERASED) is None
        assert not [f for _, f in r.xrange(KEYS.contact_log) if f[b"u"] == ERASED.encode()]
        online_before = {k: r.hgetall(k) for k in r.scan_iter(match=KEYS.online("*"))}
    # served as unknown to the model (popularity), and nothing computed for them is written back
    answer = await (await client.get(f"/v1/users/{ERASED}/recommendations?n=5")).json()
    assert answer["source"] == "fallback"
    batch = await (await client.post("/v1/recommendations/batch", json={"user_ids": [ERASED, KEPT], "n": 5})).json()
    assert (await (await client.get(f"/v1/users/{ERASED}/events")).json())["total"] == 0  # nor in retention routes
    assert (await (await client.get(f"/v1/users/{KEPT}/events")).json())["total"] > 0
    profiles = [await client.get(f"/v1/users/{u}/profile") for u in (ERASED, KEPT, "never-seen")]
    assert [p.status for p in profiles] == [404, 200, 404]  # an erased id looks like one never seen
    assert [r["source"] for r in batch["results"]] == ["fallback", "personalized"]
    # the model still holds their vector until the next training: no route may use it
    audience = await _audience(client, unseen)
    assert ERASED not in audience and len(audience) > 100
    assert await _new_for_you_sources(client, ERASED) == ["fallback", "fallback"]
    await client.app[SERVING].flush_writes()
    with redis.Redis.from_url(settings.redis_url) as r:
        assert not r.exists(KEYS.user_recs(version, ERASED))
    state = await _erasure(client, ERASED)
    assert state["state"] == "pending" and state["requested_at"] == body["requested_at"] and state["done_at"] is None

    new_version = await _retrain(client)
    state = await _erasure(client, ERASED)
    assert state["state"] == "done" and state["requested_at"] <= state["folded_at"] <= state["done_at"]
    assert mentions(settings.redis_url, ERASED) == []
    assert files_mentioning(settings.models_path, ERASED) == []
    assert sorted(p.name for p in settings.models_path.glob("*.npz")) == sorted(["snapshot.npz",
                                                                                 f"{new_version}.npz"])
    assert KEPT in set(_snapshot_users(settings))  # everyone else is still there
    with redis.Redis.from_url(settings.redis_url) as r:  # the record keeps a digest, not the id
        assert r.hexists(KEYS.erasure_records, digest(ERASED))
        # their past clicks stay in the anonymous online counters
        online_after = {k: r.hgetall(k) for k in r.scan_iter(match=KEYS.online("*"))}
    clicks_before = _clicks(online_before)
    assert sum(clicks_before.values()) >= 1 and _clicks(online_after) == clicks_before
    answer = await (await client.get(f"/v1/users/{ERASED}/recommendations?n=5")).json()
    assert answer["source"] == "fallback" and answer["model_version"] == new_version


async def _audience(client, item: str) -> list[str]:
    response = await client.get(f"/v1/items/{item}/audience?n=100000&exclude_bought_days=0&cap_hours=0")
    assert response.status == 200
    return [json.loads(line)["user_id"] for line in (await response.text()).splitlines()]


async def _new_for_you_sources(client, user: str) -> list[str]:
    """The source of the user's new-for-you route and of that block of their email."""
    route = await (await client.get(f"/v1/users/{user}/new?days=3650")).json()
    email = await (await client.get(f"/v1/users/{user}/email-block?blocks=new_for_you")).json()
    return [route["source"], email["blocks"]["new_for_you"]["source"]]


def _clicks(online: dict[bytes, dict[bytes, bytes]]) -> dict[tuple[bytes, bytes], int]:
    """The online counters' clicks (impressions grow in the background as reads are tallied)."""
    return {(key, f): int(v) for key, fields in online.items() for f, v in fields.items() if f.endswith(b"clicks")}


async def test_events_after_an_erasure_are_a_new_customer_with_the_same_id(client, settings):
    before = [{"user_id": ERASED, "item_id": "p00005", "type": "view"}]
    after = [{"user_id": ERASED, "item_id": "p00009", "type": "purchase"}]
    assert (await client.post("/v1/events", json=before, headers=AUTH_WRITE)).status == 202
    assert (await client.delete(f"/v1/users/{ERASED}", headers=AUTH_ADMIN)).status == 202
    assert (await client.post("/v1/events", json=after, headers=AUTH_WRITE)).status == 202
    with redis.Redis.from_url(settings.redis_url) as r:  # the new customer's state since training
        assert set(r.hkeys(KEYS.since_training(ERASED))) == {b"p00009"}
    await _retrain(client)
    assert (await _erasure(client, ERASED))["state"] == "done"
    events = load_snapshot(snapshot_path(settings)).events
    rows = events.user_ids == ERASED
    assert rows.sum() == 1 and events.item_ids[rows][0] == "p00009"


@pytest.mark.parametrize("moment", ["started", "folded"])
async def test_a_delete_during_a_training_is_completed_by_the_next_one(client, settings, moment):
    """`started`: the training has begun (the delete may land before or after its fold); `folded`: the training
    saved its snapshot, so the model it trains holds the customer and it precomputes their list."""
    assert (await client.post("/v1/events", json=[{"user_id": ERASED, "item_id": "p00004", "type": "view"}],
                              headers=AUTH_WRITE)).status == 202
    path = snapshot_path(settings)
    saved = path.stat().st_mtime_ns
    refresher = client.app[REFRESHER]
    training = asyncio.create_task(refresher.train("during"))
    await wait_for(lambda: _running(settings))
    if moment == "folded":
        await wait_for(lambda: _changed(path, saved), interval=0.005)
    assert (await client.delete(f"/v1/users/{ERASED}", headers=AUTH_ADMIN)).status == 202
    report = await training
    assert report.outcome == "trained"
    if moment == "folded":  # the new model holds them: the erasure waits for the next training
        assert ERASED in set(_snapshot_users(settings))
        assert (await _erasure(client, ERASED))["state"] == "pending"
    # whichever side of the fold the delete fell on, the model that now serves shows nothing of theirs
    answer = await (await client.get(f"/v1/users/{ERASED}/recommendations?n=5")).json()
    assert answer["source"] == "fallback"
    await client.app[SERVING].flush_writes()
    with redis.Redis.from_url(settings.redis_url) as r:
        assert not r.exists(KEYS.user_recs(report.version, ERASED))
    assert (await _erasure(client, ERASED))["state"] in ("pending", "folded", "done")
    await _retrain(client)
    assert (await _erasure(client, ERASED))["state"] == "done"
    assert mentions(settings.redis_url, ERASED) == []
    assert files_mentioning(settings.models_path, ERASED) == []


async def _changed(path, mtime_ns: int) -> bool:
    return path.stat().st_mtime_ns != mtime_ns


async def _running(settings) -> bool:
    with redis.Redis.from_url(settings.redis_url) as r:
        return r.hget(KEYS.training_status, "running") == b"1"


async def test_erasures_and_merges_survive_a_restart(make_client, settings):
    first = await make_client(settings)
    assert (await first.delete(f"/v1/users/{ERASED}", headers=AUTH_ADMIN)).status == 202
    assert (await first.post(f"/v1/users/{KEPT}/merge", json={"from": "anon-restart"},
                             headers=AUTH_WRITE)).status == 202
    await first.close()
    second = await make_client(settings)
    assert (await _erasure(second, ERASED))["state"] == "pending"
    answer = await (await second.get(f"/v1/users/{ERASED}/recommendations?n=5")).json()
    assert answer["source"] == "fallback"  # still served as unknown after the restart
    with redis.Redis.from_url(settings.redis_url) as r:
        assert r.hlen(KEYS.merges_pending) == 1
    await _retrain(second)
    assert (await _erasure(second, ERASED))["state"] == "done"
    with redis.Redis.from_url(settings.redis_url) as r:
        assert r.hlen(KEYS.merges_pending) == 0 and r.hlen(KEYS.erasures_pending) == 0


async def test_erasure_state_of_an_id_never_erased_is_a_404_and_ids_are_checked(client):
    response = await client.get("/v1/users/nobody/erasure", headers=AUTH_ADMIN)
    assert response.status == 404 and (await response.json())["error"]["code"] == "no_erasure"
    response = await client.delete("/v1/users/bad%01id", headers=AUTH_ADMIN)
    assert response.status == 400 and (await response.json())["error"]["field"] == "user_id"
    assert (await client.get("/v1/users/nobody/erasure", headers=AUTH_WRITE)).status == 403


async def test_a_merge_moves_the_visitors_state_at_once_and_their_events_at_the_next_training(client, settings):
    visitor = "anon-123"
    events = [{"user_id": visitor, "item_id": "p00010", "type": "view"},
              {"user_id": visitor, "item_id": "p00011", "type": "purchase"},
              {"user_id": KEPT, "item_id": "p00010", "type": "view"}]
    assert (await client.post("/v1/events", json=events, headers=AUTH_WRITE)).status == 202
    assert (await client.post(f"/v1/users/{visitor}/shown", json={"item_ids": ["p00012"]},
                              headers=AUTH_WRITE)).status == 202
    assert (await client.post(f"/v1/users/{visitor}/contacted", json={"campaign": "welcome"},
                              headers=AUTH_WRITE)).status == 202
    with redis.Redis.from_url(settings.redis_url) as r:
        weight = float(r.hget(KEYS.since_training(visitor), "p00010")) + float(r.hget(KEYS.since_training(KEPT),
                                                                                         "p00010"))
        bought = r.hget(KEYS.since_training_bought(visitor), "p00011")
    response = await client.post(f"/v1/users/{KEPT}/merge", json={"from": visitor}, headers=AUTH_WRITE)
    assert response.status == 202
    assert (await response.json())["from"] == visitor
    with redis.Redis.from_url(settings.redis_url) as r:
        assert r.exists(KEYS.since_training(visitor), KEYS.since_training_ids(visitor), KEYS.shown(visitor),
                        KEYS.since_training_bought(visitor)) == 0
        assert float(r.hget(KEYS.since_training(KEPT), "p00010")) == pytest.approx(weight)
        assert r.hget(KEYS.since_training_bought(KEPT), "p00011") == bought
        assert r.zscore(KEYS.shown(KEPT), "p00012") is not None
        assert r.zscore(KEYS.contacted, visitor) is None and r.zscore(KEYS.contacted, KEPT) is not None
        assert {f[b"u"] for _, f in r.xrange(KEYS.contact_log)} == {KEPT.encode()}
    answer = await (await client.get(f"/v1/users/{KEPT}/recommendations?n=20")).json()
    assert "p00011" not in {i["item_id"] for i in answer["items"]} or any(
        i.get("repeat") for i in answer["items"] if i["item_id"] == "p00011")

    before = redis_dump(settings.redis_url)  # a repeated merge changes nothing
    assert (await client.post(f"/v1/users/{KEPT}/merge", json={"from": visitor}, headers=AUTH_WRITE)).status == 202
    assert redis_dump(settings.redis_url) == before

    await _retrain(client)
    events = load_snapshot(snapshot_path(settings)).events
    assert visitor not in set(events.user_ids)
    kept = events.item_ids[events.user_ids == KEPT]
    assert {"p00010", "p00011"} <= set(kept)
    with redis.Redis.from_url(settings.redis_url) as r:
        assert r.hlen(KEYS.merges_pending) == 0


@pytest.mark.parametrize(("body", "field"), [
    ({}, "from"), ({"from": KEPT}, "from"), ({"from": ""}, "from"), ({"from": 7}, "from"),
    ({"from": "a\u0001b"}, "from"), ({"from": "x" * 1000}, "from"), ([], None), ("anon", None)])
async def test_a_bad_merge_is_a_400_naming_the_field_and_writes_nothing(client, settings, body, field):
    assert (await client.post("/v1/events", json=[{"user_id": "anon-9", "item_id": "p00001", "type": "view"}],
                              headers=AUTH_WRITE)).status == 202
    before = redis_dump(settings.redis_url)
    response = await client.post(f"/v1/users/{KEPT}/merge", data=json.dumps(body), headers=AUTH_WRITE)
    assert response.status == 400
    error = (await response.json())["error"]
    assert error.get("field") == field and error["code"] and error["message"]
    assert redis_dump(settings.redis_url) == before


async def test_merge_needs_a_write_key(client):
    response = await client.post(f"/v1/users/{KEPT}/merge", json={"from": "anon-1"})
    assert response.status == 401


async def test_a_list_computed_before_an_erasure_is_not_written_back_after_it(client, settings, monkeypatch) -> None:
    """Computed lists are written behind the answers (service.serving.shared_work); the erasure waits for the
    ones already handed in, so none lands after it."""
    async def slow(redis_client, keys, blobs, ttl):
        await asyncio.sleep(0.3)
        await write_blobs(redis_client, keys, blobs, ttl)

    monkeypatch.setattr(shared_work, "write_blobs", slow)
    serving = client.app[SERVING]
    version = serving.current.version
    with redis.Redis.from_url(settings.redis_url) as r:
        r.delete(KEYS.user_recs(version, ERASED))
        serving.hot.clear()
        serving.served.clear()
        answer = await (await client.get(f"/v1/users/{ERASED}/recommendations?n=3")).json()
        assert answer["source"] == "personalized"  # computed: its write-back is out
        assert (await client.delete(f"/v1/users/{ERASED}", headers=AUTH_ADMIN)).status == 202
        await serving.flush_writes()
        assert not r.exists(KEYS.user_recs(version, ERASED))


async def test_a_list_still_computing_when_the_erasure_arrives_is_not_written_back(client, settings) -> None:
    """A cache miss computing for the customer while they are erased must not cache its list after the erasure."""
    serving = client.app[SERVING]
    version = serving.current.version
    computes = serving._computes
    submit = computes.submit

    async def slow(order):
        await asyncio.sleep(0.3)  # the erasure comes in meanwhile
        return await submit(order)

    computes.submit = slow
    with redis.Redis.from_url(settings.redis_url) as r:
        r.delete(KEYS.user_recs(version, ERASED))
        serving.hot.clear()
        serving.served.clear()
        reading = asyncio.create_task(client.get(f"/v1/users/{ERASED}/recommendations?n=3"))
        await asyncio.sleep(0.1)
        assert (await client.delete(f"/v1/users/{ERASED}", headers=AUTH_ADMIN)).status == 202
        assert (await reading).status == 200
        await serving.flush_writes()
        assert not r.exists(KEYS.user_recs(version, ERASED))
