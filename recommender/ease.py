"""EASE: the closed-form item-item linear model of Steck, "Embarrassingly Shallow Autoencoders for
Sparse Data" (WWW 2019), as an implicit `RecommenderBase`, so Recommender serves it like the others.

The model is one dense items x items weight matrix B that minimises ||X - X B||^2 + lambda ||B||^2
subject to diag(B) = 0, for the user x item confidence matrix X. Its solution (the paper's eq. 8):

    P = (X^T X + lambda I)^-1,    B = I - P diag(1 / diag(P)),  so  B[j, i] = -P[j, i] / P[i, i] (j != i)

and a user's scores are their row times B: score(u, i) = sum_j x_uj B[j, i]. Any row can be scored,
so a customer who arrived after training is folded in exactly (no solve, as for item-kNN).

Fitting follows RecBole's EASE (Gram matrix, regularised diagonal, inverse, column scaling), with
three differences for memory and speed: the Gram matrix is built densely in column blocks (its
sparse form would need three times the dense float32 bytes on a dense catalog), the inverse is a
float32 Cholesky factorisation and inverse (LAPACK potrf + potri) in place instead of a float64 LU
inverse, and B overwrites P. The fit therefore holds one items x items float32 array, which is why
it refuses catalogs above `max_items` (MAX_ITEMS by default) with an InputError.

Similar items of item i are the row B[i, :]: the list EASE serves to a customer whose only item is
i (fold-in of a one-item history), as implicit's item-kNN uses its similarity rows. The column
B[:, i] ranks the items that predict i, which is not the question a product page asks.
"""

from __future__ import annotations

import numpy as np
from implicit.recommender_base import RecommenderBase
from scipy.linalg import lapack
from scipy.sparse import csr_matrix

from recommender.errors import InputError

