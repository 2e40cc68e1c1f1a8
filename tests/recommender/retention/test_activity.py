"""Events per time bucket and type, one item's totals, and one item's complements, on hand-made events."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recommender.catalog import Catalog, Item
from recommender.events import EVENT_TYPES, EventTable
from recommender.filters import ItemFilter
from recommender.retention import Complements, History, complements_of, event_counts, item_activity
from tests.recommender.conftest import NOW

HOUR = 3600.0


def history_of(rows: list[tuple[str, str, str, float]]) -> History:
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "type", "timestamp"])
    return History.build(EventTable.from_frame(frame))


def row(counts: np.ndarray, name: str) -> list[int]:
    return counts[EVENT_TYPES.index(name)].tolist()


def test_events_fall_in_the_bucket_that_holds_their_time_and_outside_ones_are_not_counted():
    history = history_of([("u1", "a", "view", NOW), ("u1", "a", "view", NOW + HOUR - 1),
                          ("u2", "b", "purchase", NOW + HOUR), ("u2", "a", "impression", NOW + 2.5 * HOUR),
                          ("u3", "a", "view", NOW - 1), ("u3", "a", "view", NOW + 3 * HOUR)])
    counts = event_counts(history, NOW, HOUR, 3)
    assert counts.shape == (len(EVENT_TYPES), 3) and counts.dtype == np.int64
    assert row(counts, "view") == [2, 0, 0]
    assert row(counts, "purchase") == [0, 1, 0]
    assert row(counts, "impression") == [0, 0, 1]
    assert counts.sum() == 4  # one second before the start and the end itself are outside


def test_counts_for_one_item_leave_the_others_out():
    history = history_of([("u1", "a", "view", NOW), ("u2", "b", "view", NOW), ("u2", "a", "add_to_cart", NOW + 1)])
    counts = event_counts(history, NOW, 86_400.0, 1, history.items.get("a"))
    assert row(counts, "view") == [1] and row(counts, "add_to_cart") == [1] and counts.sum() == 2


def test_bad_buckets_are_refused():
    history = history_of([("u1", "a", "view", NOW)])
    with pytest.raises(ValueError):
        event_counts(history, NOW, 0.0, 3)
    assert event_counts(history, NOW, HOUR, 0).shape == (len(EVENT_TYPES), 0)


def test_an_items_totals_count_its_types_customers_and_time_span_without_impressions_as_customers():
    history = history_of([("u1", "a", "view", NOW), ("u1", "a", "purchase", NOW + 5), ("u2", "a", "view", NOW + 9),
                          ("u3", "a", "impression", NOW + 20), ("u3", "b", "view", NOW + 30)])
    activity = item_activity(history, history.items.get("a"))
    assert dict(zip(EVENT_TYPES, activity.counts.tolist())) == {
        "view": 2, "click": 0, "add_to_cart": 0, "purchase": 1, "review": 0, "impression": 1, "notify_me": 0}
    assert activity.customers == 2 and (activity.first, activity.last) == (NOW, NOW + 20)


def test_complements_of_one_item_rank_co_purchases_and_leave_out_the_item_and_filtered_items():
    history = history_of([
        ("u1", "kettle", "purchase", NOW), ("u1", "descaler", "purchase", NOW + 1),
        ("u2", "kettle", "purchase", NOW), ("u2", "descaler", "purchase", NOW + 1), ("u2", "guide", "view", NOW + 2),
        ("u3", "kettle", "purchase", NOW), ("u3", "mug", "purchase", NOW + 1),
        ("u4", "kettle", "purchase", NOW), ("u4", "toaster", "view", NOW + 1),
        ("u5", "mug", "purchase", NOW), ("u5", "plate", "purchase", NOW + 1)])
    catalog = Catalog.from_items([Item("kettle"), Item("descaler"), Item("mug", in_stock=False), Item("toaster"),
                                  Item("plate"), Item("guide", kind="content")])
    attrs = catalog.align(history.items)
    complements = Complements.build(history, attrs.kind == "content")
    kettle = history.items.get("kettle")
    items, content = complements_of(history, complements, attrs, kettle, 5, 2)
    assert [i.item_id for i in items] == ["descaler", "mug"]  # two shared buyers, then one; never the toaster
    assert items[0].score > items[1].score and all(i.extra == {"via": "co_purchase"} for i in items)
    assert [c.item_id for c in content] == ["guide"]
    items, _ = complements_of(history, complements, attrs, kettle, 5, 2, ItemFilter(in_stock_only=True))
    assert [i.item_id for i in items] == ["descaler"]
    items, content = complements_of(history, complements, attrs, history.items.get("toaster"), 5, 2)
    assert items == [] and content == []
