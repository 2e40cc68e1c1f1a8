"""Reasons, fatigue and online feedback through HTTP on the demo store, against a real Redis."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import redis
import redis.asyncio as aioredis

from service.http.app_keys import METRICS
from service.store.keys import Keys
from service.metrics import Metrics
from service.serving.online import OnlineRecorder
from tests.service.conftest import AUTH_WRITE, recorder_paused, wait_for

KEYS = Keys()


def _history(demo, user_id: str) -> set[str]:
    events = demo[0].events
    return set(events.item_ids[events.user_ids == user_id])


def _heavy_users(demo, count: int = 1) -> list[str]:
    users, counts = np.unique(demo[0].events.user_ids, return_counts=True)
    return [str(u) for u in users[np.argsort(-counts, kind="stable")[:count]]]


async def _items(client, user: str, query: str = "n=5") -> list[dict]:
    response = await client.get(f"/v1/users/{user}/recommendations?{query}")
    assert response.status == 200, await response.text()
    return (await response.json())["items"]


async def _ids(client, user: str, query: str = "n=5") -> list[str]:
    return [i["item_id"] for i in await _items(client, user, query)]


# -- reasons ----------------------------------------------------------------------------------
async def test_explain_names_the_users_own_items(client, demo):
    for user in _heavy_users(demo, 3):
        items = await _items(client, user, "n=8&explain=true")
        history = _history(demo, user)
        assert all(len(i["because"]) <= 3 and set(i["because"]) <= history for i in items)
        assert all(i["item_id"] not in i["because"] for i in items)
        assert sum(bool(i["because"]) for i in items) >= 4
    assert all("because" not in i for i in await _items(client, user, "n=8"))
    assert all("because" not in i for i in await _items(client, user, "n=8&explain=false"))


async def test_explain_for_fallback_is_empty_and_for_folded_in_users_their_events(client, demo):
    assert all(i["because"] == [] for i in await _items(client, "nobody-at-all", "n=5&explain=true"))
    bought = _heavy_users(demo, 1)[0]
    posted = sorted(_history(demo, bought))[:4]
    events = [{"user_id": "fresh-face", "item_id": item, "type": "purchase"} for item in posted]
    assert (await client.post("/v1/events", json=events, headers=AUTH_WRITE)).status == 202
    body = await (await client.get("/v1/users/fresh-face/recommendations?n=6&explain=true")).json()
    assert body["source"] == "personalized"
    assert all(set(i["because"]) <= set(posted) for i in body["items"])
    assert any(i["because"] for i in body["items"])


async def test_batch_explains_every_result(client, demo):
    users = _heavy_users(demo, 3) + ["nobody-at-all"]
    body = await (await client.post("/v1/recommendations/batch",
                                    json={"user_ids": users, "n": 4, "explain": True})).json()
    for user, result in zip(users, body["results"]):
        assert all(set(i["because"]) <= _history(demo, user) for i in result["items"])
    assert any(i["because"] for i in body["results"][0]["items"])
    assert all(i["because"] == [] for i in body["results"][-1]["items"])


@pytest.mark.parametrize("query", ["explain=maybe", "explain=2"])
async def test_bad_explain_gives_400(client, query):
    assert (await client.get(f"/v1/users/u1/recommendations?{query}")).status == 400
    assert (await client.post("/v1/recommendations/batch", json={"user_ids": ["u1"], "explain": "maybe"})).status == 400


# -- do not repeat yourself -----------------------------------------------------------------------
async def test_shown_items_move_behind_unshown_ones(client, demo):
    user = _heavy_users(demo, 1)[0]
    before = await _ids(client, user, "n=40")
    every_content = await _ids(client, user, "n=100&kind=content")
    shown = before[:3] + [i for i in every_content[:2] if i not in before[:3]]
    response = await client.post(f"/v1/users/{user}/shown", json={"item_ids": shown}, headers=AUTH_WRITE)
    assert response.status == 202 and (await response.json())["shown"] == len(shown)
    rest = [i for i in before if i not in shown]
    assert await _ids(client, user, "n=30") == rest[:30]  # the rest keep their order and move up
    top = await _ids(client, user, "n=5")
    assert top == rest[:5] and not set(top) & set(shown)  # consecutive emails differ
    # demoted, not removed: when every allowed item is needed, the shown ones come last
    assert await _ids(client, user, "n=100&kind=content") == every_content[2:] + every_content[:2]


async def test_impression_events_demote_and_never_count_as_interest(client, demo):
    user = _heavy_users(demo, 2)[1]
    before = await _ids(client, user, "n=6")
    events = [{"user_id": user, "item_id": item, "type": "impression"} for item in before[:2]]
    events.append({"user_id": "only-shown", "item_id": before[0], "type": "impression"})
    assert (await client.post("/v1/events", json=events, headers=AUTH_WRITE)).status == 202
    after = await _ids(client, user, "n=6")
    assert after[:4] == before[2:] and not set(after) & set(before[:2])
    body = await (await client.get("/v1/users/only-shown/recommendations?n=5")).json()
    assert body["source"] == "fallback"  # an impression is no event to fold in


async def test_old_impressions_do_not_demote_and_fatigue_can_be_off(client, make_client, settings, demo):
    user = _heavy_users(demo, 3)[2]
    before = await _ids(client, user, "n=5")
    old = time.time() - 30 * 86_400  # older than the 14-day window
    event = {"user_id": user, "item_id": before[0], "type": "impression", "timestamp": old}
    assert (await client.post("/v1/events", json=event, headers=AUTH_WRITE)).status == 202
    assert await _ids(client, user, "n=5") == before
    off = await make_client(settings, fatigue_days=0)
    await off.post(f"/v1/users/{user}/shown", json={"item_ids": before[:2]}, headers=AUTH_WRITE)
    assert await _ids(off, user, "n=5") == before


async def test_fallback_filtered_and_batch_lists_are_demoted_too(client, demo):
    popular = await _ids(client, "window-shopper", "n=7")
    await client.post("/v1/users/window-shopper/shown", json={"item_ids": popular[:2]}, headers=AUTH_WRITE)
    assert await _ids(client, "window-shopper", "n=5") == popular[2:]
    user = _heavy_users(demo, 4)[3]
    content = await _ids(client, user, "n=4&kind=content")
    await client.post(f"/v1/users/{user}/shown", json={"item_ids": content[:1]}, headers=AUTH_WRITE)
    again = await _ids(client, user, "n=4&kind=content")
    assert len(again) == 4 and content[0] not in again[:3]
    body = await (await client.post("/v1/recommendations/batch", json={"user_ids": [user], "n": 3,
                                                                       "kind": "content"})).json()
    assert [i["item_id"] for i in body["results"][0]["items"]] == content[1:4]
    body = await (await client.post("/v1/recommendations/batch", json={"user_ids": [user, "window-shopper"],
                                                                       "n": 3})).json()
    assert [i["item_id"] for i in body["results"][1]["items"]] == popular[2:5]


async def test_category_cap_holds_with_shown_items(client, demo):
    user = _heavy_users(demo, 1)[0]
    first = await _items(client, user, "n=6&max_per_category=1")
    await client.post(f"/v1/users/{user}/shown", json={"item_ids": [first[0]["item_id"]]}, headers=AUTH_WRITE)
    for query in ("n=6&max_per_category=1", "n=6&max_per_category=1&explain=true"):
        items = await _items(client, user, query)
        categories = [i["category"] for i in items]
        assert len(categories) == len(set(categories))
        assert first[0]["item_id"] not in [i["item_id"] for i in items][:len(items) - 1]
    body = await (await client.post("/v1/recommendations/batch",
                                    json={"user_ids": [user], "n": 6, "max_per_category": 1})).json()
    categories = [i["category"] for i in body["results"][0]["items"]]
    assert len(categories) == len(set(categories))


async def test_a_hot_list_needs_no_redis_read_for_the_shown_set(make_client, settings, demo):
    client = await make_client(settings, poll_interval=3600)  # no training-status reads while counting
    user = _heavy_users(demo, 1)[0]
    await _ids(client, user)
    await _ids(client, user)  # list and user state now cached in process
    sync = redis.Redis.from_url(settings.redis_url)
    async with recorder_paused(client):
        sync.config_resetstat()
        await _ids(client, user)
        stats = sync.info("commandstats")
    reads = {"cmdstat_zrangebyscore", "cmdstat_hgetall", "cmdstat_mget", "cmdstat_eval", "cmdstat_evalsha"}
    assert not reads & set(stats)
    await client.post(f"/v1/users/{user}/shown", json={"item_ids": ["p00001"]}, headers=AUTH_WRITE)
    async with recorder_paused(client):
        sync.config_resetstat()
        await _ids(client, user)  # the change log dropped the cached state: one script re-reads it
        stats = sync.info("commandstats")  # the shown set and the since-training hash (empty: no more)
    scripts = sum(stats.get(f"cmdstat_{c}", {}).get("calls", 0) for c in ("eval", "evalsha"))
    assert scripts == 1 and stats["cmdstat_zrangebyscore"]["calls"] == 1 and stats["cmdstat_hgetall"]["calls"] == 1
    sync.close()


async def test_shown_bad_input(client):
    for body in ({}, {"item_ids": []}, {"item_ids": "p1"}, {"item_ids": [1]}, {"item_ids": ["a\x01"]},
                 {"item_ids": ["x" * 300]}, {"item_ids": ["p"] * 1001}, [1]):
        response = await client.post("/v1/users/u1/shown", json=body, headers=AUTH_WRITE)
        assert response.status == 400, body
    assert (await client.post("/v1/users/u1/shown", json={"item_ids": ["p1"]})).status == 401


# -- online feedback ------------------------------------------------------------------------------
async def _stats(client, days: int = 7) -> dict:
    response = await client.get(f"/v1/stats/online?days={days}")
    assert response.status == 200
    return await response.json()


def _row(stats: dict, version: str, route: str) -> dict | None:
    return next((r for r in stats["by_version_and_route"]
                 if r["model_version"] == version and r["route"] == route), None)


async def test_clicks_and_purchases_are_attributed_to_version_and_route(client, demo):
    user = _heavy_users(demo, 1)[0]
    body = await (await client.get(f"/v1/users/{user}/recommendations?n=4")).json()
    rid, version = body["recommendation_id"], body["model_version"]
    route, served_version, stamp = rid.split(".")
    assert (route, served_version) == ("recommendations", version) and abs(int(stamp[:8], 16) - time.time()) < 60
    other = (await (await client.get(f"/v1/users/{user}/recommendations?n=4")).json())["recommendation_id"]
    assert other != rid

    async def served():
        row = _row(await _stats(client), version, "recommendations")
        return row if row and row["impressions"] == 8 else None

    row = await wait_for(served, timeout=10)
    assert row["clicks"] == 0 and row["purchases"] == 0
    item = body["items"][0]["item_id"]
    events = [{"user_id": user, "item_id": item, "type": "click", "recommendation_id": rid},
              {"user_id": user, "item_id": item, "type": "click", "recommendation_id": rid, "event_id": "c-1"},
              {"user_id": user, "item_id": item, "type": "purchase", "recommendation_id": rid},
              {"user_id": user, "item_id": item, "type": "view", "recommendation_id": rid},
              {"user_id": user, "item_id": item, "type": "click", "recommendation_id": "never-served"},
              {"user_id": user, "item_id": item, "type": "click",  # ours, but served too long ago
               "recommendation_id": f"recommendations.{version}.{int(time.time() - 8 * 86400):08x}00000000"}]
    assert (await client.post("/v1/events", json=events, headers=AUTH_WRITE)).status == 202
    assert (await client.post("/v1/events", json=events[1], headers=AUTH_WRITE)).status == 202  # a retry
    stats = await _stats(client, 1)
    row = _row(stats, version, "recommendations")
    assert (row["impressions"], row["clicks"], row["purchases"]) == (8, 2, 1)
    assert row["click_through_rate"] == pytest.approx(2 / 8)
    assert stats["total"]["clicks"] == 2
    assert {r["route"] for r in stats["by_route"]} == {"recommendations"}
    assert [r["model_version"] for r in stats["by_version"]] == [version]


async def test_batch_responses_have_one_id_and_count_every_item(client, demo):
    users = _heavy_users(demo, 3) + ["nobody-at-all"]
    body = await (await client.post("/v1/recommendations/batch", json={"user_ids": users, "n": 3})).json()
    rid = body["recommendation_id"]
    assert {r["recommendation_id"] for r in body["results"]} == {rid}
    response = await client.post("/v1/recommendations/batch", json={"user_ids": users, "n": 2},
                                 headers={"Accept": "application/x-ndjson"})
    lines = [json.loads(line) for line in (await response.text()).splitlines()]
    assert len({line["recommendation_id"] for line in lines}) == 1 and lines[0]["recommendation_id"] != rid
    version = body["model_version"]

    async def counted():
        row = _row(await _stats(client), version, "batch")
        return row if row and row["impressions"] == 3 * 4 + 2 * 4 else None

    await wait_for(counted, timeout=10)
    click = {"user_id": users[0], "item_id": body["results"][0]["items"][0]["item_id"], "type": "click",
             "recommendation_id": lines[0]["recommendation_id"]}
    await client.post("/v1/events", json=click, headers=AUTH_WRITE)
    assert _row(await _stats(client), version, "batch")["clicks"] == 1


@pytest.mark.parametrize("query", ["days=0", "days=91", "days=abc", "days=1.5", "days="])
async def test_bad_days_give_400(client, query):
    assert (await client.get(f"/v1/stats/online?{query}")).status == 400


@pytest.mark.parametrize("value", ["", "x" * 257, "bad\nid", 7, ["a"]])
async def test_bad_recommendation_ids_give_400(client, value):
    event = {"user_id": "u1", "item_id": "p1", "type": "click", "recommendation_id": value}
    response = await client.post("/v1/events", json=[{"user_id": "u1", "item_id": "p1", "type": "view"}, event],
                                 headers=AUTH_WRITE)
    assert response.status == 400
    error = (await response.json())["error"]
    assert "events[1].recommendation_id" in error["message"]


async def test_recommendation_ids_are_stored_with_the_event(client, settings):
    await client.post("/v1/events", json={"user_id": "u1", "item_id": "p1", "type": "click",
                                          "recommendation_id": "abc"}, headers=AUTH_WRITE)
    sync = redis.Redis.from_url(settings.redis_url)
    (_, fields), = sync.xrange(Keys().events)
    assert fields[b"r"] == b"abc" and fields[b"t"] == b"click"
    sync.close()


async def test_impression_tallies_wait_out_a_redis_error_and_are_then_written(redis_url):
    broken = aioredis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)  # nothing listens there
    metrics = Metrics()
    recorder = OnlineRecorder(broken, Keys(), metrics)
    recorder.served("20261123T000000Z-0000abcd", "recommendations", 5)  # never raises, never blocks
    assert not await recorder.flush()
    assert metrics.registry.get_sample_value("encore_online_flush_failures_total") == 1
    recorder.served("20261123T000000Z-0000abcd", "recommendations", 2)
    working = aioredis.Redis.from_url(redis_url)
    recorder.redis = working
    assert await recorder.flush()
    (day,) = [k.decode() for k in await working.keys(KEYS.online("*"))]
    assert await working.hgetall(day) == {b"20261123T000000Z-0000abcd|recommendations|impressions": b"7"}
    await working.aclose()
    await broken.aclose()


async def test_recommendations_still_answer_when_recording_fails(client, demo, monkeypatch):
    from service.http.app_keys import ONLINE

    recorder = client.app[ONLINE]
    monkeypatch.setattr(recorder, "redis", aioredis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2))
    user = _heavy_users(demo, 1)[0]
    for _ in range(3):
        response = await client.get(f"/v1/users/{user}/recommendations?n=3")
        assert response.status == 200 and (await response.json())["recommendation_id"]
        assert not await recorder.flush()
    assert client.app[METRICS].registry.get_sample_value("encore_online_flush_failures_total") >= 3


async def test_training_on_impressions_adds_no_users_and_keeps_them_demoted(client, demo):
    from service.http.app_keys import REFRESHER, SERVING

    user = _heavy_users(demo, 1)[0]
    before = await _ids(client, user, "n=5")
    events = [{"user_id": "only-shown", "item_id": before[0], "type": "impression"},
              {"user_id": user, "item_id": before[0], "type": "impression"}]
    assert (await client.post("/v1/events", json=events, headers=AUTH_WRITE)).status == 202
    report = await client.app[REFRESHER].train("test")
    assert report.outcome == "trained"  # and served: train() returns after the swap
    # (the version may equal the old one: impressions weigh 0, so the model can be the very same)
    model = client.app[SERVING].current.model
    assert model.user_ids.get("only-shown") is None
    assert before[0] not in await _ids(client, user, "n=5")  # the shown set outlives the model
