"""Purchase baskets: each customer's purchases grouped by calendar day, in time order.

The next-basket literature (TIFU-KNN, Hu et al., SIGIR 2020; "A Next Basket Recommendation
Reality Check", Li et al., ACM TOIS 2023) treats one customer's purchases on one day as a basket
of distinct items; the repeat-aware models and the next-basket metrics work on these sequences.

Only purchases count as "bought" (`BOUGHT_TYPES`): a repeat purchase is a statement about
consumption (the pack ran out), which views, carts and impressions are not. A viewed item is
interest, not a need to restock; a cart that was bought shows up as its purchase, and one that was
abandoned is the abandoned-cart campaign's business. Reviews follow a purchase that is already
counted, at a later time that would misplace the basket.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix

from recommender.errors import InputError
from recommender.events import EVENT_TYPES, EventTable
from recommender.units import SECONDS_PER_DAY
from recommender.ids import IdMap

#: Event types whose items count as bought for repeat scoring (see the module docstring).
BOUGHT_TYPES: tuple[str, ...] = ("purchase",)


@dataclass
class Baskets:
    """Every customer's baskets, oldest first, as CSR-style offsets.

    Attributes
    ----------
    user_start : numpy.ndarray
        int64, shape (users + 1,): the baskets of user code u are ``user_start[u]:user_start[u + 1]``.
    basket_start : numpy.ndarray
        int64, shape (baskets + 1,): the items of basket b are ``items[basket_start[b]:basket_start[b + 1]]``.
    items : numpy.ndarray
        int32, shape (basket items,): item codes, distinct and ascending within a basket.
    days : numpy.ndarray
        int64, shape (baskets,): the basket's day, in whole days since the epoch (UTC).
    n_items : int
        the size of the item code space.
    """

    user_start: np.ndarray
    basket_start: np.ndarray
    items: np.ndarray
    days: np.ndarray
    n_items: int

    @property
    def n_users(self) -> int:
        return len(self.user_start) - 1

    @property
    def n_baskets(self) -> int:
        return len(self.days)

    def per_user(self) -> np.ndarray:
        """int64, shape (users,): how many baskets each user has."""
        return np.diff(self.user_start)

    def basket_user(self) -> np.ndarray:
        """int64, shape (baskets,): the user code of each basket."""
        return np.repeat(np.arange(self.n_users, dtype=np.int64), self.per_user())

    def basket_position(self) -> np.ndarray:
        """int64, shape (baskets,): 0 for a user's oldest basket, 1 for the next, ..."""
        return np.arange(self.n_baskets, dtype=np.int64) - np.repeat(self.user_start[:-1], self.per_user())

    def item_basket(self) -> np.ndarray:
        """int64, shape (basket items,): the basket index of each entry of `items`."""
        return np.repeat(np.arange(self.n_baskets, dtype=np.int64), np.diff(self.basket_start))

    def last_baskets(self, users: np.ndarray) -> csr_matrix:
        """Binary float32 matrix, shape (len(users), n_items): each given user's newest basket (empty if none)."""
        users = np.asarray(users, dtype=np.int64)
        has = self.user_start[users + 1] > self.user_start[users]
        last = self.user_start[users + 1] - 1
        starts = np.where(has, self.basket_start[np.maximum(last, 0)], 0)
        ends = np.where(has, self.basket_start[np.maximum(last, 0) + 1], 0)
        return _rows_from_ranges(self.items, starts, ends, self.n_items)

    def without_last(self, users: np.ndarray) -> Baskets:
        """The same baskets with the newest basket of each of `users` removed."""
        users = np.unique(np.asarray(users, dtype=np.int64))
        users = users[self.user_start[users + 1] > self.user_start[users]]
        keep_basket = np.ones(self.n_baskets, dtype=bool)
        keep_basket[self.user_start[users + 1] - 1] = False
        return self.take_baskets(keep_basket)

    def take_baskets(self, keep: np.ndarray) -> Baskets:
        """Only the baskets where the boolean `keep` (shape (baskets,)) is true; users keep their codes."""
        counts = np.bincount(self.basket_user()[keep], minlength=self.n_users)
        sizes = np.diff(self.basket_start)[keep]
        return Baskets(
            user_start=np.r_[0, np.cumsum(counts)].astype(np.int64),
            basket_start=np.r_[0, np.cumsum(sizes)].astype(np.int64),
            items=self.items[np.repeat(keep, np.diff(self.basket_start))],
            days=self.days[keep], n_items=self.n_items,
        )


