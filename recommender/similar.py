"""Item-side queries as Recommender serves them: item-to-item similarity ("customers who bought this
also bought": the algorithm's own `similar_items`, the item itself left out, then the list filters
and the per-category cap of recommender.filters), and every user's score for one item (an item's
audience).
"""

from __future__ import annotations

import numpy as np
from implicit.cpu.als import AlternatingLeastSquares
from implicit.cpu.bpr import BayesianPersonalizedRanking

from recommender.errors import UnknownItemError
from recommender.algorithms import float32_scores, scale_confidence
from recommender.filters import CAP_OVERSAMPLE, ItemFilter, filter_ranked


class SimilarItems:
    """What Recommender adds for similar items and item audiences; it relies on the host's `algorithm`,
    `params`, `user_ids`, `user_items`, `item_ids`, `attrs`, `allowed` and `_scored`
    (recommender.models.Recommender)."""

    def similar_items(self, item_id: str, n: int = 10, item_filter: ItemFilter | None = None) -> list:
        """Items similar to `item_id` (the item itself left out), best first, as ScoredItems.

        Raises
        ------
        UnknownItemError
            The model does not know the item.
        """
        code = self.item_ids.get(item_id)
        if code is None:
            raise UnknownItemError(f"unknown item {item_id!r}")
        ids, scores = self.similar_indices(np.array([code]), n, item_filter)
        return self._scored(ids[0], scores[0])

    def similar_indices(self, item_codes: np.ndarray, n: int,
                        item_filter: ItemFilter | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-n similar items for many items at once, each item itself left out.

        Parameters
        ----------
        item_codes : numpy.ndarray
            int, shape (k,): item codes.
        n : int
        item_filter : ItemFilter, optional

        Returns
        -------
        (ids, scores) : tuple of numpy.ndarray
            int64 and float32, shape (k, n); ids -1 and scores -inf where short.
        """
        item_filter = item_filter or ItemFilter()
        allowed = self.allowed(item_filter)
        n_allowed = int(allowed.sum())
        ask = min((n * CAP_OVERSAMPLE if item_filter.max_per_category else n) + 1, n_allowed)
        out_ids = np.full((len(item_codes), n), -1, dtype=np.int64)
        out_scores = np.full((len(item_codes), n), -np.inf, dtype=np.float32)
        if ask == 0:
            return out_ids, out_scores
        items = None if n_allowed == len(allowed) else np.flatnonzero(allowed)
        ids, scores = self.algorithm.similar_items(item_codes, N=ask, items=items)
        ids, scores = np.atleast_2d(ids).astype(np.int64), np.atleast_2d(scores).astype(np.float32)
        for row, code in enumerate(item_codes):
            not_self = ids[row] != code
            kept_ids, kept_scores = filter_ranked(ids[row][not_self], scores[row][not_self], allowed,
                                                  self.attrs.category, item_filter, n)
            out_ids[row, :len(kept_ids)] = kept_ids
            out_scores[row, :len(kept_scores)] = kept_scores
        return out_ids, out_scores

    def item_user_scores(self, item_code: int, chunk: int = 20_000) -> np.ndarray:
        """Every known user's score for one item (the model's own scale: a factor dot product, a kNN or EASE sum
        over the user's items, a basket model's score; -inf for a user the model has no score for, such as a
        kNN user whose neighbours do not reach the item), float32 shape (users,) in user code order. Matrix
        factorisation models score with one matrix-vector product; others through `recommend` restricted to the
        item, `chunk` users per call."""
        if isinstance(self.algorithm, (AlternatingLeastSquares, BayesianPersonalizedRanking)):
            return (self.algorithm.user_factors @ self.algorithm.item_factors[item_code]).astype(np.float32)
        out = np.zeros(len(self.user_ids), dtype=np.float32)
        only = np.array([item_code], dtype=np.int64)
        for start in range(0, len(out), chunk):
            codes = np.arange(start, min(start + chunk, len(out)))
            rows = scale_confidence(self.user_items[codes], self.params)
            ids, scores = self.algorithm.recommend(codes, rows, N=1, filter_already_liked_items=False, items=only)
            ids, scores = np.atleast_2d(ids), float32_scores(np.atleast_2d(scores))
            out[codes] = np.where(ids[:, 0] == item_code, scores[:, 0], 0.0)
        return out
