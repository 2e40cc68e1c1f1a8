"""Exact top-n items for many users from matrix-factorisation factors, faster than implicit's
batched `recommend`, in pure numpy/scipy.

implicit scores 100 users against every item at once (a 100 x items matrix that does not fit in
cache), masks each user's liked items in a Python loop and selects with a heap. Here:

* items are sorted once by the norm of their factors, largest first, and scored in chunks, so
  each `users x chunk` score block (one float32 sgemm) stays in cache;
* every user keeps a running top n and its n-th score as a threshold; a chunk only adds the
  scores above the threshold (one vectorised comparison), so selection costs little after the
  first chunk;
* the Cauchy-Schwarz bound `|u| * |v|` drops a user once no remaining item (their norms only
  decrease) can beat the user's threshold, so tail items are never scored for most users;
* already-liked items are masked for the whole block at once from the CSR rows.

Blocks of at most FEW_USERS users (the cache misses of one pass of the service's event loop) skip the
chunks: one product scores the first chunk, which gives each user a threshold (their n-th best score so
far), and each further product scores items the bound leaves in play for any of them, tightening the
thresholds as it goes; each user's top n are then the scores at or above their final threshold.

The result is exact: the same items as implicit's `recommend(..., N=n)` with
`filter_already_liked_items=True`, ties aside. Users with fewer than n candidate items get -1 ids
and -inf scores in the free places.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix

#: Users scored together: a 256 x 4096 float32 block is 4 MiB and stays in cache (implicit's
#: 100 users x 100k items is 40 MB and goes through main memory).
USER_BLOCK = 256
#: Items per chunk after the first; the first chunk is FIRST_CHUNK (at least 4 n) items.
ITEM_CHUNK = 4096
FIRST_CHUNK = 1024
#: float32 rounding can push a dot product a hair above |u| |v|; never stop early on that hair.
BOUND_SLACK = 1.0 + 1e-4
#: Blocks of at most this many users (a request's cache misses) score the items in play in two products and
#: select each user's top n above a threshold read off a sample of their scores (`_few`).
FEW_USERS = 16
#: `_few` scores at most this many times the items scored so far before it tightens each user's threshold
#: from what it has scored (so the bound leaves fewer items in play).
GROWTH = 8


@dataclass(frozen=True)
class Rows:
    """Some rows of a CSR matrix, as its `indptr` and `indices` (no values): the items each user has
    already interacted with, without the checks and copies of scipy's row indexing.

    Attributes
    ----------
    indptr : numpy.ndarray
        int, shape (rows + 1,), starting at 0.
    indices : numpy.ndarray
        int, shape (indptr[-1],): column indices of row r at indptr[r]:indptr[r + 1].
    """

    indptr: np.ndarray
    indices: np.ndarray

    @classmethod
    def of(cls, matrix: csr_matrix, rows: np.ndarray | None = None) -> "Rows":
        """`matrix`'s rows (int, shape (k,); all of them when None), in that order.

        Raises
        ------
        IndexError
            A row is out of range.
        """
        if rows is None:
            return cls(matrix.indptr, matrix.indices)
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) and (rows.min() < 0 or rows.max() >= matrix.shape[0]):
            raise IndexError("row out of range")
        starts, stops = matrix.indptr[rows], matrix.indptr[rows + 1]
        indptr = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(stops - starts, out=indptr[1:])
        if len(rows) == 1:
            return cls(indptr, matrix.indices[starts[0]:stops[0]])
        take = np.repeat(starts - indptr[:-1], stops - starts) + np.arange(indptr[-1])
        return cls(indptr, matrix.indices[take])

    @property
    def count(self) -> int:
        return len(self.indptr) - 1

    def slice(self, start: int, stop: int) -> "Rows":
        """Rows start to stop (exclusive)."""
        low, high = self.indptr[start], self.indptr[stop]
        return Rows(self.indptr[start:stop + 1] - low, self.indices[low:high])


class ItemScorer:
    """Item factors prepared for repeated top-n queries (sorted by norm, float32, contiguous).

    Parameters
    ----------
    item_factors : numpy.ndarray
        shape (items, factors), any float dtype (scored as float32).
    items : numpy.ndarray, optional
        int: restrict ranking to these item indices (a catalog filter); ids returned are always
        indices into the full `item_factors`.
    chunk, first_chunk : int
        Items per scored chunk after the first, and in the first.
    """

    def __init__(self, item_factors: np.ndarray, items: np.ndarray | None = None,
                 chunk: int = ITEM_CHUNK, first_chunk: int = FIRST_CHUNK) -> None:
        factors = np.asarray(item_factors, dtype=np.float32)
        self.n_items = factors.shape[0]
        candidates = np.arange(self.n_items) if items is None else np.unique(np.asarray(items, dtype=np.int64))
        norms = np.linalg.norm(factors[candidates], axis=1)
        order = np.argsort(-norms, kind="stable")
        #: position in the sorted order -> item index, and item index -> position (-1: not ranked)
        self.order = candidates[order]
        self.position = np.full(self.n_items, -1, dtype=np.int64)
        self.position[self.order] = np.arange(len(self.order))
        self.factors = np.ascontiguousarray(factors[self.order])
        self.norms = norms[order].astype(np.float32)
        self._descending = -self.norms  # ascending, for searchsorted
        self.chunk, self.first_chunk = chunk, first_chunk

    def __len__(self) -> int:
        return len(self.order)

    def top_n(self, user_factors: np.ndarray, liked: csr_matrix | Rows | None, n: int,
              block: int = USER_BLOCK, threads: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Best n items per user (rows of `user_factors`), best first; `liked` items are left out.

        Parameters
        ----------
        user_factors : numpy.ndarray
            shape (users, factors) or (factors,) for one user.
        liked : scipy.sparse.csr_matrix or Rows or None
            One row per user (the training rows, ``user_items[userids]`` or, cheaper for a few users,
            ``Rows.of(user_items, userids)``): its items are left out.
        n : int
        block : int
            Users scored together (blocks of at most FEW_USERS take `_few`).
        threads : int
            Above 1, user blocks are scored in parallel (numpy releases the GIL in the heavy parts).

        Returns
        -------
        (ids, scores) : tuple of numpy.ndarray
            int64 and float32, shape (users, n); ids -1 and scores -inf where a user has fewer than
            n candidates.

        Raises
        ------
        ValueError
            `liked` does not have one row per user.
        """
        users = np.asarray(user_factors, dtype=np.float32)
        if users.ndim == 1:
            users = users[None, :]
        if liked is not None and not isinstance(liked, Rows):
            liked = Rows.of(csr_matrix(liked))
        if liked is not None and liked.count != users.shape[0]:
            raise ValueError("liked must have one row per user")
        n_users = users.shape[0]
        ids = np.full((n_users, n), -1, dtype=np.int64)
        scores = np.full((n_users, n), -np.inf, dtype=np.float32)
        if n_users == 0 or n <= 0 or len(self) == 0:
            return ids, scores
        starts = range(0, n_users, block)

        def run(start: int) -> None:
            stop = min(start + block, n_users)
            rows = liked.slice(start, stop) if liked is not None else None
            ids[start:stop], scores[start:stop] = self._block(users[start:stop], rows, n)

        if threads > 1 and len(starts) > 1:
            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(run, starts))
        else:
            for start in starts:
                run(start)
        return ids, scores

    # -- one block of users ----------------------------------------------------------------------
    def _block(self, users: np.ndarray, liked: Rows | None, n: int) -> tuple[np.ndarray, np.ndarray]:
        n_users, n_ranked = users.shape[0], len(self)
        if n_users <= FEW_USERS:
            return self._few(users, liked, n)
        top_scores = np.full((n_users, n), -np.inf, dtype=np.float32)
        top_pos = np.full((n_users, n), -1, dtype=np.int64)
        threshold = np.full(n_users, -np.inf, dtype=np.float32)
        user_norms = np.linalg.norm(users, axis=1)
        liked_rows, liked_pos = self._liked(liked, n_users)

        active = np.arange(n_users)
        start = 0
        size = min(max(self.first_chunk, 4 * n), n_ranked)
        while start < n_ranked and len(active):
            # users whose best possible remaining score cannot beat their n-th are done
            still = user_norms[active] * (self.norms[start] * BOUND_SLACK) >= threshold[active]
            if not still.all():
                active = active[still]
                if not len(active):
                    break
            stop = min(start + size, n_ranked)
            block = users[active] @ self.factors[start:stop].T
            lo, hi = np.searchsorted(liked_pos, [start, stop])
            if hi > lo:
                slot = np.full(n_users, -1, dtype=np.int64)
                slot[active] = np.arange(len(active))
                where = slot[liked_rows[lo:hi]]
                keep = where >= 0
                block[where[keep], liked_pos[lo:hi][keep] - start] = -np.inf
            self._merge(block, active, start, threshold, top_scores, top_pos, n)
            start, size = stop, self.chunk

        order = np.argsort(-top_scores, axis=1, kind="stable")
        top_scores = np.take_along_axis(top_scores, order, axis=1)
        top_pos = np.take_along_axis(top_pos, order, axis=1)
        found = np.isfinite(top_scores)
        ids = np.where(found, self.order[np.maximum(top_pos, 0)], -1)
        return ids, np.where(found, top_scores, -np.inf).astype(np.float32)

    def _few(self, users: np.ndarray, liked: Rows | None, n: int) -> tuple[np.ndarray, np.ndarray]:
        """A few users (a pass's cache misses): the first chunk scored, then only items that the
        Cauchy-Schwarz bound leaves in play for some user, then each user's top n above their threshold.
        Each user's threshold (the n-th best score so far) is tightened after every product, and the
        next product covers at most GROWTH times the items scored so far, so the bound is applied with
        a threshold close to the final one: about 12,000 items scored for one user of 55,000 where the
        first chunk's threshold alone leaves 21,000 in play. For so few users the chunked merge of
        `_block` costs more in numpy calls than the scores its finer early stop saves. The products are
        taken as items x users: with a few users, OpenBLAS runs that shape faster than users x items
        (benchmarks/README.md, Serving)."""
        n_users, n_ranked = users.shape[0], len(self)
        first = min(max(self.first_chunk, 4 * n), n_ranked)
        rows, positions = self._liked(liked, n_users)
        reach = np.linalg.norm(users, axis=1) * BOUND_SLACK
        block = self._scored(users, 0, first, rows, positions)
        keep = min(n, first)
        threshold = np.partition(block, first - keep, axis=1)[:, first - keep]  # each user's n-th best so far
        with np.errstate(divide="ignore", invalid="ignore"):  # a user of zero factors: reach 0
            while True:
                # items whose norm is below threshold / |u| cannot beat it (norms are sorted, largest first)
                least = np.where(threshold > 0, threshold / reach, -np.inf)
                cut = np.maximum(np.searchsorted(self._descending, -least, side="right"), first)
                scored = block.shape[1]
                limit = int(cut.max())
                if limit <= scored:
                    break
                more = self._scored(users, scored, min(limit, GROWTH * scored), rows, positions)
                block = np.concatenate([block, more], axis=1)
                for row in range(n_users):  # the n-th best of all scored: among the scores at or above the old one
                    above = block[row][block[row] >= threshold[row]]
                    threshold[row] = np.partition(above, len(above) - keep)[len(above) - keep]
        # each threshold is now its user's n-th best score over every item in play: the top n are the
        # scores at or above it, ties by lower position first (a stable sort)
        ids = np.full((n_users, n), -1, dtype=np.int64)
        scores = np.full((n_users, n), -np.inf, dtype=np.float32)
        for row in range(n_users):
            candidates = np.flatnonzero(block[row, :cut[row]] >= threshold[row])
            best = candidates[np.argsort(-block[row, candidates], kind="stable")[:n]]
            found = best[np.isfinite(block[row, best])]
            ids[row, :len(found)] = self.order[found]
            scores[row, :len(found)] = block[row, found]
        return ids, scores

    def _scored(self, users: np.ndarray, start: int, stop: int, rows: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """users x (stop - start) float32 scores of the items at sorted positions start to stop, liked ones -inf
        (`rows`, `positions`: `_liked`'s)."""
        block = np.ascontiguousarray((self.factors[start:stop] @ users.T).T)
        inside = (positions >= start) & (positions < stop)
        block[rows[inside], positions[inside] - start] = -np.inf
        return block

    def _liked(self, liked: Rows | None, n_users: int) -> tuple[np.ndarray, np.ndarray]:
        """(row, sorted position) of every liked, ranked item in the block, by position."""
        if liked is None or len(liked.indices) == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        if n_users == 1:
            rows = np.zeros(len(liked.indices), dtype=np.int64)
        else:
            rows = np.repeat(np.arange(n_users), np.diff(liked.indptr))
        positions = self.position[liked.indices]
        ranked = positions >= 0
        rows, positions = rows[ranked], positions[ranked]
        order = np.argsort(positions, kind="stable")
        return rows[order], positions[order]

    @staticmethod
    def _merge(block: np.ndarray, active: np.ndarray, offset: int, threshold: np.ndarray,
               top_scores: np.ndarray, top_pos: np.ndarray, n: int) -> None:
        """Fold a users x chunk score block into the running top n of the `active` users."""
        width = block.shape[1]
        if offset == 0:  # the first chunk: a plain partial sort, nothing to merge with yet
            keep = min(n, width)
            best = np.argpartition(block, width - keep, axis=1)[:, width - keep:]
            top_scores[active, :keep] = np.take_along_axis(block, best, axis=1)
            top_pos[active, :keep] = best
            threshold[active] = top_scores[active].min(axis=1)
            return
        flat = np.flatnonzero(block > threshold[active][:, None])
        if not len(flat):
            return
        r, c = np.divmod(flat, width)
        counts = np.bincount(r, minlength=len(active))
        hit = np.flatnonzero(counts)
        local = (np.cumsum(counts > 0) - 1)[r]
        first = np.cumsum(counts) - counts
        # candidates per row: the current top n, then this chunk's scores above the threshold
        extra = int(counts.max())
        users = active[hit]
        cand_scores = np.full((len(hit), n + extra), -np.inf, dtype=np.float32)
        cand_pos = np.full((len(hit), n + extra), -1, dtype=np.int64)
        cand_scores[:, :n] = top_scores[users]
        cand_pos[:, :n] = top_pos[users]
        col = n + np.arange(len(r)) - first[r]
        cand_scores[local, col] = block.ravel()[flat]
        cand_pos[local, col] = c + offset
        best = np.argpartition(cand_scores, extra, axis=1)[:, extra:]
        cand_scores = np.take_along_axis(cand_scores, best, axis=1)
        top_scores[users] = cand_scores
        top_pos[users] = np.take_along_axis(cand_pos, best, axis=1)
        threshold[users] = cand_scores.min(axis=1)


def top_n(user_factors: np.ndarray, item_factors: np.ndarray, liked_rows: csr_matrix | None, n: int,
          block: int = USER_BLOCK, threads: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Top-n item indices and scores per user row, best first; `liked_rows` (one CSR row per user)
    are excluded. For repeated calls on the same model, build one `ItemScorer` and reuse it.

    Returns
    -------
    (ids, scores) : tuple of numpy.ndarray
        As `ItemScorer.top_n`.
    """
    return ItemScorer(item_factors).top_n(user_factors, liked_rows, n, block=block, threads=threads)
