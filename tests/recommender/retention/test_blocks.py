"""Follow-up, new for you and buy again, on hand-made histories and the demo store."""

from __future__ import annotations

import pandas as pd
import pytest

from recommender.catalog import Catalog
from recommender.events import EventTable
from recommender.filters import ItemFilter
from recommender.retention.blocks import (
    COLD_PRIOR,
    RepurchaseIntervals,
    buy_again,
    follow_up,
    new_for_you,
)
from recommender.retention.complements import Complements
from recommender.retention.history import History
from tests.recommender.conftest import DAY, NOW


def history_of(rows: list[tuple[str, str, str, float]]) -> History:
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "type", "days_ago"])
    frame["timestamp"] = NOW - frame.pop("days_ago") * DAY
    return History.build(EventTable.from_frame(frame))


def attrs_for(history: History, categories: dict[str, str] | None = None, kinds: dict[str, str] | None = None):
    ids = list(history.items.ids)
    catalog = Catalog.from_frame(pd.DataFrame({
        "item_id": ids, "kind": [(kinds or {}).get(i, "product") for i in ids],
        "category": [(categories or {}).get(i, "misc") for i in ids]}))
    return catalog.align(history.items)


# -- buy again ------------------------------------------------------------------------------
def test_buy_again_ranks_by_overdue_against_own_or_item_interval():
    rows = [("me", "beans", "purchase", 90), ("me", "beans", "purchase", 60), ("me", "beans", "purchase", 30),
            ("me", "beans", "purchase", 29.9),  # the same order twice: not a repeat
            ("me", "filters", "purchase", 100), ("me", "filters", "purchase", 90),
            ("me", "mug", "purchase", 50), ("me", "mug", "view", 10)]
    # three other customers rebuy filters every 20 days: the item's interval
    for k in range(3):
        rows += [(f"o{k}", "filters", "purchase", 80), (f"o{k}", "filters", "purchase", 60)]
    history = history_of(rows)
    intervals = RepurchaseIntervals.build(history)
    block = buy_again(history, intervals, attrs_for(history), "me", NOW, 10)
    assert block.source == "purchases"
    got = {i.item_id: i for i in block.items}
    assert [i.item_id for i in block.items] == ["filters", "beans"]  # the mug was bought once
    assert got["beans"].extra == {"purchases": 3, "last_purchase": NOW - 29.9 * DAY, "interval_days": 30.0,
                                  "interval_source": "own"}
    assert got["beans"].score == pytest.approx(29.9 / 30.0)
    assert got["filters"].extra["interval_source"] == "item" and got["filters"].extra["interval_days"] == 20.0
    assert got["filters"].score == pytest.approx(90 / 20)


def test_buy_again_uses_the_one_own_interval_when_the_item_has_no_median():
    history = history_of([("me", "tea", "purchase", 50), ("me", "tea", "purchase", 40)])
    block = buy_again(history, RepurchaseIntervals.build(history), attrs_for(history), "me", NOW, 5)
    assert block.items[0].extra["interval_source"] == "own" and block.items[0].score == pytest.approx(4.0)


def test_buy_again_sources_and_filters():
    history = history_of([("once", "tea", "purchase", 5), ("me", "tea", "purchase", 50),
                          ("me", "tea", "purchase", 40), ("me", "pen", "purchase", 50), ("me", "pen", "purchase", 9)])
    intervals = RepurchaseIntervals.build(history)
    attrs = attrs_for(history, {"tea": "drinks", "pen": "office"})
    assert buy_again(history, intervals, attrs, "nobody", NOW, 5).source == "unknown_user"
    assert buy_again(history, intervals, attrs, "once", NOW, 5).source == "no_repeat_purchases"
    only = buy_again(history, intervals, attrs, "me", NOW, 5, ItemFilter(category="office"))
    assert [i.item_id for i in only.items] == ["pen"]


