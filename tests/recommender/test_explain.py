"""Reasons: `because` names the user's own items, the ones that really drive each score."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.algorithms import scale_confidence
from recommender.events import EVENT_TYPES, Event, EventTable
from recommender.explain import because, contributions
from recommender.matrix import EventWeights, build_matrix


def _row(model, code):
    row = scale_confidence(model.user_items[code], model.params)
    return row.indices.astype(np.int64), row.data


@pytest.mark.parametrize("algorithm", ["als", "bpr", "cosine", "bm25", "ease", "repeat"])
def test_reasons_are_items_of_the_users_history(trained, algorithm: str) -> None:
    model = trained(algorithm)
    explained = 0
    for code in range(0, 60, 3):
        ids, _ = model.recommend_indices(np.array([code]), 5)
        reasons = because(model, code, ids[0][ids[0] >= 0], top=3)
        history = {str(model.item_ids.ids[i]) for i in model.user_items[code].indices}
        assert len(reasons) == int((ids[0] >= 0).sum())
        for item, why in zip(ids[0], reasons):
            assert len(why) <= 3 and len(set(why)) == len(why)
            assert set(why) <= history
            assert str(model.item_ids.ids[item]) not in why
            explained += bool(why)
    assert explained > 0


def test_als_reasons_match_implicits_explain(trained) -> None:
    model = trained("als")
    code = 7
    ids, _ = model.recommend_indices(np.array([code]), 4)
    row = scale_confidence(model.user_items[code:code + 1], model.params)
    history, confidence = _row(model, code)
    ours = contributions(model, history, confidence, ids[0])
    weights = None
    for column, item in enumerate(ids[0]):
        total, top, weights = model.algorithm.explain(0, row, int(item), user_weights=weights, N=3)
        assert ours[:, column].sum() == pytest.approx(total, rel=1e-3, abs=1e-5)
        expected = [str(model.item_ids.ids[i]) for i, score in top if score > 0]
        assert because(model, code, [item], top=3)[0] == expected


@pytest.mark.parametrize("algorithm", ["cosine", "ease"])
def test_item_item_contributions_sum_to_the_score(trained, algorithm: str) -> None:
    """item-kNN and EASE score a user as their row times an item x item matrix: the parts add up."""
    model = trained(algorithm)
    code = 11
    ids, scores = model.recommend_indices(np.array([code]), 5)
    history, confidence = _row(model, code)
    parts = contributions(model, history, confidence, ids[0])
    np.testing.assert_allclose(parts.sum(axis=0), scores[0], rtol=1e-4)


def test_knn_reasons_are_the_candidates_neighbours(trained) -> None:
    model = trained("cosine")
    similarity = model.algorithm.similarity.tocsr()
    code = 4
    ids, _ = model.recommend_indices(np.array([code]), 5)
    for item, why in zip(ids[0], because(model, code, ids[0], top=5)):
        neighbours = {str(model.item_ids.ids[j]) for j in similarity[:, item].nonzero()[0]}
        assert set(why) <= neighbours


def test_a_history_explains_a_user_the_model_never_saw(trained) -> None:
    model = trained("als")
    names = [str(i) for i in model.item_ids.ids[:3]]
    history = {names[0]: 5.0, names[1]: 1.0, "never-heard-of-it": 3.0}
    candidates = np.arange(10, 20)
    reasons = because(model, history, candidates, top=2)
    assert len(reasons) == 10
    assert all(set(why) <= {names[0], names[1]} for why in reasons)
    assert any(reasons)
    assert because(model, [names[0]], candidates[:2], top=1)[0] in ([names[0]], [])


def test_no_reasons_without_history_or_for_popularity(trained) -> None:
    assert because(trained("als"), {}, [1, 2]) == [[], []]
    assert because(trained("als"), {"unknown": 1.0}, [1]) == [[]]
    assert because(trained("als"), 10**9, [1]) == [[]]
    assert because(trained("popular"), 3, [1, 2]) == [[], []]
    assert because(trained("als"), 3, []) == []


def test_impressions_are_no_preference_and_add_nobody_to_the_model() -> None:
    assert EVENT_TYPES[:5] == ("view", "click", "add_to_cart", "purchase", "review")  # codes never move
    assert EVENT_TYPES[5] == "impression" and EventWeights().impression == 0
    events = EventTable.from_events([
        Event("u1", "i1", "purchase", 1.0), Event("u1", "i2", "impression", 2.0),
        Event("u2", "i3", "impression", 3.0),
    ])
    matrix = build_matrix(events)
    assert list(matrix.users.ids) == ["u1"] and list(matrix.items.ids) == ["i1"]
    assert matrix.matrix.nnz == 1


def test_personal_frequency_gives_no_reasons(trained) -> None:
    """An item bought before is its own reason, and an item never explains itself."""
    model = trained("personal")
    ids, _ = model.recommend_indices(np.array([3]), 5)
    assert because(model, 3, ids[0]) == [[] for _ in range(5)]
