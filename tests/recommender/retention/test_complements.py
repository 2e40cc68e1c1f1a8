"""Co-purchase complements and content read by buyers, on hand-made baskets."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recommender.events import EventTable
from recommender.retention.complements import Complements, _binary, seed_matrix
from recommender.retention.history import History
from tests.recommender.conftest import NOW


def table(rows: list[tuple[str, str, str]]) -> EventTable:
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "type"])
    frame["timestamp"] = NOW - np.arange(len(rows))[::-1]  # in the order given
    return EventTable.from_frame(frame)


def build(rows):
    history = History.build(table(rows))
    is_content = np.char.startswith(history.items.ids.astype(str), "guide")
    return history, Complements.build(history, is_content)


def scores(history, complements, item, reads=False):
    seeds = seed_matrix([np.array([history.items.get(item)])], [np.ones(1)], history.n_items)
    out = (complements.read_scores if reads else complements.complement_scores)(seeds).toarray()[0]
    return {history.items[i]: float(out[i]) for i in np.flatnonzero(out)}


def test_items_bought_together_rank_by_shared_buyers_not_views():
    rows = [("u1", "kettle", "purchase"), ("u1", "descaler", "purchase"),
            ("u2", "kettle", "purchase"), ("u2", "descaler", "purchase"),
            ("u3", "kettle", "purchase"), ("u3", "mug", "purchase"),
            ("u4", "kettle", "purchase"), ("u4", "toaster", "view"), ("u4", "toaster", "add_to_cart"),
            ("u5", "toaster", "purchase")]
    history, complements = build(rows)
    got = scores(history, complements, "kettle")
    assert set(got) == {"descaler", "mug"}  # the toaster was only viewed and carted with the kettle
    assert got["descaler"] > got["mug"] > 0
    assert complements.copurchase.diagonal().sum() == 0
    assert scores(history, complements, "descaler") == {"kettle": got["descaler"]}


def test_content_read_by_buyers():
    rows = [("u1", "kettle", "purchase"), ("u1", "guide-descaling", "click"),
            ("u2", "kettle", "purchase"), ("u2", "guide-descaling", "view"), ("u2", "guide-tea", "click"),
            ("u3", "mug", "purchase"), ("u3", "guide-mugs", "click"), ("u4", "guide-tea", "click")]
    history, complements = build(rows)
    got = scores(history, complements, "kettle", reads=True)
    assert set(got) == {"guide-descaling", "guide-tea"} and got["guide-descaling"] > got["guide-tea"]
    assert set(scores(history, complements, "mug", reads=True)) == {"guide-mugs"}


def test_basket_cap_keeps_each_users_most_recent_items():
    rows = [("u1", f"p{i}", "purchase") for i in range(5)] + [("u1", "p0", "purchase"), ("u2", "p1", "purchase")]
    history = History.build(table(rows))
    matrix = _binary(history, history.of_type("purchase"), basket=2)
    kept = {history.items[i] for i in matrix[history.users.get("u1")].indices}
    assert kept == {"p0", "p4"}  # p0 bought again last, p4 before it
    assert matrix.sum() == 3 and matrix.max() == 1
