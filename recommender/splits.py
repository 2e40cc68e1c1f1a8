"""Held-out splits of an event table: random, per-user temporal, and a global time cut (with the
sample of it that model choice scores on a large store).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recommender.errors import InputError
from recommender.events import EVENT_TYPES, EventTable
from recommender.units import SECONDS_PER_DAY

SPLITS: tuple[str, ...] = ("random", "temporal", "time_cut")
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
    """A data set cut in two: the events a model trains on and the held-out events it is scored on."""

    train: EventTable
    test: EventTable


@dataclass
class TimeCut(Split):
    """A global time cut: `train` holds every event before `cut_time`, `test` every event at or after it."""

    cut_time: float  # epoch seconds


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
    (user, item) pair go to test, so no pair is in both halves).

    Parameters
    ----------
    events : EventTable
    test_fraction : float
        In (0, 1); a user holds out floor(items x fraction) items, so users with few items keep all.
    seed : int
        Seed of the random choice (the same seed gives the same split).

    Returns
    -------
    Split

    Raises
    ------
    InputError
        `test_fraction` is not strictly between 0 and 1.
    """
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
    """Hold out the last `test_fraction` of each user's events by time: the future we must predict.

    Parameters
    ----------
    events : EventTable
    test_fraction : float
        In (0, 1); a user holds out their newest floor(events x fraction) events (ties by
        timestamp in table order).

    Returns
    -------
    Split

    Raises
    ------
    InputError
        `test_fraction` is not strictly between 0 and 1.
    """
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
        The holdout (recommender.splits.time_cut_split).
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
    """`random_split` or `temporal_split` by name (SPLITS); `seed` is used by the random split only.

    Raises
    ------
    InputError
        An unknown split name, or a `test_fraction` outside (0, 1).
    """
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
