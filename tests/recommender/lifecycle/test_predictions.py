import numpy as np
import pytest

from recommender.errors import InputError
from recommender.lifecycle import (
    CHURN_BANDS, SEGMENTS, FitError, LifecycleConfig, Purchases, conditional_expected_purchases, fit_lifecycle,
    p_alive, summarize,
)
from recommender.lifecycle.predictions import (
    HORIZONS_DAYS, NEXT_ORDER_HORIZON_DAYS, customer_table, discounted_orders, next_order_days,
)
from recommender.lifecycle.summary import SECONDS_PER_DAY

from .conftest import DAY, START, simulate


@pytest.fixture(scope="module")
def fitted(simulated):
    model, summary = fit_lifecycle(simulated.purchases, simulated.as_of)
    return model, summary, model.predict(summary)


def test_every_customer_with_a_purchase_gets_consistent_predictions(fitted):
    model, summary, pred = fitted
    assert len(pred) == len(summary) > 0 and list(pred.customer_ids) == list(summary.customer_ids)
    assert ((pred.p_alive >= 0) & (pred.p_alive <= 1)).all()
    assert (pred.expected_orders_30d <= pred.expected_orders_90d).all()
    assert (pred.expected_orders_90d <= pred.expected_orders_365d).all()
    np.testing.assert_allclose(pred.expected_orders_90d, conditional_expected_purchases(
        model.bgnbd, 90.0, summary.frequency, summary.recency, summary.age))
    assert set(pred.segment) <= set(SEGMENTS) and set(pred.churn_risk) <= set(CHURN_BANDS)
    assert np.isfinite(pred.value_365d).all() and (pred.value_365d >= 0).all()
    np.testing.assert_array_equal(pred.revenue, summary.revenue)
    assert HORIZONS_DAYS == (30, 90, 365)


def test_value_is_order_value_times_discounted_orders(fitted):
    model, summary, pred = fitted
    undiscounted = discounted_orders(model.bgnbd, summary, 0.0)
    np.testing.assert_allclose(undiscounted, pred.expected_orders_365d, rtol=1e-10)
    discounted = discounted_orders(model.bgnbd, summary, 0.10)
    assert (discounted < undiscounted).all() and (discounted > undiscounted / 1.1).all()
    np.testing.assert_allclose(pred.value_365d, pred.expected_order_value * discounted)
    # a single period discounted from its end would be the whole year at 1 / 1.1; months come sooner
    assert np.median(discounted / undiscounted) > 1 / 1.1 + 0.02


def test_next_order_date_is_where_the_chance_of_an_order_reaches_one_half(fitted):
    model, summary, pred = fitted
    p = model.bgnbd
    days = (pred.next_order_at - summary.as_of) / SECONDS_PER_DAY
    known = np.isfinite(days)
    assert known.any() and (~known).any()
    survival = ((p.alpha + summary.age) / (p.alpha + summary.age + days)) ** (p.r + summary.frequency)
    np.testing.assert_allclose((pred.p_alive * (1 - survival))[known], 0.5, rtol=1e-9)
    # the others: the chance never reaches one half, or only after the horizon
    with np.errstate(invalid="ignore"):
        unclipped = (p.alpha + summary.age) * ((1 - 0.5 / pred.p_alive) ** (-1 / (p.r + summary.frequency)) - 1)
    assert ((pred.p_alive <= 0.5) | (unclipped > NEXT_ORDER_HORIZON_DAYS))[~known].all()
    assert ((pred.p_alive > 0.5) & (unclipped <= NEXT_ORDER_HORIZON_DAYS))[known].all()
    np.testing.assert_allclose(next_order_days(p, np.array([0]), np.array([0.0]), np.array([1.0])),
                               p.alpha * (2 ** (1 / p.r) - 1))  # a new customer's median wait


