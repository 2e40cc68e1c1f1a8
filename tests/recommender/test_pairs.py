"""Row-wise operations on sparse (row, item) pairs, checked against plain sorts on random data with
many ties."""

from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix

from recommender.pairs import (
    contains, csr_keys, distinct, lookup, pair_keys, ranked_lists, row_max, smallest_in_rows, top_in_rows,
)


def test_top_in_rows_keeps_the_k_largest_and_gives_ties_to_the_earlier_entry():
    rng = np.random.default_rng(0)
    for _ in range(100):
        lengths = rng.integers(0, 70, rng.integers(1, 30))
        values = np.round(rng.random(lengths.sum()) * 3) / 2  # few distinct values: ties everywhere
        k = int(rng.integers(1, 25))
        starts = np.cumsum(lengths) - lengths
        expected = np.zeros(len(values), dtype=bool)
        for start, length in zip(starts, lengths):
            row = values[start:start + length]
            expected[start + np.lexsort((np.arange(length), -row))[:k]] = True
        np.testing.assert_array_equal(top_in_rows(lengths, values, k), expected)


def test_smallest_in_rows_keeps_the_k_smallest_and_gives_ties_to_the_lower_column():
    rng = np.random.default_rng(1)
    values = np.round(rng.random((40, 90)) * 4)
    values[3] = 1.0  # one row all tied
    for k in (1, 7, 90):
        chosen = smallest_in_rows(values, k)
        for row, mask in zip(values, chosen):
            assert np.flatnonzero(mask).tolist() == sorted(np.lexsort((np.arange(len(row)), row))[:k].tolist())


def test_ranked_lists_order_by_score_then_item_and_pad_short_rows():
    rows = np.array([0, 0, 0, 0, 2, 2])
    items = np.array([1, 3, 5, 8, 0, 4])
    scores = np.array([0.5, 0.9, 0.5, -np.inf, 0.2, 0.2], dtype=np.float32)
    ids, out = ranked_lists(rows, items, scores, 3, 3)
    assert ids.tolist() == [[3, 1, 5], [-1, -1, -1], [0, 4, -1]]
    np.testing.assert_array_equal(out[0], np.array([0.9, 0.5, 0.5], dtype=np.float32))
    assert np.isneginf(out[1]).all() and np.isneginf(out[2, 2])


def test_keys_lookups_and_row_maxima_of_a_csr_matrix():
    matrix = csr_matrix(np.array([[0, 2.0, 0, 1.0], [0, 0, 0, 0], [3.0, 0, 0.5, 0]], dtype=np.float32))
    keys = csr_keys(matrix)
    assert keys.tolist() == [1, 3, 8, 10]
    asked = pair_keys(np.array([0, 0, 1, 2]), np.array([1, 2, 0, 2]), 4)
    np.testing.assert_array_equal(lookup(keys, matrix.data, asked), np.array([2.0, 0, 0, 0.5], dtype=np.float32))
    assert contains(keys, asked).tolist() == [True, False, False, True]
    np.testing.assert_array_equal(row_max(matrix), np.array([2.0, 0.0, 3.0], dtype=np.float32))
    assert distinct(np.array([5, 1, 5, 3, 1])).tolist() == [1, 3, 5]
