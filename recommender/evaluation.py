"""Offline evaluation: held-out splits (random, per-user temporal, global time cut) and ranking
metrics (precision, recall, nDCG, MAP, coverage).

Metrics are computed from a hit matrix in one vectorised pass, so the same code scores a
toy example in a test and 100,000 users in a benchmark.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix

from recommender.algorithms import ModelParams
from recommender.catalog import Catalog
from recommender.errors import InputError
from recommender.events import EVENT_TYPES, EventTable
from recommender.matrix import EventWeights, build_matrix, default_weights
from recommender.units import SECONDS_PER_DAY
from recommender.models import Recommender

SPLITS: tuple[str, ...] = ("random", "temporal", "time_cut")
EVAL_BATCH = 4096
#: Model choice (recommender.selection) scores at most this many customers of a global time cut
#: holdout (`holdout_sample`): above it, a seeded random sample of those with events on both sides
#: of the cut. nDCG@10 over 10,000 customers has a standard error near 0.003, and the difference of
#: two candidates scored on the same customers less; scoring costs per customer.
SCORED_USERS = 10_000
#: ... and trains its candidates on at most about this many events before the cut: above it, every
#: event of a seeded sample of customers (the scored ones first, then others at random until the
#: budget is reached). A fit costs about its events (benchmarks/README.md, Model choice at 20M events).
TRAIN_EVENTS = 4_000_000

@dataclass
class Split:
    train: EventTable
    test: EventTable


@dataclass
class TimeCut(Split):
    """A global time cut: `train` holds every event before `cut_time`, `test` every event at or after it."""

    cut_time: float  # epoch seconds


@dataclass
class Metrics:
    k: int
    precision: float
    recall: float
    ndcg: float
    map: float
    coverage: float
    users: int

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def _rank_within_user(user_codes: np.ndarray, order_key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each row: its 0-based position among its user's rows by `order_key`, and the user's count."""
    order = np.lexsort((order_key, user_codes))
    sorted_users = user_codes[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_users)) + 1]
    sizes = np.diff(np.r_[starts, len(order)])
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order)) - np.repeat(starts, sizes)
    counts = np.empty(len(order), dtype=np.int64)
    counts[order] = np.repeat(sizes, sizes)
    return rank, counts


def _codes(values: np.ndarray) -> np.ndarray:
    return pd.factorize(values)[0]


def random_split(events: EventTable, test_fraction: float = 0.2, seed: int = 42) -> Split:
    """Hold out a random `test_fraction` of each user's distinct items (all events of a held-out
    (user, item) pair go to test, so no pair is in both halves)."""
    _check_fraction(test_fraction)
    rng = np.random.default_rng(seed)
    users = _codes(events.user_ids)
    pairs = _codes(users.astype(np.int64) * (1 << 32) + _codes(events.item_ids))
    n_pairs = int(pairs.max()) + 1 if len(pairs) else 0
    pair_user = np.zeros(n_pairs, dtype=np.int64)
    pair_user[pairs] = users
    rank, counts = _rank_within_user(pair_user, rng.random(n_pairs))
    test_pair = rank < np.floor(counts * test_fraction)
    is_test = test_pair[pairs]
    return Split(events.take(~is_test), events.take(is_test))


def temporal_split(events: EventTable, test_fraction: float = 0.2) -> Split:
    """Hold out the last `test_fraction` of each user's events by time: the future we must predict."""
    _check_fraction(test_fraction)
    users = _codes(events.user_ids)
    rank, counts = _rank_within_user(users, events.timestamps)
    is_test = rank >= counts - np.floor(counts * test_fraction)
    return Split(events.take(~is_test), events.take(is_test))


def time_cut_split(events: EventTable, test_fraction: float = 0.2, test_days: float | None = None) -> TimeCut:
    """One time T for every user: train on the events before T, test on the events at or after it.

    Unlike `temporal_split` (each user's own latest events), no model trains on anything that
    happened after a moment it is scored on, as in production: a model trained at T serves what
    customers do next. T is the newest event's time minus `test_days` days when given, else the
    time of the event that leaves `test_fraction` of the events (by count, impressions included)
    at or after it; events tied at T all go to test, so test may hold a little more.

    Parameters
    ----------
    events : EventTable
        Timestamps in epoch seconds.
    test_fraction : float
        Share of events after the cut, in (0, 1); ignored when `test_days` is given.
    test_days : float, optional
        Length of the test period in days, counted back from the newest event.

    Raises
    ------
    InputError
        a bad fraction or period, or a cut that leaves no event on one side (for example when all
        events share one timestamp).
    """
    if test_days is not None:
        if not test_days > 0:
            raise InputError("test_days must be positive")
    else:
        _check_fraction(test_fraction)
    if len(events) == 0:
        raise InputError("cannot cut an empty event table in time")
    times = events.timestamps
    if test_days is not None:
        cut = float(times.max()) - test_days * SECONDS_PER_DAY
    else:
        n_test = max(1, int(np.ceil(len(times) * test_fraction)))
        cut = float(np.partition(times, len(times) - n_test)[len(times) - n_test])
    is_test = times >= cut
    if is_test.all() or not is_test.any():
        side = "before" if is_test.all() else "at or after"
        raise InputError(f"the time cut at {cut:.0f} (epoch seconds) leaves no events {side} it: "
                         "the events need more than one distinct time")
    return TimeCut(events.take(~is_test), events.take(is_test), cut)


