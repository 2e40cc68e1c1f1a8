"""Models that rank from purchase baskets and may recommend what a customer bought before.

`BasketRecommender` is what they share: fitting from events (baskets need timestamps, so
`Recommender.fit` hands them the events as well as the matrix), the implicit-style `recommend`
that `Recommender` calls, scored in dense blocks of customers, and fold-in of a customer unseen
at training from their history. `PersonalFrequencyRecommender` is GP-TopFreq of the next-basket
literature (Li et al., "A Next Basket Recommendation Reality Check", ACM TOIS 2023,
methods/g-p-gp-topfreq): the customer's own most-bought items, then the bestsellers.
recommender.repeat_model builds the repeat-aware model on the same base.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy.sparse import csr_matrix

from recommender.baskets import Baskets, baskets_from_codes, baskets_from_events
from recommender.errors import ArtifactError, InputError
from recommender.events import EventTable
from recommender.matrix import InteractionMatrix
from recommender.repeat import PurchaseProfile, purchase_profile

#: Dense cells (customers x items) scored at once: a block is a few float32 arrays of this size.
DENSE_BLOCK_CELLS = 1 << 21


def row_baskets(rows: csr_matrix) -> Baskets:
    """Each row's items with a positive weight as one basket (fold-in without timestamps)."""
    rows = rows.tocsr()
    positive = rows.data > 0
    users = np.repeat(np.arange(rows.shape[0]), np.diff(rows.indptr))[positive]
    return baskets_from_codes(users, rows.indices[positive], np.zeros(int(positive.sum())),
                              rows.shape[0], rows.shape[1])


