"""Events carrying a variant's recommendation id count for that variant, and record who bought for how much,
on both write paths, against a real Redis."""

from __future__ import annotations

import numpy as np
import pytest
import redis.asyncio as aioredis

from recommender.catalog import Catalog, Item
from recommender.matrix import EventWeights
from service.ingest import EventBatch, parse_batch
from service.store.catalog import upsert_items
from service.store.events.write import StoreLimits, store_events
from service.store.experiments import buyers
from service.store.keys import Keys
from service.store.online import attribution, new_recommendation_id, split_label, utc_day, variant_label

NOW = 1_790_000_000.0
VERSION = "20260922T000000Z-0123abcd"
LIMITS = StoreLimits(since_training_ttl=3600, event_id_ttl=3600, fatigue_days=14, online_days=7, currency="USD")


def test_a_variant_label_names_version_experiment_and_variant_and_is_attributed():
    label = variant_label(VERSION, "spring", "holdout")
    assert split_label(label) == (VERSION, "spring", "holdout") and split_label(VERSION) == (VERSION, None, None)
    rid = new_recommendation_id(label, "recommendations", now=NOW)
    assert attribution(rid, NOW, 7) == f"{label}|recommendations"
    assert attribution(rid.replace("@spring", "@spr.ing"), NOW, 7) is None


@pytest.mark.parametrize("sharded", [False, True])
async def test_clicks_and_purchases_count_for_the_variant_and_its_buyers_once(redis_url, sharded):
    client = aioredis.from_url(redis_url)
    keys = Keys("t")
    await upsert_items(client, keys, Catalog.from_items([Item("p1", price=10.0), Item("p2", currency="EUR")]),
                       now=NOW - 100)
    treated = new_recommendation_id(variant_label(VERSION, "spring", "als"), "recommendations", now=NOW - 60)
    held_out = new_recommendation_id(variant_label(VERSION, "spring", "holdout"), "batch", now=NOW - 60)
    plain = new_recommendation_id(VERSION, "recommendations", now=NOW - 60)
    batch = parse_batch([
        {"user_id": "a", "item_id": "p1", "type": "click", "recommendation_id": treated},
        {"user_id": "a", "item_id": "p1", "type": "purchase", "quantity": 2, "recommendation_id": treated,
         "event_id": "e1"},
        {"user_id": "a", "item_id": "p1", "type": "purchase", "price": 4.5, "recommendation_id": treated},
        {"user_id": "b", "item_id": "p2", "type": "purchase", "recommendation_id": treated},  # no price: 0 EUR
        {"user_id": "c", "item_id": "p1", "type": "purchase", "recommendation_id": held_out},
        {"user_id": "d", "item_id": "p1", "type": "purchase", "recommendation_id": plain},  # no experiment
    ], now=NOW)
    assert await store_events(client, keys, batch, EventWeights(), LIMITS, now=NOW, sharded=sharded) == 6
    online = {k.decode(): int(v) for k, v in (await client.hgetall(keys.online(utc_day(NOW)))).items()}
    als = variant_label(VERSION, "spring", "als")
    assert online[f"{als}|recommendations|clicks"] == 1 and online[f"{als}|recommendations|purchases"] == 3
    assert online[f"{als}|recommendations|revenue.USD"] == 24_500_000
    assert online[f"{variant_label(VERSION, 'spring', 'holdout')}|batch|purchases"] == 1
    assert online[f"{VERSION}|recommendations|purchases"] == 1
    expected = {"als": {"USD": {"a": 24_500_000}, "EUR": {"b": 0}}, "holdout": {"USD": {"c": 10_000_000}}}
    assert await buyers(client, keys, "spring") == expected
    retry = EventBatch(batch.events.take(np.array([1])), ["e1"], [treated])
    assert await store_events(client, keys, retry, EventWeights(), LIMITS, now=NOW, sharded=sharded) == 0
    assert await buyers(client, keys, "spring") == expected
    assert await buyers(client, keys, "spr") == {}  # another experiment's prefix finds nothing of spring's
    await client.aclose()
