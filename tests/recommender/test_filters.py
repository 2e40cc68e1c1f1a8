import numpy as np
import pytest

from recommender.catalog import Catalog, Item
from recommender.filters import (
    ItemFilter,
    allowed_mask,
    cap_per_category,
    filter_ranked,
)
from recommender.ids import IdMap

#: index: 0 p-coffee (in stock), 1 p-coffee (out), 2 p-tea, 3 guide-coffee, 4 not in the catalog, 5 p-no-category
IDS = IdMap(["pc1", "pc2", "pt1", "gc1", "ghost", "px"])
CATALOG = Catalog.from_items([
    Item("pc1", "product", "coffee", True),
    Item("pc2", "product", "coffee", False),
    Item("pt1", "product", "tea", True),
    Item("gc1", "content", "coffee", True),
    Item("px", "product", "", True),
])
ATTRS = CATALOG.align(IDS)


def mask(item_filter: ItemFilter, removed=None) -> list[bool]:
    return allowed_mask(item_filter, ATTRS, IDS.ids, removed).tolist()


def test_default_filter_allows_everything():
    assert mask(ItemFilter()) == [True] * 6
    assert not ItemFilter().restricts_items


@pytest.mark.parametrize("item_filter, expected", [
    (ItemFilter(kind="product"), [True, True, True, False, False, True]),
    (ItemFilter(kind="content"), [False, False, False, True, False, False]),
    (ItemFilter(category="coffee"), [True, True, False, True, False, False]),
    (ItemFilter(in_stock_only=True), [True, False, True, True, True, True]),  # unknown items count as in stock
    (ItemFilter(exclude=frozenset({"pt1", "px", "not-an-item"})), [True, True, False, True, True, False]),
    (ItemFilter(kind="product", category="coffee", in_stock_only=True), [True, False, False, False, False, False]),
])
def test_allowed_mask_for_each_filter(item_filter, expected):
    assert mask(item_filter) == expected
    assert item_filter.restricts_items


def test_removed_items_are_never_allowed():
    removed = np.array([False, False, True, False, False, False])
    assert mask(ItemFilter(), removed) == [True, True, False, True, True, True]


def test_max_per_category_alone_does_not_restrict_items():
    assert not ItemFilter(max_per_category=1).restricts_items
    assert mask(ItemFilter(max_per_category=1)) == [True] * 6


CATEGORIES = np.array(["a", "b", "a", "c", "a", "b", ""], dtype=object)


def test_cap_per_category_keeps_rank_order_and_caps():
    ranked = np.array([4, 0, 1, 2, 5, 3, 6])  # categories a, a, b, a, b, c, ""
    kept = cap_per_category(ranked, CATEGORIES, 1)
    assert kept.tolist() == [0, 2, 5, 6]  # positions: first a, first b, c, ""
    assert ranked[kept].tolist() == [4, 1, 3, 6]
    kept2 = cap_per_category(ranked, CATEGORIES, 2)
    assert ranked[kept2].tolist() == [4, 0, 1, 5, 3, 6]


def test_cap_per_category_without_cap_or_items():
    ranked = np.array([3, 1, 2])
    assert cap_per_category(ranked, CATEGORIES, None).tolist() == [0, 1, 2]
    assert cap_per_category(np.array([], dtype=np.int64), CATEGORIES, 1).tolist() == []


def test_cap_zero_keeps_nothing():
    assert cap_per_category(np.array([0, 1]), CATEGORIES, 0).tolist() == []


def test_items_without_category_share_one_bucket():
    categories = np.array(["", "", "", "x"], dtype=object)
    assert cap_per_category(np.array([0, 1, 2, 3]), categories, 2).tolist() == [0, 1, 3]


def test_filter_ranked_drops_invalid_ids_and_scores():
    ids = np.array([0, -1, 1, 2, 3, 4, 5])
    scores = np.array([9.0, 8.0, -np.inf, 7.0, -np.finfo(np.float32).max, np.nan, 1.0], dtype=np.float32)
    allowed = np.ones(7, dtype=bool)
    out_ids, out_scores = filter_ranked(ids, scores, allowed, CATEGORIES, ItemFilter(), 10)
    assert out_ids.tolist() == [0, 2, 5]
    assert out_scores.tolist() == [9.0, 7.0, 1.0]


def test_filter_ranked_applies_mask_cap_and_n():
    ids = np.array([0, 1, 2, 3, 4, 5, 6])
    scores = np.linspace(1.0, 0.4, 7)
    allowed = np.array([True, False, True, True, True, True, True])
    out_ids, out_scores = filter_ranked(ids, scores, allowed, CATEGORIES, ItemFilter(max_per_category=1), 3)
    # 0 (a), 1 not allowed, 2 (a) capped, 3 (c), 4 (a) capped, 5 (b) -> first three kept
    assert out_ids.tolist() == [0, 3, 5]
    np.testing.assert_allclose(out_scores, scores[[0, 3, 5]])
    assert np.all(np.diff(out_scores) <= 0)


def test_filter_ranked_allows_negative_model_scores():
    ids, scores = filter_ranked(np.array([2, 0]), np.array([-0.5, -3.0]), np.ones(7, bool), CATEGORIES,
                                ItemFilter(), 5)
    assert ids.tolist() == [2, 0]
    assert scores.tolist() == [-0.5, -3.0]
