import math

import numpy as np
import pandas as pd
import pytest

from recommender.algorithms import ALGORITHMS, ModelParams
from recommender.errors import InputError
from recommender.evaluation import Metrics, compare_algorithms, evaluate, metrics_table, ranking_metrics, train_and_evaluate
from recommender.splits import SPLITS, TimeCut, random_split, split_events, temporal_split, time_cut_split
from recommender.events import EventTable
from recommender.matrix import EventWeights, build_matrix
from recommender.models import Recommender
from tests.recommender.conftest import DAY, NOW, SMALL_PARAMS, small_params

# -- metrics by hand ------------------------------------------------------------------------------

def test_ndcg_hand_example():
    # hits at ranks 1 and 3, two relevant items
    dcg = 1 / math.log2(2) + 0 / math.log2(3) + 1 / math.log2(4)  # = 1.5
    idcg = 1 / math.log2(2) + 1 / math.log2(3)  # both relevant items at the top
    assert dcg == 1.5
    result = ranking_metrics(np.array([[1, 0, 1]]), np.array([2]), k=3)
    assert result["ndcg"] == pytest.approx(dcg / idcg)
    assert result["ndcg"] == pytest.approx(0.9197207891481876)


def test_precision_recall_map_hand_example():
    result = ranking_metrics(np.array([[1, 0, 1]]), np.array([2]), k=3)
    assert result["precision"] == pytest.approx(2 / 3)
    assert result["recall"] == pytest.approx(2 / 2)
    # AP: precision at each hit (1/1 at rank 1, 2/3 at rank 3) over min(relevant, k) = 2
    assert result["map"] == pytest.approx((1 / 1 + 2 / 3) / 2)


def test_metrics_are_means_over_users():
    hits = np.array([
        [0, 1, 0],  # one relevant item, found at rank 2
        [0, 0, 0],  # four relevant, none found
        [1, 1, 1],  # five relevant, top three found
    ])
    result = ranking_metrics(hits, np.array([1, 4, 5]), k=3)
    precision = [1 / 3, 0, 1]
    recall = [1 / 1, 0, 3 / 5]
    ndcg = [(1 / math.log2(3)) / 1, 0, 1]  # user 3: ideal DCG of min(5, 3) hits equals the DCG
    average_precision = [(1 / 2) / 1, 0, (1 + 1 + 1) / 3]
    assert result["precision"] == pytest.approx(np.mean(precision))
    assert result["recall"] == pytest.approx(np.mean(recall))
    assert result["ndcg"] == pytest.approx(np.mean(ndcg))
    assert result["map"] == pytest.approx(np.mean(average_precision))


def test_metrics_cut_at_k():
    # a hit beyond k does not count
    result = ranking_metrics(np.array([[0, 1, 1, 1]]), np.array([3]), k=2)
    assert result["precision"] == pytest.approx(1 / 2)
    assert result["recall"] == pytest.approx(1 / 3)
    assert result["ndcg"] == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))
    assert result["map"] == pytest.approx((1 / 2) / 2)


def test_perfect_and_empty_rankings():
    perfect = ranking_metrics(np.ones((4, 5), dtype=bool), np.array([5, 5, 9, 5]), k=5)
    assert perfect["precision"] == perfect["ndcg"] == perfect["map"] == pytest.approx(1.0)
    assert ranking_metrics(np.zeros((0, 5)), np.zeros(0), k=5) == {
        "precision": 0.0, "recall": 0.0, "ndcg": 0.0, "map": 0.0}


# -- splits ---------------------------------------------------------------------------------------

def pairs(table: EventTable) -> set[tuple[str, str]]:
    return set(zip(table.user_ids.tolist(), table.item_ids.tolist()))


def test_random_split_keeps_pairs_on_one_side(storefront):
    split = random_split(storefront.events, 0.2, seed=7)
    assert len(split.train) + len(split.test) == len(storefront.events)
    assert not pairs(split.train) & pairs(split.test)
    assert pairs(split.train) | pairs(split.test) == pairs(storefront.events)


def test_random_split_holds_out_about_a_fifth_of_each_users_items(storefront):
    events = storefront.events
    split = random_split(events, 0.2, seed=7)
    frame = events.to_frame()
    distinct = frame.drop_duplicates(["user_id", "item_id"]).groupby("user_id").size()
    held = pd.Series(split.test.user_ids).to_frame("user_id").assign(item_id=split.test.item_ids)
    held = held.drop_duplicates().groupby("user_id").size().reindex(distinct.index, fill_value=0)
    assert (held == np.floor(distinct * 0.2)).all()  # exactly floor(20%) of each user's items
    share = held.sum() / distinct.sum()
    assert 0.1 < share <= 0.2


def test_random_split_is_deterministic_with_a_seed(storefront):
    first = random_split(storefront.events, 0.2, seed=3)
    second = random_split(storefront.events, 0.2, seed=3)
    other = random_split(storefront.events, 0.2, seed=4)
    assert pairs(first.test) == pairs(second.test)
    np.testing.assert_array_equal(first.test.timestamps, second.test.timestamps)
    assert pairs(first.test) != pairs(other.test)


