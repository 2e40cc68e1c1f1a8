"""Sparse (row, item) pairs: the basket models score a few hundred candidate items per customer
instead of every item of the catalog, and these are the row-wise operations they need.

A set of pairs is held as flat arrays sorted by row, then item, and addressed by one int64 key per
pair, ``row * n_items + item`` (no overflow below 9.2e18 / n_items rows), so membership and lookups
are a sort and a binary search, with no Python loop over rows.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix


def pair_keys(rows: np.ndarray, items: np.ndarray, n_items: int) -> np.ndarray:
    """int64 keys ``rows * n_items + items`` (rows and items int arrays of one shape)."""
    return np.asarray(rows, dtype=np.int64) * np.int64(max(n_items, 1)) + np.asarray(items, dtype=np.int64)


def csr_keys(matrix: csr_matrix) -> np.ndarray:
    """int64 keys of a CSR matrix's stored entries, in storage order (sorted when its indices are)."""
    rows = np.repeat(np.arange(matrix.shape[0], dtype=np.int64), np.diff(matrix.indptr))
    return pair_keys(rows, matrix.indices, matrix.shape[1])


def distinct(keys: np.ndarray) -> np.ndarray:
    """The distinct keys, ascending (a sort; numpy.unique hashes, which is slower on large int64 arrays)."""
    keys = np.sort(keys)
    return keys[np.r_[True, keys[1:] != keys[:-1]]] if len(keys) else keys


def lookup(sorted_keys: np.ndarray, values: np.ndarray, keys: np.ndarray, default: float = 0.0) -> np.ndarray:
    """`values` at `keys` (values[i] belongs to sorted_keys[i], keys ascending and unique), `default`
    where a key is absent; the result has the dtype of `values`."""
    out = np.full(len(keys), default, dtype=values.dtype)
    if len(sorted_keys) == 0 or len(keys) == 0:
        return out
    at = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    found = sorted_keys[at] == keys
    out[found] = values[at[found]]
    return out