# -- follow-up ------------------------------------------------------------------------------
def test_follow_up_expands_the_latest_purchases_into_complements_and_guides():
    rows = [("a", "kettle", "purchase", 9), ("a", "descaler", "purchase", 9), ("a", "guide-descale", "click", 8),
            ("b", "kettle", "purchase", 7), ("b", "descaler", "purchase", 7), ("b", "guide-descale", "click", 6),
            ("c", "kettle", "purchase", 5), ("c", "filter", "purchase", 5), ("c", "guide-tea", "click", 5),
            ("me", "old-thing", "purchase", 30), ("me", "kettle", "purchase", 1), ("me", "filter", "view", 3)]
    history = history_of(rows)
    kinds = {"guide-descale": "content", "guide-tea": "content"}
    attrs = attrs_for(history, kinds=kinds)
    complements = Complements.build(history, attrs.kind == "content")
    block = follow_up(history, complements, attrs, "me", 3, 2, seeds=1)
    assert block.source == "purchases" and [p.item_id for p in block.purchased] == ["kettle"]
    assert [i.item_id for i in block.items] == ["descaler", "filter"]  # bought with kettles, 2 buyers vs 1
    assert [c.item_id for c in block.content] == ["guide-descale", "guide-tea"]
    assert all(c.kind == "content" for c in block.content) and all(i.extra["via"] == "co_purchase" for i in block.items)
    assert follow_up(history, complements, attrs, "nobody", 3, 2).source == "unknown_user"
    assert follow_up(history, complements, attrs, "a", 3, 2, ItemFilter(exclude=frozenset({"filter", "old-thing"}))).items == []


def test_follow_up_tops_up_with_similar_items_on_the_demo(storefront, trained):
    model = trained("als")
    history = History.build(storefront.events, model.item_ids)
    attrs = storefront.catalog.align(history.items)
    complements = Complements.build(history, attrs.kind == "content")
    frame = storefront.events.to_frame()
    buyers = frame.loc[frame["type"] == "purchase", "user_id"].unique()[:30]
    for user in buyers:
        block = follow_up(history, complements, attrs, user, 6, 2, ItemFilter(max_per_category=3), model)
        mine = frame[frame["user_id"] == user]
        assert len(block.items) == 6
        assert not {i.item_id for i in block.items} & set(mine.loc[mine["type"] == "purchase", "item_id"])
        assert pd.Series([i.category for i in block.items]).value_counts().max() <= 3
        vias = [i.extra["via"] for i in block.items]
        assert vias == sorted(vias)  # co_purchase complements first, then similar items
        assert not {c.item_id for c in block.content} & set(mine["item_id"])


# -- new for you ----------------------------------------------------------------------------
def test_new_for_you_scores_cold_items_by_category_share(storefront, trained):
    model = trained("als")
    frame = storefront.events.to_frame()
    user = frame["user_id"].value_counts().index[0]
    catalog = storefront.catalog.frame.set_index("item_id")
    shares = catalog.loc[frame.loc[frame["user_id"] == user, "item_id"], "category"].value_counts(normalize=True)
    favourite, never = shares.index[0], "brand-new-category"
    cold = Catalog.from_frame(pd.DataFrame({"item_id": ["cold-fav", "cold-fav-2", "cold-none"], "kind": "product",
                                            "category": [favourite, favourite, never], "created_at": NOW - DAY}))
    model = _with_catalog(model, storefront.catalog.upsert(cold))
    history = History.build(storefront.events, model.item_ids)
    attrs = model.catalog.align(history.items)
    block = new_for_you(model, history, attrs, user, NOW, 30, 200)
    assert block.source == "personalized"
    got = {i.item_id: i for i in block.items}
    assert got["cold-fav"].extra["scored_by"] == "category"
    assert got["cold-fav"].score == pytest.approx(shares[favourite] * COLD_PRIOR, abs=2e-3)
    assert got["cold-none"].score < 2e-3 and block.items[-1].item_id == "cold-none"
    assert all(NOW - 30 * DAY <= i.extra["created_at"] <= NOW for i in block.items)
    assert not set(got) & set(frame.loc[frame["user_id"] == user, "item_id"])
    # someone with events but no vector: by category share alone; nobody: newest first
    extra = EventTable.from_frame(pd.DataFrame({"user_id": ["newcomer"], "item_id": ["cold-fav"],
                                                "type": ["view"], "timestamp": [NOW - 3600]}))
    history = History.build(EventTable.concat([storefront.events, extra]), model.item_ids)
    newcomer = new_for_you(model, history, model.catalog.align(history.items), "newcomer", NOW, 30, 5)
    assert newcomer.source == "category_affinity" and newcomer.items[0].category == favourite
    stranger = new_for_you(model, history, attrs, "stranger", NOW, 30, 5, ItemFilter(kind="product"))
    created = [i.extra["created_at"] for i in stranger.items]
    assert stranger.source == "fallback" and created == sorted(created, reverse=True)


def _with_catalog(model, catalog):
    import copy

    clone = copy.copy(model)  # the session's model is shared: do not change its catalog
    clone.set_catalog(catalog)
    return clone
