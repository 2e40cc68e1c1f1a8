"""Next-basket metrics against a hand-computed example, and their input checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.sparse import csr_matrix

from recommender.errors import InputError
from recommender.next_basket import next_basket_metrics

# customer 0 bought items 0 and 1 before and buys 1 and 4 next; customer 1 bought nothing before and buys 3
TARGETS = csr_matrix(np.array([[0, 1, 0, 0, 1], [0, 0, 0, 1, 0]], dtype=np.float32))
HISTORY = csr_matrix(np.array([[1, 1, 0, 0, 0], [0, 0, 0, 0, 0]], dtype=np.float32))


def test_metrics_of_a_hand_computed_example():
    ranked = np.array([[0, 1, 2], [3, -1, -1]])  # customer 1's list is short
    m = next_basket_metrics(ranked, TARGETS, HISTORY, 2)
    first_ndcg = (1 / math.log2(3)) / (1 + 1 / math.log2(3))  # hit at rank 2, ideal over both target items
    assert (m.k, m.users) == (2, 2)
    assert m.recall == pytest.approx((1 / 2 + 1) / 2)
    assert m.ndcg == pytest.approx((first_ndcg + 1) / 2)
    assert m.ndcg_capped == pytest.approx(m.ndcg)  # no basket is larger than k here
    assert m.phr == 1.0
    assert m.repeat_recall == pytest.approx(1.0) and m.repeat_users == 1  # customer 0's item 1
    assert m.explore_recall == pytest.approx((0 + 1) / 2) and m.explore_users == 2
    assert m.repeat_share == pytest.approx((2 / 2 + 0 / 2) / 2)


def test_ndcg_divides_by_the_whole_basket_and_the_capped_one_by_at_most_k():
    ranked = np.array([[1, 0, 2], [0, 1, 2]])
    m = next_basket_metrics(ranked, TARGETS, HISTORY, 1)
    assert m.ndcg == pytest.approx((1 / (1 + 1 / math.log2(3)) + 0) / 2)
    assert m.ndcg_capped == pytest.approx((1 + 0) / 2)
    assert m.phr == 0.5 and math.isnan(next_basket_metrics(ranked[1:], TARGETS[1:], HISTORY[1:], 1).repeat_recall)


@pytest.mark.parametrize("ranked, targets, k, words", [
    (np.zeros((3, 2), dtype=np.int64), TARGETS, 1, "one row per customer"),
    (np.zeros((2, 2), dtype=np.int64), TARGETS, 3, "k must be between 1 and the list length 2"),
    (np.zeros((2, 2), dtype=np.int64), csr_matrix((2, 5)), 1, "non-empty target basket"),
])
def test_bad_input_raises(ranked, targets, k, words):
    with pytest.raises(InputError, match=words):
        next_basket_metrics(ranked, targets, HISTORY, k)
