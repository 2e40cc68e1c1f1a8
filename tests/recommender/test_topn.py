"""recommender.topn returns exactly what implicit's batched `recommend` returns (ties aside)."""

from __future__ import annotations

import numpy as np
import pytest
from implicit.cpu.als import AlternatingLeastSquares
from scipy.sparse import csr_matrix
from scipy.sparse import random as sparse_random

from recommender.topn import FEW_USERS, ItemScorer, Rows, top_n


@pytest.fixture(scope="module")
def model() -> tuple[AlternatingLeastSquares, csr_matrix]:
    """A small ALS model on skewed random data (popular items get large factor norms)."""
    rng = np.random.default_rng(3)
    users, items = 400, 700
    popularity = 1.0 / np.arange(1, items + 1) ** 0.9
    rows = np.repeat(np.arange(users), rng.integers(1, 40, users))
    cols = rng.choice(items, len(rows), p=popularity / popularity.sum())
    user_items = csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(users, items))
    user_items.sum_duplicates()
    als = AlternatingLeastSquares(factors=16, iterations=6, random_state=1, num_threads=1)
    als.fit(user_items, show_progress=False)
    return als, user_items


def assert_same(expected_ids, expected_scores, ids, scores) -> None:
    for e_ids, e_scores, g_ids, g_scores in zip(expected_ids, expected_scores, ids, scores):
        valid = e_scores > -1e30  # implicit pads short lists with liked items at -FLT_MAX
        assert set(g_ids[g_ids >= 0].tolist()) == set(e_ids[valid].tolist())
        np.testing.assert_allclose(g_scores[g_ids >= 0], e_scores[valid], rtol=1e-5, atol=1e-5)
        assert np.all(np.diff(g_scores[g_ids >= 0]) <= 0)  # best first


@pytest.mark.parametrize("n", [1, 10, 100])
def test_same_items_as_implicit(model, n: int) -> None:
    als, user_items = model
    users = np.arange(user_items.shape[0])
    expected_ids, expected_scores = als.recommend(users, user_items, N=n)
    ids, scores = top_n(als.user_factors, als.item_factors, user_items, n)
    assert ids.shape == scores.shape == (len(users), n)
    assert_same(expected_ids, expected_scores, ids, scores)


@pytest.mark.parametrize(("chunk", "first_chunk", "block"), [(7, 5, 3), (64, 40, 50), (10_000, 10_000, 1000)])
def test_chunking_and_early_stop_do_not_change_the_result(model, chunk: int, first_chunk: int, block: int) -> None:
    als, user_items = model
    users = np.arange(0, user_items.shape[0], 3)
    expected = als.recommend(users, user_items[users], N=20)
    scorer = ItemScorer(als.item_factors, chunk=chunk, first_chunk=first_chunk)
    assert_same(*expected, *scorer.top_n(als.user_factors[users], user_items[users], 20, block=block))


def test_threads_give_the_same_lists(model) -> None:
    als, user_items = model
    scorer = ItemScorer(als.item_factors)
    one = scorer.top_n(als.user_factors, user_items, 50, block=64, threads=1)
    two = scorer.top_n(als.user_factors, user_items, 50, block=64, threads=2)
    assert np.array_equal(one[0], two[0]) and np.array_equal(one[1], two[1])


def test_without_filtering_liked_items(model) -> None:
    als, user_items = model
    expected = als.recommend(np.arange(50), user_items[:50], N=30, filter_already_liked_items=False)
    assert_same(*expected, *top_n(als.user_factors[:50], als.item_factors, None, 30))


def test_restricted_to_some_items(model) -> None:
    als, user_items = model
    allowed = np.arange(0, user_items.shape[1], 4)
    expected = als.recommend(np.arange(80), user_items[:80], N=25, items=allowed)
    scorer = ItemScorer(als.item_factors, items=allowed)
    ids, scores = scorer.top_n(als.user_factors[:80], user_items[:80], 25)
    assert np.isin(ids, allowed).all()
    assert_same(*expected, ids, scores)


