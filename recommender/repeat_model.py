"""The repeat-aware model: TIFU-KNN's personal frequencies and neighbours, a collaborative model
for what the customer never bought, and a mix learned from the store's own next baskets.

Fitting (`RepeatRecommender.fit_baskets`):

1. customers with two baskets or more are sampled (at most `mix_customers`) and their newest
   basket is held out, with every event they had from that day on;
2. on what is left, the personal profiles (recommender.repeat), repurchase rates, the reference
   customers for the neighbour search and the collaborative model are fitted, and every held-out
   customer's candidates are scored with the mix's features (recommender.repeat_mix);
3. the mix (a logistic regression) is fitted on those candidates, labelled by the held-out baskets;
4. everything but the mix is fitted again on all the data, which is what serves.

Scoring a customer ranks the candidates (bought items, the neighbours' and the collaborative
model's best never-bought items, the bestsellers) by the mix's predicted chance of being in the
next basket.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from implicit.nearest_neighbours import ItemItemRecommender
from implicit.recommender_base import RecommenderBase
from implicit.utils import ParameterWarning
from scipy.sparse import csr_matrix, diags

from recommender.basket_models import USER_BLOCK, BasketRecommender, Customers, Scored, profile_rows
from recommender.baskets import Baskets
from recommender.errors import ArtifactError, InputError
from recommender.events import EventTable
from recommender.matrix import InteractionMatrix, build_matrix
from recommender.units import SECONDS_PER_DAY
from recommender.pairs import lookup, pair_keys, row_max
from recommender.repeat import (
    NeighbourIndex, RepeatRates, purchase_profile, repeat_counts, repeat_rates, smoothed_share,
)
from recommender.repeat_mix import FEATURES, MixInputs, candidates, fit_mix, mix_scores, training_rows

log = logging.getLogger(__name__)

#: Candidates per source (the neighbours' vector, the collaborative list, the bestsellers) per customer.
CANDIDATES = 50
#: The neighbour search looks at most at this many customers: the most recently active ones.
MAX_REFERENCE = 20_000
#: Fewest customers with two baskets or more from which the mix is learned.
MIN_MIX_CUSTOMERS = 20


@dataclass(frozen=True)
class RepeatSettings:
    """TIFU-KNN's hyper-parameters (Hu et al., SIGIR 2020: k, r_b, r_g, m) and the mix's sample."""

    neighbours: int = 300
    within_decay: float = 0.9
    group_decay: float = 0.7
    group_size: int = 7
    mix_customers: int = 5000
    random_state: int = 42


class RepeatRecommender(BasketRecommender):
    """Repeat-aware next-basket model; `make_base` builds the (untrained) collaborative model and
    `prepare` puts a confidence matrix on the scale that model trains on."""

    def __init__(self, settings: RepeatSettings, make_base: Callable[[], RecommenderBase],
                 prepare: Callable[[csr_matrix], csr_matrix]) -> None:
        super().__init__()
        self.settings = settings
        self.make_base = make_base
        self.prepare = prepare
        self.base = make_base()
        self.weights = np.zeros(len(FEATURES) + 1)
        self.rates = RepeatRates(np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.float32), 0.0)
        self.reference = np.zeros(0, dtype=np.int64)  # user codes the neighbours are drawn from
        self._reference_index: NeighbourIndex | None = None
        self._reference_position: np.ndarray | None = None
        self._scorer_lock = threading.Lock()
        self._idle_scorers: list = []  # item-kNN scorers not in use (see _take_scorer)
        self._scorers_made = False

    # -- fitting ----------------------------------------------------------------------------
    def fit_baskets(self, baskets: Baskets, interactions: InteractionMatrix, events: EventTable) -> None:
        eligible = np.flatnonzero(baskets.per_user() >= 2)
        if len(eligible) < MIN_MIX_CUSTOMERS:
            raise InputError(f"the repeat model learns from customers with two purchase days or more: "
                             f"{len(eligible)} found, at least {MIN_MIX_CUSTOMERS} needed")
        rng = np.random.default_rng(self.settings.random_state)
        held = np.sort(rng.choice(eligible, size=min(len(eligible), self.settings.mix_customers), replace=False))
        held_day = baskets.days[baskets.user_start[held + 1] - 1]
        probe = RepeatRecommender(self.settings, self.make_base, self.prepare)
        matrix = self.prepare(matrix_before(interactions, events, held, held_day))
        probe.fit_state(baskets.without_last(held), matrix)
        targets = baskets.last_baskets(held)
        features, labels = [], []
        allowed = np.ones(baskets.n_items, dtype=bool)
        for start in range(0, len(held), USER_BLOCK):
            codes = held[start:start + USER_BLOCK]
            inputs = probe.mix_inputs(codes, matrix[codes], None, allowed)
            rows_x, rows_y = training_rows(inputs, targets[start:start + USER_BLOCK])
            features.append(rows_x)
            labels.append(rows_y)
        self.weights = fit_mix(np.concatenate(features), np.concatenate(labels))
        log.info("repeat mix learned from %d customers' next baskets: %s", len(held),
                 ", ".join(f"{name}={w:.3f}" for name, w in zip((*FEATURES, "intercept"), self.weights)))
        self.fit_state(baskets, self.prepare(interactions.matrix))

    def fit_state(self, baskets: Baskets, matrix: csr_matrix) -> None:
        """Everything but the mix: profiles, rates, reference customers, the collaborative model."""
        s = self.settings
        self.profile = purchase_profile(baskets, s.within_decay, s.group_decay, s.group_size)
        self.rates = repeat_rates(baskets)
        self.popularity = np.bincount(baskets.items, minlength=baskets.n_items).astype(np.float32)
        active = np.flatnonzero(baskets.per_user() > 0)
        last_day = baskets.days[baskets.user_start[active + 1] - 1]
        self.reference = np.sort(active[np.argsort(-last_day, kind="stable")[:MAX_REFERENCE]])
        self._reference_index = self._reference_position = None
        self._idle_scorers, self._scorers_made = [], False
        self.base = self.make_base()
        with warnings.catch_warnings():  # implicit's item-kNN converts its own COO input and says so
            warnings.simplefilter("ignore", ParameterWarning)
            self.base.fit(matrix, show_progress=False)

    # -- scoring ----------------------------------------------------------------------------
    def fold_in(self, baskets: Baskets) -> Customers:
        s = self.settings
        profile = purchase_profile(baskets, s.within_decay, s.group_decay, s.group_size)
        return Customers(profile, smoothed_share(*repeat_counts(baskets), self.rates.store_share))

    def score_candidates(self, codes: np.ndarray, rows: csr_matrix, customers: Customers | None,
                         allowed: np.ndarray, listed: np.ndarray) -> Scored:
        inputs = self.mix_inputs(codes, rows, customers, allowed)
        return Scored(inputs.rows, inputs.items, mix_scores(inputs, self.weights))

    def mix_inputs(self, codes: np.ndarray, rows: csr_matrix, customers: Customers | None,
                   allowed: np.ndarray) -> MixInputs:
        """The mix's inputs for a block of customers (known user codes, or rows of `customers`)."""
        profile = customers.profile if customers is not None else self.trained_profile()
        bought = profile_rows(profile, codes)
        own = csr_matrix((bought.score, bought.keys % max(self.n_items, 1), bought.indptr),
                         shape=(len(codes), self.n_items))
        exclude = None if customers is not None else self._positions()[codes]
        neighbours = self._reference().mean(own, self.settings.neighbours, exclude)
        collaborative_keys, collaborative_values = self._collaborative(codes, rows, allowed, customers is not None)
        found = candidates([bought.keys, collaborative_keys], neighbours, self.popularity, allowed, CANDIDATES)
        keys = found.keys
        n_items = max(self.n_items, 1)
        top = float(np.log1p(self.popularity.max(initial=0.0)))
        popularity = (np.log1p(self.popularity) / top if top > 0 else np.zeros_like(self.popularity)).astype(np.float32)
        share = customers.user_share if customers is not None else self.rates.user_share
        return MixInputs(
            rows=keys // n_items, items=keys % n_items,
            count=lookup(bought.keys, bought.count, keys), own=lookup(bought.keys, bought.score, keys),
            since=lookup(bought.keys, bought.since, keys), neighbours=found.neighbours,
            collaborative=lookup(collaborative_keys, collaborative_values, keys),
            own_top=row_max(own), neighbours_top=found.neighbours_top,
            user_share=share[codes], item_rate=self.rates.item_rate, popularity=popularity,
        )

    def _collaborative(self, codes: np.ndarray, rows: csr_matrix, allowed: np.ndarray,
                       fold_in: bool) -> tuple[np.ndarray, np.ndarray]:
        """The collaborative model's best unseen items: sorted pair keys and float32 ``1 - rank / CANDIDATES``."""
        n_allowed = int(allowed.sum())
        take = min(CANDIDATES, n_allowed)
        if take == 0 or len(codes) == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        items = None if n_allowed == len(allowed) else np.flatnonzero(allowed)
        if isinstance(self.base, ItemItemRecommender) and getattr(self.base, "scorer", None) is not None:
            scorer = self._take_scorer()
            try:
                ids, scores = knn_lists(self.base, rows, take, items, scorer)
            finally:
                self._give_back(scorer)
        else:
            extra = {"recalculate_user": True} if fold_in and not isinstance(self.base, ItemItemRecommender) else {}
            ids, scores = self.base.recommend(codes, rows, N=take, filter_already_liked_items=True, items=items,
                                              **extra)
        ids, scores = np.atleast_2d(ids).astype(np.int64), np.atleast_2d(scores)
        valid = (ids >= 0) & np.isfinite(scores)
        if isinstance(self.base, ItemItemRecommender):  # implicit's item-kNN pads with liked or unrelated items at 0
            valid &= scores > 0
        rank_value = (1.0 - np.arange(take) / take).astype(np.float32)
        row_index = np.repeat(np.arange(len(codes)), take).reshape(len(codes), take)
        keys = pair_keys(row_index[valid], ids[valid], self.n_items)
        values = np.broadcast_to(rank_value, ids.shape)[valid]
        order = np.argsort(keys, kind="stable")
        return keys[order], values[order]

    def prepare_scoring(self) -> None:
        self._reference()
        self._positions()

    def _take_scorer(self):
        """An idle implicit item-kNN scorer on the base's similarity: the base's own first, then new
        ones, so threads scoring blocks at once do not queue on one (each scorer locks itself)."""
        with self._scorer_lock:
            if self._idle_scorers:
                return self._idle_scorers.pop()
            first = not self._scorers_made
            self._scorers_made = True
        return self.base.scorer if first else type(self.base.scorer)(self.base.similarity)

    def _give_back(self, scorer) -> None:
        with self._scorer_lock:
            self._idle_scorers.append(scorer)

    def _reference(self) -> NeighbourIndex:
        if self._reference_index is None:
            profile = self.trained_profile()
            self._reference_index = NeighbourIndex(profile.matrix(profile.score)[self.reference])
        return self._reference_index

    def _positions(self) -> np.ndarray:
        """int64 (users,): each user's row in the reference, -1 if not in it."""
        if self._reference_position is None:
            position = np.full(len(self.trained_profile().indptr) - 1, -1, dtype=np.int64)
            position[self.reference] = np.arange(len(self.reference))
            self._reference_position = position
        return self._reference_position

    def similar_items(self, itemid, N=10, recalculate_item=False, item_users=None, filter_items=None, items=None):
        """The collaborative model's similar items."""
        return self.base.similar_items(itemid, N=N, items=items)

    # -- artifacts --------------------------------------------------------------------------
    def state(self) -> dict[str, np.ndarray]:
        return {**super().state(), "item_rate": self.rates.item_rate, "user_share": self.rates.user_share,
                "store_share": np.asarray([self.rates.store_share]), "reference": self.reference,
                "weights": np.asarray(self.weights, dtype=np.float64)}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        super().load_state(state)
        try:
            self.rates = RepeatRates(state["item_rate"], state["user_share"], float(state["store_share"][0]))
            self.reference = state["reference"]
            self.weights = state["weights"]
        except KeyError as exc:
            raise ArtifactError(f"artifact lacks model array {exc}") from None
        if len(self.weights) != len(FEATURES) + 1:
            raise ArtifactError(f"artifact's repeat mix has {len(self.weights)} weights; expected {len(FEATURES) + 1}")