def _rows_from_ranges(values: np.ndarray, starts: np.ndarray, ends: np.ndarray, n_cols: int) -> csr_matrix:
    """A binary CSR matrix whose row r holds ``values[starts[r]:ends[r]]``."""
    lengths = ends - starts
    offsets = np.repeat(starts - np.r_[0, np.cumsum(lengths)[:-1]], lengths)
    columns = values[np.arange(lengths.sum()) + offsets]
    return csr_matrix((np.ones(len(columns), dtype=np.float32), columns, np.r_[0, np.cumsum(lengths)]),
                      shape=(len(starts), n_cols))


def baskets_from_codes(user_codes: np.ndarray, item_codes: np.ndarray, timestamps: np.ndarray,
                       n_users: int, n_items: int) -> Baskets:
    """Group purchases into baskets: one per (user, UTC day), distinct items.

    Parameters
    ----------
    user_codes, item_codes : numpy.ndarray
        int, shape (purchases,): codes in [0, n_users) and [0, n_items).
    timestamps : numpy.ndarray
        float64, shape (purchases,): epoch seconds.
    n_users, n_items : int
        the code spaces (users without purchases get no baskets).

    Raises
    ------
    InputError
        a code is outside its space or a timestamp is not finite.
    """
    user_codes = np.asarray(user_codes, dtype=np.int64)
    item_codes = np.asarray(item_codes, dtype=np.int64)
    timestamps = np.asarray(timestamps, dtype=np.float64)
    if not len(user_codes) == len(item_codes) == len(timestamps):
        raise InputError("user codes, item codes and timestamps must have the same length")
    if len(user_codes) and (user_codes.min() < 0 or user_codes.max() >= n_users
                            or item_codes.min() < 0 or item_codes.max() >= n_items):
        raise InputError("a user or item code is outside the model's maps")
    if not np.isfinite(timestamps).all():
        raise InputError("purchase timestamps must be finite epoch seconds")
    days = np.floor(timestamps / SECONDS_PER_DAY).astype(np.int64)
    frame = pd.DataFrame({"u": user_codes, "d": days, "i": item_codes}).drop_duplicates()
    frame = frame.sort_values(["u", "d", "i"], kind="stable")
    u, d, i = (frame[c].to_numpy(np.int64) for c in ("u", "d", "i"))
    new_basket = np.ones(len(u), dtype=bool)
    if len(u):
        new_basket[1:] = (u[1:] != u[:-1]) | (d[1:] != d[:-1])
    starts = np.flatnonzero(new_basket)
    basket_users = u[starts]
    return Baskets(
        user_start=np.r_[0, np.cumsum(np.bincount(basket_users, minlength=n_users))].astype(np.int64),
        basket_start=np.r_[starts, len(u)].astype(np.int64),
        items=i.astype(np.int32), days=d[starts], n_items=n_items,
    )


def bought_mask(types: np.ndarray) -> np.ndarray:
    """bool, shape (events,): which event type codes (int8, into EVENT_TYPES) count as bought."""
    return np.isin(types, [EVENT_TYPES.index(t) for t in BOUGHT_TYPES])


def baskets_from_events(events: EventTable, users: IdMap, items: IdMap) -> Baskets:
    """The purchase baskets of every user in `users`, over the items of `items`.

    Events of other types (`BOUGHT_TYPES`) and ids missing from the maps are ignored.
    """
    bought = events.take(bought_mask(events.types))
    user_codes = users.lookup(bought.user_ids)
    item_codes = items.lookup(bought.item_ids)
    known = (user_codes >= 0) & (item_codes >= 0)
    return baskets_from_codes(user_codes[known], item_codes[known], bought.timestamps[known],
                              len(users), len(items))


def history_baskets(item_codes: np.ndarray, n_items: int, timestamps: np.ndarray | None = None,
                    bought: np.ndarray | None = None) -> Baskets:
    """One customer's baskets from a plain history (fold-in of a customer unseen at training).

    Parameters
    ----------
    item_codes : numpy.ndarray
        int, shape (events,): item codes (negative codes, unknown items, are skipped).
    timestamps : numpy.ndarray, optional
        float64 epoch seconds per event; without them the whole history is one basket.
    bought : numpy.ndarray, optional
        bool per event, whether it was a purchase; without it every event counts as bought.
    """
    item_codes = np.asarray(item_codes, dtype=np.int64)
    keep = item_codes >= 0
    if bought is not None:
        keep &= np.asarray(bought, dtype=bool)
    stamps = np.zeros(len(item_codes)) if timestamps is None else np.asarray(timestamps, dtype=np.float64)
    if len(stamps) != len(item_codes):
        raise InputError("timestamps must give one epoch time per history item")
    return baskets_from_codes(np.zeros(int(keep.sum()), dtype=np.int64), item_codes[keep], stamps[keep], 1, n_items)
