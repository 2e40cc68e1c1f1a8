"""Baskets, TIFU-KNN's decay and grouping maths (hand-computed examples), neighbours, repurchase
rates, the learned mix, and the repeat model against ALS on generated stores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.sparse import csr_matrix

from recommender.baskets import baskets_from_codes, baskets_from_events, history_baskets
from recommender.errors import InputError
from recommender.events import EventTable
from recommender.matrix import build_matrix
from recommender.ids import IdMap
from recommender.models import Recommender
from recommender.next_basket import next_basket_metrics, rank_customers
from recommender import basket_models, repeat
from recommender.matrix import default_weights
from recommender.repeat import (
    NeighbourIndex, basket_weights, group_layout, nearest_mean, purchase_profile, repeat_rates,
)
from recommender.repeat_mix import FEATURES, fit_mix
from recommender.repeat_model import knn_lists, matrix_before
from tests.recommender.conftest import DAY, NOW, small_params


# -- baskets --------------------------------------------------------------------------------
def test_baskets_are_one_customers_purchases_on_one_day():
    frame = pd.DataFrame({
        "user_id": ["u1", "u1", "u1", "u1", "u1", "u2", "u1"],
        "item_id": ["b", "a", "b", "c", "a", "a", "d"],
        "type": ["purchase", "purchase", "purchase", "purchase", "purchase", "purchase", "view"],
        # u1: day 0 (b, a, b again an hour later), day 2 (c, a); u2: day 1 (a); u1's view of d is no purchase
        "timestamp": [0.0, 100.0, 3600.0, 2 * DAY + 5, 2 * DAY + 9, DAY, 3 * DAY],
    })
    events = EventTable.from_frame(frame)
    users, items = IdMap(["u1", "u2"]), IdMap(["a", "b", "c", "d"])
    baskets = baskets_from_events(events, users, items)
    assert baskets.user_start.tolist() == [0, 2, 3]
    assert baskets.basket_start.tolist() == [0, 2, 4, 5]
    assert baskets.items.tolist() == [0, 1, 0, 2, 0]  # {a, b}, {a, c} for u1; {a} for u2
    assert baskets.days.tolist() == [0, 2, 1]
    assert baskets.basket_position().tolist() == [0, 1, 0]
    assert baskets.last_baskets(np.array([0, 1])).toarray().tolist() == [[1, 0, 1, 0], [1, 0, 0, 0]]
    history = baskets.without_last(np.array([0]))
    assert history.user_start.tolist() == [0, 1, 2]
    assert history.items.tolist() == [0, 1, 0]


def test_history_baskets_group_by_day_and_skip_unknown_and_unbought_items():
    baskets = history_baskets(np.array([2, -1, 0, 2, 1]), 3, np.array([0.0, 5.0, DAY, DAY + 1, 3 * DAY]),
                              np.array([True, True, True, True, False]))
    assert baskets.basket_start.tolist() == [0, 1, 3]
    assert baskets.items.tolist() == [2, 0, 2]
    single = history_baskets(np.array([1, 0]), 3)
    assert single.n_baskets == 1 and single.items.tolist() == [0, 1]
    with pytest.raises(InputError, match="one epoch time per history item"):
        history_baskets(np.array([1, 0]), 3, np.array([0.0]))
    with pytest.raises(InputError, match="outside the model's maps"):
        baskets_from_codes(np.array([0]), np.array([7]), np.array([0.0]), 1, 3)


# -- TIFU-KNN maths, against hand-computed examples -------------------------------------------
def test_fewer_baskets_than_groups_makes_each_basket_a_group():
    """n = 3 baskets, m = 7: groups 0, 1, 2 of one basket each, G = 3; weight
    r_b^(n-1-p) * r_g^(m-1-j) / (|group| * G)."""
    group, length, groups = group_layout(np.full(3, 3), np.arange(3), 7)
    assert group.tolist() == [0, 1, 2] and length.tolist() == [1, 1, 1] and groups.tolist() == [3, 3, 3]
    weights = basket_weights(np.full(3, 3), np.arange(3), 0.9, 0.7, 7)
    expected = [0.9 ** 2 * 0.7 ** 6 / 3, 0.9 * 0.7 ** 5 / 3, 0.7 ** 4 / 3]
    np.testing.assert_allclose(weights, expected, rtol=1e-12)


def test_groups_take_the_remainder_at_the_newest_end():
    """n = 8, m = 3: floor(8/3) = 2 baskets in the first group, the remaining 2 groups hold 3."""
    group, length, groups = group_layout(np.full(8, 8), np.arange(8), 3)
    assert group.tolist() == [0, 0, 1, 1, 1, 2, 2, 2]
    assert length.tolist() == [2, 2, 3, 3, 3, 3, 3, 3]
    assert set(groups.tolist()) == {3}
    weights = basket_weights(np.full(8, 8), np.arange(8), 0.5, 0.25, 3)
    expected = [0.5 ** (7 - p) * 0.25 ** (2 - j) / (size * 3)
                for p, j, size in zip(range(8), [0, 0, 1, 1, 1, 2, 2, 2], [2, 2, 3, 3, 3, 3, 3, 3])]
    np.testing.assert_allclose(weights, expected, rtol=1e-12)
    even, _, _ = group_layout(np.full(6, 6), np.arange(6), 3)
    assert even.tolist() == [0, 0, 1, 1, 2, 2]


def test_purchase_profile_of_a_tiny_history():
    """Baskets {a, b}, {a}, {c} (m = 7, so three one-basket groups, G = 3): a gets the first two
    baskets' weights, b the first's, c the last's; counts 2, 1, 1; since 1, 2, 0."""
    baskets = baskets_from_codes(np.zeros(4, dtype=np.int64), np.array([0, 1, 0, 2]),
                                 np.array([0.0, 0.0, DAY, 2 * DAY]), 1, 4)
    profile = purchase_profile(baskets, 0.9, 0.7, 7)
    w = [0.9 ** 2 * 0.7 ** 6 / 3, 0.9 * 0.7 ** 5 / 3, 0.7 ** 4 / 3]
    np.testing.assert_allclose(profile.matrix(profile.score).toarray()[0], [w[0] + w[1], w[0], w[2], 0], rtol=1e-6)
    assert profile.matrix(profile.count).toarray()[0].tolist() == [2, 1, 1, 0]
    assert profile.indices.tolist() == [0, 1, 2] and profile.since.tolist() == [1, 2, 0]


