"""Trending items as the fallback list (RECS_FALLBACK=trending): what customers the model cannot place get.

The ranking is recommender.retention.trending over the retention index (service.serving.retention_index:
every event accepted, snapshot plus stream), so it follows the event stream without waiting for a training.
It is recomputed at most every REFRESH_SECONDS (and when the serving model changes) by the first fallback
request after that, in a worker thread; requests in between reuse it, so the fallback's hot path stays a
lookup.
"""

from __future__ import annotations

import asyncio
import time

import numpy as np

from recommender.retention.trending import trend_scores
from service.serving.model_state import ServingModel
from service.serving.retention_index import HistoryStore

#: How long one trending ranking is served before it is recomputed (seconds).
REFRESH_SECONDS = 60.0
#: Trending items kept as fallback candidates.
CANDIDATES = 500


class TrendingFallback:
    """The current trending candidates in model item indices, best first, with scores in (0, 1]."""

    def __init__(self, history: HistoryStore, hours: float) -> None:
        self.history, self.hours = history, hours
        self._lock = asyncio.Lock()
        self._made: tuple[int, float] | None = None  # (id of the model, monotonic time)
        self._candidates = (np.zeros(0, np.int64), np.zeros(0, np.float32))

    async def fallback(self, current: ServingModel) -> tuple[np.ndarray, np.ndarray]:
        """The fallback's ranked candidates, model item codes (int64) and scores (float32): rising items
        first, then the popular ones not among them (score 0)."""
        ids, scores = current.popular_candidates()
        trend_ids, trend_scores = await self.candidates(current)
        rest = ~np.isin(ids, trend_ids)
        return (np.concatenate([trend_ids, ids[rest]]),
                np.concatenate([trend_scores, np.zeros(int(rest.sum()), dtype=np.float32)]))

    async def candidates(self, current: ServingModel) -> tuple[np.ndarray, np.ndarray]:
        """The rising items (model item codes, scores over the top one's), recomputed at most every
        REFRESH_SECONDS and whenever the model changes."""
        async with self._lock:
            made = self._made
            if made is None or made[0] != id(current.model) or time.monotonic() - made[1] > REFRESH_SECONDS:
                index = await self.history.get(current)
                self._candidates = await asyncio.to_thread(self._rank, current, index.history)
                self._made = (id(current.model), time.monotonic())
            return self._candidates

    def _rank(self, current: ServingModel, history) -> tuple[np.ndarray, np.ndarray]:
        scores = trend_scores(history, time.time(), self.hours).scores
        to_model = history.model_index(current.model.item_ids)
        rising = np.flatnonzero(np.isfinite(scores) & (to_model >= 0))
        rising = rising[np.argsort(-scores[rising], kind="stable")][:CANDIDATES]
        top = float(scores[rising[0]]) if len(rising) else 1.0
        return to_model[rising].astype(np.int64), (scores[rising] / top).astype(np.float32)
