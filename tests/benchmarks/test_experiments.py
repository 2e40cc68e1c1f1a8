"""The experiments benchmark's customer model: each customer's two most frequent categories."""

from __future__ import annotations

import pandas as pd

from benchmarks.experiments import favourites


def test_favourites_are_each_customers_two_most_frequent_categories():
    catalog = pd.DataFrame({"item_id": ["a", "b", "c", "d"], "category": ["x", "y", "z", "x"]})
    events = pd.DataFrame({"user_id": ["u", "u", "u", "u", "u", "v"], "item_id": ["a", "d", "b", "b", "c", "c"]})
    assert favourites(events, catalog) == {"u": {"x", "y"}, "v": {"z"}}
