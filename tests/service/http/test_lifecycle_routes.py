"""The customer lifecycle through HTTP against a real Redis: the fit kept with the model at every training,
GET /v1/model's view of it, profiles that follow purchases since the training, audiences, the win-back by
value at risk, and the stores where the fit must fail cleanly (nobody bought twice, one customer, every
purchase on one day)."""

from __future__ import annotations

import dataclasses
import json
import time

import numpy as np
import pandas as pd
import pytest

from recommender.events import EventTable, write_events
from recommender.lifecycle import LifecycleModel, Purchases, summarize
from recommender.units import SECONDS_PER_DAY
from tests.recommender.lifecycle.conftest import simulate
from tests.service.conftest import AUTH_WRITE

ITEMS = [f"p{i:02d}" for i in range(40)]


def simulated_store(now: float, customers: int = 500, seed: int = 1) -> EventTable:
    """Purchases simulated from the BG/NBD and Gamma-Gamma stories (tests.recommender.lifecycle), ending the
    day before `now`, each of a random item at its simulated spend, and a view after each."""
    sim = simulate(n=customers, seed=seed)
    p = sim.purchases
    times = p.timestamps + (now - SECONDS_PER_DAY - sim.as_of)
    rng = np.random.default_rng(seed)
    items = np.asarray(ITEMS, dtype=object)[rng.integers(0, len(ITEMS), len(p))]
    frame = pd.DataFrame({"user_id": np.concatenate([p.customer_ids, p.customer_ids]),
                          "item_id": np.concatenate([items, items[::-1]]),
                          "type": ["purchase"] * len(p) + ["view"] * len(p),
                          "timestamp": np.concatenate([times, times - 60]),
                          "price": np.concatenate([np.round(p.spend, 2), np.full(len(p), np.nan)])})
    return EventTable.from_frame(frame)


def rows_store(rows: list[tuple[str, str, str, float, float | None]]) -> EventTable:
    users, items, types, times, prices = zip(*rows)
    return EventTable.from_frame(pd.DataFrame({"user_id": users, "item_id": items, "type": types,
                                               "timestamp": times, "price": prices}))


async def store_client(make_client, settings, tmp_path, events: EventTable, **overrides):
    path = tmp_path / "lifecycle-events.csv"
    write_events(events, path)
    return await make_client(settings, bootstrap_events=path, bootstrap_catalog=None, algorithm="popular",
                             **overrides)


async def _json(response, status: int = 200) -> dict:
    assert response.status == status, await response.text()
    return await response.json()


async def _lines(response) -> list[dict]:
    assert response.status == 200, await response.text()
    assert response.content_type == "application/x-ndjson"
    return [json.loads(line) for line in (await response.text()).splitlines()]


@pytest.fixture
async def store(make_client, settings, tmp_path):
    events = simulated_store(time.time())
    client = await store_client(make_client, settings, tmp_path, events)
    record = (await _json(await client.get("/v1/model")))["lifecycle"]
    return client, events, record


def fitted_model(client) -> LifecycleModel:
    """The lifecycle model the serving artifact holds, as the library rebuilds it."""
    from service.http.app_keys import SERVING

    return LifecycleModel.from_dict(client.app[SERVING].current.info.extra["lifecycle"]["model"])


def library_predictions(client, purchases: Purchases, now: float):
    summary = summarize(purchases, now)
    return summary, fitted_model(client).predict(summary)


async def test_training_fits_the_lifecycle_models_and_get_model_shows_parameters_and_holdout(store):
    client, events, record = store
    purchases = Purchases.from_events(events)
    assert record["status"] == "fitted" and record["reason"] is None
    assert record["purchases"] == len(purchases)
    assert record["customers"] == len(np.unique(purchases.customer_ids))
    assert 0 < record["repeat_buyers"] < record["customers"]
    bgnbd = record["bgnbd"]
    assert all(bgnbd[name] > 0 for name in ("r", "alpha_days", "a", "b")) and bgnbd["log_likelihood"] < 0
    # the simulation's own parameters (r 0.5, alpha 20 days), within what 500 customers tell
    assert 0.2 < bgnbd["r"] < 1.2 and 5 < bgnbd["alpha_days"] < 60
    gamma_gamma = record["gamma_gamma"]
    assert gamma_gamma["q"] > 1 and gamma_gamma["customers"] == record["repeat_buyers"]
    assert record["config"] == {"annual_discount": 0.1, "churn_medium": 0.5, "churn_high": 0.8}
    assert record["as_of"] > purchases.timestamps.max()
    holdout = record["holdout"]
    assert holdout["holdout_days"] == 30 and holdout["calibration_end"] == record["as_of"] - 30 * SECONDS_PER_DAY
    assert 0 < holdout["churned_share"] < 1 and 0.5 < holdout["auc_p_alive"] <= 1
    assert 0 < holdout["auc_days_since_last"] < 1