def knn_lists(model: ItemItemRecommender, rows: csr_matrix, n: int, items: np.ndarray | None = None,
              scorer=None) -> tuple[np.ndarray, np.ndarray]:
    """What implicit's ``model.recommend(userids, rows, N=n, filter_already_liked_items=True, items=items)``
    returns for a trained item-kNN model, computed by the same scorer (``model.scorer``), one call per
    row on the block's own arrays: implicit's batch loop slices a CSR row per customer, which costs
    more than the scoring.

    `scorer` is another scorer on the model's similarity matrix (default: the model's own).

    Returns
    -------
    (ids, scores) : tuple of numpy.ndarray
        int64 and float32 of shape (rows, n), best first as the scorer orders them; -1 and -inf
        where a row has fewer items.
    """
    scorer = model.scorer if scorer is None else scorer
    rows = csr_matrix(rows)
    indptr, indices = rows.indptr.astype(np.int32), rows.indices.astype(np.int32)
    data = rows.data if rows.data.dtype in (np.float32, np.float64) else rows.data.astype(np.float32)
    width = n if items is None else model.similarity.shape[0]
    ids = np.full((rows.shape[0], n), -1, dtype=np.int64)
    scores = np.full((rows.shape[0], n), -np.inf, dtype=np.float32)
    for row in range(rows.shape[0]):
        got_ids, got_scores = scorer.recommend(indptr[row:row + 2], indices, data, K=width,
                                                     remove_own_likes=True)
        if items is not None:
            mask = np.isin(got_ids, items)
            got_ids, got_scores = got_ids[mask], got_scores[mask]
        got = min(n, len(got_ids))
        ids[row, :got], scores[row, :got] = got_ids[:got], got_scores[:got]
    return ids, scores


