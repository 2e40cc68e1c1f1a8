"""Back in stock: customers who showed interest in an item while it was out of stock, now that it is back.

The trigger follows the back-in-stock flows of email platforms (Klaviyo's "Back in Stock" flow, Shopify's
restock alerts): a customer who viewed, carted or asked to be told (`notify_me`) about an item while it
was out of stock, within the window, hears about it once it is in stock again, unless they bought it
since. Each line also carries in-stock alternatives from the model's similar items.

An item's stock history is a list of (epoch seconds, in stock) changes, oldest first (the service keeps
one per item: service.store.stock); it is out of stock from a change to False until the next change to
True. A `notify_me` counts whenever it came (the request itself says the item was out); a view or cart
counts only inside an out-of-stock period. The item must be in stock now (the current catalog).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from recommender.catalog import ItemAttributes
from recommender.events import EVENT_TYPES
from recommender.filters import ItemFilter
from recommender.models import Recommender
from recommender.retention.campaigns import CHUNK, CampaignRows
from recommender.retention.history import History, type_code
from recommender.retention.pairs import (
    LeaveOut,
    alternatives,
    done_since,
    last_by_key,
    left_out_mask,
    pair_keys,
    split_keys,
    user_spans,
)
from recommender.retention.ranking import BlockItem, block_items, item_mask
from recommender.units import SECONDS_PER_DAY

#: Event types that show interest in an out-of-stock item.
INTEREST_TYPES = ("view", "add_to_cart", "notify_me")
#: Restocked items listed per customer, newest interest first.
MAX_RESTOCKED = 10


@dataclass
class BackInStock:
    user_id: str
    items: list[BlockItem] = field(default_factory=list)  # the restocked items; extra: interested_at, event
    recommended: list[BlockItem] = field(default_factory=list)  # in-stock alternatives (similar items)


def out_of_stock_periods(changes: Mapping[str, Sequence[tuple[float, bool]]],
                         history: History) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Out-of-stock periods of the items of `changes` that the index knows.

    Parameters
    ----------
    changes : mapping item id -> sequence of (epoch seconds, in stock)
        Each item's stock changes, oldest first.

    Returns
    -------
    (items, starts, ends)
        History item codes (int64) and the epoch seconds each period began and ended (float64; ends is
        inf while the item is still out of stock), one entry per period.
    """
    items, starts, ends = [], [], []
    names = list(changes)
    codes = history.items.lookup(names) if history.n_items else np.full(len(names), -1)
    for item_id, code in zip(names, codes.tolist()):
        steps = changes[item_id]
        if code < 0:
            continue
        start = None
        for at, in_stock in steps:
            if not in_stock and start is None:
                start = float(at)
            elif in_stock and start is not None:
                items.append(code), starts.append(start), ends.append(float(at))
                start = None
        if start is not None:
            items.append(code), starts.append(start), ends.append(np.inf)
    return (np.asarray(items, dtype=np.int64), np.asarray(starts, dtype=np.float64),
            np.asarray(ends, dtype=np.float64))


