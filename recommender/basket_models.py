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

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from implicit.nearest_neighbours import CosineRecommender
from scipy.sparse import csr_matrix

from recommender.baskets import Baskets, baskets_from_codes, baskets_from_events
from recommender.errors import ArtifactError, InputError
from recommender.events import EventTable
from recommender.item_neighbours import similar_or_popular
from recommender.matrix import InteractionMatrix
from recommender.pairs import contains, csr_keys, distinct, lookup, pair_keys, ranked_lists
from recommender.repeat import PurchaseProfile, purchase_profile

#: Customers scored together: their candidates (a few hundred pairs each) are held at once.
USER_BLOCK = 512


def row_baskets(rows: csr_matrix) -> Baskets:
    """Each row's items with a positive weight as one basket (fold-in without timestamps)."""
    rows = rows.tocsr()
    positive = rows.data > 0
    users = np.repeat(np.arange(rows.shape[0]), np.diff(rows.indptr))[positive]
    return baskets_from_codes(users, rows.indices[positive], np.zeros(int(positive.sum())),
                              rows.shape[0], rows.shape[1])


@dataclass
class Scored:
    """Candidate items of a block of customers with their scores: one entry per (row, item) pair.

    Attributes
    ----------
    rows, items : numpy.ndarray
        int64, shape (pairs,): the customer's row in the block, the item code.
    scores : numpy.ndarray
        float32, shape (pairs,); items that are no pair are not ranked for that customer.
    """

    rows: np.ndarray
    items: np.ndarray
    scores: np.ndarray


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

    Subclasses implement `fit_baskets` and `score_candidates`.
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
    def score_candidates(self, codes: np.ndarray, rows: csr_matrix, customers: Customers | None,
                         allowed: np.ndarray, listed: np.ndarray) -> Scored:
        """The candidate items of a block of customers, scored (only items where `allowed` is true).

        `codes` are user codes of the trained model, or with `customers` (fold-in) rows of theirs;
        `rows` are the customers' confidence rows, on the training scale; `listed` (int64, one per
        customer) is how many items the caller may list from that customer's candidates, so a model
        that could rank every item (popularity fill) proposes at least that many.
        """
        raise NotImplementedError

    def prepare_scoring(self) -> None:
        """Build what scoring builds on first use, before threads share it (a hook; nothing here)."""

    def recommend(self, userid, user_items: csr_matrix, N: int = 10, filter_already_liked_items: bool = True,
                  filter_items=None, recalculate_user: bool = False, items=None,
                  baskets: Baskets | None = None, threads: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """implicit's `recommend`: top-N item codes and scores per customer, shape (customers, N).

        `userid` are user codes (a scalar gives 1-D output). With `recalculate_user` the customers
        are unseen at training: their purchases come from `baskets` (customer i = row i of
        `user_items`), or, without baskets, each row's items make one basket. `items` restricts
        the ranking to those item codes, `filter_items` removes codes, and
        `filter_already_liked_items` removes the items of each `user_items` row. `threads` > 1
        scores blocks of USER_BLOCK customers in parallel (numpy, scipy and implicit's scorer
        release the GIL in their heavy parts); the lists are the same.
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

        def rank(start: int) -> None:
            part = slice(start, start + USER_BLOCK)
            block_rows = rows[part]
            own_rows = np.arange(start, min(start + USER_BLOCK, len(codes))) if recalculate_user else codes[part]
            listed = np.full(len(own_rows), N, dtype=np.int64)
            if filter_already_liked_items:
                listed += np.diff(block_rows.indptr)
            scored = self.score_candidates(own_rows, block_rows, customers, allowed, listed)
            if filter_already_liked_items:
                keep = ~contains(distinct(csr_keys(block_rows)), pair_keys(scored.rows, scored.items, self.n_items))
                scored = Scored(scored.rows[keep], scored.items[keep], scored.scores[keep])
            ids[part], scores[part] = ranked_lists(scored.rows, scored.items, scored.scores, len(own_rows), N)

        starts = range(0, len(codes), USER_BLOCK)
        if threads > 1 and len(starts) > 1:
            self.prepare_scoring()
            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(rank, starts))
        else:
            for start in starts:
                rank(start)
        return (ids[0], scores[0]) if single else (ids, scores)

    #: item-kNN neighbours for similar items when this model serves (recommender.item_neighbours); None: bestsellers
    neighbours: CosineRecommender | None = None

    def similar_items(self, itemid, N=10, recalculate_item=False, item_users=None, filter_items=None, items=None):
        """The item's neighbours topped up with the bestsellers (by baskets) when the model has them
        (recommender.item_neighbours), else the bestsellers, which is what a frequency model knows."""
        if self.neighbours is not None:
            return similar_or_popular(self.neighbours, self.popularity, itemid, N, items)
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


@dataclass
class ProfileRows:
    """Some customers' rows of a PurchaseProfile as pairs (recommender.pairs keys, sorted).

    Attributes
    ----------
    indptr : numpy.ndarray
        int64, shape (rows + 1,): row r's pairs are ``indptr[r]:indptr[r + 1]``.
    keys : numpy.ndarray
        int64, shape (pairs,): ``row * items + item``.
    score, count, since : numpy.ndarray
        float32, shape (pairs,): the profile's values.
    """

    indptr: np.ndarray
    keys: np.ndarray
    score: np.ndarray
    count: np.ndarray
    since: np.ndarray


def profile_rows(profile: PurchaseProfile, rows: np.ndarray) -> ProfileRows:
    """The profile's entries of the given customers (user codes, or fold-in rows), in that order."""
    rows = np.asarray(rows, dtype=np.int64)
    starts, ends = profile.indptr[rows], profile.indptr[rows + 1]
    lengths = ends - starts
    position = np.arange(int(lengths.sum()), dtype=np.int64) + np.repeat(starts - (np.cumsum(lengths) - lengths),
                                                                          lengths)
    block_rows = np.repeat(np.arange(len(rows), dtype=np.int64), lengths)
    return ProfileRows(np.r_[0, np.cumsum(lengths)].astype(np.int64),
                       pair_keys(block_rows, profile.indices[position], profile.n_items),
                       profile.score[position], profile.count[position], profile.since[position])


class PersonalFrequencyRecommender(BasketRecommender):
    """GP-TopFreq: the customer's items by how many of their baskets hold them, then bestsellers.

    Score = own basket count + popularity / (bestseller's popularity + 1), so every bought item
    comes before every other item, ties among bought items go to the bestseller, and the rest is
    the bestseller list (popularity: baskets holding the item, over all customers).
    """

    def fit_baskets(self, baskets: Baskets, interactions: InteractionMatrix, events: EventTable) -> None:
        self.profile = purchase_profile(baskets, 1.0, 1.0, 1)
        self.popularity = np.bincount(baskets.items, minlength=baskets.n_items).astype(np.float32)

    def score_candidates(self, codes: np.ndarray, rows: csr_matrix, customers: Customers | None,
                         allowed: np.ndarray, listed: np.ndarray) -> Scored:
        """Bought items and, per customer, the first `listed` + bought allowed bestsellers (enough to
        fill a list after the bought ones), scored as the class docstring says."""
        profile = customers.profile if customers is not None else self.trained_profile()
        bought = profile_rows(profile, codes)
        tie = (self.popularity / (self.popularity.max(initial=0.0) + 1.0)).astype(np.float32)
        allowed_codes = np.flatnonzero(allowed)
        popular = allowed_codes[np.argsort(-self.popularity[allowed_codes], kind="stable")]
        reach = np.minimum(np.asarray(listed, dtype=np.int64) + np.diff(bought.indptr), len(popular))
        fill_rows = np.repeat(np.arange(len(codes), dtype=np.int64), reach)
        fill = popular[np.arange(len(fill_rows)) - np.repeat(np.cumsum(reach) - reach, reach)]
        keys = distinct(np.r_[bought.keys, pair_keys(fill_rows, fill, self.n_items)])
        items = keys % max(self.n_items, 1)
        keys, items = keys[allowed[items]], items[allowed[items]]
        counts = lookup(bought.keys, bought.count, keys)
        return Scored(keys // max(self.n_items, 1), items, (counts + tie[items]).astype(np.float32))