#: Bytes of the items x items float32 weight matrix the fit may allocate (one such array; the
#: Gram blocks and score blocks are small next to it). 1 GiB: MAX_ITEMS = 16,384 items. The fit
#: time grows as items^3, and model choice (recommender.selection) fits each candidate twice, so
#: the limit is set by the refresh's time budget as much as by memory (benchmarks/README.md, EASE).
MEMORY_BUDGET = 1024**3
#: The largest catalog EASE fits by default: the items whose float32 items^2 fits MEMORY_BUDGET.
MAX_ITEMS = int((MEMORY_BUDGET // 4) ** 0.5)
#: Entries of one dense Gram block (items x block columns) or one user score block.
BLOCK_ENTRIES = 1 << 22


def max_items_for(memory_bytes: int) -> int:
    """The largest catalog whose float32 items x items matrix fits in `memory_bytes` bytes."""
    return int((max(memory_bytes, 0) // 4) ** 0.5)


def gram(user_items: csr_matrix) -> np.ndarray:
    """X^T X as a dense C-contiguous float32 (items, items) array, computed in column blocks.

    Parameters
    ----------
    user_items : scipy.sparse.csr_matrix, shape (users, items)
        The confidence matrix X (any float dtype; the product is taken in float32).
    """
    x = csr_matrix(user_items, dtype=np.float32)
    n_items = x.shape[1]
    out = np.empty((n_items, n_items), dtype=np.float32)
    xt = x.T.tocsr()  # items x users
    columns = x.tocsc()
    step = max(1, BLOCK_ENTRIES // max(n_items, 1))
    for start in range(0, n_items, step):
        stop = min(start + step, n_items)
        out[:, start:stop] = (xt @ columns[:, start:stop]).toarray()
    return out


def ease_weights(user_items: csr_matrix, regularization: float | np.ndarray) -> np.ndarray:
    """The EASE weight matrix B (Steck 2019, eq. 8) as float32 (items, items), diagonal zero.

    Parameters
    ----------
    user_items : scipy.sparse.csr_matrix, shape (users, items)
        Confidences X (binary in the paper; Encore passes the scaled confidences it trains on).
    regularization : float or numpy.ndarray of shape (items,)
        lambda > 0, added to the Gram matrix's diagonal; an array gives each item its own lambda
        (the diagonal Lambda of Steck's DLAE and EDLAE, "Autoencoders that don't overfit towards the
        identity", NeurIPS 2020, which recommender.ease_dan uses).

    Raises
    ------
    InputError
        a lambda is not positive, or the regularised Gram matrix is not positive definite.
    """
    ridge = np.asarray(regularization, dtype=np.float32)
    if ridge.ndim > 1 or (ridge.ndim == 1 and len(ridge) != user_items.shape[1]):
        raise InputError(f"EASE: regularization must be a number or one value per item ({user_items.shape[1]})")
    if not np.all(ridge > 0):
        raise InputError("ease_regularization must be positive")
    g = gram(user_items)
    n = g.shape[0]
    g[np.diag_indices(n)] += ridge
    a = g.T  # the same buffer in Fortran order: LAPACK works on it in place (g is symmetric)
    factor, info = lapack.spotrf(a, lower=1, clean=0, overwrite_a=1)
    if info == 0:
        factor, info = lapack.spotri(factor, lower=1, overwrite_c=1)
    if info != 0:
        raise InputError(f"EASE: the regularised Gram matrix is not positive definite (LAPACK info {info}); "
                         "raise ease_regularization")
    g = factor.T  # g's own buffer when LAPACK worked in place, as it does on a Fortran-order float32 array
    # the inverse P is in a's lower triangle, i.e. g's upper triangle: mirror it, block by block
    step = max(1, BLOCK_ENTRIES // max(n, 1))
    for start in range(0, n, step):
        stop = min(start + step, n)
        g[start:stop, :start] = g[:start, start:stop].T
        block = g[start:stop, start:stop]
        lower = np.tril_indices(stop - start, -1)
        block[lower] = block.T[lower]
    diagonal = g.diagonal().copy()
    np.divide(g, -diagonal[None, :], out=g)  # B[j, i] = -P[j, i] / P[i, i]
    g[np.diag_indices(n)] = 0.0
    return g


class EASE(RecommenderBase):
    """Steck's EASE behind implicit's interface: `recommend` scores the rows it is given times B.

    Parameters
    ----------
    regularization : float
        lambda of the closed form (RecBole's `reg_weight`, default there 250 on binary data).
    max_items : int, optional
        The largest catalog `fit` accepts (None: MAX_ITEMS, a 1 GiB float32 matrix).

    Attributes
    ----------
    weights : numpy.ndarray, float32, shape (items, items)
        B after `fit` (or restored from an artifact, possibly a read-only memory map: never written).
    """

    def __init__(self, regularization: float = 250.0, max_items: int | None = None) -> None:
        self.regularization = float(regularization)
        self.max_items = MAX_ITEMS if max_items is None else int(max_items)
        self.weights: np.ndarray | None = None

    def fit(self, user_items: csr_matrix, show_progress: bool = False, callback=None) -> None:
        """Compute B from the (users, items) confidence matrix.

        Raises
        ------
        InputError
            more items than `max_items` (the items x items float32 matrix would not fit the budget).
        """
        self.check_size(user_items.shape[1])
        self.weights = ease_weights(user_items, self.regularization)

    def check_size(self, n_items: int) -> None:
        """Raise InputError when an items x items float32 matrix exceeds `max_items`, before allocating."""
        if n_items > self.max_items:
            raise InputError(
                f"EASE needs a dense {n_items:,} x {n_items:,} float32 matrix "
                f"({4 * n_items**2 / 1024**3:.1f} GiB); it is limited to {self.max_items:,} items "
                f"({4 * self.max_items**2 / 1024**3:.1f} GiB): use als, cosine or bm25 for this catalog")

    def _ready(self) -> np.ndarray:
        if self.weights is None:
            raise RuntimeError("EASE is not fitted")
        return self.weights

    def recommend(self, userid, user_items, N=10, filter_already_liked_items=True, filter_items=None,
                  recalculate_user=False, items=None):
        """Top-N items for each row of `user_items` (scores = rows times B), in blocks of users.

        Every row is scored from `user_items` itself, so `recalculate_user` changes nothing. Ids are
        -1 and scores -inf where fewer than N items remain after filtering.
        """
        weights = self._ready()
        single = np.isscalar(userid)
        rows = csr_matrix(user_items)
        if rows.shape[0] != (1 if single else len(userid)):
            raise ValueError("user_items must contain 1 row for every user in userid")
        if items is not None and filter_items is not None:
            raise ValueError("Can't set both items and filter_items in recommend call")
        columns = None if items is None else np.unique(np.asarray(items, dtype=np.int64))
        width = weights.shape[1] if columns is None else len(columns)
        n = min(int(N), width)
        ids = np.full((rows.shape[0], n), -1, dtype=np.int64)
        scores = np.full((rows.shape[0], n), -np.inf, dtype=np.float32)
        step = max(1, BLOCK_ENTRIES // max(weights.shape[1], 1))
        for start in range(0, rows.shape[0], step):
            block = rows[start:start + step]
            dense = np.asarray(block @ weights, dtype=np.float32)
            if filter_already_liked_items:
                counts = np.diff(block.indptr)
                dense[np.repeat(np.arange(block.shape[0]), counts), block.indices] = -np.inf
            if filter_items is not None:
                dense[:, np.asarray(filter_items, dtype=np.int64)] = -np.inf
            if columns is not None:
                dense = dense[:, columns]
            ids[start:start + step], scores[start:start + step] = _top(dense, n, columns)
        return (ids[0], scores[0]) if single else (ids, scores)

    def similar_items(self, itemid, N=10, recalculate_item=False, item_users=None, filter_items=None, items=None):
        """Top-N items by B[i, :], the one-item fold-in of each item i (itself excluded)."""
        weights = self._ready()
        single = np.isscalar(itemid)
        codes = np.atleast_1d(np.asarray(itemid, dtype=np.int64))
        dense = np.array(weights[codes], dtype=np.float32)  # a copy: the weights may be a read-only map
        dense[np.arange(len(codes)), codes] = -np.inf
        if filter_items is not None:
            dense[:, np.asarray(filter_items, dtype=np.int64)] = -np.inf
        columns = None if items is None else np.unique(np.asarray(items, dtype=np.int64))
        if columns is not None:
            dense = dense[:, columns]
        ids, scores = _top(dense, min(int(N), dense.shape[1]), columns)
        return (ids[0], scores[0]) if single else (ids, scores)

    def similar_users(self, userid, N=10, filter_users=None, users=None):
        raise NotImplementedError("EASE has no user representation")

    def save(self, file):  # artifacts.py stores the weights; implicit's format is not used
        raise NotImplementedError


def _top(scores: np.ndarray, n: int, columns: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Best n per row of a (rows, width) float32 score block, best first; -1 / -inf for -inf scores."""
    rows = scores.shape[0]
    if n <= 0:
        return np.zeros((rows, 0), dtype=np.int64), np.zeros((rows, 0), dtype=np.float32)
    part = np.argpartition(-scores, n - 1, axis=1)[:, :n] if n < scores.shape[1] else \
        np.tile(np.arange(scores.shape[1]), (rows, 1))
    picked = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-picked, axis=1, kind="stable")
    ids = np.take_along_axis(part, order, axis=1).astype(np.int64)
    best = np.take_along_axis(picked, order, axis=1)
    if columns is not None:
        ids = columns[ids]
    ids[~np.isfinite(best)] = -1
    return ids, best.astype(np.float32)