def interested_pairs(history: History, attrs: ItemAttributes, changes: Mapping[str, Sequence[tuple[float, bool]]],
                     now: float, within_days: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(user codes, item codes, newest interest time, its event type code) of every back-in-stock pair,
    by user then newest interest first: interest in the window while the item was out (see the module),
    the item in stock now, not bought at or after that interest."""
    positions = np.flatnonzero(np.isin(history.types, [type_code(t) for t in INTEREST_TYPES]))
    times = history.timestamps[positions]
    positions = positions[(times >= now - within_days * SECONDS_PER_DAY) & (times <= now)]
    items = history.item_codes[positions].astype(np.int64)
    available = attrs.in_stock[items] & attrs.known[items]
    positions, items = positions[available], items[available]
    asked = history.types[positions] == type_code("notify_me")
    inside = _while_out(items, history.timestamps[positions], *out_of_stock_periods(changes, history))
    keep = inside | asked
    positions = positions[keep]
    keys, last = last_by_key(pair_keys(history, positions), history.timestamps[positions])
    # the type of the newest counted event of each pair (events are sorted by user and time)
    newest = _newest_positions(history, positions, keys)
    keep = ~done_since(history, keys, last, ("purchase",))
    keys, last, newest = keys[keep], last[keep], newest[keep]
    users, items = split_keys(history, keys)
    order = np.lexsort((-last, users))
    return users[order], items[order], last[order], history.types[newest[order]]


def _while_out(items: np.ndarray, times: np.ndarray, p_items: np.ndarray, p_starts: np.ndarray,
               p_ends: np.ndarray) -> np.ndarray:
    """bool per event (item code, epoch seconds): it fell inside one of its item's out-of-stock periods.
    One vectorised pass per item that has periods (few: the items whose stock moved)."""
    inside = np.zeros(len(items), dtype=bool)
    if not len(p_items) or not len(items):
        return inside
    by_item = np.argsort(items, kind="stable")
    sorted_items = items[by_item]
    for item in np.unique(p_items).tolist():
        lo, hi = np.searchsorted(sorted_items, item, "left"), np.searchsorted(sorted_items, item, "right")
        if lo == hi:
            continue
        mine = p_items == item
        starts, ends = p_starts[mine], p_ends[mine]
        order = np.argsort(starts)
        starts, ends = starts[order], ends[order]
        where = by_item[lo:hi]
        j = np.searchsorted(starts, times[where], side="right") - 1
        inside[where] = (j >= 0) & (times[where] < ends[np.maximum(j, 0)])
    return inside


def _newest_positions(history: History, positions: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """For each sorted distinct pair key, the position (among `positions`) of its newest event."""
    if not len(positions):
        return positions
    all_keys = pair_keys(history, positions)
    order = np.lexsort((history.timestamps[positions], all_keys))
    sorted_keys = all_keys[order]
    ends = np.concatenate([np.flatnonzero(np.diff(sorted_keys)), [len(sorted_keys) - 1]])
    return positions[order][ends]


def back_in_stock(history: History, attrs: ItemAttributes, changes: Mapping[str, Sequence[tuple[float, bool]]],
                  model: Recommender | None, now: float, within_days: float, n: int,
                  item_filter: ItemFilter | None = None, chunk: int = CHUNK,
                  leave_out: LeaveOut = ()) -> CampaignRows:
    """Every customer not in `leave_out` with restocked items that pass the filter, `chunk` customers per list.

    Parameters
    ----------
    history : History
        Every event accepted (a `notify_me` is the explicit request).
    attrs : ItemAttributes
        The current catalog aligned to history item codes (in_stock: in stock now).
    changes : mapping item id -> sequence of (epoch seconds, in stock)
        Stock changes per item, oldest first.
    model : Recommender or None
        Gives the `n` in-stock alternatives per customer (similar items); None: none.
    now, within_days : float
        Epoch seconds and days: interest counts from `now - within_days` to `now`.

    Returns
    -------
    CampaignRows
        Iterates over lists of BackInStock, in user id order; `left_out` counts customers in `leave_out`.
    """
    item_filter = item_filter or ItemFilter()
    allowed = item_mask(item_filter, attrs, history)
    users, items, at, types = interested_pairs(history, attrs, changes, now, within_days)
    show = allowed[items]
    users, items, at, types = users[show], items[show], at[show], types[show]
    distinct = np.unique(users)
    skip_users = distinct[left_out_mask(history.users.ids[distinct], leave_out)]
    keep = ~np.isin(users, skip_users)
    return CampaignRows(_rows(history, attrs, model, users[keep], items[keep], at[keep], types[keep], n,
                              item_filter, allowed, chunk), len(skip_users))


def _rows(history: History, attrs: ItemAttributes, model: Recommender | None, users: np.ndarray, items: np.ndarray,
          at: np.ndarray, types: np.ndarray, n: int, item_filter: ItemFilter, allowed: np.ndarray,
          chunk: int) -> Iterator[list[BackInStock]]:
    starts, ends = user_spans(users)
    for first in range(0, len(starts), chunk):
        spans = list(zip(starts[first:first + chunk].tolist(), ends[first:first + chunk].tolist()))
        seeds = [items[lo:hi][:MAX_RESTOCKED] for lo, hi in spans]
        owned = [history.events_of(int(users[lo])).of_type("purchase").items for lo, _ in spans]
        alts = alternatives(model, history, attrs, seeds, owned, n, allowed, item_filter)
        rows = []
        for (lo, hi), seed, (alt_ids, alt_scores) in zip(spans, seeds, alts):
            extras = [{"interested_at": float(t), "event": EVENT_TYPES[int(c)]}
                      for t, c in zip(at[lo:lo + len(seed)], types[lo:lo + len(seed)])]
            rows.append(BackInStock(str(history.users.ids[int(users[lo])]),
                                    block_items(seed, np.ones(len(seed)), history.items.ids, attrs, extras),
                                    block_items(alt_ids, alt_scores, history.items.ids, attrs)))
        yield rows
