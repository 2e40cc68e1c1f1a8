"""The learned mix of the repeat-aware model: how much a store's customers rebuy, and what.

For each customer and candidate item a few features describe the repeat side (bought before,
how often, how recently, the item's repurchase rate, the customer's own repeat share, TIFU-KNN's
personal score) and the explore side (the nearest customers' TIFU-KNN vectors, the collaborative
model's rank, popularity). A logistic regression on them predicts whether the item is in the
customer's next basket; it is fitted at every training on the store's own customers (their newest
basket held out), so a store where nobody rebuys learns to rank bought items last, and a grocery
learns to put the staples first. TIFU-KNN's own blend (alpha * own + (1 - alpha) * neighbours)
is the special case of two of these features with fixed weights.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.sparse import csr_matrix

from recommender.errors import InputError
from recommender.pairs import (
    contains, csr_keys, distinct, lookup, pair_keys, row_max, smallest_in_rows, top_in_rows,
)

#: The mix's features, in the order of its weights (the intercept comes last).
FEATURES: tuple[str, ...] = (
    "bought",  # 1 if the customer bought the item before
    "log_count",  # log(1 + baskets holding the item)
    "own_score",  # the customer's TIFU-KNN vector, divided by its largest entry
    "recency",  # 1 / (1 + baskets since the item was last bought), bought items only
    "item_repeat_rate",  # the item's repurchase rate, bought items only
    "customer_repeat_share",  # the customer's repeat share, bought items only
    "neighbours",  # mean TIFU-KNN vector of the nearest customers, divided by its largest entry
    "neighbours_new",  # the same, for items the customer never bought
    "collaborative",  # 1 - rank / candidates in the collaborative model's list of never-bought items
    "popularity",  # log(1 + baskets holding the item) / log(1 + the bestseller's)
)
#: L2 penalty of the logistic regression (on the feature weights, not the intercept).
MIX_L2 = 1.0
#: Share of a block's (customer, item) cells the neighbours' vectors must fill for `candidates` to
#: read them densely, and the cells of one dense chunk (32 MB of float32).
DENSE_NEIGHBOURS = 0.05
DENSE_CELLS = 1 << 23


@dataclass
class MixInputs:
    """The candidates of one block of customers and what the mix reads about each: one entry per
    (customer, item) pair, sorted by the customer's row in the block, then item.

    Attributes
    ----------
    rows, items : numpy.ndarray
        int64, shape (pairs,): the pair's row in the block and item code.
    count, own, since : numpy.ndarray
        float32, shape (pairs,): baskets holding the item, the TIFU-KNN vector, and baskets since
        the last purchase (0 where the customer never bought the item).
    neighbours : numpy.ndarray
        float32, shape (pairs,): mean TIFU-KNN vector of the nearest customers.
    collaborative : numpy.ndarray
        float32, shape (pairs,): the collaborative rank feature (0 outside its list).
    own_top, neighbours_top : numpy.ndarray
        float32, shape (rows,): the largest entry of each customer's TIFU-KNN vector and of their
        neighbours' mean vector, over every item (0 for an empty one).
    user_share : numpy.ndarray
        float32, shape (rows,).
    item_rate, popularity : numpy.ndarray
        float32, shape (items,).
    """

    rows: np.ndarray
    items: np.ndarray
    count: np.ndarray
    own: np.ndarray
    since: np.ndarray
    neighbours: np.ndarray
    collaborative: np.ndarray
    own_top: np.ndarray
    neighbours_top: np.ndarray
    user_share: np.ndarray
    item_rate: np.ndarray
    popularity: np.ndarray


def _scaled(values: np.ndarray, top: np.ndarray) -> np.ndarray:
    return np.divide(values, top, out=np.zeros_like(values), where=top > 0)


def feature_columns(inputs: MixInputs) -> Iterator[np.ndarray]:
    """Each of `FEATURES` in turn, as a float32 array of shape (pairs,)."""
    bought = (inputs.count > 0).astype(np.float32)
    yield bought
    yield np.log1p(inputs.count)
    yield _scaled(inputs.own, inputs.own_top[inputs.rows])
    yield bought / (1.0 + inputs.since)
    yield bought * inputs.item_rate[inputs.items]
    yield bought * inputs.user_share[inputs.rows]
    neighbours = _scaled(inputs.neighbours, inputs.neighbours_top[inputs.rows])
    yield neighbours
    yield (1.0 - bought) * neighbours
    yield inputs.collaborative
    yield inputs.popularity[inputs.items]


@dataclass
class Candidates:
    """The items a block of customers may be ranked, as sorted pair keys (recommender.pairs), with
    the neighbours' mean vector at each and its largest entry per customer (over every item)."""

    keys: np.ndarray
    neighbours: np.ndarray
    neighbours_top: np.ndarray


