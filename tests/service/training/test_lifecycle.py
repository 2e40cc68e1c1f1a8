"""The training's lifecycle record: fitted with the holdout check, or a failure that says why, never raising."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from recommender.events import EventTable
from recommender.lifecycle import LifecycleConfig, LifecycleModel
from recommender.units import SECONDS_PER_DAY
from service.training.lifecycle import lifecycle_record
from tests.recommender.lifecycle.conftest import simulate

AS_OF = 1_790_000_000.0


def table(users, times, types=None, prices=None) -> EventTable:
    return EventTable.from_frame(pd.DataFrame({
        "user_id": users, "item_id": ["i"] * len(users), "type": types or ["purchase"] * len(users),
        "timestamp": times, "price": prices if prices is not None else [np.nan] * len(users)}))


def test_a_store_without_purchases_or_repeat_buyers_gets_a_failed_record_with_its_reason():
    empty = lifecycle_record(table(["a", "b"], [AS_OF - 10, AS_OF - 5], ["view", "view"]), AS_OF, LifecycleConfig())
    assert (empty["status"], empty["reason"], empty["purchases"]) == ("failed", "no_customers", 0)
    once = lifecycle_record(table(["a", "b"], [AS_OF - 10 * SECONDS_PER_DAY, AS_OF - 5]), AS_OF, LifecycleConfig())
    assert (once["status"], once["reason"]) == ("failed", "no_repeat_buyers") and "two different days" in once["message"]
    assert "model" not in once and json.loads(json.dumps(once)) == once


def test_a_fitted_record_holds_the_model_the_holdout_check_and_purchases_after_as_of_are_left_out():
    sim = simulate(n=800, seed=4)
    p = sim.purchases
    events = table(list(p.customer_ids) + ["late"] * 2, list(p.timestamps) + [sim.as_of + 10, sim.as_of + 20],
                   prices=list(p.spend) + [1.0, 2.0])
    record = lifecycle_record(events, sim.as_of, LifecycleConfig(annual_discount=0.05))
    assert record["status"] == "fitted" and record["customers"] == len(np.unique(p.customer_ids))
    model = LifecycleModel.from_dict(json.loads(json.dumps(record["model"])))
    assert model.as_of == sim.as_of and model.config.annual_discount == 0.05 and model.gamma_gamma is not None
    assert record["holdout"]["customers"] > 0 and record["holdout"]["auc_p_alive"] > 0.5
