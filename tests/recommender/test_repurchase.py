"""Buy-again's interval rule in one place, the training purchases a model that serves bought items
carries, and when something bought since training is due again."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recommender.algorithms import ModelParams
from recommender.artifacts import load_model, save_model
from recommender.errors import ArtifactError
from recommender.events import EventTable
from recommender.matrix import build_matrix
from recommender.models import Recommender
from recommender.repurchase import PurchaseIndex, expected_interval, item_medians, order_gaps
from tests.recommender.conftest import DAY, NOW, small_params


def events(rows: list[tuple[str, str, str, float]]) -> EventTable:
    users, items, types, days = zip(*rows)
    return EventTable.from_frame(pd.DataFrame({"user_id": users, "item_id": items, "type": types,
                                               "timestamp": NOW + np.asarray(days) * DAY}))


def test_gaps_are_between_orders_a_day_or_more_apart_in_time_order():
    times = NOW + np.array([10.0, 0.0, 0.5, 3.0]) * DAY
    np.testing.assert_allclose(order_gaps(times), [2.5, 7.0])
    assert len(order_gaps(np.array([NOW]))) == 0


@pytest.mark.parametrize("gaps, item_median, expected", [
    ([4.0, 6.0, 20.0], 3.0, (6.0, "own")),  # three orders or more: the customer's own median
    ([4.0], 9.0, (9.0, "item")),  # one interval: the item's median across customers
    ([4.0], np.nan, (4.0, "own")),  # ... unless it has none: the one interval
    ([], 9.0, (9.0, "item")),  # bought once: the item's median
    ([], np.nan, None),  # nothing to go by
    ([0.0 + 1.0, 1.0], np.nan, (1.0, "own")),
])
def test_the_interval_rule(gaps, item_median, expected):
    assert expected_interval(np.array(gaps), item_median) == expected


def test_item_medians_need_three_intervals_across_customers():
    # item 0: a (gaps 2, 4), b (gap 10): three intervals; item 1: one customer, one interval
    users = np.array([0, 0, 0, 1, 1, 0, 0])
    items = np.array([0, 0, 0, 0, 0, 1, 1])
    times = NOW + np.array([0, 2, 6, 0, 10, 0, 5]) * DAY
    median, count = item_medians(users, items, times, 3)
    assert count.tolist() == [3, 1, 0]
    assert median[0] == 4.0 and np.isnan(median[1]) and np.isnan(median[2])


@pytest.fixture
def shop() -> EventTable:
    return events([
        ("ann", "milk", "purchase", 0), ("ann", "milk", "purchase", 7), ("ann", "milk", "purchase", 14),
        ("ann", "tea", "purchase", 2), ("ann", "lamp", "view", 3),
        ("bob", "milk", "purchase", 1), ("bob", "milk", "purchase", 4),
        ("bob", "tea", "purchase", 5), ("cat", "lamp", "view", 6), ("dan", "milk", "purchase", 8),
    ])


def test_the_index_holds_each_customers_purchases_and_nothing_else(shop):
    matrix = build_matrix(shop)
    index = PurchaseIndex.build(shop, matrix.users, matrix.items)
    code = matrix.items.get
    ann, bob, cat = (matrix.users.get(u) for u in ("ann", "bob", "cat"))
    assert sorted(index.bought(ann).tolist()) == sorted([code("milk"), code("tea")])
    assert index.bought(cat).tolist() == [] and index.bought(-1).tolist() == [] and index.bought(99).tolist() == []
    np.testing.assert_allclose(index.purchase_times(ann, code("milk")), NOW + np.array([0, 7, 14]) * DAY)
    assert len(index.purchase_times(ann, code("lamp"))) == 0
    assert index.item_median[code("milk")] == 7.0  # gaps 7, 7 (ann) and 3 (bob)
    assert np.isnan(index.item_median[code("tea")])


def test_a_purchase_since_training_is_due_after_the_customers_usual_interval(shop):
    matrix = build_matrix(shop)
    index = PurchaseIndex.build(shop, matrix.users, matrix.items)
    milk, tea, lamp = (matrix.items.get(i) for i in ("milk", "tea", "lamp"))
    ann, bob, dan = (matrix.users.get(u) for u in ("ann", "bob", "dan"))
    since = NOW + 20 * DAY
    # ann's own intervals with it: 7, 7, 6 days; bob's: 3, 16; and 3 more after a second purchase since
    assert index.due(ann, {milk: [since]})[milk] == pytest.approx(since + 7 * DAY)
    assert index.due(bob, {milk: [since]})[milk] == pytest.approx(since + 9.5 * DAY)
    later = since + 3 * DAY
    assert index.due(bob, {milk: [later, since]})[milk] == pytest.approx(later + 3 * DAY)
    # dan has one interval (12 days): milk's median across customers at training (7, 7, 3) goes first
    assert index.due(dan, {milk: [since]})[milk] == pytest.approx(since + 7 * DAY)
    # tea: ann bought it once at training, again since: her one interval (18 days); no item median
    assert index.due(ann, {tea: [since]})[tea] == pytest.approx(since + 18 * DAY)
    # a first purchase of an item with no median, and a customer unknown at training: nothing to go by
    assert index.due(ann, {lamp: [since]})[lamp] == float("inf")
    assert index.due(-1, {milk: [since]})[milk] == pytest.approx(since + 7 * DAY)
    assert index.due(ann, {milk: []}) == {}


def test_the_index_survives_an_artifact_and_a_damaged_one_is_refused(shop, tmp_path):
    model = Recommender(small_params("cosine"), filter_interacted=False).fit(build_matrix(shop), events=shop)
    model.purchases = PurchaseIndex.build(shop, model.user_ids, model.item_ids)
    save_model(model, tmp_path / "m.npz")
    loaded, info = load_model(tmp_path / "m.npz")
    assert info.filter_interacted is False and loaded.recommends_bought_items
    for name, array in model.purchases.state().items():
        np.testing.assert_array_equal(loaded.purchases.state()[name], array)
    plain = Recommender(small_params("cosine")).fit(build_matrix(shop))
    save_model(plain, tmp_path / "plain.npz")
    loaded, info = load_model(tmp_path / "plain.npz")
    assert loaded.purchases is None and info.filter_interacted and not loaded.recommends_bought_items
    with pytest.raises(ArtifactError, match="purchase array"):
        PurchaseIndex.from_state({"indptr": np.zeros(1)})


@pytest.mark.parametrize("algorithm", ["als", "cosine", "ease", "popular"])
def test_a_model_serving_bought_items_keeps_them_in_every_list_path(algorithm, storefront, demo_matrix):
    served_today = Recommender(small_params(algorithm)).fit(demo_matrix, storefront.catalog)
    keeping = Recommender(small_params(algorithm), filter_interacted=False).fit(demo_matrix, storefront.catalog)
    codes = np.arange(0, demo_matrix.shape[0], 7)
    rows = demo_matrix.matrix[codes]
    for model, keeps in ((served_today, False), (keeping, True)):
        for ids, _ in (model.precompute_indices(codes, 20), model.recommend_indices(codes, 20)):
            had = [np.isin(ids[k], rows[k].indices).any() for k in range(len(codes))]
            assert any(had) is keeps, (algorithm, keeps)
    heavy = int(np.argmax(np.diff(demo_matrix.matrix.indptr)))
    fast, _ = keeping.precompute_indices(np.array([heavy]), 20)
    slow, _ = keeping.recommend_indices(np.array([heavy]), 20)
    assert len(set(fast[0]) & set(slow[0])) >= 18  # the same list, ties aside


def test_the_basket_models_always_keep_bought_items():
    assert Recommender(ModelParams(algorithm="personal")).recommends_bought_items
    assert not Recommender(ModelParams(algorithm="als")).recommends_bought_items