def contains(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """bool per key: whether it is in `sorted_keys` (ascending)."""
    if len(sorted_keys) == 0:
        return np.zeros(len(keys), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return sorted_keys[at] == keys


def row_max(matrix: csr_matrix) -> np.ndarray:
    """The largest stored value of each row of a CSR matrix, 0 for an empty row (values' dtype)."""
    out = np.zeros(matrix.shape[0], dtype=matrix.dtype)
    lengths = np.diff(matrix.indptr)
    filled = np.flatnonzero(lengths)
    if len(filled):
        out[filled] = np.maximum.reduceat(matrix.data, matrix.indptr[:-1][filled])
    return out


def rank_in_row(rows: np.ndarray) -> np.ndarray:
    """int64 per entry: its 0-based position among the entries of its row (`rows` sorted)."""
    n = len(rows)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    lengths = np.diff(np.r_[starts, n])
    return np.arange(n, dtype=np.int64) - np.repeat(starts, lengths)


def top_in_rows(lengths: np.ndarray, values: np.ndarray, k: int) -> np.ndarray:
    """Which entries are among the `k` largest of their row; ties go to the earlier entry.

    Parameters
    ----------
    lengths : numpy.ndarray
        int, shape (rows,): entries per row; `values` holds row 0's entries, then row 1's, ...
    values : numpy.ndarray
        float, shape (entries,): finite.
    k : int

    Returns
    -------
    numpy.ndarray
        bool, shape (entries,): min(k, length) entries of each row are true.

    Each row longer than k gets one numpy.partition of its own entries (a thin loop over rows: one C
    call each, cheaper than padding rows of unequal length into one array); the rest is linear
    passes over the entries, where a sort by (row, value) is not linear.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    values = np.asarray(values)
    if k <= 0:
        return np.zeros(len(values), dtype=bool)
    long_rows = np.flatnonzero(lengths > k)
    if len(long_rows) == 0:
        return np.ones(len(values), dtype=bool)
    starts = np.cumsum(lengths) - lengths
    threshold = np.full(len(lengths), -np.inf, dtype=values.dtype)  # short rows keep every entry
    for row, start, length in zip(long_rows.tolist(), starts[long_rows].tolist(), lengths[long_rows].tolist()):
        threshold[row] = np.partition(values[start:start + length], length - k)[length - k]
    entry_row = np.repeat(np.arange(len(lengths)), lengths)
    limit = threshold[entry_row]
    keep = values > limit
    # the k-th largest value's ties fill what is left of k, earliest first
    tied = np.flatnonzero(values == limit)
    if len(tied):
        room = k - np.bincount(entry_row[keep], minlength=len(lengths))
        tied_rows = entry_row[tied]
        keep[tied[rank_in_row(tied_rows) < room[tied_rows]]] = True
    return keep


def smallest_in_rows(values: np.ndarray, k: int) -> np.ndarray:
    """bool, the shape of the 2-D `values`: each row's k smallest (1 <= k <= columns), ties to the
    lower column (one partial sort per row, where a plain ``argpartition`` picks among ties arbitrarily)."""
    kth = np.partition(values, k - 1, axis=1)[:, k - 1:k]
    chosen = values < kth
    room = k - np.count_nonzero(chosen, axis=1)
    tied_rows, tied_columns = np.nonzero(values == kth)
    fits = rank_in_row(tied_rows) < room[tied_rows]
    chosen[tied_rows[fits], tied_columns[fits]] = True
    return chosen


def best_per_row(rows: np.ndarray, items: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of each row's `k` best pairs, ordered by row, then score descending, then item.

    Parameters
    ----------
    rows, items : numpy.ndarray
        int, shape (pairs,): sorted by row, then item.
    scores : numpy.ndarray
        float, shape (pairs,): no NaN.
    k : int
        pairs kept per row at most.

    Returns
    -------
    numpy.ndarray
        int64, shape (kept,): positions into the inputs, best first within each row.
    """
    rows = np.asarray(rows)
    lengths = np.diff(np.r_[np.searchsorted(rows, np.unique(rows)), len(rows)]) if len(rows) else np.zeros(0, int)
    kept = np.flatnonzero(top_in_rows(lengths, scores, k))
    order = np.lexsort((np.asarray(items)[kept], -np.asarray(scores, dtype=np.float64)[kept], rows[kept]))
    return kept[order]


def ranked_lists(rows: np.ndarray, items: np.ndarray, scores: np.ndarray, n_rows: int,
                 n: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's `n` best pairs as dense lists: ties keep the lower item first.

    Pairs with a score of -inf are never listed. Returns int64 ids and float32 scores of shape
    (n_rows, n), -1 and -inf where a row has fewer pairs.
    """
    ids = np.full((n_rows, n), -1, dtype=np.int64)
    out = np.full((n_rows, n), -np.inf, dtype=np.float32)
    finite = np.isfinite(scores)
    rows, items, scores = np.asarray(rows)[finite], np.asarray(items)[finite], np.asarray(scores)[finite]
    if n <= 0 or len(rows) == 0:
        return ids, out
    best = best_per_row(rows, items, scores, n)
    kept_rows = rows[best]
    column = rank_in_row(kept_rows)
    ids[kept_rows, column] = items[best]
    out[kept_rows, column] = scores[best]
    return ids, out


def fill_with_popular(ids: np.ndarray, scores: np.ndarray, popular: np.ndarray,
                      n: int) -> tuple[np.ndarray, np.ndarray]:
    """Ranked lists topped up to `n` items with popular items they lack, at score 0.

    Parameters
    ----------
    ids, scores : numpy.ndarray
        int64 and float32, shape (users, >= 0): each row's items best first, -1 (and a score of
        -inf) in the free places after them.
    popular : numpy.ndarray
        int64, shape (items,): the items a list may be topped up with, most popular first.
    n : int

    Returns
    -------
    (ids, scores) : tuple of numpy.ndarray
        int64 and float32, shape (users, n); -1 and -inf where the popular items run out.
    """
    width = min(ids.shape[1], n)
    out_ids = np.full((len(ids), n), -1, dtype=np.int64)
    out_scores = np.full((len(ids), n), -np.inf, dtype=np.float32)
    out_ids[:, :width], out_scores[:, :width] = ids[:, :width], scores[:, :width]
    listed = (out_ids >= 0) & np.isfinite(out_scores) & (out_scores > -1e30)
    out_ids[~listed], out_scores[~listed] = -1, -np.inf
    count = listed.sum(axis=1)
    short = np.flatnonzero(count < n)
    if len(short) == 0 or len(popular) == 0:
        return out_ids, out_scores
    reach = min(len(popular), 2 * n)  # a short row holds fewer than n items, so n + n popular ones suffice
    fill = np.broadcast_to(popular[:reach], (len(short), reach))
    mine = out_ids[short]
    span = int(max(popular.max(), mine.max())) + 1
    held = mine >= 0
    sorted_keys = np.sort(pair_keys(np.nonzero(held)[0], mine[held], span))
    fill_rows = np.repeat(np.arange(len(short)), reach)
    fresh = ~contains(sorted_keys, pair_keys(fill_rows, fill.ravel(), span)).reshape(fill.shape)
    place = count[short][:, None] + np.cumsum(fresh, axis=1) - 1
    use = fresh & (place < n)
    rows = np.repeat(short, reach).reshape(fill.shape)
    out_ids[rows[use], place[use]] = fill[use]
    out_scores[rows[use], place[use]] = 0.0
    return out_ids, out_scores