async def test_a_profile_has_history_revenue_per_currency_and_the_libraries_predictions(store):
    client, events, _ = store
    purchases = Purchases.from_events(events)
    now = int(time.time())
    summary, predictions = library_predictions(client, purchases, now)
    row = int(np.flatnonzero(summary.frequency >= 3)[0])
    user = str(summary.customer_ids[row])
    profile = await _json(await client.get(f"/v1/users/{user}/profile?now={now}"))
    mine = purchases.customer_ids == user
    assert profile["purchases"] == mine.sum() and profile["orders"] == summary.frequency[row] + 1
    assert profile["first_order_at"] == pytest.approx(purchases.timestamps[mine].min())
    assert profile["last_order_at"] == pytest.approx(purchases.timestamps[mine].max())
    assert profile["mean_days_between_orders"] == pytest.approx(summary.recency[row] / summary.frequency[row], abs=0.01)
    revenue = round(float(np.round(purchases.spend[mine], 2).sum()), 2)
    assert profile["revenue"] == {"USD": pytest.approx(revenue)}
    assert profile["aov"] == {"USD": pytest.approx(revenue / profile["orders"], abs=0.01)}
    assert profile["lifecycle"]["status"] == "fitted" and profile["purchases_since_fit"] == 0
    prediction = profile["prediction"]
    assert prediction["p_alive"] == pytest.approx(predictions.p_alive[row], abs=1e-4)
    assert prediction["expected_orders_90d"] == pytest.approx(predictions.expected_orders_90d[row], abs=1e-4)
    assert prediction["value_365d"] == pytest.approx(predictions.value_365d[row], abs=0.01)
    assert prediction["segment"] == predictions.segment[row] and prediction["churn_risk"] == predictions.churn_risk[row]
    assert prediction["value_at_risk"] == pytest.approx((1 - predictions.p_alive[row]) * predictions.value_365d[row],
                                                        abs=0.01)
    assert prediction["expected_orders_30d"] <= prediction["expected_orders_90d"] <= prediction["expected_orders_365d"]


async def test_a_purchase_since_training_changes_the_profile_without_a_retraining(store):
    client, events, _ = store
    summary = summarize(Purchases.from_events(events), time.time())
    user = str(summary.customer_ids[np.flatnonzero((summary.frequency >= 2) & (summary.days_since_last > 30))[0]])
    before = await _json(await client.get(f"/v1/users/{user}/profile"))
    assert before["prediction"]["p_alive"] < 0.99
    # timed after the fit (a whole second could be before it: the training may have started this second)
    event = {"user_id": user, "item_id": ITEMS[0], "type": "purchase", "price": 40.0, "timestamp": time.time()}
    assert (await _json(await client.post("/v1/events", json=[event], headers=AUTH_WRITE), 202))["accepted"] == 1
    after = await _json(await client.get(f"/v1/users/{user}/profile"))
    assert after["model_version"] == before["model_version"]  # no retraining
    assert after["purchases"] == before["purchases"] + 1 and after["purchases_since_fit"] == 1
    assert after["orders"] == before["orders"] + 1 and after["last_order_at"] == pytest.approx(event["timestamp"])
    assert after["revenue"]["USD"] == pytest.approx(before["revenue"]["USD"] + 40.0)
    assert after["prediction"]["p_alive"] > before["prediction"]["p_alive"]
    assert after["prediction"]["expected_orders_365d"] != before["prediction"]["expected_orders_365d"]


