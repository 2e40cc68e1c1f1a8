"""The scale benchmark's generator: exact counts, power laws, determinism, learnable structure."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.synthetic import NOW, TYPE_SHARES, SyntheticSpec, generate, parse_size, size_label, top_share
from recommender.algorithms import ModelParams
from recommender.evaluation import train_and_evaluate
from recommender.splits import random_split
from recommender.events import EVENT_TYPES, EventTable
from recommender.matrix import build_matrix

DAY = 86_400.0


@pytest.fixture(scope="module")
def spec() -> SyntheticSpec:
    return SyntheticSpec.for_interactions(100_000, seed=7)


@pytest.fixture(scope="module")
def events(spec: SyntheticSpec) -> EventTable:
    return generate(spec)


def test_sizes_follow_the_issue() -> None:
    big = SyntheticSpec.for_interactions(20_000_000)
    assert (big.users, big.items) == (1_000_000, 100_000)
    assert SyntheticSpec.for_interactions(1_000_000).users == 50_000


def test_counts_and_columns(spec: SyntheticSpec, events: EventTable) -> None:
    assert len(events) == spec.interactions
    assert len(np.unique(events.user_ids)) == spec.users  # every user has at least one event
    assert len(np.unique(events.item_ids)) <= spec.items
    assert events.user_ids.dtype == object and isinstance(events.user_ids[0], str)
    assert events.types.dtype == np.int8 and set(np.unique(events.types)) == set(range(len(TYPE_SHARES)))
    assert events.timestamps.min() >= NOW - spec.days * DAY and events.timestamps.max() <= NOW
    assert np.all(np.diff(events.timestamps) >= 0)  # a stream hands events over in time order
    review = events.types == EVENT_TYPES.index("review")
    assert set(np.unique(events.values[review])) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    assert np.all(events.values[~review] == 1.0)


def test_the_real_ingestion_reads_it(spec: SyntheticSpec, events: EventTable) -> None:
    matrix = build_matrix(events)
    assert matrix.shape[0] == spec.users
    assert 0.5 * len(events) < matrix.matrix.nnz <= len(events)


def test_power_laws(events: EventTable) -> None:
    assert top_share(events.item_ids, 0.01) > 0.3  # the top 1% of items get a large share
    assert top_share(events.item_ids, 0.5) > 0.9  # and the long tail little
    _, per_user = np.unique(events.user_ids, return_counts=True)
    assert np.median(per_user) < per_user.mean() / 1.5  # most users have few events ...
    assert per_user.max() > 20 * np.median(per_user)  # ... a few have very many
    assert top_share(events.user_ids, 0.01) > 0.1


def test_deterministic_for_a_seed(spec: SyntheticSpec, events: EventTable) -> None:
    again = generate(spec)
    for name in ("user_ids", "item_ids", "types", "timestamps", "values"):
        assert np.array_equal(getattr(events, name), getattr(again, name))
    other = generate(SyntheticSpec.for_interactions(spec.interactions, seed=spec.seed + 1))
    assert not np.array_equal(events.item_ids, other.item_ids)


def test_only_part_of_the_users_is_recently_active(spec: SyntheticSpec, events: EventTable) -> None:
    recent = np.unique(events.user_ids[events.timestamps >= NOW - 90 * DAY])
    assert 0.15 * spec.users < len(recent) < 0.7 * spec.users


def test_clusters_give_a_model_something_to_learn(events: EventTable) -> None:
    split = random_split(events, seed=1)
    small = {"factors": 16, "iterations": 8}
    _, als = train_and_evaluate(split, ModelParams(algorithm="als", **small))
    _, popular = train_and_evaluate(split, ModelParams(algorithm="popular", **small))
    assert als.ndcg > 1.3 * popular.ndcg  # about 1.7x here: the clusters carry signal beyond popularity


@pytest.mark.parametrize("text, size", [("1M", 1_000_000), ("20M", 20_000_000), ("300k", 300_000),
                                        (" 2.5m ", 2_500_000), ("50000", 50_000)])
def test_sizes_as_the_benchmarks_write_them(text: str, size: int) -> None:
    assert parse_size(text) == size
    assert parse_size(size_label(size)) == size


@pytest.mark.parametrize("text", ["", "M", "1G", "-3k", "0"])
def test_a_size_that_is_not_one_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a size"):
        parse_size(text)


def test_size_labels() -> None:
    assert [size_label(n) for n in (100_000, 1_000_000, 2_500_000, 20_000_000)] == ["100k", "1M", "2.5M", "20M"]