def test_churn_thresholds_and_discount_are_configurable(simulated):
    model, summary = fit_lifecycle(simulated.purchases, simulated.as_of,
                                   LifecycleConfig(annual_discount=0.0, churn_medium=0.0, churn_high=1.0))
    pred = model.predict(summary)
    assert set(pred.churn_risk) <= {"medium", "high"}
    np.testing.assert_allclose(pred.value_365d, pred.expected_order_value * pred.expected_orders_365d, rtol=1e-9)
    for bad in ({"annual_discount": -0.1}, {"churn_medium": 0.9, "churn_high": 0.5}, {"churn_high": 1.5}):
        with pytest.raises(InputError):
            LifecycleConfig(**bad)


def test_without_prices_the_spend_figures_are_unavailable(simulated):
    data = simulated.purchases
    model, summary = fit_lifecycle(Purchases(data.customer_ids, data.timestamps, np.full(len(data), np.nan)),
                                   simulated.as_of)
    assert model.gamma_gamma is None and "no prices" in model.spend_unavailable
    pred = model.predict(summary)
    assert np.isnan(pred.value_365d).all() and np.isnan(pred.expected_order_value).all()
    assert (pred.m_score == 0).all() and np.isfinite(pred.p_alive).all()
    assert model.to_dict()["gamma_gamma"] is None


def test_a_model_predicts_later_summaries_and_single_customers(fitted, simulated):
    model, summary, pred = fitted
    later = summarize(simulated.purchases, simulated.as_of + 30 * DAY)  # nothing new: everyone 30 days older
    one = later.take(np.array([0]))
    again = model.predict(one)
    assert one.age[0] == summary.age[0] + 30
    assert again.p_alive[0] == pytest.approx(p_alive(model.bgnbd, one.frequency, one.recency, one.age)[0])
    assert again.p_alive[0] <= pred.p_alive[0]


def test_customers_without_purchases_get_no_prediction(simulated):
    data = simulated.purchases
    late = Purchases(np.append(data.customer_ids, "late"), np.append(data.timestamps, simulated.as_of + DAY),
                     np.append(data.spend, 10.0))
    model, summary = fit_lifecycle(late, simulated.as_of)
    assert "late" not in set(model.predict(summary).customer_ids)
    nobody = summary.take(np.zeros(len(summary), dtype=bool))
    assert len(model.predict(nobody)) == 0 and customer_table(nobody, model.predict(nobody)).empty


def test_nobody_buying_twice_or_everything_on_one_day_fails_cleanly():
    ids = np.array([f"c{i}" for i in range(20)], dtype=object)
    once = Purchases(ids, START + np.arange(20) * DAY, np.full(20, 5.0))
    with pytest.raises(FitError) as caught:
        fit_lifecycle(once, START + 30 * DAY)
    assert caught.value.reason == "no_repeat_buyers"
    same_day = Purchases(np.repeat(ids, 3), START + np.tile([100.0, 200.0, 300.0], 20), np.ones(60))
    with pytest.raises(FitError, match="two different days"):
        fit_lifecycle(same_day, START + DAY)


def test_a_store_without_positive_spend_still_fits_bgnbd():
    data = simulate(n=300, seed=4)
    free = Purchases(data.purchases.customer_ids, data.purchases.timestamps, np.zeros(len(data.purchases)))
    model, summary = fit_lifecycle(free, data.as_of)
    assert model.gamma_gamma is None and "positive spend" in model.spend_unavailable
    assert np.isfinite(model.predict(summary).p_alive).all()


def test_customer_table(fitted):
    model, summary, pred = fitted
    table = customer_table(summary, pred)
    assert len(table) == len(summary) and table.columns[0] == "customer_id"
    row = table.iloc[0]
    assert row["first_order"] <= row["last_order"] and len(row["first_order"]) == 10
    assert {"p_alive", "churn_risk", "next_order_date", "value_365d", "segment"} <= set(table.columns)
    with pytest.raises(InputError):
        customer_table(summary.take(np.array([1, 0])), pred)
