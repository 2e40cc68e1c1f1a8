"""What the trigger campaigns share: (customer, item) pairs as int64 keys, the newest event per pair,
"bought since", the contact cap's mask, and in-stock alternatives from the model's similar items.

A pair key is `user_code * width + item_code` over a History (width: its item count), so a million
customers' pairs are one sorted int64 array and "did they buy it after" is one searchsorted.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

import numpy as np

from recommender.catalog import ItemAttributes
from recommender.filters import ItemFilter
from recommender.models import Recommender
from recommender.retention.history import History, type_code
from recommender.retention.ranking import top_ranked


def pair_keys(history: History, positions: np.ndarray) -> np.ndarray:
    """int64 pair keys (user_code * width + item_code) of the events at `positions`."""
    width = max(history.n_items, 1)
    return history.user_codes[positions].astype(np.int64) * width + history.item_codes[positions]


def split_keys(history: History, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(user codes, item codes) of pair keys, int64 each."""
    width = max(history.n_items, 1)
    return keys // width, keys % width


def last_by_key(keys: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct keys and the newest time of each (shape (distinct,) each)."""
    if not len(keys):
        return keys, times
    order = np.lexsort((times, keys))
    keys, times = keys[order], times[order]
    ends = np.concatenate([np.flatnonzero(np.diff(keys)), [len(keys) - 1]])
    return keys[ends], times[ends]


def done_since(history: History, keys: np.ndarray, since: np.ndarray, types: Sequence[str]) -> np.ndarray:
    """bool per pair key: the customer has an event of one of `types` with the item at or after `since`
    (epoch seconds, one per key); every event of the index counts, whatever the campaign's `now`."""
    positions = np.flatnonzero(np.isin(history.types, [type_code(t) for t in types]))
    return newer_than(*last_by_key(pair_keys(history, positions), history.timestamps[positions]), keys, since)


def newer_than(sorted_keys: np.ndarray, newest: np.ndarray, keys: np.ndarray, since: np.ndarray) -> np.ndarray:
    """bool per key of `keys`: it is in `sorted_keys` (distinct, sorted) with a `newest` time at or after its
    `since` (epoch seconds)."""
    if not len(sorted_keys) or not len(keys):
        return np.zeros(len(keys), dtype=bool)
    where = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return (sorted_keys[where] == keys) & (newest[where] >= since)


#: Customers a campaign skips however well they fit: a collection of user ids (the service's contact cap), or a
#: function from an object array of user ids, shape (m,), to a bool array, shape (m,), True for those to skip
#: (the service's experiments: the customers another variant serves).
LeaveOut = Collection[str] | Callable[[np.ndarray], np.ndarray]


def left_out_mask(user_ids: np.ndarray, leave_out: LeaveOut) -> np.ndarray:
    """Which of `user_ids` (object array, shape (m,)) `leave_out` skips: bool array, shape (m,)."""
    if not len(user_ids):
        return np.zeros(0, dtype=bool)
    if callable(leave_out):
        return np.asarray(leave_out(user_ids), dtype=bool)
    if not leave_out:
        return np.zeros(len(user_ids), dtype=bool)
    return np.isin(user_ids, np.asarray(list(leave_out), dtype=object))


def user_spans(users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end positions of each run of equal values in a user-sorted array."""
    if not len(users):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    starts = np.concatenate([[0], np.flatnonzero(np.diff(users)) + 1])
    return starts, np.concatenate([starts[1:], [len(users)]])


def alternatives(model: Recommender | None, history: History, attrs: ItemAttributes, seeds: list[np.ndarray],
                 owned: list[np.ndarray], n: int, allowed: np.ndarray,
                 item_filter: ItemFilter) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per row, the best `n` in-stock items similar to its seed items (history item codes) by the model's
    similar items (a candidate's score: its best similarity to any seed), never a seed or an `owned` item,
    with the filter's category cap; one batched similar-items call for the whole list of rows.

    Parameters
    ----------
    seeds, owned : list of int arrays
        History item codes per row (a row: one customer).
    allowed : bool array, shape (history items,)
        What the request's filters let through (alternatives must also be in stock).

    Returns
    -------
    list of (ids, scores)
        Per row, int64 history item codes and float32 scores, best first, at most `n`.
    """
    empty = (np.zeros(0, np.int64), np.zeros(0, np.float32))
    if model is None or n <= 0 or not seeds:
        return [empty] * len(seeds)
    to_model = history.model_index(model.item_ids)
    unique = np.unique(np.concatenate(seeds)) if seeds else np.zeros(0, np.int64)
    unique = unique[to_model[unique] >= 0]
    if not len(unique):
        return [empty] * len(seeds)
    ask = n + max((len(o) for o in owned), default=0) + max((len(s) for s in seeds), default=0)
    stock_filter = ItemFilter(kind=item_filter.kind, category=item_filter.category, in_stock_only=True,
                              exclude=item_filter.exclude)
    ids, scores = model.similar_indices(to_model[unique], ask, stock_filter)
    # model indices are history codes for the model's items (History.build extends the model's map)
    in_stock = allowed & attrs.in_stock
    row_of = {int(code): row for row, code in enumerate(unique.tolist())}
    out = []
    for seed, had in zip(seeds, owned):
        rows = [row_of[int(s)] for s in seed.tolist() if int(s) in row_of]
        if not rows:
            out.append(empty)
            continue
        cand, vals = ids[rows].ravel(), scores[rows].ravel()
        keep = (cand >= 0) & ~np.isin(cand, seed) & ~np.isin(cand, had)
        cand, vals = cand[keep], vals[keep]
        best_first = np.lexsort((cand, -vals))
        cand, first = np.unique(cand[best_first], return_index=True)  # each item once, at its best score
        vals = vals[best_first][first]
        out.append(top_ranked(cand, vals, in_stock, attrs.category, item_filter.max_per_category, n))
    return out
