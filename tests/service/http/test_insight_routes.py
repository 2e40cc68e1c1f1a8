"""The routes the dashboard reads, through HTTP on the demo store against a real Redis, checked against
the raw demo events: a customer's events, an item's record and complements, events per hour or day,
the training history, online counts per day, and what a key may do."""

from __future__ import annotations

import math

import numpy as np
import pytest

from recommender.events import EVENT_TYPES
from service.http.app_keys import REDIS, REDIS_KEYS
from service.store.training_history import TRAININGS_KEPT, append_training, read_trainings
from tests.service.conftest import ADMIN, AUTH_ADMIN, AUTH_WRITE, NOW, WRITE, wait_for

DAY = 86_400


def frame(demo):
    return demo[0].events.to_frame()


def busiest(demo, column: str, count: int = 1) -> list[str]:
    return frame(demo)[column].value_counts().index[:count].tolist()


async def ok(response) -> dict:
    assert response.status == 200, await response.text()
    return await response.json()


# -- a customer's events ------------------------------------------------------------------------
async def test_a_customers_events_are_theirs_newest_first_with_catalog_titles(client, demo):
    user = busiest(demo, "user_id")[0]
    mine = frame(demo)[frame(demo)["user_id"] == user].sort_values("timestamp", ascending=False, kind="stable")
    body = await ok(await client.get(f"/v1/users/{user}/events?n=1000"))
    assert body["total"] == len(mine) and len(body["events"]) == len(mine) > 20
    assert [e["timestamp"] for e in body["events"]] == pytest.approx(mine["timestamp"].tolist())
    assert sorted((e["item_id"], e["type"]) for e in body["events"]) == sorted(zip(mine["item_id"], mine["type"]))
    catalog = demo[0].catalog
    first = body["events"][0]
    assert first["title"] == catalog.get(first["item_id"]).title and first["kind"] in ("product", "content")
    few = await ok(await client.get(f"/v1/users/{user}/events?n=5"))
    assert few["total"] == len(mine) and few["events"] == body["events"][:5]


async def test_events_posted_now_come_first_and_unknown_customers_have_none(client, demo):
    user = busiest(demo, "user_id")[0]
    item = busiest(demo, "item_id")[0]
    later = float(frame(demo)["timestamp"].max()) + 10
    event = {"user_id": user, "item_id": item, "type": "add_to_cart", "timestamp": later}
    assert (await client.post("/v1/events", json=event, headers=AUTH_WRITE)).status == 202
    first = (await ok(await client.get(f"/v1/users/{user}/events?n=1")))["events"][0]
    assert (first["item_id"], first["type"], first["timestamp"]) == (item, "add_to_cart", later)
    assert await ok(await client.get("/v1/users/nobody-here/events")) == {"user_id": "nobody-here", "total": 0,
                                                                          "events": []}


@pytest.mark.parametrize("query", ["n=0", "n=1001", "n=x"])
async def test_bad_event_counts_give_400_naming_n(client, query):
    response = await client.get(f"/v1/users/u1/events?{query}")
    assert response.status == 400 and (await response.json())["error"]["field"] == "n"


# -- an item ------------------------------------------------------------------------------------
async def test_an_items_record_has_its_catalog_fields_and_counts_from_the_raw_events(client, demo):
    item = busiest(demo, "item_id")[0]
    rows = frame(demo)[frame(demo)["item_id"] == item]
    body = await ok(await client.get(f"/v1/items/{item}"))
    expected = demo[0].catalog.get(item)
    assert body["catalog"]["title"] == expected.title and body["catalog"]["category"] == expected.category
    assert body["catalog"]["in_stock"] == expected.in_stock and body["in_model"] and not body["removed"]
    assert body["events"] == {t: int((rows["type"] == t).sum()) for t in EVENT_TYPES}
    assert body["customers"] == rows["user_id"].nunique()
    assert (body["first_event_at"], body["last_event_at"]) == pytest.approx((rows["timestamp"].min(),
                                                                             rows["timestamp"].max()))
    assert (await client.delete(f"/v1/items/{item}", headers=AUTH_WRITE)).status == 200
    assert (await ok(await client.get(f"/v1/items/{item}")))["removed"]