async def test_an_unknown_customer_is_a_404_and_one_without_purchases_gets_no_prediction(store):
    client, _, _ = store
    error = (await _json(await client.get("/v1/users/nobody-at-all/profile"), 404))["error"]
    assert error["code"] == "unknown_user" and "nobody-at-all" in error["message"]
    view = {"user_id": "just-looking", "item_id": ITEMS[1], "type": "view", "timestamp": int(time.time())}
    await _json(await client.post("/v1/events", json=[view], headers=AUTH_WRITE), 202)
    profile = await _json(await client.get("/v1/users/just-looking/profile"))
    assert profile["orders"] == profile["purchases"] == 0 and profile["revenue"] == {} and profile["aov"] == {}
    assert profile["prediction"] is None and profile["prediction_unavailable"]["reason"] == "no_purchases"
    assert profile["first_order_at"] is None and profile["mean_days_between_orders"] is None


async def test_audiences_stream_a_segments_customers_by_predicted_value_with_filters(store):
    client, events, _ = store
    now = int(time.time())
    _, predictions = library_predictions(client, Purchases.from_events(events), now)
    at_risk = await _lines(await client.get(f"/v1/customers?segment=at_risk&n=100000&now={now}"))
    assert len(at_risk) == (predictions.segment == "at_risk").sum() > 0
    assert {line["segment"] for line in at_risk} == {"at_risk"}
    values = [line["value_365d"] for line in at_risk]
    assert values == sorted(values, reverse=True)
    assert len(await _lines(await client.get(f"/v1/customers?segment=at_risk&n=3&now={now}"))) == 3
    slipping = await _lines(await client.get(f"/v1/customers?max_p_alive=0.5&min_value=20&now={now}"))
    assert len(slipping) == ((predictions.p_alive <= 0.5) & (predictions.value_365d >= 20)).sum() > 0
    assert all(line["p_alive"] <= 0.5 and line["value_365d"] >= 20 for line in slipping)
    assert set(slipping[0]) >= {"user_id", "orders", "last_order_at", "p_alive", "churn_risk", "value_at_risk",
                                "next_order_at", "segment", "model_version"}


async def test_the_win_back_by_lifecycle_lists_slipping_customers_by_value_at_risk(store):
    client, events, _ = store
    now = int(time.time())
    _, predictions = library_predictions(client, Purchases.from_events(events), now)
    rows = await _lines(await client.get(f"/v1/campaigns/lapsed?max_p_alive=0.6&n=2&cap_hours=0&now={now}"))
    assert len(rows) == (predictions.p_alive <= 0.6).sum() > 0
    assert all(r["p_alive"] <= 0.6 and r["source"] == "personalized" for r in rows)
    assert sum(len(r["items"]) == 2 for r in rows) > len(rows) / 2  # (a heavy buyer may have had most items)
    at_risk = [r["value_at_risk"] for r in rows]
    assert at_risk == sorted(at_risk, reverse=True)
    best = int(np.nanargmax((1 - predictions.p_alive) * predictions.value_365d * (predictions.p_alive <= 0.6)))
    assert rows[0]["user_id"] == predictions.customer_ids[best]
    windowed = await _lines(await client.get(f"/v1/campaigns/lapsed?min_days=0&max_days=3650&n=1&now={now}"))
    assert "value_at_risk" not in windowed[0]  # the idle window works as before


@pytest.mark.parametrize(("query", "field"), [
    ("/v1/customers?segment=loyalists", "segment"), ("/v1/customers?min_value=-1", "min_value"),
    ("/v1/customers?min_value=lots", "min_value"), ("/v1/customers?max_p_alive=1.5", "max_p_alive"),
    ("/v1/customers?max_p_alive=nan", "max_p_alive"), ("/v1/customers?n=0", "n"), ("/v1/customers?now=5", "now"),
    ("/v1/campaigns/lapsed?max_p_alive=2", "max_p_alive"),
    ("/v1/campaigns/lapsed?max_p_alive=0.5&min_days=30", "max_p_alive"),
    ("/v1/campaigns/lapsed?min_value=10&max_days=30", "min_value"), ("/v1/users/u1/profile?now=x", "now"),
])
async def test_bad_lifecycle_parameters_are_400s_naming_the_field(store, query, field):
    client, _, _ = store
    error = (await _json(await client.get(query), 400))["error"]
    assert error["code"] == "invalid_parameter" and error["field"] == field


