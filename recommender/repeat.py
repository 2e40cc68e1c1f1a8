"""TIFU-KNN's personal item-frequency vectors, their nearest customers, and repurchase rates.

Hu, He, Gao and Zhang, "Modeling Personalized Item Frequency Information for Next-basket
Recommendation" (SIGIR 2020), as their code does it (github.com/HaojiHu/TIFUKNN, TIFUKNN.py,
``temporal_decay_sum_history`` and ``group_history_list``):

* a customer's n baskets (oldest first, position p = 0 .. n-1) are split into `group_size` groups
  of consecutive baskets, the first groups holding floor(n / group_size) baskets and the last
  n mod group_size groups one more; with fewer baskets than `group_size` every basket is its own
  group;
* basket p weighs ``within_decay ** (n - 1 - p)`` (the code counts this from the customer's newest
  basket, not from the end of the group as the paper's formula reads), a group is the mean of its
  baskets' weighted binary vectors, and group j of G weighs ``group_decay ** (group_size - 1 - j)``;
* the customer's vector is the sum of the weighted groups divided by G;
* the nearest customers are found by Euclidean distance between these vectors, and TIFU-KNN's
  prediction is ``alpha * own + (1 - alpha) * mean of the k nearest vectors``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix

from recommender.baskets import Baskets
from recommender.errors import InputError

#: Pseudo-counts that pull an item's repurchase rate and a customer's repeat share towards the
#: store's mean when there are few observations (additive smoothing).
SMOOTHING = 5.0
#: Dense cells per block of the neighbour search (query rows x reference customers), about 64 MB.
NEIGHBOUR_BLOCK_CELLS = 1 << 24


def group_layout(n: np.ndarray, position: np.ndarray, group_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TIFU-KNN's grouping of a customer's baskets.

    Parameters
    ----------
    n : numpy.ndarray
        int64, shape (baskets,): how many baskets the basket's customer has.
    position : numpy.ndarray
        int64, shape (baskets,): the basket's 0-based position, oldest first.
    group_size : int
        TIFU-KNN's group count m (the number of groups, despite its name in their code).

    Returns
    -------
    (group, group_length, groups) : tuple of numpy.ndarray
        int64, shape (baskets,) each: the basket's group index, how many baskets share its group,
        and the customer's number of groups G = min(n, group_size).
    """
    if group_size < 1:
        raise InputError("group_size must be at least 1")
    n = np.asarray(n, dtype=np.int64)
    position = np.asarray(position, dtype=np.int64)
    base = np.maximum(n // group_size, 1)
    extra = n - (n // group_size) * group_size  # groups holding one basket more, at the end
    cut = (group_size - extra) * base
    small = n < group_size
    group = np.where(small, position, np.where(position < cut, position // base,
                                                (group_size - extra) + (position - cut) // (base + 1)))
    length = np.where(small, 1, np.where(position < cut, base, base + 1))
    groups = np.minimum(n, group_size)
    return group, length, groups


def basket_weights(n: np.ndarray, position: np.ndarray, within_decay: float, group_decay: float,
                   group_size: int) -> np.ndarray:
    """Each basket's weight in its customer's TIFU-KNN vector.

    ``within_decay ** (n - 1 - p) * group_decay ** (group_size - 1 - j) / (len(group j) * G)`` for
    basket p in group j (see the module docstring); shapes and dtypes as `group_layout`'s inputs.

    Returns
    -------
    numpy.ndarray
        float64, shape (baskets,).
    """
    if not (0.0 < within_decay <= 1.0 and 0.0 < group_decay <= 1.0):
        raise InputError("within_decay and group_decay must be in (0, 1]")
    n = np.asarray(n, dtype=np.int64)
    position = np.asarray(position, dtype=np.int64)
    group, length, groups = group_layout(n, position, group_size)
    return (within_decay ** (n - 1 - position).astype(np.float64)
            * group_decay ** (group_size - 1 - group).astype(np.float64) / (length * groups))


@dataclass
class PurchaseProfile:
    """Per (customer, item) purchase statistics on one sparse pattern (the items each customer bought).

    Attributes
    ----------
    indptr : numpy.ndarray
        int64, shape (users + 1,).
    indices : numpy.ndarray
        int32, shape (pairs,): item codes, ascending within a customer.
    score : numpy.ndarray
        float32, shape (pairs,): the customer's TIFU-KNN vector.
    count : numpy.ndarray
        float32, shape (pairs,): how many of the customer's baskets hold the item.
    since : numpy.ndarray
        float32, shape (pairs,): baskets since the customer last bought it (0: in the newest basket).
    n_items : int
    """

    indptr: np.ndarray
    indices: np.ndarray
    score: np.ndarray
    count: np.ndarray
    since: np.ndarray
    n_items: int

    def matrix(self, values: np.ndarray) -> csr_matrix:
        """`values` (one of score, count, since) as a (users, n_items) CSR matrix on the shared pattern."""
        return csr_matrix((values, self.indices, self.indptr), shape=(len(self.indptr) - 1, self.n_items))


@dataclass
class _Pairs:
    """The (customer, item) pairs of some baskets: one entry per pair, in CSR order."""

    indptr: np.ndarray
    indices: np.ndarray
    starts: np.ndarray  # where each pair's run begins in `order`
    order: np.ndarray  # basket entries sorted by (customer, item)


def _pairs(baskets: Baskets) -> _Pairs:
    users = baskets.basket_user()[baskets.item_basket()]
    key = users * baskets.n_items + baskets.items.astype(np.int64)
    order = np.argsort(key, kind="stable")
    key = key[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else np.zeros(0, dtype=np.int64)
    return _Pairs(
        indptr=np.r_[0, np.cumsum(np.bincount(users[order][starts], minlength=baskets.n_users))].astype(np.int64),
        indices=(key[starts] % max(baskets.n_items, 1)).astype(np.int32), starts=starts, order=order,
    )


def _entry_age(baskets: Baskets) -> np.ndarray:
    """int64, shape (basket items,): baskets between each entry's basket and its customer's newest."""
    age = baskets.per_user()[baskets.basket_user()] - 1 - baskets.basket_position()
    return age[baskets.item_basket()]


def _reduce(ufunc: np.ufunc, values: np.ndarray, pairs: _Pairs) -> np.ndarray:
    if len(pairs.starts) == 0:
        return np.zeros(0)
    return ufunc.reduceat(values[pairs.order], pairs.starts)


def purchase_profile(baskets: Baskets, within_decay: float, group_decay: float, group_size: int) -> PurchaseProfile:
    """Every customer's TIFU-KNN vector, purchase counts and recency, from their baskets."""
    n = baskets.per_user()[baskets.basket_user()]
    weights = basket_weights(n, baskets.basket_position(), within_decay, group_decay, group_size)
    pairs = _pairs(baskets)
    entry_basket = baskets.item_basket()
    ones = np.ones(len(entry_basket))
    return PurchaseProfile(
        indptr=pairs.indptr, indices=pairs.indices,
        score=_reduce(np.add, weights[entry_basket], pairs).astype(np.float32),
        count=_reduce(np.add, ones, pairs).astype(np.float32),
        since=_reduce(np.minimum, _entry_age(baskets).astype(np.float64), pairs).astype(np.float32),
        n_items=baskets.n_items,
    )


@dataclass
class RepeatRates:
    """How much the store's customers rebuy, smoothed towards the store's mean.

    Attributes
    ----------
    item_rate : numpy.ndarray
        float32, shape (items,): of the customers who bought the item before their newest basket,
        the share who bought it again in a later one.
    user_share : numpy.ndarray
        float32, shape (users,): of the items in a customer's baskets after their first, the share
        already bought in an earlier basket (the store's mean for one-basket customers).
    store_share : float
        the same share over all customers.
    """

    item_rate: np.ndarray
    user_share: np.ndarray
    store_share: float


def repeat_counts(baskets: Baskets) -> tuple[np.ndarray, np.ndarray]:
    """Per customer: items in baskets after the first that were bought in an earlier basket, and
    all items in baskets after the first (float64, shape (users,) each)."""
    pairs = _pairs(baskets)
    count = _reduce(np.add, np.ones(len(baskets.items)), pairs)
    users = np.repeat(np.arange(baskets.n_users), np.diff(pairs.indptr))
    repeats = np.bincount(users, weights=count - 1, minlength=baskets.n_users)
    sizes = np.diff(baskets.basket_start).astype(np.float64)
    has = baskets.per_user() > 0
    first_sizes = np.zeros(baskets.n_users)
    first_sizes[has] = sizes[baskets.user_start[:-1][has]]
    later = np.bincount(baskets.basket_user(), weights=sizes, minlength=baskets.n_users) - first_sizes
    return repeats, later


def smoothed_share(hits: np.ndarray, trials: np.ndarray, prior: float) -> np.ndarray:
    """float32 ``(hits + SMOOTHING * prior) / (trials + SMOOTHING)``, elementwise."""
    return ((np.asarray(hits, dtype=np.float64) + SMOOTHING * prior)
            / (np.asarray(trials, dtype=np.float64) + SMOOTHING)).astype(np.float32)


def repeat_rates(baskets: Baskets) -> RepeatRates:
    """Item repurchase rates and customers' repeat shares (additive smoothing, `SMOOTHING`)."""
    pairs = _pairs(baskets)
    count = _reduce(np.add, np.ones(len(baskets.items)), pairs)
    first_age = _reduce(np.maximum, _entry_age(baskets).astype(np.float64), pairs)
    chances = np.bincount(pairs.indices[first_age > 0], minlength=baskets.n_items)
    rebuys = np.bincount(pairs.indices[count >= 2], minlength=baskets.n_items)
    item_mean = rebuys.sum() / chances.sum() if chances.sum() else 0.0
    repeats, later = repeat_counts(baskets)
    store = float(repeats.sum() / later.sum()) if later.sum() else 0.0
    return RepeatRates(smoothed_share(rebuys, chances, item_mean), smoothed_share(repeats, later, store), store)


def nearest_mean(queries: csr_matrix, reference: csr_matrix, k: int,
                 exclude: np.ndarray | None = None) -> np.ndarray:
    """The mean vector of each query's k nearest reference customers (Euclidean distance, TIFU-KNN's kNN).

    Parameters
    ----------
    queries : scipy.sparse.csr_matrix
        float32, shape (queries, items): TIFU-KNN vectors of the customers to score.
    reference : scipy.sparse.csr_matrix
        float32, shape (reference customers, items): the customers neighbours are drawn from.
    k : int
        neighbours per query; fewer when the reference has fewer customers.
    exclude : numpy.ndarray, optional
        int64, shape (queries,): a reference row never to use for that query (the customer
        themself), -1 for none.

    Returns
    -------
    numpy.ndarray
        float32, shape (queries, items), dense; zero for a query whose vector is zero (no purchases).
    """
    if k < 1:
        raise InputError("the number of neighbours must be at least 1")
    n_queries, n_reference = queries.shape[0], reference.shape[0]
    out = np.zeros((n_queries, reference.shape[1]), dtype=np.float32)
    if n_queries == 0 or n_reference == 0:
        return out
    reference = reference.tocsr().astype(np.float64)
    ref_norms = np.asarray(reference.multiply(reference).sum(axis=1)).ravel()
    block = max(1, NEIGHBOUR_BLOCK_CELLS // n_reference)
    for start in range(0, n_queries, block):
        rows = queries[start:start + block].astype(np.float64)
        norms = np.asarray(rows.multiply(rows).sum(axis=1)).ravel()
        distance = norms[:, None] + ref_norms[None, :] - 2.0 * (rows @ reference.T).toarray()
        available = n_reference
        if exclude is not None:
            own = np.asarray(exclude[start:start + block], dtype=np.int64)
            mine = own >= 0
            distance[np.flatnonzero(mine), own[mine]] = np.inf
            available -= 1
        take = min(k, max(available, 0))
        if take == 0:
            continue
        nearest = np.argpartition(distance, take - 1, axis=1)[:, :take]
        share = np.where(norms > 0, 1.0 / take, 0.0)  # a customer who bought nothing has no neighbours
        weights = csr_matrix((np.repeat(share, take), nearest.ravel(),
                              np.arange(0, nearest.size + 1, take)), shape=(len(norms), n_reference))
        out[start:start + len(norms)] = (weights @ reference).toarray()
    return out