def candidates(sources: list[np.ndarray], neighbours: csr_matrix, popularity: np.ndarray, allowed: np.ndarray,
               per_source: int) -> Candidates:
    """The candidates of a block of customers: the pair keys in `sources` (bought items, the
    collaborative lists), the top `per_source` of each customer's neighbours' vector (positive
    entries; ties to the lower item) and of popularity; only items where `allowed` is true.

    Parameters
    ----------
    sources : list of numpy.ndarray
        int64 pair keys.
    neighbours : scipy.sparse.csr_matrix
        float32, shape (rows, items): each customer's neighbours' mean vector.
    popularity : numpy.ndarray
        float32, shape (items,).
    allowed : numpy.ndarray
        bool, shape (items,).

    A block whose neighbours' vectors fill more than DENSE_NEIGHBOURS of its cells (a small catalog)
    is read densely, a few rows at a time; otherwise sparsely. Both give the same candidates.
    """
    n_rows, n_items = neighbours.shape
    allowed_codes = np.flatnonzero(allowed)
    take = min(per_source, len(allowed_codes))
    parts = list(sources)
    if take:
        popular = allowed_codes[np.argsort(-popularity[allowed_codes], kind="stable")[:take]]
        parts.append(pair_keys(np.repeat(np.arange(n_rows), take), np.tile(popular, n_rows), n_items))
    if neighbours.nnz > DENSE_NEIGHBOURS * n_rows * n_items:
        return _dense_candidates(distinct(np.concatenate(parts)), neighbours, allowed, take)
    neighbours = csr_matrix(neighbours)
    neighbours.sort_indices()  # a no-op for NeighbourIndex.mean's
    if take:
        usable = (neighbours.data > 0) & allowed[neighbours.indices]
        entries = np.flatnonzero(usable)
        counted = np.r_[0, np.cumsum(usable)]
        lengths = counted[neighbours.indptr[1:]] - counted[neighbours.indptr[:-1]]
        best = entries[top_in_rows(lengths, neighbours.data[entries], take)]
        rows = np.searchsorted(neighbours.indptr, best, side="right") - 1
        parts.append(pair_keys(rows, neighbours.indices[best], n_items))
    keys = distinct(np.concatenate(parts))
    keys = keys[allowed[keys % max(n_items, 1)]]
    return Candidates(keys, lookup(csr_keys(neighbours), neighbours.data, keys), row_max(neighbours))


def _dense_candidates(keys: np.ndarray, neighbours: csr_matrix, allowed: np.ndarray, take: int) -> Candidates:
    n_rows, n_items = neighbours.shape
    step = max(1, DENSE_CELLS // max(n_items, 1))
    out_keys, values, top = [], [], np.zeros(n_rows, dtype=np.float32)
    bounds = np.searchsorted(keys, np.arange(0, n_rows + step, step) * n_items)
    for chunk, start in enumerate(range(0, n_rows, step)):
        block = neighbours[start:start + step].toarray()
        top[start:start + len(block)] = block.max(axis=1) if n_items else 0.0
        chunk_keys = keys[bounds[chunk]:bounds[chunk + 1]]
        if take:
            far = np.where(allowed[None, :] & (block > 0), -block, np.inf)
            near_rows, near_items = np.nonzero(smallest_in_rows(far, take) & np.isfinite(far))
            chunk_keys = distinct(np.r_[chunk_keys, pair_keys(near_rows + start, near_items, n_items)])
        chunk_keys = chunk_keys[allowed[chunk_keys % n_items]]
        out_keys.append(chunk_keys)
        values.append(block[chunk_keys // n_items - start, chunk_keys % n_items])
    if not out_keys:
        return Candidates(keys[:0], np.zeros(0, dtype=np.float32), top)
    return Candidates(np.concatenate(out_keys), np.concatenate(values).astype(np.float32), top)


def mix_scores(inputs: MixInputs, weights: np.ndarray) -> np.ndarray:
    """float32, shape (pairs,): each candidate's predicted chance of being in the next basket."""
    weights = np.asarray(weights, dtype=np.float64)
    if len(weights) != len(FEATURES) + 1:
        raise InputError(f"the mix has {len(weights)} weights; expected {len(FEATURES) + 1}")
    logit = np.full(inputs.count.shape, weights[-1], dtype=np.float32)
    for weight, column in zip(weights[:-1], feature_columns(inputs)):
        if weight:
            logit += np.float32(weight) * column
    return (1.0 / (1.0 + np.exp(-logit))).astype(np.float32)


def training_rows(inputs: MixInputs, targets: csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """The candidates of a block as a design matrix and labels.

    Parameters
    ----------
    targets : scipy.sparse.csr_matrix
        shape (rows, items): the items of each customer's held-out basket (stored positive entries).

    Returns
    -------
    (features, labels) : tuple of numpy.ndarray
        float32 of shape (candidates, len(FEATURES)), and float32 0/1 of shape (candidates,).
    """
    targets = csr_matrix(targets)
    targets.sort_indices()
    positive = csr_keys(targets)[targets.data > 0]
    keys = pair_keys(inputs.rows, inputs.items, len(inputs.item_rate))
    return (np.stack(list(feature_columns(inputs)), axis=1).astype(np.float32),
            contains(positive, keys).astype(np.float32))


def fit_mix(features: np.ndarray, labels: np.ndarray, l2: float = MIX_L2) -> np.ndarray:
    """L2-penalised logistic regression (scipy's L-BFGS-B) of the labels on the features.

    Returns
    -------
    numpy.ndarray
        float64, shape (len(FEATURES) + 1,): one weight per feature, then the intercept.

    Raises
    ------
    InputError
        no candidate rows, or the labels are all alike (nothing to learn from).
    """
    x = np.c_[np.asarray(features, dtype=np.float64), np.ones(len(features))]
    y = np.asarray(labels, dtype=np.float64)
    if len(y) == 0 or y.min() == y.max():
        raise InputError("the held-out baskets give no positive and negative candidates to learn the mix from")
    penalty = np.r_[np.full(x.shape[1] - 1, l2), 0.0]

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = x @ w
        p = 1.0 / (1.0 + np.exp(-z))
        value = float(np.logaddexp(0.0, z).sum() - y @ z + 0.5 * (penalty * w) @ w)
        return value, x.T @ (p - y) + penalty * w

    result = minimize(loss, np.zeros(x.shape[1]), jac=True, method="L-BFGS-B")
    return result.x
