"""Catalog shop fields, `fields=`, order data on events and revenue in the online statistics, through HTTP
against a real Redis on the demo store (which has prices, links, brands and order ids)."""

from __future__ import annotations

import json

import pytest

from service.http.app_keys import REDIS, REDIS_KEYS
from service.store.prices import price_history
from tests.service.conftest import AUTH_WRITE, NOW, wait_for

SHOP = {"price": 19.99, "currency": "EUR", "url": "https://shop.example.com/k?ref=1",
        "image_url": "https://cdn.example.com/k.jpg", "brand": "Acme", "attributes": {"litres": 1.7, "cordless": True}}


def _known_user(demo) -> str:
    counts = demo[0].events.to_frame()["user_id"].value_counts()
    return str(counts.index[0])


async def _json(response, status: int = 200) -> dict:
    assert response.status == status, await response.text()
    return await response.json()


# -- catalog fields -------------------------------------------------------------------------
async def test_shop_fields_are_stored_and_embedded_and_a_price_change_is_kept_with_its_time(client):
    await _json(await client.put("/v1/items", json=[{"item_id": "kettle", "kind": "product", **SHOP}],
                                 headers=AUTH_WRITE))
    body = await _json(await client.put("/v1/items", json=[{"item_id": "kettle", **{**SHOP, "price": 17.5}}],
                                        headers=AUTH_WRITE))
    assert body == {"upserted": 1}
    history = await price_history(client.app[REDIS], client.app[REDIS_KEYS], "kettle")
    assert [(h.price, h.currency) for h in history] == [(19.99, "EUR"), (17.5, "EUR")]
    assert history[0].at <= history[1].at


@pytest.mark.parametrize(("field", "value"), [
    ("price", -1), ("price", "12"), ("price", True), ("currency", "EURO"), ("url", "javascript:alert(1)"),
    ("image_url", "//cdn.example.com/a.jpg"), ("brand", "  "), ("attributes", {"a": {"b": 1}}), ("attributes", [1]),
])
async def test_a_bad_shop_field_rejects_the_whole_request_naming_index_and_field(client, field, value):
    items = [{"item_id": "fine-item", "price": 3}, {"item_id": "bad-item", field: value}]
    error = (await _json(await client.put("/v1/items", json=items, headers=AUTH_WRITE), 400))["error"]
    assert (error["index"], error["field"]) == (1, field) and f"items[1].{field}" in error["message"]
    assert await client.app[REDIS].hget(client.app[REDIS_KEYS].catalog, "fine-item") is None  # nothing written


async def test_fields_embed_catalog_fields_in_every_route_that_returns_items(client, demo):
    user = _known_user(demo)
    fields = "title,price,currency,url,image_url,brand,attributes"
    plain = await _json(await client.get(f"/v1/users/{user}/recommendations?n=5"))
    rich = await _json(await client.get(f"/v1/users/{user}/recommendations?n=5&fields={fields}"))
    assert [i["item_id"] for i in rich["items"]] == [i["item_id"] for i in plain["items"]]
    # unchanged without fields ("repeat" marks a bought item when the chosen model serves them)
    assert set(plain["items"][0]) - {"repeat"} == {"item_id", "score", "kind", "category"}
    catalog = demo[0].catalog
    for item in rich["items"]:
        expected = catalog.get(item["item_id"])
        assert (item["title"], item["price"], item["url"], item["brand"]) == (
            expected.title, expected.price, expected.url, expected.brand)
        assert item["currency"] == "USD" and item["image_url"].startswith("https://example.com/images/")
    again = await _json(await client.get(f"/v1/users/{user}/recommendations?n=5&fields={fields}"))  # remembered
    assert again["items"] == rich["items"]
    item = rich["items"][0]["item_id"]
    similar = await _json(await client.get(f"/v1/items/{item}/similar?n=3&fields=price,title"))
    assert all(set(i) == {"item_id", "score", "kind", "category", "price", "title"} for i in similar["items"])
    batch = await _json(await client.post("/v1/recommendations/batch",
                                          json={"user_ids": [user, "nobody"], "n": 3, "fields": ["url"]}))
    assert all("url" in i for r in batch["results"] for i in r["items"])
    for path in (f"/v1/users/{user}/follow-up?n=3", f"/v1/users/{user}/new?days=3650&n=3&now={int(NOW)}",
                 f"/v1/users/{user}/buy-again?n=3&now={int(NOW)}"):
        body = await _json(await client.get(f"{path}&fields=brand"))
        assert all("brand" in i for i in body["items"]), path
    lines = (await (await client.get(f"/v1/campaigns/lapsed?min_days=0&max_days=3650&n=2&now={int(NOW)}"
                                     "&fields=price&cap_hours=0")).text()).splitlines()
    assert lines and all("price" in i for line in lines for i in json.loads(line)["items"])


