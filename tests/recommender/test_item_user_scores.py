"""Recommender.item_user_scores: one item's score for every known user equals the score that item gets in
each user's own list, for every kind of model (factors, item-kNN, EASE, basket models)."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.mark.parametrize("algorithm", ["als", "bpr", "cosine", "bm25", "ease", "personal"])
def test_an_items_score_for_every_user_matches_the_users_own_lists(trained, algorithm):
    model = trained(algorithm)
    users = np.arange(0, len(model.user_ids), 7)
    ids, scores = model.recommend_indices(users, 5, filter_interacted=False)
    checked = 0
    for item in np.unique(ids[ids >= 0])[:15].tolist():
        column = model.item_user_scores(item)
        assert column.shape == (len(model.user_ids),) and column.dtype == np.float32
        rows, cols = np.nonzero(ids == item)
        for row, col in zip(rows.tolist(), cols.tolist()):
            if scores[row, col] != 0:  # 0: a popular item topped up a short list, not the model's score
                assert column[users[row]] == pytest.approx(scores[row, col], rel=1e-4, abs=1e-5)
                checked += 1
    assert checked > 10


@pytest.mark.parametrize("algorithm", ["cosine", "bm25"])
def test_a_knn_user_whose_neighbours_miss_the_item_scores_minus_infinity(trained, algorithm):
    model = trained(algorithm)
    with np.errstate(over="raise"):  # implicit's "no score" marker must not overflow in the cast
        columns = [model.item_user_scores(item) for item in range(0, len(model.item_ids), 5)]
    scores = np.concatenate(columns)
    assert np.isneginf(scores).any() and np.isfinite(scores).any()
    assert not (np.isfinite(scores) & (scores < -1e30)).any()