def top_n(scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The n best of each row of a dense float32 score block, best first; -1 / -inf where fewer are finite.

    Ties keep the lower item code first.
    """
    rows, columns = scores.shape
    take = min(n, columns)
    ids = np.full((rows, n), -1, dtype=np.int64)
    out = np.full((rows, n), -np.inf, dtype=np.float32)
    if take == 0 or rows == 0:
        return ids, out
    if take < columns:
        part = np.argpartition(-scores, take - 1, axis=1)[:, :take]
    else:
        part = np.tile(np.arange(columns), (rows, 1))
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -part_scores), axis=1)
    best = np.take_along_axis(part, order, axis=1)
    best_scores = np.take_along_axis(part_scores, order, axis=1)
    finite = np.isfinite(best_scores)
    ids[:, :take] = np.where(finite, best, -1)
    out[:, :take] = best_scores
    return ids, out


@dataclass
class Customers:
    """Customers unseen at training, as a basket model scores them (fold-in).

    Attributes
    ----------
    profile : PurchaseProfile
        shape (customers, items).
    user_share : numpy.ndarray
        float32, shape (customers,): each one's smoothed repeat share (recommender.repeat).
    """

    profile: PurchaseProfile
    user_share: np.ndarray


class BasketRecommender:
    """Common base: fit from events, block-wise scoring, implicit's `recommend` and `similar_items` shape.

    Subclasses implement `fit_baskets` and `score_block`.
    """

    #: Recommender.fit passes the events (timestamps make the baskets) to `fit_events`.
    needs_events: ClassVar[bool] = True
    #: Items the customer bought may appear in their lists (Recommender does not remove them).
    recommends_bought_items: ClassVar[bool] = True

    def __init__(self) -> None:
        self.profile: PurchaseProfile | None = None
        self.popularity = np.zeros(0, dtype=np.float32)  # baskets holding each item, over all customers

    # -- fitting ----------------------------------------------------------------------------
    def fit_events(self, interactions: InteractionMatrix, events: EventTable, show_progress: bool = False) -> None:
        """Fit on the purchase baskets of `events` (the events `interactions` was built from)."""
        self.fit_baskets(baskets_from_events(events, interactions.users, interactions.items), interactions, events)

    def fit_baskets(self, baskets: Baskets, interactions: InteractionMatrix, events: EventTable) -> None:
        raise NotImplementedError

    def fit(self, user_items: csr_matrix, show_progress: bool = False, callback=None) -> None:
        raise InputError(f"{type(self).__name__} trains on timestamped purchase events: "
                         "use Recommender.fit(..., events=)")

    @property
    def n_items(self) -> int:
        return len(self.popularity)

    def trained_profile(self) -> PurchaseProfile:
        if self.profile is None:
            raise RuntimeError("the model is not trained")
        return self.profile

    def fold_in(self, baskets: Baskets) -> Customers:
        """Customers unseen at training, from their baskets (one customer per user code of `baskets`)."""
        return Customers(purchase_profile(baskets, 1.0, 1.0, 1), np.zeros(baskets.n_users, dtype=np.float32))

    # -- scoring ----------------------------------------------------------------------------
    def score_block(self, codes: np.ndarray, rows: csr_matrix, customers: Customers | None,
                    allowed: np.ndarray) -> np.ndarray:
        """float32 (len(codes), items) scores, -inf for what must not be ranked.

        `codes` are user codes of the trained model, or with `customers` (fold-in) rows of theirs;
        `rows` are the customers' confidence rows, on the training scale.
        """
        raise NotImplementedError

    def recommend(self, userid, user_items: csr_matrix, N: int = 10, filter_already_liked_items: bool = True,
                  filter_items=None, recalculate_user: bool = False, items=None,
                  baskets: Baskets | None = None) -> tuple[np.ndarray, np.ndarray]:
        """implicit's `recommend`: top-N item codes and scores per customer, shape (customers, N).

        `userid` are user codes (a scalar gives 1-D output). With `recalculate_user` the customers
        are unseen at training: their purchases come from `baskets` (customer i = row i of
        `user_items`), or, without baskets, each row's items make one basket. `items` restricts
        the ranking to those item codes, `filter_items` removes codes, and
        `filter_already_liked_items` removes the items of each `user_items` row.
        """
        single = np.isscalar(userid)
        codes = np.atleast_1d(np.asarray(userid, dtype=np.int64))
        rows = csr_matrix(user_items)
        if rows.shape[0] != len(codes):
            raise InputError("user_items must have one row per user")
        allowed = np.ones(self.n_items, dtype=bool)
        if items is not None:
            allowed[:] = False
            allowed[np.asarray(items, dtype=np.int64)] = True
        if filter_items is not None:
            allowed[np.asarray(filter_items, dtype=np.int64)] = False
        self.trained_profile()
        customers = self.fold_in(baskets if baskets is not None else row_baskets(rows)) if recalculate_user else None
        ids = np.full((len(codes), N), -1, dtype=np.int64)
        scores = np.full((len(codes), N), -np.inf, dtype=np.float32)
        block = max(1, DENSE_BLOCK_CELLS // max(self.n_items, 1))
        for start in range(0, len(codes), block):
            part = slice(start, start + block)
            own_rows = np.arange(start, min(start + block, len(codes))) if recalculate_user else codes[part]
            dense = self.score_block(own_rows, rows[part], customers, allowed)
            if filter_already_liked_items:
                liked = rows[part].tocoo()
                dense[liked.row, liked.col] = -np.inf
            ids[part], scores[part] = top_n(dense, N)
        return (ids[0], scores[0]) if single else (ids, scores)

    def similar_items(self, itemid, N=10, recalculate_item=False, item_users=None, filter_items=None, items=None):
        """Bestsellers (by baskets), which is what a frequency model knows about similarity."""
        single = np.isscalar(itemid)
        item_codes = np.atleast_1d(itemid)
        candidates = np.asarray(items) if items is not None else np.arange(self.n_items)
        order = candidates[np.argsort(-self.popularity[candidates], kind="stable")][:N]
        out_ids = np.tile(order, (len(item_codes), 1))
        out_scores = self.popularity[out_ids]
        return (out_ids[0], out_scores[0]) if single else (out_ids, out_scores)

    # -- artifacts --------------------------------------------------------------------------
    def state(self) -> dict[str, np.ndarray]:
        profile = self.trained_profile()
        return {"indptr": profile.indptr, "indices": profile.indices, "score": profile.score,
                "count": profile.count, "since": profile.since, "popularity": self.popularity}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        try:
            self.popularity = state["popularity"]
            self.profile = PurchaseProfile(state["indptr"], state["indices"], state["score"], state["count"],
                                           state["since"], len(self.popularity))
        except KeyError as exc:
            raise ArtifactError(f"artifact lacks model array {exc}") from None


def dense_rows(profile: PurchaseProfile, values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """float32 (len(rows), items): one of the profile's value arrays for the given customers."""
    return profile.matrix(values)[rows].toarray()


class PersonalFrequencyRecommender(BasketRecommender):
    """GP-TopFreq: the customer's items by how many of their baskets hold them, then bestsellers.

    Score = own basket count + popularity / (bestseller's popularity + 1), so every bought item
    comes before every other item, ties among bought items go to the bestseller, and the rest is
    the bestseller list (popularity: baskets holding the item, over all customers).
    """

    def fit_baskets(self, baskets: Baskets, interactions: InteractionMatrix, events: EventTable) -> None:
        self.profile = purchase_profile(baskets, 1.0, 1.0, 1)
        self.popularity = np.bincount(baskets.items, minlength=baskets.n_items).astype(np.float32)

    def score_block(self, codes: np.ndarray, rows: csr_matrix, customers: Customers | None,
                    allowed: np.ndarray) -> np.ndarray:
        profile = customers.profile if customers is not None else self.trained_profile()
        counts = dense_rows(profile, profile.count, codes)
        scores = counts + (self.popularity / (self.popularity.max(initial=0.0) + 1.0))[None, :]
        scores[:, ~allowed] = -np.inf
        return scores.astype(np.float32)