async def test_an_item_only_the_catalog_knows_has_no_events_and_an_unknown_item_is_404(client):
    put = await client.put("/v1/items", json=[{"item_id": "brand-new", "kind": "product", "category": "x"}],
                           headers=AUTH_WRITE)
    assert put.status == 200

    async def known():
        response = await client.get("/v1/items/brand-new")
        return await response.json() if response.status == 200 else None

    body = await wait_for(known, timeout=10)
    assert body["catalog"]["category"] == "x" and not body["in_model"] and body["customers"] == 0
    assert set(body["events"].values()) == {0} and body["last_event_at"] is None
    for path in ("/v1/items/never-heard-of", "/v1/items/never-heard-of/complements",
                 "/v1/stats/events?item_id=never-heard-of"):
        response = await client.get(path)
        assert response.status == 404 and (await response.json())["error"]["code"] == "unknown_item"


async def test_complements_were_bought_by_buyers_of_the_item_best_first(client, demo):
    events = frame(demo)
    purchases = events[events["type"] == "purchase"]
    item = purchases["item_id"].value_counts().index[0]
    buyers = set(purchases.loc[purchases["item_id"] == item, "user_id"])
    bought_by_buyers = set(purchases.loc[purchases["user_id"].isin(buyers), "item_id"]) - {item}
    body = await ok(await client.get(f"/v1/items/{item}/complements?n=8&content_n=2"))
    ids = [i["item_id"] for i in body["items"]]
    assert 0 < len(ids) <= 8 and item not in ids and set(ids) <= bought_by_buyers
    scores = [i["score"] for i in body["items"]]
    assert scores == sorted(scores, reverse=True)
    assert all(i["kind"] == "product" for i in body["items"]) and all(c["kind"] == "content" for c in body["content"])
    category = body["items"][0]["category"]
    only = await ok(await client.get(f"/v1/items/{item}/complements?n=8&category={category}"))
    assert {i["category"] for i in only["items"]} == {category}
    assert (await client.get(f"/v1/items/{item}/complements?kind=product")).status == 400


