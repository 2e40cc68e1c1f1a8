"""The experiments benchmark: its customer model (each customer's two most frequent categories) and how the hot
path's windows are ordered and compared."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from benchmarks.experiments import abba, favourites, in_window_order, paired_change


def test_favourites_are_each_customers_two_most_frequent_categories():
    catalog = pd.DataFrame({"item_id": ["a", "b", "c", "d"], "category": ["x", "y", "z", "x"]})
    events = pd.DataFrame({"user_id": ["u", "u", "u", "u", "u", "v"], "item_id": ["a", "d", "b", "b", "c", "c"]})
    assert favourites(events, catalog) == {"u": {"x", "y"}, "v": {"z"}}


def test_hot_path_windows_run_in_abba_order_and_are_reported_in_that_order():
    order = abba(3)
    assert order == ["with", "without", "without", "with", "with", "without"]
    runs = {"with": [{"n": 0}, {"n": 3}, {"n": 4}], "without": [{"n": 1}, {"n": 2}, {"n": 5}]}
    assert [r["n"] for r in in_window_order({"order": order, "runs": runs})] == list(range(6))


def test_the_paired_change_is_the_geometric_mean_of_each_abba_pairs_ratio_with_a_t_interval():
    order = abba(3)  # pairs: (with 110, without 100), (without 100, with 121), (with 99, without 100)
    hot = {"order": order, "runs": {"with": [{"cpu": 110.0}, {"cpu": 121.0}, {"cpu": 99.0}],
                                    "without": [{"cpu": 100.0}, {"cpu": 100.0}, {"cpu": 100.0}]}}
    logs = np.log([1.10, 1.21, 0.99])
    half = stats.t.ppf(0.975, 2) * logs.std(ddof=1) / np.sqrt(3)
    estimate, low, high = paired_change(hot, "cpu")
    assert estimate == pytest.approx(np.expm1(logs.mean()))
    assert (low, high) == pytest.approx((np.expm1(logs.mean() - half), np.expm1(logs.mean() + half)))
    assert low < 0 < estimate < high  # one pair below 1: the interval reaches below no change
    single = {"order": abba(1), "runs": {"with": [{"cpu": 2.0}], "without": [{"cpu": 1.0}]}}
    assert paired_change(single, "cpu")[0] == pytest.approx(1.0) and np.isnan(paired_change(single, "cpu")[1])
