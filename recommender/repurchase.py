"""When a customer is due to buy an item again: buy-again's interval rule, and the purchase index a
model that serves bought items is saved with.

The interval rule (one home for it; recommender.retention.blocks' buy-again uses it too): purchases
of one item less than MIN_GAP_DAYS apart are one order; the expected interval is the customer's own
median interval between orders of the item once they have MIN_OWN_INTERVALS intervals (three
orders), else the item's median interval across customers when it rests on MIN_ITEM_INTERVALS
intervals or more, else the customer's one interval.

`PurchaseIndex` holds every customer's training purchases (item codes and times) and each item's
median interval, so serving can say which items of a list the customer bought before (the
`"repeat"` flag) and when something bought since training is due again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from recommender.baskets import bought_mask
from recommender.errors import ArtifactError
from recommender.events import EventTable
from recommender.ids import IdMap
from recommender.units import SECONDS_PER_DAY

#: Purchases of one item less than a day apart are one order, not a repeat.
MIN_GAP_DAYS = 1.0
#: The customer's own median interval is trusted from this many intervals (3 orders) on.
MIN_OWN_INTERVALS = 2
#: The item's median across customers is used when it rests on at least this many intervals.
MIN_ITEM_INTERVALS = 3
_STATE = ("indptr", "items", "start", "times", "item_median")


def order_gaps(times: np.ndarray) -> np.ndarray:
    """Days between one customer's successive orders of one item.

    Parameters
    ----------
    times : numpy.ndarray
        float64 epoch seconds of the purchases, in any order.

    Returns
    -------
    numpy.ndarray
        float64 days, one per gap of MIN_GAP_DAYS or more between successive purchases.
    """
    gaps = np.diff(np.sort(np.asarray(times, dtype=np.float64))) / SECONDS_PER_DAY
    return gaps[gaps >= MIN_GAP_DAYS]


def expected_interval(gaps: np.ndarray, item_median: float) -> tuple[float, str] | None:
    """The interval rule: (days, "own" or "item"), or None when neither the customer nor the item has one.

    Parameters
    ----------
    gaps : numpy.ndarray
        The customer's `order_gaps` for the item (days).
    item_median : float
        The item's median interval across customers in days, NaN when it rests on too few.

    Returns
    -------
    tuple of (float, str) or None
        At least MIN_GAP_DAYS days, and what it rests on.
    """
    if len(gaps) >= MIN_OWN_INTERVALS:
        days, basis = float(np.median(gaps)), "own"
    elif np.isfinite(item_median):
        days, basis = float(item_median), "item"
    elif len(gaps):
        days, basis = float(gaps[0]), "own"
    else:
        return None
    return max(days, MIN_GAP_DAYS), basis


def item_medians(users: np.ndarray, items: np.ndarray, times: np.ndarray,
                 n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """Each item's median interval between one customer's orders, across customers.

    Parameters
    ----------
    users, items : numpy.ndarray
        int64 codes, one per purchase.
    times : numpy.ndarray
        float64 epoch seconds, one per purchase.
    n_items : int
        Item codes are below this.

    Returns
    -------
    median_days : numpy.ndarray
        float64 (n_items,): days, NaN with fewer than MIN_ITEM_INTERVALS intervals.
    count : numpy.ndarray
        int64 (n_items,): intervals behind each median.
    """
    order = np.lexsort((times, items, users))
    users, items, times = users[order], items[order], times[order]
    same = (users[1:] == users[:-1]) & (items[1:] == items[:-1])
    gaps = np.diff(times) / SECONDS_PER_DAY
    real = same & (gaps >= MIN_GAP_DAYS)
    gap_items, gaps = items[1:][real], gaps[real]
    count = np.bincount(gap_items, minlength=n_items).astype(np.int64)
    median = np.full(n_items, np.nan)
    if len(gaps):
        medians = pd.Series(gaps).groupby(gap_items).median()
        median[medians.index.to_numpy()] = medians.to_numpy()
    median[count < MIN_ITEM_INTERVALS] = np.nan
    return median, count


@dataclass
class PurchaseIndex:
    """Training purchases per customer, CSR-like.

    Attributes
    ----------
    indptr : numpy.ndarray
        int64 (users + 1,): customer u's items are items[indptr[u]:indptr[u + 1]].
    items : numpy.ndarray
        int64 (pairs,): item codes bought, ascending within a customer.
    start : numpy.ndarray
        int64 (pairs + 1,): pair p's purchase times are times[start[p]:start[p + 1]].
    times : numpy.ndarray
        float64 (purchases,): epoch seconds, ascending within a pair.
    item_median : numpy.ndarray
        float64 (items,): each item's median interval in days (`item_medians`), NaN where unknown.
    """

    indptr: np.ndarray
    items: np.ndarray
    start: np.ndarray
    times: np.ndarray
    item_median: np.ndarray

    @classmethod
    def build(cls, events: EventTable, users: IdMap, items: IdMap) -> PurchaseIndex:
        """The purchases of `events` (recommender.baskets.BOUGHT_TYPES) by customers and items of the maps;
        others are skipped."""
        bought = events.take(bought_mask(events.types))
        user_codes, item_codes = users.lookup(bought.user_ids), items.lookup(bought.item_ids)
        known = (user_codes >= 0) & (item_codes >= 0)
        user_codes, item_codes, times = user_codes[known], item_codes[known], bought.timestamps[known]
        order = np.lexsort((times, item_codes, user_codes))
        user_codes, item_codes, times = user_codes[order], item_codes[order], times[order].astype(np.float64)
        new_pair = np.ones(len(order), dtype=bool)
        new_pair[1:] = (user_codes[1:] != user_codes[:-1]) | (item_codes[1:] != item_codes[:-1])
        first = np.flatnonzero(new_pair)
        pair_users = user_codes[first]
        indptr = np.zeros(len(users) + 1, dtype=np.int64)
        np.cumsum(np.bincount(pair_users, minlength=len(users)), out=indptr[1:])
        median, _ = item_medians(user_codes, item_codes, times, len(items))
        return cls(indptr, item_codes[first].astype(np.int64), np.append(first, len(order)).astype(np.int64),
                   times, median)

    @property
    def n_users(self) -> int:
        return len(self.indptr) - 1

    def bought(self, user: int) -> np.ndarray:
        """int64 item codes the customer (a user code) bought at training; none for a code outside the index."""
        if not 0 <= user < self.n_users:
            return self.items[:0]
        return self.items[self.indptr[user]:self.indptr[user + 1]]

    def purchase_times(self, user: int, item: int) -> np.ndarray:
        """float64 epoch seconds of the customer's training purchases of the item (empty if none)."""
        mine = self.bought(user)
        position = int(np.searchsorted(mine, item))
        if position == len(mine) or mine[position] != item:
            return self.times[:0]
        pair = int(self.indptr[user]) + position
        return self.times[self.start[pair]:self.start[pair + 1]]

    def due(self, user: int, purchases: Mapping[int, Sequence[float]]) -> dict[int, float]:
        """When each item bought since training is due again, by the interval rule.

        Parameters
        ----------
        user : int
            The customer's user code, or -1 for a customer unknown at training.
        purchases : mapping of int to sequence of float
            Item code -> epoch seconds of the customer's purchases of it since training.

        Returns
        -------
        dict of int to float
            Item code -> the latest purchase plus the expected interval, in epoch seconds; inf
            when no interval is known (bought once, and the item's median rests on too few).
        """
        out: dict[int, float] = {}
        for item, since in purchases.items():
            if not len(since):
                continue
            times = np.concatenate([self.purchase_times(user, item), np.asarray(since, dtype=np.float64)])
            median = self.item_median[item] if 0 <= item < len(self.item_median) else np.nan
            interval = expected_interval(order_gaps(times), median)
            out[item] = float(times.max()) + interval[0] * SECONDS_PER_DAY if interval else float("inf")
        return out

    def state(self) -> dict[str, np.ndarray]:
        """The arrays that describe the index (for artifacts)."""
        return {name: getattr(self, name) for name in _STATE}

    @classmethod
    def from_state(cls, state: Mapping[str, np.ndarray]) -> PurchaseIndex:
        try:
            return cls(*(state[name] for name in _STATE))
        except KeyError as exc:
            raise ArtifactError(f"artifact lacks purchase array {exc}") from None