# -- events per hour or day ---------------------------------------------------------------------
async def test_event_counts_per_day_match_the_raw_events_in_the_window(client, demo):
    body = await ok(await client.get(f"/v1/stats/events?days=30&bucket=day&now={int(NOW)}"))
    end = (math.floor(NOW / DAY) + 1) * DAY
    assert (body["from"], body["to"], body["bucket_seconds"]) == (end - 30 * DAY, end, DAY)
    assert body["buckets"] == list(range(end - 30 * DAY, end, DAY))
    events = frame(demo)
    inside = events[(events["timestamp"] >= body["from"]) & (events["timestamp"] < body["to"])]
    assert len(inside) > 100
    assert body["totals"] == {t: int((inside["type"] == t).sum()) for t in EVENT_TYPES}
    day = ((inside["timestamp"] - body["from"]) // DAY).astype(int)
    views = np.bincount(day[inside["type"] == "view"], minlength=30).tolist()
    assert body["counts"]["view"] == views


async def test_event_counts_per_hour_for_one_item(client, demo):
    events = frame(demo)
    item = busiest(demo, "item_id")[0]
    newest = events.loc[events["item_id"] == item, "timestamp"].max()
    body = await ok(await client.get(f"/v1/stats/events?days=2&item_id={item}&now={int(newest)}"))
    assert body["bucket"] == "hour" and len(body["buckets"]) == 48 and body["item_id"] == item
    mine = events[(events["item_id"] == item) & (events["timestamp"] >= body["from"])
                  & (events["timestamp"] < body["to"])]
    assert sum(body["totals"].values()) == len(mine) >= 1
    assert sum(sum(row) for row in body["counts"].values()) == len(mine)


@pytest.mark.parametrize("query,field", [("days=0", "days"), ("days=91", "days"), ("bucket=week", "bucket"),
                                         ("now=-1", "now")])
async def test_bad_event_count_parameters_give_400(client, query, field):
    response = await client.get(f"/v1/stats/events?{query}")
    assert response.status == 400 and (await response.json())["error"]["field"] == field


# -- training history ---------------------------------------------------------------------------
async def test_every_training_is_in_the_history_newest_first(client):
    model = await ok(await client.get("/v1/model"))
    (first,) = (await ok(await client.get("/v1/model/history")))["trainings"]
    assert (first["outcome"], first["version"], first["algorithm"]) == ("trained", model["version"], model["algorithm"])
    assert first["metrics"]["ndcg"] == pytest.approx(model["metrics"]["ndcg"]) and first["seconds"] > 0
    assert (await client.post("/v1/model/retrain", headers=AUTH_ADMIN)).status == 202

    async def two():
        trainings = (await ok(await client.get("/v1/model/history")))["trainings"]
        return trainings if len(trainings) == 2 else None

    newest, older = await wait_for(two, timeout=60)
    assert older == first and newest["reason"] == "requested" and newest["finished_at"] > first["finished_at"]
    assert newest["outcome"] in ("trained", "rejected")
    assert len((await ok(await client.get("/v1/model/history?n=1")))["trainings"]) == 1
    assert (await client.get(f"/v1/model/history?n={TRAININGS_KEPT + 1}")).status == 400


async def test_the_history_keeps_the_newest_trainings_only(client):
    redis, keys = client.app[REDIS], client.app[REDIS_KEYS]
    for k in range(TRAININGS_KEPT + 5):
        await append_training(redis, keys, {"finished_at": k, "outcome": "failed"})
    kept = await read_trainings(redis, keys, TRAININGS_KEPT + 10)
    assert len(kept) == TRAININGS_KEPT and kept[0]["finished_at"] == TRAININGS_KEPT + 4


# -- online counts per day ----------------------------------------------------------------------
async def test_online_counts_come_per_day_and_version_too(client, demo):
    user = busiest(demo, "user_id")[0]
    body = await ok(await client.get(f"/v1/users/{user}/recommendations?n=3"))

    async def counted():
        stats = await ok(await client.get("/v1/stats/online?days=3"))
        return stats if stats["total"]["impressions"] == 3 else None

    stats = await wait_for(counted, timeout=10)
    (today,) = stats["by_day"]
    assert today["date"] == stats["to"] and today["model_version"] == body["model_version"]
    assert today["impressions"] == 3 and today["clicks"] == 0


# -- keys ---------------------------------------------------------------------------------------
async def test_a_key_says_what_it_may_do_and_a_wrong_one_is_refused_even_with_open_reads(make_client, settings):
    open_reads = await make_client(settings, ready=False)
    assert (await ok(await open_reads.get("/v1/key", headers=AUTH_WRITE))) == {
        "scopes": ["read", "write"], "reads_need_a_key": False}
    assert (await open_reads.get("/v1/key", headers={"Authorization": "Bearer typo"})).status == 403
    assert (await open_reads.get("/v1/key")).status == 401
    guarded = await make_client(settings, read_keys=("reader",), ready=False)
    reader = {"Authorization": "Bearer reader"}
    assert (await ok(await guarded.get("/v1/key", headers=reader)))["scopes"] == ["read"]
    assert (await ok(await guarded.get("/v1/key", headers=AUTH_ADMIN))) == {
        "scopes": ["read", "write", "admin"], "reads_need_a_key": True}
    assert (await guarded.get("/v1/key", headers={"Authorization": f"Bearer {WRITE}x"})).status == 403
    assert (await guarded.get("/v1/key")).status == 401
    assert ADMIN != WRITE
