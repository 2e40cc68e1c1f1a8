import numpy as np
import pytest

from recommender.errors import InputError
from recommender.lifecycle import Purchases, summarize
from recommender.lifecycle.summary import day_of

from .conftest import DAY, START


def purchases(rows: list[tuple[str, float, float]]) -> Purchases:
    """(customer, day since START as a float, spend) rows."""
    ids, days, spend = zip(*rows)
    return Purchases(np.array(ids, dtype=object), START + np.array(days) * DAY, np.array(spend, dtype=float))


def test_same_day_purchases_are_one_order_and_spend_is_summed():
    summary = summarize(purchases([
        ("a", 0.2, 10.0), ("a", 0.9, 5.0),  # day 0: one order of 15
        ("a", 3.5, 7.0),                    # day 3
        ("a", 10.1, np.nan), ("a", 10.4, 2.0),  # day 10: spend unknown (one part is)
        ("b", 5.0, 4.0),
    ]), as_of=START + 20.5 * DAY)
    assert list(summary.customer_ids) == ["a", "b"]
    np.testing.assert_array_equal(summary.frequency, [2, 0])
    np.testing.assert_array_equal(summary.orders, [3, 1])
    np.testing.assert_array_equal(summary.recency, [10, 0])
    np.testing.assert_array_equal(summary.age, [20, 15])
    np.testing.assert_array_equal(summary.days_since_last, [10, 15])
    np.testing.assert_array_equal(summary.revenue, [22.0, 4.0])
    np.testing.assert_array_equal(summary.spend_orders, [2, 1])
    np.testing.assert_array_equal(summary.aov, [11.0, 4.0])
    np.testing.assert_array_equal(summary.repeat_spend, [7.0, np.nan])  # only day 3 is a known repeat order
    np.testing.assert_array_equal(summary.repeat_spend_orders, [1, 0])
    np.testing.assert_allclose(summary.first_purchase, START + np.array([0.2, 5.0]) * DAY)
    np.testing.assert_allclose(summary.last_purchase, START + np.array([10.4, 5.0]) * DAY)


def test_days_are_utc_calendar_days():
    summary = summarize(purchases([("a", 0.999, 1.0), ("a", 1.001, 1.0)]), as_of=START + 2 * DAY)
    assert summary.frequency[0] == 1 and summary.recency[0] == 1
    assert day_of(START + 0.999 * DAY) == START / DAY


def test_purchases_after_as_of_are_left_out():
    data = purchases([("a", 0.0, 1.0), ("a", 4.0, 2.0), ("a", 9.0, 4.0), ("future", 9.0, 8.0)])
    summary = summarize(data, as_of=START + 5 * DAY)
    assert list(summary.customer_ids) == ["a"]  # a customer seen only later is not there yet
    assert (summary.frequency[0], summary.recency[0], summary.age[0], summary.revenue[0]) == (1, 4, 5, 3.0)
    assert summary.as_of == START + 5 * DAY
    on_the_dot = summarize(data, as_of=START + 9 * DAY)  # "after" is strict
    assert on_the_dot.frequency[0] == 2 and "future" in on_the_dot.customer_ids


def test_one_customer_and_everything_on_one_day():
    summary = summarize(purchases([("a", 2.1, 1.0), ("a", 2.2, 2.0), ("a", 2.3, 3.0)]), as_of=START + 2.5 * DAY)
    assert len(summary) == 1
    assert (summary.frequency[0], summary.recency[0], summary.age[0], summary.revenue[0]) == (0, 0, 0, 6.0)
    assert np.isnan(summary.repeat_spend[0])


def test_no_purchases_give_an_empty_summary_and_as_of_must_be_finite():
    empty = summarize(purchases([("a", 9.0, 1.0)]), as_of=START)
    assert len(empty) == 0 and empty.frequency.dtype == np.int64
    with pytest.raises(InputError, match="as_of"):
        summarize(purchases([("a", 0.0, 1.0)]), as_of=float("nan"))


def test_take_keeps_rows_and_as_of():
    summary = summarize(purchases([("a", 0.0, 1.0), ("b", 1.0, 2.0), ("b", 3.0, 2.0)]), as_of=START + 4 * DAY)
    b = summary.take(summary.customer_ids == "b")
    assert list(b.customer_ids) == ["b"] and b.frequency[0] == 1 and b.as_of == summary.as_of