# -- stores the models cannot be fitted to -----------------------------------------------------------
async def assert_unavailable(client, user: str, reason: str) -> dict:
    """The training served a model, GET /v1/model and the routes say why there are no predictions."""
    model = await _json(await client.get("/v1/model"))
    assert model["training"]["last_outcome"] == "trained"
    record = model["lifecycle"]
    assert record["status"] == "failed" and record["reason"] == reason and record["message"]
    assert record["bgnbd"] is None
    profile = await _json(await client.get(f"/v1/users/{user}/profile"))
    assert profile["prediction"] is None and profile["prediction_unavailable"]["reason"] == reason
    assert profile["lifecycle"] == {"status": "failed", "fitted_at": record["as_of"], "reason": reason,
                                    "message": record["message"]}
    for path in ("/v1/customers?segment=at_risk", "/v1/campaigns/lapsed?max_p_alive=0.5"):
        error = (await _json(await client.get(path), 409))["error"]
        assert error["code"] == "lifecycle_unavailable" and error["reason"] == reason
    return profile


async def test_a_store_where_nobody_bought_twice_trains_and_its_routes_say_why(make_client, settings, tmp_path):
    now = time.time()
    rows = [(f"c{k}", ITEMS[k % 12], "purchase", now - (k + 2) * SECONDS_PER_DAY, 10.0 + k) for k in range(40)]
    rows += [(f"c{k}", ITEMS[(k + 1) % 12], "view", now - (k + 1) * SECONDS_PER_DAY, None) for k in range(40)]
    client = await store_client(make_client, settings, tmp_path, rows_store(rows))
    profile = await assert_unavailable(client, "c3", "no_repeat_buyers")
    assert profile["orders"] == 1 and profile["revenue"] == {"USD": 13.0}
    windowed = await _lines(await client.get("/v1/campaigns/lapsed?min_days=0&max_days=3650&n=1"))
    assert len(windowed) == 40  # the idle window needs no lifecycle fit


async def test_a_store_whose_purchases_are_all_on_one_day_has_one_order_per_customer(make_client, settings, tmp_path):
    day = np.floor(time.time() / SECONDS_PER_DAY - 3) * SECONDS_PER_DAY
    rows = [(f"c{k}", ITEMS[(k + j) % 12], "purchase", day + 3600 * (1 + j + k % 5), 5.0) for k in range(30)
            for j in range(3)]
    client = await store_client(make_client, settings, tmp_path, rows_store(rows))
    profile = await assert_unavailable(client, "c7", "no_repeat_buyers")
    assert (profile["purchases"], profile["orders"]) == (3, 1)
    assert profile["revenue"] == profile["aov"] == {"USD": 15.0}
    assert profile["mean_days_between_orders"] is None


async def test_a_store_with_one_customer_trains_and_says_the_fit_is_undetermined(make_client, settings, tmp_path):
    now = time.time()
    rows = [("only", ITEMS[k % 12], "purchase", now - (60 - 9 * k) * SECONDS_PER_DAY, 20.0) for k in range(6)]
    client = await store_client(make_client, settings, tmp_path, rows_store(rows))
    profile = await assert_unavailable(client, "only", "not_identified")
    assert profile["orders"] == 6 and profile["mean_days_between_orders"] == 9.0


async def test_the_churn_thresholds_and_discount_are_the_serving_settings(make_client, settings, tmp_path):
    events = simulated_store(time.time())
    client = await store_client(make_client, settings, tmp_path, events, churn_medium=0.0, churn_high=0.0,
                                annual_discount=0.0)
    user = str(summarize(Purchases.from_events(events), time.time()).customer_ids[0])
    profile = await _json(await client.get(f"/v1/users/{user}/profile"))
    assert profile["prediction"]["churn_risk"] == "high"  # every 1 - p_alive is at least 0
    record = (await _json(await client.get("/v1/model")))["lifecycle"]
    assert record["config"] == {"annual_discount": 0.0, "churn_medium": 0.0, "churn_high": 0.0}
    assert dataclasses.asdict(fitted_model(client).config) == record["config"]
