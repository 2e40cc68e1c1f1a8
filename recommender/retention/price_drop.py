"""Price drop: customers who looked at an item that is now cheaper than when they last looked.

The trigger follows the price-drop flows of email platforms (Klaviyo's "Price Drop" flow: customers who viewed
an item whose price has since fallen by a threshold): a customer who viewed or carted an item within the
window, whose current price is at least `min_drop_pct` below its price at their last view or cart, and who has
not bought it since, hears about it.

An item's price history is a list of (epoch seconds, unit price, currency) changes, oldest first (the service
keeps one per item: service.store.prices); the price at a time is the newest change at or before it, the
current price the price at `now`. A price in another currency than the one the customer saw is not compared.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from recommender.catalog import ItemAttributes
from recommender.filters import ItemFilter
from recommender.retention.campaigns import CHUNK, CampaignRows
from recommender.retention.history import History, type_code
from recommender.retention.pairs import LeaveOut, done_since, last_by_key, left_out_mask, pair_keys, split_keys, user_spans
from recommender.retention.ranking import BlockItem, block_items, item_mask
from recommender.units import SECONDS_PER_DAY

#: Event types whose price the customer saw.
LOOK_TYPES = ("view", "add_to_cart")


@dataclass
class PriceDrop:
    user_id: str
    items: list[BlockItem] = field(default_factory=list)  # score: drop fraction; extra: old_price, price, drop_pct


@dataclass(frozen=True)
class Drops:
    """Every price-drop pair, by user then biggest drop first; arrays of one length."""

    users: np.ndarray  # int64 history user codes
    items: np.ndarray  # int64 history item codes
    looked_at: np.ndarray  # float64 epoch seconds of the customer's last view or cart
    old_prices: np.ndarray  # float64 unit price at that time
    prices: np.ndarray  # float64 current unit price

    @property
    def drop_pct(self) -> np.ndarray:
        return 100.0 * (self.old_prices - self.prices) / self.old_prices

    def take(self, keep: np.ndarray) -> Drops:
        return Drops(self.users[keep], self.items[keep], self.looked_at[keep], self.old_prices[keep],
                     self.prices[keep])


def price_drops(history: History, changes: Mapping[str, Sequence[tuple[float, float, str | None]]], now: float,
                within_days: float, min_drop_pct: float) -> Drops:
    """Every (customer, item) whose last view or cart up to `now` lies in `now - within_days`..`now` and whose current price
    is at least `min_drop_pct` percent below the price then, not bought at or after that look.

    Parameters
    ----------
    changes : mapping item id -> sequence of (epoch seconds, unit price, currency or None)
        Price changes per item, oldest first (items without any cannot have dropped).
    """
    names = list(changes)
    codes = history.items.lookup(names) if history.n_items else np.full(len(names), -1)
    # only looks in the window at items whose price moved: a small share of the events, taken before any sort
    changed = np.zeros(history.n_items, dtype=bool)
    changed[codes[codes >= 0]] = True
    stamps = history.timestamps
    positions = np.flatnonzero((stamps >= now - within_days * SECONDS_PER_DAY) & (stamps <= now))
    positions = positions[changed[history.item_codes[positions]]
                          & np.isin(history.types[positions], [type_code(t) for t in LOOK_TYPES])]
    keys, looked = last_by_key(pair_keys(history, positions), history.timestamps[positions])
    users, items = split_keys(history, keys)
    old = np.full(len(keys), np.nan)
    new = np.full(len(keys), np.nan)
    by_item = np.argsort(items, kind="stable")
    sorted_items = items[by_item]
    for item_id, code in zip(names, codes.tolist()):
        steps = changes[item_id]
        mine = by_item[np.searchsorted(sorted_items, code, "left"):np.searchsorted(sorted_items, code, "right")]
        if code < 0 or not steps or not len(mine):
            continue
        at = np.array([s[0] for s in steps], dtype=np.float64)
        price = np.array([s[1] for s in steps], dtype=np.float64)
        currency = np.array([s[2] or "" for s in steps], dtype=object)
        current = int(np.searchsorted(at, now, side="right")) - 1
        if current < 0:
            continue
        then = np.searchsorted(at, looked[mine], side="right") - 1
        same = (then >= 0) & (currency[np.maximum(then, 0)] == currency[current])
        old[mine[same]] = price[then[same]]
        new[mine] = price[current]
    with np.errstate(invalid="ignore", divide="ignore"):
        pct = 100.0 * (old - new) / old
    keep = np.isfinite(pct) & (old > 0) & (pct >= min_drop_pct)
    keep[keep] = ~done_since(history, keys[keep], looked[keep], ("purchase",))
    drops = Drops(users[keep], items[keep], looked[keep], old[keep], new[keep])
    return drops.take(np.lexsort((drops.items, -drops.drop_pct, drops.users)))


def price_drop(history: History, attrs: ItemAttributes, changes: Mapping[str, Sequence[tuple[float, float, str | None]]],
               now: float, within_days: float, min_drop_pct: float, n: int, item_filter: ItemFilter | None = None,
               chunk: int = CHUNK, leave_out: LeaveOut = ()) -> CampaignRows:
    """Every customer not in `leave_out` with price drops on items that pass the filter, `chunk` customers per
    list, each with at most `n` items, biggest drop first (`price_drops` selects them).

    Returns
    -------
    CampaignRows
        Iterates over lists of PriceDrop, in user id order; `left_out` counts customers in `leave_out`.
    """
    item_filter = item_filter or ItemFilter()
    drops = price_drops(history, changes, now, within_days, min_drop_pct)
    drops = drops.take(item_mask(item_filter, attrs, history)[drops.items])
    distinct = np.unique(drops.users)
    skip_users = distinct[left_out_mask(history.users.ids[distinct], leave_out)]
    drops = drops.take(~np.isin(drops.users, skip_users))
    return CampaignRows(_rows(history, attrs, drops, n, chunk), len(skip_users))


def _rows(history: History, attrs: ItemAttributes, drops: Drops, n: int, chunk: int) -> Iterator[list[PriceDrop]]:
    starts, ends = user_spans(drops.users)
    pct = drops.drop_pct
    for first in range(0, len(starts), chunk):
        rows = []
        for lo, hi in zip(starts[first:first + chunk].tolist(), ends[first:first + chunk].tolist()):
            hi = min(hi, lo + n)
            extras = [{"old_price": float(o), "price": float(p), "drop_pct": round(float(d), 2),
                       "looked_at": float(t)}
                      for o, p, d, t in zip(drops.old_prices[lo:hi], drops.prices[lo:hi], pct[lo:hi],
                                            drops.looked_at[lo:hi])]
            rows.append(PriceDrop(str(history.users.ids[int(drops.users[lo])]),
                                  block_items(drops.items[lo:hi], pct[lo:hi] / 100.0, history.items.ids, attrs,
                                              extras)))
        yield rows
