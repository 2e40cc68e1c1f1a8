"""recommender.item_neighbours: the baselines' similar items are items bought together, not the bestsellers."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.algorithms import ModelParams
from recommender.artifacts import load_model, save_model
from recommender.matrix import build_matrix
from recommender.models import Recommender
from tests.recommender.conftest import DAY, NOW
from tests.recommender.event_rows import events


def _two_aisles():
    """Customers 0-29 buy pasta items, 30-89 buy garden items (the bestsellers); one customer buys a lone item."""
    rng = np.random.default_rng(0)
    rows = []
    for user in range(90):
        aisle = "pasta" if user < 30 else "garden"
        for basket in range(3):
            for item in rng.choice(8, size=3, replace=False):
                rows.append((f"u{user:02d}", f"{aisle}-{item}", "purchase", NOW - (10 - basket) * DAY))
    rows.append(("loner", "lone", "purchase", NOW - DAY))
    return events(*rows)


@pytest.mark.parametrize("algorithm", ["popular", "personal"])
def test_a_baselines_similar_items_are_bought_together_then_bestsellers(algorithm, tmp_path):
    table = _two_aisles()
    model = Recommender(ModelParams(algorithm=algorithm)).fit(build_matrix(table), events=table)
    similar = [i.item_id for i in model.similar_items("pasta-0", 7)]
    assert sorted(similar) == [f"pasta-{k}" for k in range(1, 8)]  # not the garden bestsellers
    scores = [i.score for i in model.similar_items("pasta-0", 7)]
    assert scores == sorted(scores, reverse=True) and scores[-1] > 0
    lone = model.similar_items("lone", 4)  # bought with nothing: the bestsellers, after no neighbour
    assert all(i.item_id.startswith("garden-") and i.score == 0 for i in lone)

    path = tmp_path / "model.npz"
    save_model(model, path)
    loaded, _ = load_model(path)  # memory-mapped, read-only arrays
    assert loaded.similar_items("pasta-0", 7) == model.similar_items("pasta-0", 7)

    bare = Recommender(ModelParams(algorithm=algorithm)).fit(build_matrix(table), events=table, item_neighbours=False)
    assert all(i.item_id.startswith("garden-") for i in bare.similar_items("pasta-0", 7))  # what they knew before
    save_model(bare, tmp_path / "bare.npz")
    assert load_model(tmp_path / "bare.npz")[0].similar_items("pasta-0", 3) == bare.similar_items("pasta-0", 3)
