"""Recommender: one interface over every algorithm, speaking external ids.

It adds what a store needs around implicit: the popularity fallback for unknown users, catalog filters,
per-category caps, popularity back-fill when a model has too few candidates, and fold-in of new users.

Lists leave out what the user interacted with, except for the basket models (`personal`,
`repeat`), whose point is to say which bought items come back, and a model configured to serve
them (`filter_interacted=False`, as model choice may pick: recommender.selection): their
`recommends_bought_items` lets those through, and every filter, exclusion and category cap still
applies. Such a model carries its training purchases (`purchases`, recommender.repurchase) once the
trainer adds them, so serving can flag repeats and place what was bought since training.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from implicit.cpu.als import AlternatingLeastSquares
from implicit.cpu.bpr import BayesianPersonalizedRanking
from implicit.nearest_neighbours import ItemItemRecommender
from implicit.utils import ParameterWarning
from scipy.sparse import csr_matrix

from recommender.algorithms import (
    ModelParams,
    PopularityRecommender,
    float32_scores,
    make_algorithm,
    scale_confidence,
    supports_fold_in,
)
from recommender.baskets import Baskets, bought_mask, history_baskets
from recommender.catalog import Catalog, ItemAttributes
from recommender.errors import InputError
from recommender.events import EventTable, parse_types
from recommender.filters import CAP_OVERSAMPLE, ItemFilter, allowed_mask, filter_ranked
from recommender.item_neighbours import WITHOUT_ITEM_SIMILARITY, fit_neighbours
from recommender.matrix import InteractionMatrix
from recommender.pairs import fill_with_popular
from recommender.repurchase import PurchaseIndex
from recommender.similar import SimilarItems
from recommender.sources import FALLBACK, PERSONALIZED
from recommender.topn import ItemScorer, Rows

log = logging.getLogger(__name__)
#: Threads that precompute lists (the machine's two cores; recommender.topn for factor models).
PRECOMPUTE_THREADS = 2


@dataclass(frozen=True)
class ScoredItem:
    """One item of a list and its score (the model's own scale; popularity lists: count / top count)."""

    item_id: str
    score: float


@dataclass
class Recommendation:
    """One user's list.

    Attributes
    ----------
    user_id : str
    source : str
        recommender.sources.PERSONALIZED or FALLBACK (the popularity list).
    items : list of ScoredItem
        Best first.
    """

    user_id: str
    source: str
    items: list[ScoredItem] = field(default_factory=list)


class Recommender(SimilarItems):
    """A trained model plus the id maps, catalog and training matrix it needs to serve.

    Parameters
    ----------
    params : ModelParams, optional
        Default: ``ModelParams()`` (ALS).
    """

    def __init__(self, params: ModelParams | None = None, filter_interacted: bool = True) -> None:
        self.params = params or ModelParams()
        #: False: lists keep the items a user interacted with (recommender.selection.Candidate)
        self.filter_interacted = filter_interacted
        self.purchases: PurchaseIndex | None = None  # training purchases, for models that keep bought items
        self.algorithm = make_algorithm(self.params)
        self.interactions: InteractionMatrix | None = None
        self.catalog = Catalog()
        self.attrs: ItemAttributes | None = None
        self.popularity = np.zeros(0, dtype=np.float32)
        self.popular_order = np.zeros(0, dtype=np.int64)
        self.trained_at: float | None = None
        self._scorer: ItemScorer | None = None  # built on first precompute; the factors never change after fit
        self.fit_seconds: float | None = None

    # -- training -------------------------------------------------------------------------
    def fit(self, interactions: InteractionMatrix, catalog: Catalog | None = None, show_progress: bool = False,
            events: EventTable | None = None, item_neighbours: bool = True) -> Recommender:
        """Train on `interactions` (basket models also need its `events`: their timestamps make the baskets);
        a baseline also gets item neighbours for its similar items (recommender.item_neighbours).

        Parameters
        ----------
        interactions : InteractionMatrix
            The confidence matrix (recommender.matrix); scaled by `scale_confidence` before fitting.
        catalog : Catalog, optional
            For filters; default: the model's current catalog (empty for a new model).
        show_progress : bool
            implicit's progress bar.
        events : EventTable, optional
            Required by the basket models.
        item_neighbours : bool
            False: a baseline's fit that never serves (model choice's holdout) gets no item neighbours.

        Returns
        -------
        Recommender
            self, trained.

        Raises
        ------
        InputError
            The matrix is empty, or a basket model gets no events.
        """
        if interactions.matrix.nnz == 0:
            raise InputError("cannot train on an empty interaction matrix")
        if self.uses_baskets and events is None:
            raise InputError(f"the {self.params.algorithm} algorithm trains on timestamped purchases: pass events")
        started, scaled = time.perf_counter(), scale_confidence(interactions.matrix, self.params)
        with warnings.catch_warnings():  # implicit's item-kNN converts its own COO input and says so
            warnings.simplefilter("ignore", ParameterWarning)
            if self.uses_baskets:
                self.algorithm.fit_events(interactions, events, show_progress=show_progress)
            else:
                self.algorithm.fit(scaled, show_progress=show_progress)
        if item_neighbours and self.params.algorithm in WITHOUT_ITEM_SIMILARITY:
            self.algorithm.neighbours = fit_neighbours(scaled, self.params.neighbours)
        self.fit_seconds = time.perf_counter() - started
        self.trained_at = time.time()
        self.attach(interactions, catalog or self.catalog)
        log.info("trained %s on %d users x %d items (%d interactions) in %.1fs", self.params.algorithm,
                 *interactions.shape, interactions.matrix.nnz, self.fit_seconds)
        return self

    def attach(self, interactions: InteractionMatrix, catalog: Catalog) -> None:
        """Bind the training data and catalog (also used when loading an artifact); computes the
        popularity counts (users per item) and their order."""
        self.interactions = interactions
        self.popularity = np.bincount(interactions.matrix.indices, minlength=interactions.shape[1]).astype(np.float32)
        self.popular_order = np.argsort(-self.popularity, kind="stable")
        self.set_catalog(catalog)

    def set_catalog(self, catalog: Catalog) -> None:
        """Use `catalog` for filters from now on (aligned to the model's items)."""
        self.catalog = catalog
        self.attrs = catalog.align(self.item_ids)

    # -- the maps ---------------------------------------------------------------------------
    @property
    def user_ids(self):
        """IdMap of the training matrix's rows. RuntimeError before training."""
        return self._trained().users

    @property
    def item_ids(self):
        """IdMap of the training matrix's columns. RuntimeError before training."""
        return self._trained().items

    @property
    def user_items(self) -> csr_matrix:
        """The training matrix, float32 CSR, shape (users, items). RuntimeError before training."""
        return self._trained().matrix

    def _trained(self) -> InteractionMatrix:
        if self.interactions is None:
            raise RuntimeError("the model is not trained")
        return self.interactions

    # -- recommending -----------------------------------------------------------------------
    def recommend(self, user_id: str, n: int = 10, item_filter: ItemFilter | None = None,
                  filter_interacted: bool = True) -> Recommendation:
        """One user's list (`recommend_batch` for one)."""
        return self.recommend_batch([user_id], n, item_filter, filter_interacted)[0]

    def recommend_batch(self, user_ids: Sequence[str], n: int = 10, item_filter: ItemFilter | None = None,
                        filter_interacted: bool = True) -> list[Recommendation]:
        """Lists for many users: known users in one batched implicit call, the rest get popularity.

        Parameters
        ----------
        user_ids : sequence of str
        n : int
            Items per list, at least 1 (InputError otherwise); short only when the filter allows fewer.
        item_filter : ItemFilter, optional
        filter_interacted : bool
            Leave out what the user interacted with in training (not for the basket models).

        Returns
        -------
        list of Recommendation
            One per user id, in order.
        """
        if n < 1:
            raise InputError(f"n must be at least 1, got {n}")
        item_filter = item_filter or ItemFilter()
        codes = self.user_ids.lookup(list(user_ids))
        known = codes >= 0
        results = [Recommendation(str(u), FALLBACK) for u in user_ids]
        if known.any():
            ids, scores = self.recommend_indices(codes[known], n, item_filter, filter_interacted)
            for position, row_ids, row_scores in zip(np.flatnonzero(known), ids, scores):
                results[position].source = PERSONALIZED
                results[position].items = self._scored(row_ids, row_scores)
        if not known.all():
            popular = self.popular(n, item_filter)
            for position in np.flatnonzero(~known):
                results[position].items = list(popular)
        return results

    def recommend_indices(self, user_codes: np.ndarray, n: int, item_filter: ItemFilter | None = None,
                          filter_interacted: bool = True, user_items: csr_matrix | None = None,
                          baskets: Baskets | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-n item indices and scores for known users: implicit's batched `recommend` (asked for
        CAP_OVERSAMPLE times more under a category cap), then the filter and cap, then popular
        allowed items (score 0) to fill lists the model left short.

        Parameters
        ----------
        user_codes : numpy.ndarray
            int, shape (users,): rows of the training matrix (with `user_items`, any codes: see below).
        n : int
        item_filter : ItemFilter, optional
        filter_interacted : bool
            Leave out what the users interacted with, unless the model `recommends_bought_items`.
        user_items : scipy.sparse.csr_matrix, optional
            Replaces the training rows, one row per user code (fold-in of new interactions: ALS
            solves the users' factors again).
        baskets : Baskets, optional
            The basket models' view of those users' purchases (recommender.baskets; row i is user
            code i).

        Returns
        -------
        (ids, scores) : tuple of numpy.ndarray
            int64 and float32, shape (users, n); ids -1 and scores -inf where a list is short.
        """
        item_filter = item_filter or ItemFilter()
        allowed = self.allowed(item_filter)
        rows = self.user_items[user_codes] if user_items is None else user_items
        # models score users' rows on the scale they were trained on (kNN scores them directly,
        # ALS fold-in solves against them), so scale here, once, for every caller
        rows = scale_confidence(rows, self.params)
        ask = n * CAP_OVERSAMPLE if item_filter.max_per_category else n
        filter_interacted = filter_interacted and not self.recommends_bought_items
        ids, scores = self._rank(user_codes, rows, ask, allowed, filter_interacted,
                                 recalculate=user_items is not None, baskets=baskets)
        out_ids = np.full((len(user_codes), n), -1, dtype=np.int64)
        out_scores = np.full((len(user_codes), n), -np.inf, dtype=np.float32)
        for row in range(len(user_codes)):
            seen = rows[row].indices if filter_interacted else np.zeros(0, dtype=np.int64)
            # implicit's item-kNN returns liked items with score 0 when asked for more items than
            # have a positive score (always, when `items` restricts the ranking), so drop them here
            fresh = ~np.isin(ids[row], seen)
            kept_ids, kept_scores = filter_ranked(ids[row][fresh], scores[row][fresh], allowed,
                                                  self.attrs.category, item_filter, n)
            if len(kept_ids) < n:
                kept_ids, kept_scores = self._backfill(kept_ids, kept_scores, allowed, seen, item_filter, n)
            out_ids[row, :len(kept_ids)] = kept_ids
            out_scores[row, :len(kept_ids)] = kept_scores
        return out_ids, out_scores

    def precompute_indices(self, user_codes: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Unfiltered top-n lists (interacted items removed, unless the model `recommends_bought_items`)
        for many users: what the cache holds.

        Matrix-factorisation models use the blocked exact scorer in recommender.topn (the same
        items as implicit's `recommend`, ties aside); the basket models (which keep bought items)
        rank in blocks and are back-filled with popular items without a loop over users; short
        lists and other models go through recommend_indices, which back-fills likewise. Every
        path returns what recommend_indices(user_codes, n) returns.

        Parameters
        ----------
        user_codes : numpy.ndarray
            int, shape (users,): rows of the training matrix.
        n : int

        Returns
        -------
        (ids, scores) : tuple of numpy.ndarray
            int64 and float32, shape (users, n), best first.
        """
        if getattr(self.algorithm, "recommends_bought_items", False):  # a basket model
            allowed = self.allowed(ItemFilter())
            rows = scale_confidence(self.user_items[user_codes], self.params)
            ids, scores = self.algorithm.recommend(user_codes, rows, N=n, filter_already_liked_items=False,
                                                   threads=PRECOMPUTE_THREADS)
            return fill_with_popular(ids, scores, self._popular_order(allowed), n)
        if not isinstance(self.algorithm, (AlternatingLeastSquares, BayesianPersonalizedRanking)):
            return self.recommend_indices(user_codes, n)
        if self._scorer is None:
            self._scorer = ItemScorer(self.algorithm.item_factors)
        liked = None if self.recommends_bought_items else Rows.of(self.user_items, user_codes)
        ids, scores = self._scorer.top_n(self.algorithm.user_factors[user_codes], liked, n,
                                         threads=PRECOMPUTE_THREADS)
        short = (ids < 0).any(axis=1)
        if short.any():
            ids[short], scores[short] = self.recommend_indices(user_codes[short], n)
        return ids, scores

    def _rank(self, user_codes: np.ndarray, rows: csr_matrix, n: int, allowed: np.ndarray,
              filter_interacted: bool, recalculate: bool,
              baskets: Baskets | None = None) -> tuple[np.ndarray, np.ndarray]:
        """One batched implicit call; `items` restricts ranking to allowed items when filtered."""
        n_allowed = int(allowed.sum())
        items = None if n_allowed == len(allowed) else np.flatnonzero(allowed)
        if n_allowed == 0:
            return (np.full((len(user_codes), 0), -1, dtype=np.int64),
                    np.zeros((len(user_codes), 0), dtype=np.float32))
        extra = {"recalculate_user": True} if recalculate and not isinstance(self.algorithm, ItemItemRecommender) else {}
        if self.uses_baskets:
            extra["baskets"] = baskets
        ids, scores = self.algorithm.recommend(
            user_codes, rows, N=min(n, n_allowed), filter_already_liked_items=filter_interacted,
            items=items, **extra,
        )
        return np.atleast_2d(ids).astype(np.int64), float32_scores(np.atleast_2d(scores))

    def _backfill(self, ids: np.ndarray, scores: np.ndarray, allowed: np.ndarray, seen: np.ndarray,
                  item_filter: ItemFilter, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Top up a short list with popular allowed items (score 0), so every list has n items."""
        candidates = allowed.copy()
        candidates[seen] = False
        candidates[ids] = False
        order = self._popular_order(candidates)
        merged_ids = np.concatenate([ids, order])
        merged_scores = np.concatenate([scores, np.zeros(len(order), dtype=np.float32)])
        return filter_ranked(merged_ids, merged_scores, allowed, self.attrs.category, item_filter, n)

    def _popular_order(self, candidates: np.ndarray) -> np.ndarray:
        """Candidate items, most popular first (one mask over the precomputed order)."""
        return self.popular_order[candidates[self.popular_order]]

    def popular(self, n: int = 10, item_filter: ItemFilter | None = None) -> list[ScoredItem]:
        """The popularity list: what unknown users get.

        Returns
        -------
        list of ScoredItem
            At most n allowed items, most interacted-with first, scores count / largest count in (0, 1].
        """
        item_filter = item_filter or ItemFilter()
        allowed = self.allowed(item_filter)
        order = self._popular_order(allowed)[: n * CAP_OVERSAMPLE if item_filter.max_per_category else n]
        top = max(float(self.popularity.max(initial=0.0)), 1.0)
        ids, scores = filter_ranked(order, self.popularity[order] / top, allowed, self.attrs.category,
                                    item_filter, n)
        return self._scored(ids, scores)

    def recommend_for_history(self, user_id: str, item_ids: Sequence[str], weights: Sequence[float],
                              n: int = 10, item_filter: ItemFilter | None = None,
                              timestamps: Sequence[float] | None = None,
                              types: Sequence[str] | None = None) -> Recommendation:
        """Personal recommendations for a user the model has not seen, from their events alone.

        ALS solves the user's factors against the fixed item factors (`recalculate_user`);
        item-kNN scores from neighbours directly; the basket models build the user's baskets from
        `timestamps` (epoch seconds, one per item; without them the history is one basket) and
        count the items whose `types` (event type names) are purchases as bought; without types
        nothing counts as bought (a viewed guide must not come back as "buy again"), and their
        lists come from the collaborative model and the bestsellers. Other models fall back to
        popularity.

        Parameters
        ----------
        user_id : str
            Named in the result only.
        item_ids : sequence of str
            The user's items (unknown ones are skipped; none known: the popularity list).
        weights : sequence of float
            Confidence weight per item (recommender.matrix's scale, before `scale_confidence`).
        n : int
        item_filter : ItemFilter, optional
        timestamps : sequence of float, optional
            Epoch seconds per item (basket models).
        types : sequence of str, optional
            Event type name per item (basket models).

        Returns
        -------
        Recommendation
            PERSONALIZED, or FALLBACK for models that cannot fold in and histories of unknown items.

        Raises
        ------
        InputError
            `timestamps` or `types` do not match `item_ids` one to one, or a type is unknown.
        """
        codes = self.item_ids.lookup(list(item_ids))
        keep = codes >= 0
        if not keep.any() or not supports_fold_in(self.algorithm):
            return Recommendation(user_id, FALLBACK, self.popular(n, item_filter))
        row = csr_matrix((np.asarray(weights, dtype=np.float32)[keep], (np.zeros(keep.sum(), dtype=np.int64),
                          codes[keep])), shape=(1, len(self.item_ids)))
        row.sum_duplicates()
        baskets = None
        if self.uses_baskets:
            if types is not None and len(types) != len(codes):
                raise InputError("types must give one event type per history item")
            bought = (np.zeros(len(codes), dtype=bool) if types is None
                      else bought_mask(parse_types(pd.Series(list(types), dtype=object))))
            baskets = history_baskets(codes, len(self.item_ids), None if timestamps is None else
                                      np.asarray(timestamps, dtype=np.float64), bought)
        ids, scores = self.recommend_indices(np.zeros(1, dtype=np.int64), n, item_filter, True, user_items=row,
                                             baskets=baskets)
        return Recommendation(user_id, PERSONALIZED, self._scored(ids[0], scores[0]))

    def allowed(self, item_filter: ItemFilter) -> np.ndarray:
        """bool, shape (items,): what `item_filter` lets through (recommender.filters.allowed_mask)."""
        return allowed_mask(item_filter, self.attrs, self.item_ids.ids)

    def _scored(self, ids: np.ndarray, scores: np.ndarray) -> list[ScoredItem]:
        names = self.item_ids.ids
        return [ScoredItem(str(names[i]), float(s)) for i, s in zip(ids, scores) if i >= 0]

    @property
    def is_popularity(self) -> bool:
        """Whether the algorithm is the popularity baseline."""
        return isinstance(self.algorithm, PopularityRecommender)

    @property
    def uses_baskets(self) -> bool:
        """Whether the algorithm trains on purchase baskets (recommender.basket_models)."""
        return bool(getattr(self.algorithm, "needs_events", False))

    @property
    def recommends_bought_items(self) -> bool:
        """Whether lists may hold items the user interacted with (basket models; filter_interacted=False)."""
        return not self.filter_interacted or bool(getattr(self.algorithm, "recommends_bought_items", False))

