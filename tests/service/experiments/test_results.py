"""An experiment's results from what Redis holds (exposures, the variants' counters, buyers written by the
event script), on a small fixed example whose statistics are computed by hand in test_statistics."""

from __future__ import annotations

import math

import pytest
import redis.asyncio as aioredis

from recommender.catalog import Catalog, Item
from recommender.matrix import EventWeights
from service.experiments.definition import parse_definition
from service.experiments.registry import define
from service.experiments.results import experiment_days, experiment_results
from service.ingest import parse_batch
from service.store.catalog import upsert_items
from service.store.events.write import StoreLimits, store_events
from service.store.experiments import add_exposures
from service.store.keys import Keys
from service.store.online import add_counts, new_recommendation_id, utc_day, variant_label

NOW = 1_790_000_000.0
VERSION = "20260922T000000Z-0123abcd"
LIMITS = StoreLimits(since_training_ttl=3600, event_id_ttl=3600, fatigue_days=14, online_days=7, currency="USD")
DEFINITION = {"variants": [{"name": "treatment", "share": 0.5, "model": "serving"},
                           {"name": "holdout", "share": 0.5, "model": "popularity"}],
              "control": "holdout", "start": NOW - 86400}


async def test_results_count_each_variant_and_compare_it_with_the_control(redis_url):
    client = aioredis.from_url(redis_url)
    keys = Keys("t")
    experiment = parse_definition("spring", DEFINITION, NOW - 86400)
    await define(client, keys, experiment, NOW - 86400)
    await upsert_items(client, keys, Catalog.from_items([Item("p", price=1.0)]), now=NOW - 100)
    treated = [f"t{k}" for k in range(8)]
    held = [f"h{k}" for k in range(6)]
    await add_exposures(client, keys, {("spring", "treatment"): set(treated), ("spring", "holdout"): set(held)})
    labels = {name: variant_label(VERSION, "spring", name) for name in ("treatment", "holdout")}
    await add_counts(client, keys, {(utc_day(NOW), f"{labels['treatment']}|recommendations|impressions"): 80,
                                    (utc_day(NOW - 86400), f"{labels['holdout']}|recommendations|impressions"): 60,
                                    (utc_day(NOW), f"{VERSION}|recommendations|impressions"): 1000})
    rid = {name: new_recommendation_id(label, "recommendations", now=NOW - 60) for name, label in labels.items()}
    events = [{"user_id": u, "item_id": "p", "type": "purchase", "price": price, "recommendation_id": rid["treatment"]}
              for u, price in zip(treated, (10, 20, 0, 30, 40))]
    events += [{"user_id": "t0", "item_id": "p", "type": "click", "recommendation_id": rid["treatment"]}]
    events += [{"user_id": u, "item_id": "p", "type": "purchase", "price": price, "recommendation_id": rid["holdout"]}
               for u, price in zip(held, (5, 5, 20))]
    events += [{"user_id": "h0", "item_id": "p", "type": "purchase", "price": 0, "recommendation_id": rid["holdout"]}]
    # bought through a treatment list it was never served (a shared link): reported, not a conversion
    events += [{"user_id": "ghost", "item_id": "p", "type": "purchase", "price": 1000,
                "recommendation_id": rid["treatment"]}]
    await store_events(client, keys, parse_batch(events, now=NOW), EventWeights(), LIMITS, now=NOW)

    results = await experiment_results(client, keys, experiment, now=NOW)
    assert (results["from"], results["to"]) == (utc_day(NOW - 86400), utc_day(NOW))
    treatment, holdout = results["variants"]
    assert (treatment["exposed_customers"], treatment["impressions"], treatment["clicks"], treatment["purchases"],
            treatment["buyers"], treatment["revenue"]) == (8, 80, 1, 6, 5, {"USD": 1100.0})
    assert (treatment["buyers_not_exposed"], holdout["buyers_not_exposed"]) == (1, 0)
    assert (holdout["exposed_customers"], holdout["impressions"], holdout["purchases"], holdout["buyers"],
            holdout["revenue"]) == (6, 60, 4, 3, {"USD": 30.0})
    assert holdout["control"] and holdout["conversion"]["p_value"] is None
    revenue = treatment["revenue_per_customer"]["USD"]
    assert revenue["value"] == 12.5 and revenue["difference"] == 7.5
    assert revenue["p_value"] == pytest.approx(0.268346, abs=1e-5)  # Welch, by hand in test_statistics
    pooled = 8 / 14  # conversion 5/8 against 3/6
    z = (5 / 8 - 3 / 6) / math.sqrt(pooled * (1 - pooled) * (1 / 8 + 1 / 6))
    assert treatment["conversion"]["p_value"] == pytest.approx(math.erfc(z / math.sqrt(2)))
    assert treatment["click_through_rate"]["value"] == pytest.approx(1 / 80)
    assert results["sample_ratio"]["chi_square"] == pytest.approx((8 - 7) ** 2 / 7 * 2)
    assert not results["sample_ratio"]["mismatch"]
    await client.aclose()


def test_the_days_counted_run_from_the_start_to_the_end_or_now():
    experiment = parse_definition("x", {**DEFINITION, "start": NOW - 3 * 86400, "end": NOW - 86400}, NOW - 4 * 86400)
    assert experiment_days(experiment, NOW) == [utc_day(NOW - k * 86400) for k in (3, 2, 1)]
    long = parse_definition("x", {**DEFINITION, "start": NOW - 400 * 86400}, NOW)
    assert len(experiment_days(long, NOW)) == 92 and experiment_days(long, NOW)[-1] == utc_day(NOW)
