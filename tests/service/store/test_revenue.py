"""Prices, orders and revenue in the event script, on both write paths, against a real Redis."""

from __future__ import annotations

import numpy as np
import pytest
import redis.asyncio as aioredis

from recommender.catalog import Catalog, Item
from recommender.events import EventTable
from recommender.matrix import EventWeights
from service.ingest import EventBatch, parse_batch
from service.store.catalog import upsert_items
from service.store.events.stream import StreamPages
from service.store.events.write import StoreLimits, store_events
from service.store.keys import Keys
from service.store.online import new_recommendation_id, utc_day
from service.store.prices import current_offer, price_history, repriced_since

NOW = 1_790_000_000.0
VERSION = "20260922T000000Z-0123abcd"
LIMITS = StoreLimits(since_training_ttl=3600, event_id_ttl=3600, fatigue_days=14, online_days=7, currency="USD")


async def _catalog(client, keys, now=NOW - 100):
    await upsert_items(client, keys, Catalog.from_items([
        Item("p1", price=10.0), Item("p2", price=2.5, currency="EUR"), Item("p3"), Item("p4", currency="JPY")]),
        now=now)


def _online(fields: dict) -> dict:
    return {k.decode().split("|", 2)[2]: int(v) for k, v in fields.items()}


@pytest.mark.parametrize("sharded", [False, True])
async def test_attributed_purchases_add_revenue_per_currency_and_count_each_order_once(redis_url, sharded):
    client = aioredis.from_url(redis_url)
    keys = Keys("t")
    await _catalog(client, keys)
    rid = new_recommendation_id(VERSION, "recommendations", now=NOW - 60)
    batch = parse_batch([
        # an order of two lines: p1 at the catalog's price (none sent) x 3, p2 at a price sent, in EUR
        {"user_id": "u1", "item_id": "p1", "type": "purchase", "quantity": 3, "order_id": "o1",
         "recommendation_id": rid, "event_id": "e1"},
        {"user_id": "u1", "item_id": "p2", "type": "purchase", "price": 2.0, "order_id": "o1",
         "recommendation_id": rid, "event_id": "e2"},
        # a purchase without an order id is an order of its own; p4 has no price: an order, no revenue
        {"user_id": "u2", "item_id": "p1", "type": "purchase", "price": 9.99, "recommendation_id": rid},
        {"user_id": "u2", "item_id": "p4", "type": "purchase", "recommendation_id": rid},
        # not attributed: stored with the catalog's price, counts nothing
        {"user_id": "u3", "item_id": "p1", "type": "purchase"},
        {"user_id": "u3", "item_id": "p1", "type": "add_to_cart", "price": 8.0, "quantity": 2},
    ], now=NOW)
    assert await store_events(client, keys, batch, EventWeights(), LIMITS, now=NOW, sharded=sharded) == 6
    online = _online(await client.hgetall(keys.online(utc_day(NOW))))
    assert online == {"purchases": 4, "revenue.USD": 39_990_000, "revenue.EUR": 2_000_000,
                      "orders.USD": 2, "orders.JPY": 1}
    # the first line of o1 (p1, USD) counted the order; its EUR line did not count it again
    # a retry of the request: events with an event_id are skipped, so o1 adds nothing
    retry = EventBatch(batch.events.take(np.array([0, 1])), ["e1", "e2"], [rid, rid])
    assert await store_events(client, keys, retry, EventWeights(), LIMITS, now=NOW, sharded=sharded) == 0
    assert _online(await client.hgetall(keys.online(utc_day(NOW)))) == online
    # a late line of o1 in another request adds its revenue, not another order
    late = parse_batch([{"user_id": "u1", "item_id": "p1", "type": "purchase", "order_id": "o1",
                         "recommendation_id": rid}], now=NOW)
    await store_events(client, keys, late, EventWeights(), LIMITS, now=NOW, sharded=sharded)
    online = _online(await client.hgetall(keys.online(utc_day(NOW))))
    assert (online["revenue.USD"], online["orders.USD"], online["purchases"]) == (49_990_000, 2, 5)
    await client.aclose()


@pytest.mark.parametrize("sharded", [False, True])
async def test_the_stream_keeps_order_data_and_the_catalog_price_of_a_purchase_sent_without_one(redis_url, sharded):
    client = aioredis.from_url(redis_url)
    keys = Keys("t")
    await _catalog(client, keys)
    batch = parse_batch([
        {"user_id": "u1", "item_id": "p1", "type": "view"},
        {"user_id": "u1", "item_id": "p1", "type": "purchase", "quantity": 2, "order_id": "o9"},
        {"user_id": "u1", "item_id": "p3", "type": "purchase"},  # no catalog price either
        {"user_id": "u1", "item_id": "p2", "type": "add_to_cart"},  # carts are not priced from the catalog
    ], now=NOW)
    await store_events(client, keys, batch, EventWeights(), LIMITS, now=NOW, sharded=sharded)
    entries = [{k.decode(): v.decode() for k, v in f.items()} for _, f in await client.xrange(keys.events)]
    assert [(e.get("p"), e.get("q"), e.get("o")) for e in entries] == [
        (None, None, None), ("10.0", "2", "o9"), (None, None, None), (None, None, None)]
    tables = [table async for table, _ in StreamPages(client, keys, __import__(
        "service.store.events.stream", fromlist=["StreamCursor"]).StreamCursor())]
    table = EventTable.concat(tables)
    np.testing.assert_array_equal(table.prices, [np.nan, 10.0, np.nan, np.nan])
    np.testing.assert_array_equal(table.quantities, [1, 2, 1, 1])
    assert table.order_ids.tolist() == [None, "o9", None, None]
    await client.aclose()


async def test_price_changes_are_kept_with_their_time_and_the_offer_follows_the_catalog(redis_url):
    client = aioredis.from_url(redis_url)
    keys = Keys("t")
    await _catalog(client, keys, now=NOW - 100)
    await upsert_items(client, keys, Catalog.from_items([Item("p1", price=10.0, in_stock=False)]), now=NOW - 50)
    await upsert_items(client, keys, Catalog.from_items([Item("p1", price=8.0), Item("p3", price=1.0)]), now=NOW)
    await upsert_items(client, keys, Catalog.from_items([Item("p2")]), now=NOW + 1)  # price dropped from the item
    history = await price_history(client, keys, "p1")
    assert [(h.at, h.price, h.currency) for h in history] == [(NOW - 100, 10.0, None), (NOW, 8.0, None)]
    assert [(h.price, h.currency) for h in await price_history(client, keys, "p2")] == [(2.5, "EUR")]
    assert await repriced_since(client, keys, NOW - 10) == {"p1": NOW, "p3": NOW}
    assert await current_offer(client, keys, "p1") == (8.0, None)
    assert await current_offer(client, keys, "p2") == (None, None)
    assert await current_offer(client, keys, "p4") == (None, "JPY")
    await client.aclose()