def test_short_lists_are_padded() -> None:
    """Fewer unseen items than asked: -1 ids and -inf scores after the real ones."""
    rng = np.random.default_rng(0)
    item_factors = rng.standard_normal((6, 4)).astype(np.float32)
    user_factors = rng.standard_normal((3, 4)).astype(np.float32)
    liked = csr_matrix(np.array([[1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1], [0, 0, 0, 0, 0, 0]], dtype=np.float32))
    ids, scores = top_n(user_factors, item_factors, liked, 5)
    assert sorted(ids[0][:4]) == [2, 3, 4, 5] and ids[0][4] == -1 and scores[0][4] == -np.inf
    assert np.all(ids[1] == -1) and np.all(np.isneginf(scores[1]))
    assert sorted(ids[2]) == sorted(np.argsort(-(user_factors[2] @ item_factors.T))[:5])
    single_ids, _ = top_n(user_factors[2], item_factors, liked[2], 5)
    assert np.array_equal(single_ids[0], ids[2])


def test_random_factors_match_a_full_sort() -> None:
    rng = np.random.default_rng(5)
    item_factors = (rng.standard_normal((3000, 8)) * rng.pareto(2.0, (3000, 1))).astype(np.float32)
    user_factors = rng.standard_normal((100, 8)).astype(np.float32)
    liked = sparse_random(100, 3000, density=0.01, format="csr", random_state=2, dtype=np.float32)
    full = user_factors @ item_factors.T
    full[liked.nonzero()] = -np.inf
    ids, scores = top_n(user_factors, item_factors, liked, 40)
    np.testing.assert_array_equal(ids, np.argsort(-full, axis=1, kind="stable")[:, :40])
    np.testing.assert_allclose(scores, -np.sort(-full, axis=1)[:, :40], rtol=1e-6)


@pytest.mark.parametrize("case", ["ties", "mostly-masked", "short"])
@pytest.mark.parametrize("n", [1, 10, 100])
def test_a_few_users_top_n_are_the_stable_full_sort_of_the_scorers_order(case: str, n: int) -> None:
    """Ties (and masked items, ranked last) are broken by the scorer's order, largest norm first: each user's
    list is exactly the first n of a stable full sort over that order."""
    rng = np.random.default_rng(7)
    items = {"ties": 20_000, "mostly-masked": 20_000, "short": 37}[case]
    item_factors = rng.integers(-2, 3, (items, 4)).astype(np.float32)  # few distinct scores: many ties
    user_factors = rng.integers(-2, 3, (3, 4)).astype(np.float32)
    density = 0.999 if case == "mostly-masked" else 0.01
    liked = csr_matrix((rng.random((3, items)) < density).astype(np.float32))
    scorer = ItemScorer(item_factors, first_chunk=200)
    ids, scores = scorer._few(user_factors, liked, n)
    for row in range(3):
        full = scorer.factors @ user_factors[row]
        full[scorer.position[liked[row].indices]] = -np.inf
        expected = np.argsort(-full, kind="stable")[:n]
        expected = expected[np.isfinite(full[expected])]
        assert ids[row, :len(expected)].tolist() == scorer.order[expected].tolist()
        assert (ids[row, len(expected):] == -1).all()


@pytest.mark.parametrize("users", [1, 3, FEW_USERS])
def test_a_few_users_scored_at_once_get_implicits_lists(model, users: int) -> None:
    als, user_items = model
    scorer = ItemScorer(als.item_factors)
    for start in range(0, 60, users):
        rows = np.arange(start, start + users)
        expected = als.recommend(rows, user_items[rows], N=30)
        assert_same(*expected, *scorer.top_n(als.user_factors[rows], user_items[rows], 30))