def holdout_sample(split: TimeCut, max_users: int | None = SCORED_USERS, max_train_events: int | None = TRAIN_EVENTS,
                   seed: int = 0) -> tuple[EventTable, np.ndarray | None]:
    """What model choice trains on and whom it scores, when a store is large.

    Parameters
    ----------
    split : TimeCut
        The holdout (recommender.evaluation.time_cut_split).
    max_users : int or None
        At most this many customers are scored: a seeded random sample of the customers with
        non-impression events after the cut and events before it. None: no sample.
    max_train_events : int or None
        At most about this many events before the cut are trained on: every event of the scored
        customers, then of other customers in a seeded random order while the budget lasts (each
        customer's history is kept whole, which the repeat-aware models need). None: all of them.
    seed : int

    Returns
    -------
    (train, scored) : tuple
        The EventTable the candidates train on (`split.train` itself when it fits the budget), and
        the scored customers' ids (object array, sorted) or None when every such customer is scored.

    Raises
    ------
    InputError
        `max_users` or `max_train_events` below 1.

    A sample of customers makes every collaborative candidate learn from fewer customers than the
    final model will, which lowers their holdout figures a little more than those of the models
    that read each customer's own history (personal frequency, repeat); benchmarks/README.md
    (Model choice) measures how much.
    """
    for name, value in (("max_users", max_users), ("max_train_events", max_train_events)):
        if value is not None and value < 1:
            raise InputError(f"{name} must be at least 1 (or None for no limit)")
    rng = np.random.default_rng(seed)
    codes, ids = pd.factorize(split.train.user_ids)
    test = split.test.take(split.test.types != EVENT_TYPES.index("impression"))
    both = np.flatnonzero(pd.Index(ids).isin(pd.unique(test.user_ids)))
    scored = None
    if max_users is not None and len(both) > max_users:
        both = np.sort(rng.choice(both, max_users, replace=False))
        scored = np.sort(np.asarray(ids[both], dtype=object))
    if max_train_events is None or len(split.train) <= max_train_events:
        return split.train, scored
    others = np.setdiff1d(np.arange(len(ids)), both)
    order = np.r_[both, rng.permutation(others)]
    budget = np.cumsum(np.bincount(codes, minlength=len(ids))[order]) <= max_train_events
    budget[:len(both)] = True
    keep = np.zeros(len(ids), dtype=bool)
    keep[order[budget]] = True
    return split.train.take(keep[codes]), scored


def split_events(events: EventTable, split: str, test_fraction: float = 0.2, seed: int = 42) -> Split:
    if split == "random":
        return random_split(events, test_fraction, seed)
    if split == "temporal":
        return temporal_split(events, test_fraction)
    if split == "time_cut":
        return time_cut_split(events, test_fraction)
    raise InputError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")


def _check_fraction(fraction: float) -> None:
    if not 0.0 < fraction < 1.0:
        raise InputError("test fraction must be between 0 and 1")


