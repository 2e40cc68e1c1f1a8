"""EASE with DAN (Park et al., SIGIR 2025) beyond the contract: the closed form against a float64
computation written from the paper's formulas, the special cases that reduce it to EASE and to
DLAE, empty rows and columns, parameter errors and the catalog size limit."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse import csr_matrix, random as sparse_random

from recommender.algorithms import ModelParams
from recommender.ease import ease_weights
from recommender.ease_dan import EASEDAN, dan_weights
from recommender.errors import InputError
from recommender.models import Recommender


def random_matrix(users: int = 120, items: int = 30, density: float = 0.15, seed: int = 0) -> csr_matrix:
    """Confidences in [0.5, 2); every user and item has at least one (users >= items)."""
    matrix = sparse_random(users, items, density=density, format="csr", dtype=np.float32,
                           random_state=np.random.default_rng(seed))
    every = csr_matrix((np.ones(users, dtype=np.float32), (np.arange(users), np.arange(users) % items)),
                       shape=(users, items))
    matrix = (matrix + every).tocsr()
    matrix.data = np.random.default_rng(seed + 1).uniform(0.5, 2.0, matrix.nnz).astype(np.float32)
    return matrix


def reference(x: csr_matrix, lam: float, p: float, b: float, a: float) -> np.ndarray:
    """W in float64, term by term: G = X^T D_U^-b X + diag(lam + p/(1-p) diag(X^T X)),
    P = G^-1, B = I - P diag(1/diag(P)), W = D_I^a B D_I^-a, diag(W) = 0."""
    dense = x.toarray().astype(np.float64)
    users, items = dense.sum(axis=1), dense.sum(axis=0)
    g = dense.T @ np.diag(users ** -b) @ dense
    g += np.diag(lam + p / (1 - p) * (dense ** 2).sum(axis=0))
    p_inv = np.linalg.inv(g)
    w = np.eye(len(g)) - p_inv / np.diag(p_inv)[None, :]
    w = np.diag(items ** a) @ w @ np.diag(items ** -a)
    np.fill_diagonal(w, 0.0)
    return w


@pytest.mark.parametrize("lam, p, b, a", [(2.0, 0.1, 0.5, 0.2), (0.5, 0.3, 1.0, 0.0), (5.0, 0.0, 0.25, 0.5)])
def test_matches_the_papers_formulas_in_float64(lam, p, b, a):
    x = random_matrix()
    got = dan_weights(x, lam, p, b, a)
    assert got.dtype == np.float32 and got.shape == (30, 30)
    np.testing.assert_allclose(got, reference(x, lam, p, b, a), atol=2e-5, rtol=1e-4)


def test_without_normalisation_or_dropout_it_is_ease():
    x = random_matrix(seed=3)
    np.testing.assert_array_equal(dan_weights(x, 7.0, 0.0, 0.0, 0.0), ease_weights(x, 7.0))


def test_without_normalisation_it_is_dlae_with_the_zero_diagonal():
    """b = a = 0: EASE with DLAE's per-item ridge lambda + p / (1 - p) * G_ii (Steck 2020)."""
    x = random_matrix(seed=4)
    g = (x.T @ x).toarray()
    ridge = 3.0 + 0.2 / 0.8 * np.diag(g)
    np.testing.assert_allclose(dan_weights(x, 3.0, 0.2, 0.0, 0.0), ease_weights(x, ridge), atol=1e-6)


def test_the_item_exponent_divides_popular_items_scores():
    """With a > 0 the score of item i is divided by c_i^a: for one history item j, W[j, i] / B[j, i]
    is c_j^a / c_i^a, so a popular candidate falls behind an equally linked rare one."""
    x = random_matrix(seed=5)
    plain = dan_weights(x, 2.0, 0.1, 0.5, 0.0).astype(np.float64)
    scaled = dan_weights(x, 2.0, 0.1, 0.5, 0.4).astype(np.float64)
    totals = np.asarray(x.sum(axis=0)).ravel()
    ratio = np.outer(totals ** 0.4, totals ** -0.4)
    off = ~np.eye(30, dtype=bool) & (np.abs(plain) > 1e-4)
    np.testing.assert_allclose(scaled[off], (plain * ratio)[off], rtol=1e-4)


def test_empty_users_and_items_stay_empty_and_finite():
    x = random_matrix(users=60, items=20, seed=6).tolil()
    x[:, 7] = 0.0  # an item in the id map with no events left (e.g. after a refresh)
    x[11, :] = 0.0
    x = x.tocsr()
    x.eliminate_zeros()
    w = dan_weights(x, 1.0, 0.1, 0.5, 0.3)
    assert np.isfinite(w).all()
    assert not w[7].any() and not w[:, 7].any()
    np.testing.assert_allclose(w, reference_without(x, 7), atol=2e-5, rtol=1e-4)


def reference_without(x: csr_matrix, item: int) -> np.ndarray:
    """The reference on the matrix without the empty column, that column put back as zeros."""
    keep = np.delete(np.arange(x.shape[1]), item)
    rows = np.flatnonzero(np.diff(x.indptr))
    inner = reference(x[rows][:, keep], 1.0, 0.1, 0.5, 0.3)
    out = np.zeros((x.shape[1], x.shape[1]))
    out[np.ix_(keep, keep)] = inner
    return out


@pytest.mark.parametrize("args, words", [
    ((0.0, 0.1, 0.5, 0.1), "dan_regularization must be positive"),
    ((1.0, 1.0, 0.5, 0.1), r"dan_dropout must be in \[0, 1\)"),
    ((1.0, 0.1, -0.5, 0.1), "must be at least 0"),
    ((1.0, 0.1, 0.5, -0.1), "must be at least 0"),
])
def test_bad_parameters_raise_input_error(args, words):
    with pytest.raises(InputError, match=words):
        dan_weights(random_matrix(), *args)


def test_negative_confidences_are_refused():
    x = random_matrix()
    x.data[0] = -1.0
    with pytest.raises(InputError, match="non-negative"):
        dan_weights(x, 1.0, 0.1, 0.5, 0.1)


def test_a_catalog_above_the_limit_is_refused_before_allocating():
    with pytest.raises(InputError, match="11 x 11"):
        EASEDAN(max_items=10).fit(random_matrix(items=11))


def test_model_params_reach_the_model():
    params = ModelParams(algorithm="ease_dan", dan_regularization=4.0, dan_dropout=0.2, dan_user_exponent=0.3,
                         dan_item_exponent=0.25)
    model = Recommender(params).algorithm
    assert isinstance(model, EASEDAN)
    assert (model.regularization, model.dropout, model.user_exponent, model.item_exponent) == (4.0, 0.2, 0.3, 0.25)
