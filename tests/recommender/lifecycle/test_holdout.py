"""The holdout check (churn ranking on the last days held out) and a fitted model's record round trip."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from recommender.errors import InputError
from recommender.events import EventTable
from recommender.lifecycle import FitError, LifecycleConfig, LifecycleModel, Purchases, fit_lifecycle, holdout_check
from recommender.lifecycle.holdout import auc

from .conftest import DAY, START


def test_auc_counts_pairs_ranked_right_and_ties_as_half():
    assert auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([False, False, True, True])) == 0.75
    assert auc(np.array([1.0, 1.0]), np.array([True, False])) == 0.5
    assert np.isnan(auc(np.array([1.0, 2.0]), np.array([True, True])))


def test_the_holdout_check_ranks_simulated_dropouts_better_than_chance(simulated):
    check = holdout_check(simulated.purchases, simulated.as_of, 30)
    assert check.customers > 1000 and 0 < check.repeat_buyers < check.customers
    assert 0 < check.churned_share < 1
    assert check.calibration_end == simulated.as_of - 30 * DAY
    assert check.auc_p_alive > 0.6 and check.repeat_auc_p_alive > 0.6
    assert 0 < check.auc_days_since_last < 1
    assert json.loads(json.dumps(check.to_dict()))["holdout_days"] == 30


def test_the_holdout_check_leaves_out_purchases_after_as_of_and_fails_cleanly_without_repeat_buyers():
    purchases = Purchases(["a", "b", "a"], [START, START + DAY, START + 100 * DAY], [5.0, 6.0, 7.0])
    with pytest.raises(FitError) as caught:
        holdout_check(purchases, START + 90 * DAY, 30)  # a's second order is after as_of
    assert caught.value.reason == "no_repeat_buyers"
    with pytest.raises(InputError):
        holdout_check(purchases, START + 90 * DAY, 0)


def test_a_fitted_model_survives_its_json_record_and_takes_new_settings(simulated):
    model, summary = fit_lifecycle(simulated.purchases, simulated.as_of)
    record = json.loads(json.dumps(model.to_dict()))
    again = LifecycleModel.from_dict(record)
    assert again == model
    stricter = LifecycleModel.from_dict(record, LifecycleConfig(churn_medium=0.1, churn_high=0.2))
    assert stricter.bgnbd == model.bgnbd and stricter.config.churn_high == 0.2
    np.testing.assert_array_equal(again.predict(summary).p_alive, model.predict(summary).p_alive)
    with pytest.raises(InputError):
        LifecycleModel.from_dict({**record, "bgnbd": {"r": "x"}})


def test_purchases_from_an_event_table_are_its_purchase_events_with_price_times_quantity():
    events = EventTable.from_frame(pd.DataFrame({
        "user_id": ["u", "u", "v"], "item_id": ["i", "j", "i"], "type": ["view", "purchase", "purchase"],
        "timestamp": [START, START + 1, START + 2], "price": [None, 2.5, None], "quantity": [None, 3, None]}))
    purchases = Purchases.from_events(events)
    assert purchases.customer_ids.tolist() == ["u", "v"]
    assert purchases.spend[0] == 7.5 and np.isnan(purchases.spend[1])