@pytest.mark.parametrize("first_chunk", [5, 40, 10_000])
@pytest.mark.parametrize("users", [1, 4])
def test_a_few_users_scored_past_the_bound_match_a_full_sort(first_chunk: int, users: int) -> None:
    """`_few` scores the first chunk, then only the items the Cauchy-Schwarz bound leaves in play (norms spread
    over orders of magnitude, so most are never scored); the lists are still a full sort's."""
    rng = np.random.default_rng(11)
    item_factors = (rng.standard_normal((3000, 8)) * rng.pareto(1.5, (3000, 1))).astype(np.float32)
    user_factors = rng.standard_normal((12, 8)).astype(np.float32)
    user_factors[3] = 0.0  # every score 0: all tied, the whole catalog in play
    liked = sparse_random(12, 3000, density=0.02, format="csr", random_state=4, dtype=np.float32)
    scorer = ItemScorer(item_factors, first_chunk=first_chunk)
    full = user_factors @ item_factors.T
    full[liked.nonzero()] = -np.inf
    for n in (1, 10, 50):
        for start in range(0, 12, users):
            rows = np.arange(start, start + users)
            ids, scores = scorer._few(user_factors[rows], liked[rows], n)
            expected = np.argsort(-full[rows], axis=1, kind="stable")[:, :n]
            np.testing.assert_allclose(scores, np.take_along_axis(full[rows], expected, axis=1), rtol=1e-6)
            assert not liked[rows][np.arange(users)[:, None], ids].toarray().any()
            untied = rows != 3  # the zero user's ties are broken by norm order, not by index
            np.testing.assert_array_equal(ids[untied], expected[untied])


def test_rows_are_scipys_rows() -> None:
    """Rows.of holds the same column indices, row by row, as scipy's row indexing (repeats, empty rows)."""
    dense = sparse_random(50, 30, density=0.2, random_state=6, dtype=np.float32).toarray()
    dense[7] = 0
    matrix = csr_matrix(dense)
    for picked in ([3], [7], [0, 7, 7, 49, 12], [], list(range(50))):
        rows = Rows.of(matrix, np.array(picked, dtype=np.int64))
        expected = matrix[np.array(picked, dtype=np.int64)]
        assert rows.count == len(picked)
        np.testing.assert_array_equal(rows.indptr, expected.indptr)
        np.testing.assert_array_equal(rows.indices, expected.indices)
        if len(picked) >= 3:
            part = rows.slice(1, 3)
            np.testing.assert_array_equal(part.indptr, expected[1:3].indptr)
            np.testing.assert_array_equal(part.indices, expected[1:3].indices)
    with pytest.raises(IndexError):
        Rows.of(matrix, np.array([50]))
    with pytest.raises(IndexError):
        Rows.of(matrix, np.array([-1]))


def test_rows_and_a_csr_matrix_give_the_same_lists(model) -> None:
    als, user_items = model
    scorer = ItemScorer(als.item_factors)
    for users in (np.array([5]), np.arange(3, 12), np.arange(0, 400, 7)):
        by_csr = scorer.top_n(als.user_factors[users], user_items[users], 25)
        by_rows = scorer.top_n(als.user_factors[users], Rows.of(user_items, users), 25)
        np.testing.assert_array_equal(by_csr[0], by_rows[0])
        np.testing.assert_array_equal(by_csr[1], by_rows[1])
    with pytest.raises(ValueError):
        scorer.top_n(als.user_factors[:3], Rows.of(user_items, np.arange(4)), 5)


def test_a_user_alone_scores_fewer_items_than_the_first_chunk_leaves_in_play(monkeypatch) -> None:
    """`_few` tightens each threshold as it scores, so it scores fewer items than the bound of the first
    chunk's n-th best leaves in play, and still returns a full sort's list."""
    rng = np.random.default_rng(12)
    item_factors = (rng.standard_normal((20_000, 8)) * rng.lognormal(0, 0.2, (20_000, 1))).astype(np.float32)
    user = rng.standard_normal(8).astype(np.float32)
    scorer = ItemScorer(item_factors, first_chunk=200)
    scored = []
    original = scorer._scored

    def counting(users, start, stop, rows, positions):
        scored.append(stop - start)
        return original(users, start, stop, rows, positions)

    monkeypatch.setattr(scorer, "_scored", counting)
    ids, scores = scorer._few(user[None, :], None, 20)
    full = item_factors @ user
    np.testing.assert_array_equal(ids[0], np.argsort(-full, kind="stable")[:20])
    first_threshold = np.sort(scorer.factors[:200] @ user)[-20]
    in_play = int(np.sum(scorer.norms * np.linalg.norm(user) * 1.0001 >= first_threshold))
    assert len(scored) == 3  # the first chunk, then two products each after a tighter threshold
    assert sum(scored) < in_play / 2