def test_temporal_split_holds_out_each_users_latest_events(storefront):
    events = storefront.events
    split = temporal_split(events, 0.2)
    assert len(split.train) + len(split.test) == len(events)
    train = split.train.to_frame().groupby("user_id")["timestamp"].max()
    test = split.test.to_frame().groupby("user_id")["timestamp"].min()
    both = test.index.intersection(train.index)
    assert len(both) > 20
    assert (train[both] <= test[both]).all()
    sizes = events.to_frame().groupby("user_id").size()
    held = split.test.to_frame().groupby("user_id").size().reindex(sizes.index, fill_value=0)
    assert (held == np.floor(sizes * 0.2)).all()  # the last 20% of each user's events


def test_temporal_split_hand_example():
    frame = pd.DataFrame({
        "user_id": ["a"] * 5 + ["b"] * 2,
        "item_id": ["1", "2", "3", "4", "5", "1", "2"],
        "type": "view",
        "timestamp": [50, 10, 40, 20, 30, 5, 1],
    })
    split = temporal_split(EventTable.from_frame(frame), 0.2)
    assert list(zip(split.test.user_ids, split.test.item_ids)) == [("a", "1")]  # b's 2 events keep 0


def test_split_errors():
    events = EventTable.from_frame(pd.DataFrame({"user_id": ["a"], "item_id": ["1"], "type": ["view"],
                                                 "timestamp": [NOW]}))
    with pytest.raises(InputError, match="unknown split 'kfold'"):
        split_events(events, "kfold")
    for fraction in (0.0, 1.0, -0.1, 1.5):
        with pytest.raises(InputError, match="between 0 and 1"):
            split_events(events, "random", fraction)
    assert len(split_events(events, "temporal").test) == 0


def test_time_cut_trains_on_the_past_only(storefront):
    events = storefront.events
    split = time_cut_split(events, 0.2)
    assert isinstance(split, TimeCut)
    assert len(split.train) + len(split.test) == len(events)
    assert split.train.timestamps.max() < split.cut_time <= split.test.timestamps.min()
    assert 0.2 <= len(split.test) / len(events) < 0.21  # ties at the cut all go to test
    again = split_events(events, "time_cut", 0.2)
    assert again.cut_time == split.cut_time and "time_cut" in SPLITS


def test_time_cut_by_days_and_ties():
    frame = pd.DataFrame({"user_id": ["a", "a", "b", "b", "c"], "item_id": ["1", "2", "1", "3", "2"],
                          "type": "purchase", "timestamp": NOW - np.array([9, 5, 5, 1, 0]) * DAY})
    events = EventTable.from_frame(frame)
    by_days = time_cut_split(events, test_days=2)
    assert by_days.cut_time == NOW - 2 * DAY
    assert sorted(by_days.test.user_ids) == ["b", "c"] and len(by_days.train) == 3
    tied = time_cut_split(events, test_fraction=0.5)  # 3 of 5 asked; the cut falls on a tie of two: 4
    assert tied.cut_time == NOW - 5 * DAY and len(tied.test) == 4


def test_time_cut_errors():
    same_time = EventTable.from_frame(pd.DataFrame({"user_id": ["a", "b"], "item_id": ["1", "2"],
                                                    "type": "view", "timestamp": [NOW, NOW]}))
    with pytest.raises(InputError, match="leaves no events before it"):
        time_cut_split(same_time)
    with pytest.raises(InputError, match="leaves no events"):
        time_cut_split(same_time, test_days=400)
    with pytest.raises(InputError, match="empty"):
        time_cut_split(EventTable.empty())
    with pytest.raises(InputError, match="test_days must be positive"):
        time_cut_split(same_time, test_days=0)
    with pytest.raises(InputError, match="between 0 and 1"):
        time_cut_split(same_time, 1.0)


# -- evaluate -------------------------------------------------------------------------------------

def events_frame(rows) -> EventTable:
    return EventTable.from_frame(pd.DataFrame(rows, columns=["user_id", "item_id", "type"]).assign(timestamp=NOW))


def test_evaluate_hand_example():
    train = events_frame([("u1", "a", "view"), ("u1", "b", "view"), ("u2", "a", "view"), ("u2", "b", "view"),
                          ("u3", "a", "view"), ("u4", "c", "view")])
    test = events_frame([
        ("u3", "b", "purchase"),  # relevant: unseen in training; popularity ranks b first for u3
        ("u3", "b", "view"),  # duplicates count once
        ("u1", "a", "purchase"),  # seen in training: not relevant, u1 is not evaluated
        ("u2", "zz", "view"),  # an item the model never saw: not relevant
        ("ghost", "a", "view"),  # a user the model never saw
    ])
    model = Recommender(ModelParams(algorithm="popular")).fit(build_matrix(train))
    metrics = evaluate(model, test, k=1)
    assert metrics == Metrics(k=1, precision=1.0, recall=1.0, ndcg=1.0, map=1.0, coverage=1 / 3, users=1)