def ranking_metrics(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> dict[str, float]:
    """Mean precision, recall, nDCG and MAP at k from a (users, k) hit matrix (binary relevance).

    nDCG divides by the ideal DCG of min(relevant, k) hits; MAP divides by min(relevant, k).
    """
    hits = np.asarray(hits, dtype=np.float64)[:, :k]
    n_relevant = np.asarray(n_relevant, dtype=np.float64)
    if len(hits) == 0:
        return {"precision": 0.0, "recall": 0.0, "ndcg": 0.0, "map": 0.0}
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = (hits * discount).sum(axis=1)
    ideal_hits = np.minimum(n_relevant, k).astype(np.int64)
    idcg = np.cumsum(discount)[ideal_hits - 1]
    precision_at_rank = np.cumsum(hits, axis=1) / np.arange(1, k + 1)
    average_precision = (precision_at_rank * hits).sum(axis=1) / ideal_hits
    return {
        "precision": float((hits.sum(axis=1) / k).mean()),
        "recall": float((hits.sum(axis=1) / n_relevant).mean()),
        "ndcg": float((dcg / idcg).mean()),
        "map": float(average_precision.mean()),
    }


def _pairs(model: Recommender, events: EventTable) -> csr_matrix:
    """Binary (users, items) matrix of the (user, item) pairs in `events` that the model knows,
    impressions left out (the store showing an item, not the customer choosing it)."""
    events = events.take(events.types != EVENT_TYPES.index("impression"))
    users = model.user_ids.lookup(events.user_ids)
    items = model.item_ids.lookup(events.item_ids)
    known = (users >= 0) & (items >= 0)
    pairs = csr_matrix((np.ones(known.sum(), dtype=np.float32), (users[known], items[known])),
                       shape=model.user_items.shape)
    pairs.data[:] = 1.0  # duplicates summed above; membership is binary
    return pairs


def evaluate(model: Recommender, test: EventTable, k: int = 10,
             progress: Callable[[int], None] | None = None, exclude: EventTable | None = None) -> Metrics:
    """Score `model` on held-out events: relevant items are test items the user had not seen in
    training and the model knows (no model can rank an item it never saw). Impressions are the
    store showing an item, not the customer choosing it, so they are never relevant.

    `exclude` holds events whose (user, item) pairs are taken out of both the ranking and the
    relevant set, as RecBole's full ranking leaves out a user's validation items when it scores the
    test part of a train / validation / test split: the model ranks k plus as many items as the
    user has excluded, and the excluded ones are dropped from that list before the top k is scored.
    """
    relevant = _pairs(model, test)
    relevant = relevant - relevant.multiply(model.user_items > 0)
    excluded = _pairs(model, exclude) if exclude is not None else None
    if excluded is not None:
        relevant = relevant - relevant.multiply(excluded)
    relevant.eliminate_zeros()
    n_relevant = np.diff(relevant.indptr)
    eval_users = np.flatnonzero(n_relevant > 0)
    all_hits = np.zeros((len(eval_users), k), dtype=bool)
    recommended = np.zeros(model.user_items.shape[1], dtype=bool)
    for start in range(0, len(eval_users), EVAL_BATCH):
        batch = eval_users[start:start + EVAL_BATCH]
        if excluded is None:
            ids, _ = model.recommend_indices(batch, k)
        else:
            ids = _top_k_without(model, batch, excluded, k)
        valid = ids >= 0
        rows = np.repeat(batch, k).reshape(len(batch), k)
        lookup = np.asarray(relevant[rows[valid], ids[valid]]).ravel() > 0
        hits = np.zeros(ids.shape, dtype=bool)
        hits[valid] = lookup
        all_hits[start:start + len(batch)] = hits
        recommended[ids[valid]] = True
        if progress:
            progress(len(batch))
    scores = ranking_metrics(all_hits, n_relevant[eval_users], k)
    coverage = float(recommended.mean()) if len(recommended) else 0.0
    return Metrics(k=k, coverage=coverage, users=len(eval_users), **scores)


def _top_k_without(model: Recommender, users: np.ndarray, excluded: csr_matrix, k: int) -> np.ndarray:
    """Each user's top k item indices (-1 where short) after dropping their `excluded` items."""
    extra = int(np.diff(excluded.indptr)[users].max(initial=0))
    ids, _ = model.recommend_indices(users, k + extra)
    rows = np.repeat(users, ids.shape[1]).reshape(ids.shape)
    drop = ids < 0
    drop[~drop] = np.asarray(excluded[rows[~drop], ids[~drop]]).ravel() > 0
    order = np.argsort(drop, axis=1, kind="stable")  # kept items first, in ranked order
    ids = np.where(drop, -1, ids)
    return np.take_along_axis(ids, order, axis=1)[:, :k]


def train_and_evaluate(split: Split, params: ModelParams, weights: EventWeights | None = None,
                       catalog: Catalog | None = None, k: int = 10, show_progress: bool = False,
                       fit: Callable[[EventTable, ModelParams, EventWeights | None, Catalog | None], Recommender]
                       | None = None) -> tuple[Recommender, Metrics]:
    """Fit on the train half and score on the test half with identical evaluation for every model.
    `fit` (a `recommender.trainers.Fit`, e.g. Spark's) replaces implicit in this process."""
    weights = weights or default_weights(params.algorithm)
    if fit is not None:
        model = fit(split.train, params, weights, catalog)
    else:
        model = Recommender(params).fit(build_matrix(split.train, weights), catalog, show_progress=show_progress,
                                        events=split.train)
    return model, evaluate(model, split.test, k)


def compare_algorithms(events: EventTable, split: str = "temporal", k: int = 10,
                       algorithms: Sequence[str] = ("popular", "als", "bpr", "cosine", "bm25"),
                       base: ModelParams | None = None, weights: EventWeights | None = None,
                       on_done: Callable[[str], None] | None = None) -> list[tuple[str, Metrics, float]]:
    """Each algorithm on the same split; returns (algorithm, metrics, training seconds)."""
    halves = split_events(events, split)
    base = base or ModelParams()
    rows = []
    for name in algorithms:
        params = ModelParams.from_dict({**base.to_dict(), "algorithm": name})
        model, metrics = train_and_evaluate(halves, params, weights, k=k)
        rows.append((name, metrics, model.fit_seconds or 0.0))
        if on_done:
            on_done(name)
    return rows


def metrics_table(rows: list[tuple[str, Metrics, float]]) -> str:
    """A markdown table: one row per model."""
    if not rows:
        return ""
    k = rows[0][1].k
    lines = [f"| model | precision@{k} | recall@{k} | nDCG@{k} | MAP@{k} | coverage | users | train s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, m, seconds in rows:
        lines.append(f"| {name} | {m.precision:.4f} | {m.recall:.4f} | {m.ndcg:.4f} | {m.map:.4f} | "
                     f"{m.coverage:.3f} | {m.users} | {seconds:.2f} |")
    return "\n".join(lines)
