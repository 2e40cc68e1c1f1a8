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
from recommender.pairs import contains, distinct, pair_keys, rank_in_row, smallest_in_rows, top_in_rows

#: Pseudo-counts that pull an item's repurchase rate and a customer's repeat share towards the
#: store's mean when there are few observations (additive smoothing).
SMOOTHING = 5.0
#: (query, reference) pairs searched together, about 128 MB as float64 distances when held densely.
NEIGHBOUR_BLOCK_CELLS = 1 << 24
#: Above this share of (query, reference) pairs that overlap, a block's distances are computed
#: densely and partially sorted, as a plain search does (cheaper per pair than the sparse search's
#: bookkeeping, which wins when few pairs overlap, as in a large catalog).
DENSE_OVERLAP = 0.1


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


class NeighbourIndex:
    """Exact k-nearest-neighbour search by Euclidean distance (TIFU-KNN's kNN) over reference vectors.

    The distance ``|q|^2 + |r|^2 - 2 q.r`` of a query q to a reference r it shares no item with is
    ``|q|^2 + |r|^2``: it only grows with |r|. So each query's k nearest are found among the
    references it overlaps (one sparse product, q.r for those only) and the k references of
    smallest norm it does not overlap, never over all references: the cost follows the overlaps
    (a few hundred per customer in a store), not the reference size. The result is exact; ties in
    distance go to the lower reference row (a dense search's partial sort picks among ties
    arbitrarily). Distances are computed in float64 with the same formula and product as a dense
    search, so every distance has the same value.

    Parameters
    ----------
    reference : scipy.sparse.csr_matrix
        float, shape (reference customers, items): the vectors neighbours are drawn from.
    """

    def __init__(self, reference: csr_matrix) -> None:
        self.reference = csr_matrix(reference, dtype=np.float64)
        self.reference.sort_indices()
        self.norms = np.asarray(self.reference.multiply(self.reference).sum(axis=1)).ravel()
        self.transposed = self.reference.T.tocsr()  # items x references, for q.r by one product
        n = self.reference.shape[0]
        self.by_norm = np.lexsort((np.arange(n), self.norms))  # smallest norm first, ties by row
        self.rank = np.empty(n, dtype=np.int64)  # reference row -> its place in by_norm
        self.rank[self.by_norm] = np.arange(n)

    def __len__(self) -> int:
        return self.reference.shape[0]

    def weights(self, queries: csr_matrix, k: int, exclude: np.ndarray | None = None) -> csr_matrix:
        """float64, shape (queries, references): 1 / k' at each query's k' nearest references, where
        k' = min(k, references, minus one when `exclude` is given); an empty row for a query whose
        vector is zero (no purchases). Arguments as `nearest_mean`'s."""
        if k < 1:
            raise InputError("the number of neighbours must be at least 1")
        n_queries, n_reference = queries.shape[0], len(self)
        take = min(k, n_reference - (1 if exclude is not None else 0))
        empty = csr_matrix((n_queries, n_reference), dtype=np.float64)
        if n_queries == 0 or take <= 0:
            return empty
        queries = csr_matrix(queries, dtype=np.float64)
        norms = np.asarray(queries.multiply(queries).sum(axis=1)).ravel()
        live = np.flatnonzero(norms > 0)
        if len(live) == 0:
            return empty
        own = (np.full(n_queries, -1, dtype=np.int64) if exclude is None
               else np.asarray(exclude, dtype=np.int64))
        size = max(1, NEIGHBOUR_BLOCK_CELLS // n_reference)
        parts = [self._nearest(queries[block], norms[block], own[block], take, block)
                 for block in np.array_split(live, -(-len(live) // size))]
        rows = np.concatenate([p[0] for p in parts])
        columns = np.concatenate([p[1] for p in parts])
        order = np.lexsort((columns, rows))
        indptr = np.r_[0, np.cumsum(np.bincount(rows, minlength=n_queries))]
        return csr_matrix((np.full(len(rows), 1.0 / take), columns[order], indptr), shape=(n_queries, n_reference))

    def _nearest(self, rows: csr_matrix, norms: np.ndarray, own: np.ndarray, take: int,
                 codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(query code, reference row) of the `take` nearest of each query in a block."""
        n_reference, n_rows = len(self), rows.shape[0]
        product = (rows @ self.transposed).tocsr()  # q.r of every overlapping pair
        if product.nnz > DENSE_OVERLAP * n_rows * n_reference:
            distance = norms[:, None] + self.norms[None, :] - 2.0 * product.toarray()
            mine = np.flatnonzero(own >= 0)
            distance[mine, own[mine]] = np.inf
            chosen_rows, chosen = np.nonzero(smallest_in_rows(distance, take))
            return codes[chosen_rows], chosen
        o_row = np.repeat(np.arange(n_rows, dtype=np.int64), np.diff(product.indptr))
        o_ref = product.indices.astype(np.int64)
        o_distance = (norms[o_row] + self.norms[o_ref]) - 2.0 * product.data
        mine = o_ref == own[o_row]
        # the others in order of norm: the first take of them that overlap nothing and are not the
        # query itself (their places in by_norm skip those of the blocked: overlapping or own)
        has_own = np.flatnonzero(own >= 0)
        blocked = distinct(np.r_[pair_keys(o_row, self.rank[o_ref], n_reference),
                                 pair_keys(has_own, self.rank[own[has_own]], n_reference)])
        b_row, b_rank = np.divmod(blocked, n_reference)
        inside = (b_rank - rank_in_row(b_row)) < take
        prefix = np.minimum(take + np.bincount(b_row[inside], minlength=n_rows), n_reference)
        p_row = np.repeat(np.arange(n_rows, dtype=np.int64), prefix)
        p_rank = np.arange(len(p_row), dtype=np.int64) - np.repeat(np.cumsum(prefix) - prefix, prefix)
        free = ~contains(blocked, pair_keys(p_row, p_rank, n_reference))
        p_row, p_ref = p_row[free], self.by_norm[p_rank[free]]
        p_distance = norms[p_row] + self.norms[p_ref]
        # an overlapping reference can only be among the nearest if it is no farther than the
        # take-th of the others
        count = np.bincount(p_row, minlength=n_rows)
        bound = np.full(n_rows, np.inf)
        full = count >= take
        bound[full] = p_distance[(np.cumsum(count) - 1)[full]]
        keep = ~mine & (o_distance <= bound[o_row])
        c_row = np.r_[o_row[keep], p_row]
        c_ref = np.r_[o_ref[keep], p_ref]
        c_distance = np.r_[o_distance[keep], p_distance]
        order = np.argsort(pair_keys(c_row, c_ref, n_reference))  # by row, then reference
        c_row, c_ref, c_distance = c_row[order], c_ref[order], c_distance[order]
        chosen = top_in_rows(np.bincount(c_row, minlength=n_rows), -c_distance, take)
        return codes[c_row[chosen]], c_ref[chosen]

    def mean(self, queries: csr_matrix, k: int, exclude: np.ndarray | None = None) -> csr_matrix:
        """float32, shape (queries, items), with sorted indices: the mean vector of each query's k
        nearest references.

        Computed as (references^T weights^T)^T: the same sums, added in the same order (by reference
        row) as weights @ references, and the transposition back sorts each row's items for free.
        """
        weights = self.weights(queries, k, exclude)
        mean = (self.transposed @ weights.T.tocsr()).T.tocsr()
        return csr_matrix((mean.data.astype(np.float32), mean.indices, mean.indptr), shape=mean.shape)


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
        `NeighbourIndex.mean` gives the same as a sparse matrix, for many queries against one reference.

    Raises
    ------
    InputError
        k < 1.
    """
    if k < 1:
        raise InputError("the number of neighbours must be at least 1")
    return NeighbourIndex(reference).mean(queries, k, exclude).toarray()
