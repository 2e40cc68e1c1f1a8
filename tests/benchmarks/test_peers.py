"""The peers benchmark's protocol (RecBole's positives, k-core, per-user 80/10/10 split) and report,
on small generated data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from benchmarks import peers
from benchmarks.peers import build_protocol, k_core, positives, recbole_split
from recommender.events import EVENT_TYPES, EventTable


def ratings(rows: list[tuple[str, str, float]]) -> EventTable:
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "value"])
    return EventTable.from_frame(frame.assign(type="review", timestamp=np.arange(len(frame), dtype=float)))


def test_positives_are_three_stars_and_up_as_binary_events():
    events = positives(ratings([("u", "a", 5.0), ("u", "b", 2.0), ("v", "a", 3.0), ("v", "c", 2.9)]))
    assert list(zip(events.user_ids, events.item_ids)) == [("u", "a"), ("v", "a")]
    assert (events.types == EVENT_TYPES.index("click")).all() and (events.values == 1.0).all()


def test_k_core_drops_in_rounds_until_stable():
    """2-core: user z has one event; dropping it leaves item c with one event, so c goes next round,
    and then user y (left with one event) too."""
    rows = [("x", "a"), ("x", "b"), ("w", "a"), ("w", "b"), ("y", "c"), ("y", "a"), ("z", "c")]
    events = ratings([(u, i, 5.0) for u, i in rows])
    kept = k_core(events, 2)
    assert sorted(zip(kept.user_ids, kept.item_ids)) == [("w", "a"), ("w", "b"), ("x", "a"), ("x", "b")]
    assert len(k_core(events, 1)) == len(events)


def test_split_counts_follow_recbole():
    """Per user: validation and test int(0.1 n) each, train the rest; every event in one part."""
    sizes = {"a": 10, "b": 25, "c": 39, "d": 11}
    rows = [(u, f"{u}{i}", 4.0) for u, n in sizes.items() for i in range(n)]
    events = positives(ratings(rows))
    train, validation, test = recbole_split(events, seed=7)
    for user, n in sizes.items():
        counts = [int((part.user_ids == user).sum()) for part in (train, validation, test)]
        assert counts == [n - 2 * int(0.1 * n), int(0.1 * n), int(0.1 * n)], user
    pairs = [set(zip(p.user_ids, p.item_ids)) for p in (train, validation, test)]
    assert sum(map(len, pairs)) == len(events) and not (pairs[0] & pairs[1] or pairs[1] & pairs[2])
    again = recbole_split(events, seed=7)
    assert list(again[2].item_ids) == list(test.item_ids)
    assert list(recbole_split(events, seed=8)[2].item_ids) != list(test.item_ids)


@pytest.fixture(scope="module")
def small_ratings() -> EventTable:
    """300 users in 3 taste groups rating 60 items, 1 to 5 stars (a group rates its own items high)."""
    rng = np.random.default_rng(0)
    rows = []
    for user in range(300):
        group = user % 3
        for item in rng.choice(60, size=rng.integers(15, 30), replace=False):
            stars = 5.0 if item % 3 == group else float(rng.integers(1, 4))
            rows.append((f"u{user}", f"i{item}", stars))
    return ratings(rows)


def test_end_to_end_on_small_data(small_ratings, monkeypatch, tmp_path):
    monkeypatch.setattr(peers, "SEARCH", {"popular": [], "als": [{"factors": [8]}],
                                          "ease": [{"ease_regularization": [5.0, 50.0]}],
                                          "ease_dan": [{"dan_regularization": [1.0, 10.0]}]})
    protocol = build_protocol(small_ratings)
    assert protocol.sizes["events"] == protocol.sizes["train"] + protocol.sizes["validation"] + protocol.sizes["test"]
    results = peers.run(protocol, ["popular", "als", "ease", "ease_dan"], workers=1)
    labels = [r.label for r in results]
    assert labels[:8] == ["popularity", "ALS, tuned", "EASE, tuned", "EASE with DAN, tuned", "ALS, library defaults",
                          "EASE, library defaults", "EASE, RecBole's reg_weight 250 on binary X",
                          "EASE with DAN, library defaults"]
    best_on_validation = max(results[:4], key=lambda r: r.validation_ndcg)
    assert labels[8] == f"{best_on_validation.label}, refitted on train + validation (off protocol)"
    assert [r.on_protocol for r in results] == [True] * 8 + [False]
    assert results[3].config.params.dan_regularization in (1.0, 10.0) and results[3].trials == 3
    for r in results:
        assert 0.0 <= r.metrics.recall <= 1.0 and r.metrics.users > 0
    ease_row = results[2]
    assert ease_row.config.params.ease_regularization in (5.0, 50.0) and ease_row.trials == 3
    assert max(r.metrics.ndcg for r in results[1:]) > results[0].metrics.ndcg  # the groups are learnable
    check = peers.float32_check(protocol, ease_row.config)
    assert check["same_top10_share"] > 0.95 and check["max_abs_difference"] < 1e-4
    spread = peers.seed_spread(small_ratings, ease_row.config, range(1, 3))
    info = {"cpu": "test", "cores": "2", "python": "3", "implicit": "0.7", "numpy": "2", "openblas_threads": "1"}
    report = peers.markdown(protocol, results, check, info, 1.0, {ease_row.label: spread})
    assert "| EASE, tuned |" in report and "RecBole model (published)" in report and "seeds" in report
    peers.plot(results, tmp_path / "peers.png")
    assert (tmp_path / "peers.png").stat().st_size > 0
    json.dumps(peers.as_json(protocol, results, check, info, 1.0, {ease_row.label: spread}))
