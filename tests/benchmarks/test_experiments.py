"""The experiments benchmark's customer model: each customer's two most frequent categories."""

from __future__ import annotations

import pandas as pd

from benchmarks.experiments import abba, favourites, in_window_order


def test_favourites_are_each_customers_two_most_frequent_categories():
    catalog = pd.DataFrame({"item_id": ["a", "b", "c", "d"], "category": ["x", "y", "z", "x"]})
    events = pd.DataFrame({"user_id": ["u", "u", "u", "u", "u", "v"], "item_id": ["a", "d", "b", "b", "c", "c"]})
    assert favourites(events, catalog) == {"u": {"x", "y"}, "v": {"z"}}


def test_hot_path_windows_run_in_abba_order_and_are_reported_in_that_order():
    order = abba(3)
    assert order == ["with", "without", "without", "with", "with", "without"]
    runs = {"with": [{"n": 0}, {"n": 3}, {"n": 4}], "without": [{"n": 1}, {"n": 2}, {"n": 5}]}
    assert [r["n"] for r in in_window_order({"order": order, "runs": runs})] == list(range(6))