def test_repeat_rates_of_a_tiny_store():
    """u0: {a}, {a, b}; u1: {a}, {c}; u2: {b}. Item a: 2 chances (u0, u1), 1 rebuy; b: no chance
    (u0 bought it in their newest basket, u2 has one basket); the store's item mean is 1/2.
    Customer shares: u0 1 repeat of 2 later items, u1 0 of 1; store 1/3."""
    baskets = baskets_from_codes(np.array([0, 0, 0, 1, 1, 2]), np.array([0, 0, 1, 0, 2, 1]),
                                 np.array([0, DAY, DAY, 0, DAY, 0]), 3, 3)
    rates = repeat_rates(baskets)
    k = 5.0  # SMOOTHING
    np.testing.assert_allclose(rates.item_rate, [(1 + k / 2) / (2 + k), 0.5, 0.5], rtol=1e-6)
    assert rates.store_share == pytest.approx(1 / 3)
    np.testing.assert_allclose(rates.user_share, [(1 + k / 3) / (2 + k), (k / 3) / (1 + k), 1 / 3], rtol=1e-6)


def test_nearest_mean_averages_the_k_closest_and_skips_the_customer_themself():
    reference = csr_matrix(np.array([[1.0, 0, 0], [0.9, 0.1, 0], [0, 0, 1.0], [0, 0, 0.8]], dtype=np.float32))
    queries = csr_matrix(np.array([[1.0, 0, 0], [0, 0, 0]], dtype=np.float32))
    mean = nearest_mean(queries, reference, 2, exclude=np.array([0, -1]))
    np.testing.assert_allclose(mean[0], [(0.9 + 0.0) / 2, 0.1 / 2, 0.8 / 2], rtol=1e-6)  # rows 1 and 3
    assert not mean[1].any()  # nothing bought, no neighbours
    np.testing.assert_allclose(nearest_mean(queries[:1], reference, 2)[0], [0.95, 0.05, 0], rtol=1e-6)
    np.testing.assert_allclose(nearest_mean(queries[:1], reference, 10)[0], reference.toarray().mean(axis=0), rtol=1e-6)