def matrix_before(interactions: InteractionMatrix, events: EventTable, users: np.ndarray,
                  days: np.ndarray) -> csr_matrix:
    """The confidence matrix of `events` without each of `users`' events on or after their day.

    Parameters
    ----------
    users : numpy.ndarray
        int64, shape (held,): user codes of `interactions`.
    days : numpy.ndarray
        int64, shape (held,): the first held-out day of each, in whole days since the epoch (UTC).

    Returns
    -------
    scipy.sparse.csr_matrix
        float32, the shape of `interactions.matrix`, built with its weights and reference time.

    Only the given users' rows are built again, from their own events: a row's confidences depend
    on that customer's events alone (per-user recency included), so every other row is
    `interactions.matrix`'s, which must have been built from `events`.

    Raises
    ------
    InputError
        the given users' events hold ids the interaction matrix lacks.
    """
    held_ids = interactions.users.ids[users]
    theirs = events.take(pd.Series(events.user_ids, dtype=object, copy=False).isin(held_ids).to_numpy())
    cut = np.full(len(interactions.users), np.iinfo(np.int64).max, dtype=np.int64)
    cut[users] = days
    codes = interactions.users.lookup(theirs.user_ids)
    event_days = np.floor(theirs.timestamps / SECONDS_PER_DAY).astype(np.int64)
    kept = theirs.take(event_days < cut[np.maximum(codes, 0)])
    rebuilt = build_matrix(kept, interactions.weights, interactions.reference_time,
                           users=interactions.users, items=interactions.items).matrix
    if rebuilt.shape != interactions.shape:
        raise InputError("the events hold users or items the interaction matrix lacks: "
                         "pass the events it was built from")
    others = np.ones(len(interactions.users), dtype=np.float32)
    others[users] = 0.0
    matrix = diags(others, format="csr") @ interactions.matrix
    matrix.eliminate_zeros()
    return (matrix + rebuilt).tocsr()

