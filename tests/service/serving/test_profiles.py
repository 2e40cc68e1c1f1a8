"""The lifecycle read path without HTTP: the purchase book, a model trained before fits were kept, the
win-back order without a spend model, and the remembered store-wide predictions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recommender.artifacts import ArtifactInfo
from recommender.catalog import Catalog
from recommender.events import EventTable
from recommender.lifecycle import LifecycleConfig, Purchases, fit_lifecycle
from service.errors import LifecycleUnavailable
from service.serving.profiles import (
    LIFECYCLE, StoreLifecycle, audience, customer_profile, store_predictions, value_at_risk_order,
)
from service.serving.purchase_book import PurchaseBook
from tests.recommender.lifecycle.conftest import simulate


def info(extra: dict) -> ArtifactInfo:
    return ArtifactInfo("v1", "popular", {}, {}, 0.0, 1, 1, 1, extra=extra)


@pytest.fixture(scope="module")
def unpriced():
    """A simulated store whose purchases carry no price, its book and lifecycle (no spend model)."""
    sim = simulate(n=600, seed=2)
    p = sim.purchases
    events = EventTable.from_frame(pd.DataFrame({"user_id": p.customer_ids, "item_id": "x", "type": "purchase",
                                                 "timestamp": p.timestamps}))
    model, _ = fit_lifecycle(Purchases.from_events(events), sim.as_of)
    book = PurchaseBook.build(events, Catalog(), "EUR")
    lifecycle = StoreLifecycle.of(info({LIFECYCLE: {"status": "fitted", "as_of": sim.as_of,
                                                    "model": model.to_dict()}}), LifecycleConfig())
    return sim, book, lifecycle


def test_the_book_groups_purchases_by_customer_in_time_order_with_catalog_currencies():
    events = EventTable.from_frame(pd.DataFrame({
        "user_id": ["b", "a", "b", "a", "a"], "item_id": ["yen", "x", "x", "yen", "x"],
        "type": ["purchase", "purchase", "view", "purchase", "purchase"], "timestamp": [5.0e8, 3.0e8, 1.0e8, 2.0e8, 4.0e8],
        "price": [100.0, 2.0, None, 300.0, None]}))
    catalog = Catalog.from_frame(pd.DataFrame({"item_id": ["yen"], "currency": ["JPY"], "price": [1.0]}))
    book = PurchaseBook.build(events, catalog, "EUR")
    purchases, currencies = book.of("a")
    assert purchases.timestamps.tolist() == [2.0e8, 3.0e8, 4.0e8] and currencies.tolist() == ["JPY", "EUR", "EUR"]
    assert purchases.spend[:2].tolist() == [300.0, 2.0] and np.isnan(purchases.spend[2])
    assert len(book.of("b")[0]) == 1 and len(book.of("nobody")[0]) == 0
    profile = customer_profile(book, StoreLifecycle(None, None), "a", 6.0e8)
    assert profile["revenue"] == {"EUR": 2.0, "JPY": 300.0} and profile["aov"] == {"EUR": 2.0, "JPY": 300.0}
    assert profile["orders"] == 3 and profile["prediction"] is None
    earlier = customer_profile(book, StoreLifecycle(None, None), "a", 3.5e8)  # later purchases are left out
    assert (earlier["orders"], earlier["revenue"], earlier["last_order_at"]) == (2, {"EUR": 2.0, "JPY": 300.0}, 3.0e8)


def test_a_model_trained_before_lifecycle_fits_were_kept_says_so():
    lifecycle = StoreLifecycle.of(info({}), LifecycleConfig())
    assert lifecycle.unavailable[0] == "not_fitted" and lifecycle.status()["status"] == "not_fitted"
    with pytest.raises(LifecycleUnavailable) as caught:
        lifecycle.require()
    assert caught.value.details == {"reason": "not_fitted"}
    broken = StoreLifecycle.of(info({LIFECYCLE: {"status": "fitted", "model": {"bgnbd": {}}}}), LifecycleConfig())
    assert broken.model is None and broken.status()["status"] == "failed"


def test_without_a_spend_model_the_win_back_orders_by_p_alive_and_min_value_is_refused(unpriced):
    sim, book, lifecycle = unpriced
    ranked = value_at_risk_order(book, lifecycle.require(), sim.as_of, None, 0.7)
    alive = ranked.predictions.p_alive[ranked.rows]
    assert len(ranked) > 0 and (alive <= 0.7).all() and (np.diff(alive) >= 0).all()
    assert np.isnan(ranked.predictions.value_365d[ranked.rows]).all()
    with pytest.raises(LifecycleUnavailable) as caught:
        audience(book, lifecycle.require(), sim.as_of, min_value=10)
    assert caught.value.details == {"reason": "no_spend_model"} and "no prices" in caught.value.message


def test_store_wide_predictions_are_remembered_until_the_day_or_the_purchases_change(unpriced):
    sim, book, lifecycle = unpriced
    model = lifecycle.require()
    first = store_predictions(book, model, sim.as_of)
    assert store_predictions(book, model, sim.as_of - 60) is first  # same day, same purchases up to it
    later = store_predictions(book, model, sim.as_of + 86_400)
    assert later is not first and (later[0].age == first[0].age + 1).all()
    earlier = store_predictions(book, model, float(np.sort(book.purchases.timestamps)[-2]))
    assert len(earlier[0]) <= len(first[0]) and earlier is not first