def brute_force_neighbours(queries: csr_matrix, reference: csr_matrix, k: int, exclude: np.ndarray | None) -> list:
    """Every distance computed densely; the k smallest, ties to the lower reference row."""
    q, r = queries.toarray().astype(np.float64), reference.toarray().astype(np.float64)
    distance = (q * q).sum(1)[:, None] + (r * r).sum(1)[None, :] - 2.0 * q @ r.T
    take = min(k, len(r) - (exclude is not None))
    out = []
    for row, d in enumerate(distance):
        if exclude is not None and exclude[row] >= 0:
            d[exclude[row]] = np.inf
        out.append(set() if not q[row].any() else set(np.lexsort((np.arange(len(d)), d))[:take].tolist()))
    return out


@pytest.mark.parametrize("dense_overlap", [0.1, -1.0, 2.0])  # the default, always dense, always sparse
def test_neighbour_index_finds_the_exact_nearest_with_ties_to_the_lower_row(monkeypatch, dense_overlap):
    monkeypatch.setattr(repeat, "DENSE_OVERLAP", dense_overlap)
    rng = np.random.default_rng(0)
    for trial in range(25):
        n_reference, n_items = int(rng.integers(2, 300)), int(rng.integers(2, 50))
        reference = csr_matrix(rng.random((n_reference, n_items)) < rng.uniform(0.02, 0.3), dtype=np.float32)
        reference.data = np.round(rng.random(reference.nnz) * 3) / 4 + 0.25  # few distinct values: ties
        picked = rng.integers(0, n_reference, int(rng.integers(1, 40)))
        queries = reference[picked]
        exclude = np.where(rng.random(len(picked)) < 0.3, -1, picked)
        k = int(rng.integers(1, 30))
        for own in (None, exclude):
            weights = NeighbourIndex(reference).weights(queries, k, own)
            assert [set(weights[row].indices.tolist()) for row in range(len(picked))] == \
                brute_force_neighbours(queries, reference, k, own), trial


def test_matrix_before_rebuilds_only_the_held_customers_rows_exactly():
    events = basket_store(rebuy=True, customers=60)
    for weights in (default_weights("cosine"), default_weights("als")):  # ALS's has per-customer recency
        interactions = build_matrix(events, weights)
        held = np.array([3, 17, 40])
        days = np.floor(events.timestamps.max() / DAY).astype(np.int64) - np.array([5, 20, 80])
        got = matrix_before(interactions, events, held, days)
        codes = interactions.users.lookup(events.user_ids)
        cut = np.full(len(interactions.users), np.iinfo(np.int64).max)
        cut[held] = days
        kept = events.take(np.floor(events.timestamps / DAY).astype(np.int64) < cut[codes])
        expected = build_matrix(kept, weights, interactions.reference_time, interactions.users,
                                interactions.items).matrix
        assert got.shape == expected.shape and (got != expected).nnz == 0


def test_knn_lists_are_implicits_item_knn_lists():
    model = Recommender(small_params("cosine")).fit(build_matrix(basket_store(rebuy=False, customers=80)))
    rows = model.user_items[:50]
    for items in (None, np.arange(0, rows.shape[1], 3)):
        want_ids, want_scores = model.algorithm.recommend(np.arange(50), rows, N=20, items=items)
        got_ids, got_scores = knn_lists(model.algorithm, rows, 20, items)
        listed = (want_ids >= 0) & (want_scores > 0)
        np.testing.assert_array_equal(np.where(listed, want_ids, -1), np.where(got_scores > 0, got_ids, -1))


@pytest.mark.parametrize("algorithm", ["repeat", "personal"])
def test_precomputed_lists_of_basket_models_are_the_lists_they_serve(monkeypatch, algorithm):
    monkeypatch.setattr(basket_models, "USER_BLOCK", 16)  # many blocks: precompute scores them in two threads
    events = basket_store(rebuy=True, customers=120)
    model = Recommender(small_params(algorithm)).fit(build_matrix(events), events=events)
    codes = np.arange(len(model.user_ids))
    for n in (5, 60, 400):  # 400: more than the catalog's 300 items
        precomputed, served = model.precompute_indices(codes, n), model.recommend_indices(codes, n)
        np.testing.assert_array_equal(precomputed[0], served[0])
        np.testing.assert_array_equal(precomputed[1], served[1])