def test_evaluate_leaves_excluded_pairs_out_of_ranking_and_relevance():
    """RecBole's test ranking leaves out validation items: they are neither ranked nor relevant."""
    train = events_frame([("u1", "a", "view"), ("u2", "a", "view"), ("u2", "b", "view"), ("u3", "b", "view"),
                          ("u3", "c", "view"), ("u4", "c", "view"), ("u4", "d", "view"), ("u5", "b", "view")])
    model = Recommender(ModelParams(algorithm="popular")).fit(build_matrix(train))  # b 3, c 2, a 2, d 1
    test = events_frame([("u1", "c", "view"), ("u1", "b", "view")])
    plain = evaluate(model, test, k=1)
    assert (plain.recall, plain.users) == (0.5, 1)  # u1 is offered b (most popular): 1 of 2 relevant
    validation = events_frame([("u1", "b", "view"), ("u5", "a", "view")])
    without = evaluate(model, test, k=1, exclude=validation)
    assert without == Metrics(k=1, precision=1.0, recall=1.0, ndcg=1.0, map=1.0, coverage=0.25, users=1)
    nothing_left = evaluate(model, events_frame([("u1", "b", "view")]), k=1, exclude=validation)
    assert nothing_left.users == 0


def test_evaluate_on_a_real_model(storefront):
    split = temporal_split(storefront.events)
    model = Recommender(small_params("als")).fit(build_matrix(split.train), storefront.catalog)
    seen = []
    metrics = evaluate(model, split.test, k=10, progress=seen.append)
    assert metrics.k == 10
    assert metrics.users > 0 and sum(seen) == metrics.users
    for value in (metrics.precision, metrics.recall, metrics.ndcg, metrics.map, metrics.coverage):
        assert 0.0 <= value <= 1.0
    assert metrics.ndcg > 0 and metrics.coverage > 0
    assert set(metrics.as_dict()) == {"k", "precision", "recall", "ndcg", "map", "coverage", "users"}


def test_train_and_evaluate_returns_the_fitted_model(storefront):
    split = random_split(storefront.events)
    model, metrics = train_and_evaluate(split, small_params("cosine"), catalog=storefront.catalog, k=5)
    assert model.params.algorithm == "cosine"
    assert model.user_items.nnz == build_matrix(split.train).matrix.nnz
    assert metrics.k == 5


def test_compare_algorithms_one_row_per_algorithm(storefront):
    done = []
    rows = compare_algorithms(storefront.events, "random", k=5, algorithms=ALGORITHMS,
                              base=ModelParams(**SMALL_PARAMS), on_done=done.append)
    assert [name for name, _, _ in rows] == list(ALGORITHMS)
    assert done == list(ALGORITHMS)
    users = {metrics.users for _, metrics, _ in rows}
    assert len(users) == 1 and users.pop() > 0  # every model is scored on the same users
    for _, metrics, seconds in rows:
        assert metrics.k == 5
        assert 0.0 <= metrics.ndcg <= 1.0
        assert seconds >= 0.0


def test_metrics_table_is_markdown():
    rows = [("als", Metrics(10, 0.1234567, 0.2, 0.3, 0.4, 0.55555, 42), 1.234),
            ("popular", Metrics(10, 0.0, 0.0, 0.0, 0.0, 0.01, 42), 0.0)]
    lines = metrics_table(rows).splitlines()
    assert lines[0] == "| model | precision@10 | recall@10 | nDCG@10 | MAP@10 | coverage | users | train s |"
    assert lines[1] == "|---|---:|---:|---:|---:|---:|---:|---:|"
    assert lines[2] == "| als | 0.1235 | 0.2000 | 0.3000 | 0.4000 | 0.556 | 42 | 1.23 |"
    assert lines[3].startswith("| popular | 0.0000 |")
    assert len(lines) == 4
    assert all(line.count("|") == 9 for line in lines)
    assert metrics_table([]) == ""


def drifting_store(n_users: int = 200, group_size: int = 15, seed: int = 0) -> EventTable:
    """Each user first views 9 items of one group, then moves on to 6 items of another group."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(n_users):
        early, late = rng.choice(4, size=2, replace=False)
        items = [*(early * group_size + rng.choice(group_size, 9, replace=False)),
                 *(late * group_size + rng.choice(group_size, 6, replace=False))]
        rows += [(f"u{user}", f"i{item}", "view", NOW - (len(items) - t) * 3600.0) for t, item in enumerate(items)]
    return EventTable.from_frame(pd.DataFrame(rows, columns=["user_id", "item_id", "type", "timestamp"]))


def test_history_half_life_follows_a_users_drift_on_a_temporal_split():
    # the held-out last fifth is in the user's newer group, of which training holds only 3 items
    # against 9 of the old one: weighing the user's own recent events more must rank it first
    halves = temporal_split(drifting_store())
    params = ModelParams(factors=8, iterations=15, regularization=1.0, alpha=10.0)
    _, plain = train_and_evaluate(halves, params, EventWeights(history_half_life=None))
    _, recent = train_and_evaluate(halves, params, EventWeights(history_half_life=0.1))
    assert recent.ndcg > plain.ndcg + 0.1
