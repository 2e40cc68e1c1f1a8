"""EASE (Steck 2019) beyond the contract: the closed form on hand-computed data, the training
objective's optimality conditions, blocked computation, item restriction and the catalog size limit."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse import csr_matrix, random as sparse_random

from recommender import ease
from recommender.algorithms import ModelParams
from recommender.ease import EASE, MAX_ITEMS, MEMORY_BUDGET, ease_weights, gram, max_items_for
from recommender.errors import InputError
from recommender.matrix import InteractionMatrix
from recommender.ids import IdMap
from recommender.models import Recommender


def random_matrix(users: int = 80, items: int = 30, density: float = 0.15, seed: int = 0) -> csr_matrix:
    matrix = sparse_random(users, items, density=density, format="csr", dtype=np.float32,
                           random_state=np.random.default_rng(seed))
    matrix.data[:] = 1.0
    return matrix


def test_two_items_by_hand():
    """Item 0 bought by 3 users, item 1 by 2, together by 1; lambda 1.

    G + lambda I = [[4, 1], [1, 3]], P = [[3, -1], [-1, 4]] / 11, B[j, i] = -P[j, i] / P[i, i]:
    B[0, 1] = (1/11) / (4/11) = 1/4 and B[1, 0] = (1/11) / (3/11) = 1/3.
    """
    x = csr_matrix(np.array([[1, 1], [1, 0], [1, 0], [0, 1]], dtype=np.float32))
    np.testing.assert_allclose(ease_weights(x, 1.0), [[0.0, 0.25], [1 / 3, 0.0]], rtol=1e-6)


def test_matches_the_float64_inverse_recbole_uses():
    x = random_matrix()
    g = (x.T @ x).toarray().astype(np.float64) + 5.0 * np.eye(x.shape[1])
    p = np.linalg.inv(g)
    expected = p / -np.diag(p)
    np.fill_diagonal(expected, 0.0)
    got = ease_weights(x, 5.0)
    assert got.dtype == np.float32 and got.flags.c_contiguous
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_b_satisfies_the_objectives_optimality_conditions():
    """B minimises ||X - XB||^2 + lambda ||B||^2 with diag(B) = 0: off the diagonal, the gradient
    (G + lambda I) B - G vanishes; on it, only the constraint's multipliers remain."""
    x = random_matrix(users=200, items=40, seed=3)
    x.data = np.random.default_rng(1).uniform(0.5, 2.0, x.nnz).astype(np.float32)  # not only binary
    lam = 20.0
    b = ease_weights(x, lam).astype(np.float64)
    g = (x.T @ x).toarray().astype(np.float64)
    gradient = (g + lam * np.eye(len(g))) @ b - g
    off = ~np.eye(len(g), dtype=bool)
    assert np.abs(gradient[off]).max() < 1e-4 * np.abs(g).max()
    assert np.all(np.diag(b) == 0.0)


def test_blocked_gram_and_scores_equal_one_block(monkeypatch):
    x = random_matrix(users=300, items=50, seed=5)
    whole = gram(x)
    model = EASE(regularization=10.0)
    model.fit(x)
    users = np.arange(300)
    ids, scores = model.recommend(users, x, N=7)
    monkeypatch.setattr(ease, "BLOCK_ENTRIES", 64)  # 1 column or 1 user per block
    np.testing.assert_array_equal(gram(x), whole)
    small = EASE(regularization=10.0)
    small.fit(x)
    np.testing.assert_allclose(small.weights, model.weights, atol=1e-6)
    got_ids, got_scores = small.recommend(users, x, N=7)
    np.testing.assert_allclose(got_scores, scores, rtol=1e-5, atol=1e-6)
    assert (got_ids == ids).mean() > 0.99  # ties may swap


def test_recommend_scores_rows_times_b_and_filters():
    x = random_matrix(seed=7)
    model = EASE(regularization=3.0)
    model.fit(x)
    rows = x[[2, 5]]
    ids, scores = model.recommend(np.array([2, 5]), rows, N=x.shape[1], filter_already_liked_items=False)
    dense = rows.toarray() @ model.weights
    for row in range(2):
        np.testing.assert_allclose(scores[row], np.sort(dense[row])[::-1], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(dense[row][ids[row]], scores[row], rtol=1e-5, atol=1e-6)
    liked_ids, _ = model.recommend(np.array([2, 5]), rows, N=x.shape[1])
    for row in range(2):
        kept = liked_ids[row][liked_ids[row] >= 0]
        assert not set(kept) & set(rows[row].indices)
        assert len(kept) == x.shape[1] - rows[row].nnz  # the rest are -1, never a liked item
    subset = np.array([1, 4, 9, 20])
    some_ids, _ = model.recommend(np.array([2]), rows[:1], N=10, filter_already_liked_items=False, items=subset)
    assert some_ids.shape == (1, 4) and set(some_ids[0]) == set(subset)
    single_ids, single_scores = model.recommend(2, rows[:1], N=3)
    assert single_ids.shape == (3,) and single_scores.shape == (3,)


def test_similar_items_restricted_and_never_itself():
    x = random_matrix(seed=9)
    model = EASE(regularization=3.0)
    model.fit(x)
    ids, scores = model.similar_items(np.array([0, 3]), N=5)
    assert ids.shape == (2, 5)
    assert 0 not in ids[0] and 3 not in ids[1]
    np.testing.assert_allclose(scores[1], np.sort(np.delete(model.weights[3], 3))[::-1][:5], rtol=1e-6)
    only, _ = model.similar_items(3, N=10, items=np.array([3, 7, 8]))
    assert set(only[only >= 0]) == {7, 8}


def test_size_limit_is_the_memory_budget():
    assert max_items_for(MEMORY_BUDGET) == MAX_ITEMS
    assert 4 * MAX_ITEMS**2 <= MEMORY_BUDGET < 4 * (MAX_ITEMS + 1) ** 2
    assert max_items_for(4 * 100**2) == 100 and max_items_for(0) == 0


def test_a_catalog_above_the_limit_is_refused_before_allocating():
    items = MAX_ITEMS + 1
    x = csr_matrix((np.ones(3, dtype=np.float32), ([0, 1, 2], [0, 5, items - 1])), shape=(3, items))
    matrix = InteractionMatrix(x, IdMap().extend([f"u{i}" for i in range(3)])[0],
                               IdMap().extend([f"i{i}" for i in range(items)])[0])
    with pytest.raises(InputError, match=f"limited to {MAX_ITEMS:,} items"):
        Recommender(ModelParams(algorithm="ease")).fit(matrix)
    small = EASE(max_items=10)
    with pytest.raises(InputError, match="11 x 11"):
        small.fit(random_matrix(items=11))


def test_bad_regularization_and_unfitted_use():
    with pytest.raises(InputError, match="positive"):
        ease_weights(random_matrix(), 0.0)
    with pytest.raises(RuntimeError, match="not fitted"):
        EASE().recommend(0, random_matrix()[:1])
    with pytest.raises(NotImplementedError):
        EASE().similar_users(0)