def test_fit_mix_learns_which_feature_predicts_and_refuses_one_class():
    rng = np.random.default_rng(0)
    features = rng.random((2000, len(FEATURES))).astype(np.float32)
    labels = (features[:, 1] + 0.1 * rng.random(2000) > 0.8).astype(np.float32)
    weights = fit_mix(features, labels)
    assert weights.shape == (len(FEATURES) + 1,)
    assert weights[1] > 5 and np.abs(np.delete(weights[:-1], 1)).max() < 1.0
    with pytest.raises(InputError, match="no positive and negative"):
        fit_mix(features, np.zeros(2000, dtype=np.float32))


# -- the repeat model on generated stores ----------------------------------------------------
def basket_store(rebuy: bool, customers: int = 400, seed: int = 0) -> EventTable:
    """Customers in 10 taste groups of 30 items; six baskets each, ten days apart. With `rebuy`
    each customer restocks four staples (each 80% of the time) and adds one item of their group;
    without it every basket is three items of their group they never bought. Two views per visit."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(customers):
        group = rng.integers(10)
        pool = rng.permutation(30) + 30 * group
        staples, fresh = pool[:4], list(pool[4:])
        for b in range(6):
            day = NOW + (10 * b + c % 7) * DAY
            if rebuy:
                basket = [i for i in staples if rng.random() < 0.8] + [rng.integers(30) + 30 * group]
            else:
                basket, fresh = fresh[:3], fresh[3:]
            rows += [(f"c{c}", f"i{i}", "purchase", day) for i in basket]
            rows += [(f"c{c}", f"i{rng.integers(30) + 30 * group}", "view", day - 60) for _ in range(2)]
    return EventTable.from_frame(pd.DataFrame(rows, columns=["user_id", "item_id", "type", "timestamp"]))


def next_basket_holdout(events: EventTable, algorithms: list[str]) -> dict:
    """Train on each customer's events before their newest purchase day; score that day's basket."""
    frame = events.to_frame()
    day = frame["timestamp"] // DAY
    last = frame[frame["type"] == "purchase"].assign(day=day).groupby("user_id")["day"].max()
    held = day >= frame["user_id"].map(last)
    train = events.take(~held.to_numpy())
    matrix = build_matrix(train)
    target_frame = frame[held & (frame["type"] == "purchase")]
    codes = np.arange(len(matrix.users))
    targets = csr_matrix((np.ones(len(target_frame)), (matrix.users.lookup(target_frame["user_id"]),
                                                       matrix.items.lookup(target_frame["item_id"]))),
                         shape=matrix.shape)
    bought_frame = train.to_frame()
    bought_frame = bought_frame[bought_frame["type"] == "purchase"]
    history = csr_matrix((np.ones(len(bought_frame)), (matrix.users.lookup(bought_frame["user_id"]),
                                                       matrix.items.lookup(bought_frame["item_id"]))),
                         shape=matrix.shape)
    out = {}
    for algorithm in algorithms:
        model = Recommender(small_params(algorithm, iterations=10)).fit(matrix, events=train)
        out[algorithm] = next_basket_metrics(rank_customers(model, codes, 10), targets, history, 10)
    return out


def test_repeat_model_beats_als_where_customers_rebuy():
    scores = next_basket_holdout(basket_store(rebuy=True), ["als", "repeat"])
    assert scores["repeat"].users == scores["als"].users == 400
    assert scores["repeat"].recall > 2 * scores["als"].recall
    assert scores["repeat"].repeat_share > 0.3


def test_repeat_model_puts_bought_items_last_where_nobody_rebuys():
    scores = next_basket_holdout(basket_store(rebuy=False), ["als", "repeat"])
    assert scores["repeat"].repeat_share < 0.05  # the learned mix ranks bought items behind the rest
    assert scores["repeat"].recall > 0.8 * scores["als"].recall