@pytest.mark.parametrize("query", ["fields=price,colour", "fields=PRICE"])
async def test_an_unknown_field_name_is_a_400(client, query):
    error = (await _json(await client.get(f"/v1/users/u000001/recommendations?{query}"), 400))["error"]
    assert error["field"] == "fields"
    response = await client.post("/v1/recommendations/batch", json={"user_ids": ["u1"], "fields": ["price", 3]})
    assert response.status == 400


# -- order data and revenue ------------------------------------------------------------------
async def test_purchases_from_a_response_add_revenue_orders_aov_and_revenue_per_mille(client, demo):
    await _json(await client.put("/v1/items", json=[{"item_id": "yen-item", "price": 1200, "currency": "JPY"}],
                                 headers=AUTH_WRITE))
    user = _known_user(demo)
    body = await _json(await client.get(f"/v1/users/{user}/recommendations?n=4&fields=price"))
    rid, version = body["recommendation_id"], body["model_version"]
    first, second = body["items"][0], body["items"][1]
    events = [  # one order of two lines (catalog price x 2, and a price sent), one order in yen, one with no id
        {"user_id": user, "item_id": first["item_id"], "type": "purchase", "quantity": 2, "order_id": "A-1",
         "recommendation_id": rid, "event_id": "buy-1"},
        {"user_id": user, "item_id": second["item_id"], "type": "purchase", "price": 5.0, "order_id": "A-1",
         "recommendation_id": rid, "event_id": "buy-2"},
        {"user_id": user, "item_id": "yen-item", "type": "purchase", "order_id": "A-2", "recommendation_id": rid},
        {"user_id": user, "item_id": second["item_id"], "type": "purchase", "price": 1.0, "recommendation_id": rid},
    ]
    assert (await _json(await client.post("/v1/events", json=events, headers=AUTH_WRITE), 202))["accepted"] == 4
    await client.post("/v1/events", json=events[:2], headers=AUTH_WRITE)  # a retry counts nothing

    async def counted():
        stats = await _json(await client.get("/v1/stats/online?days=1"))
        row = next((r for r in stats["by_version_and_route"] if r["model_version"] == version), None)
        return (stats, row) if row and row["impressions"] == 4 else None

    stats, row = await wait_for(counted, timeout=10)
    usd = round(2 * first["price"] + 5.0 + 1.0, 6)
    assert (row["purchases"], row["orders"]) == (4, 3)
    assert row["revenue"] == {"JPY": 1200.0, "USD": pytest.approx(usd)}  # never summed across currencies
    assert row["aov"] == {"JPY": 1200.0, "USD": pytest.approx(usd / 2)}
    assert row["revenue_per_mille"] == {"JPY": 300_000.0, "USD": pytest.approx(1000 * usd / 4)}
    assert stats["total"]["revenue"] == row["revenue"] and stats["by_route"][0]["orders"] == 3


@pytest.mark.parametrize(("event", "field"), [
    ({"type": "purchase", "price": -2}, "price"), ({"type": "purchase", "price": "3"}, "price"),
    ({"type": "purchase", "quantity": 0}, "quantity"), ({"type": "purchase", "quantity": 2.5}, "quantity"),
    ({"type": "add_to_cart", "order_id": ""}, "order_id"), ({"type": "view", "price": 3}, "price"),
])
async def test_bad_order_data_is_a_400_naming_the_event_and_nothing_is_stored(client, event, field):
    events = [{"user_id": "u1", "item_id": "p00001", "type": "view"}, {"user_id": "u1", "item_id": "p00001", **event}]
    before = await client.app[REDIS].xlen(client.app[REDIS_KEYS].events)
    error = (await _json(await client.post("/v1/events", json=events, headers=AUTH_WRITE), 400))["error"]
    assert (error["index"], error["field"]) == (1, field) and f"events[1].{field}" in error["message"]
    assert await client.app[REDIS].xlen(client.app[REDIS_KEYS].events) == before
