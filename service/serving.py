"""The read path: precomputed lists from Redis, filtered at request time, with the in-memory
model behind them for cache misses, short lists, fold-in of new users and Redis outages.

No HTTP here: views parse requests and serialise what this returns.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from recommender.filters import ItemFilter, filter_ranked
from recommender.models import FALLBACK, PERSONALIZED
from service.cache import unpack, write_lists
from service.errors import ApiError
from service.keys import Keys
from service.metrics import Metrics
from service.model_state import ServingModel
from service.settings import Settings

log = logging.getLogger(__name__)
READ_CHUNK = 1000


@dataclass(frozen=True)
class ListRequest:
    """What a caller asked for: size and request-time filters."""

    n: int = 10
    kind: str | None = None
    category: str | None = None
    in_stock_only: bool = False
    exclude: frozenset[str] = frozenset()
    max_per_category: int | None = None


@dataclass
class ListResult:
    source: str
    items: list[dict]


class Serving:
    def __init__(self, redis: aioredis.Redis, keys: Keys, settings: Settings, metrics: Metrics) -> None:
        self.redis, self.keys, self.settings, self.metrics = redis, keys, settings, metrics
        self.current: ServingModel | None = None

    def require(self) -> ServingModel:
        current = self.current
        if current is None:
            raise ApiError(503, "no_model", "no model is trained yet; retry after the first training",
                           headers={"Retry-After": str(int(self.settings.poll_interval) + 1)})
        return current

    # -- users ------------------------------------------------------------------------------
    async def for_users(self, user_ids: Sequence[str], req: ListRequest) -> tuple[str, list[ListResult]]:
        """Lists for users in input order, one Redis round trip per chunk of users."""
        current = self.require()
        results: list[ListResult] = []
        for start in range(0, len(user_ids), READ_CHUNK):
            results.extend(await self._user_chunk(current, user_ids[start:start + READ_CHUNK], req))
        return current.version, results

    async def _user_chunk(self, current: ServingModel, user_ids: Sequence[str], req: ListRequest) -> list[ListResult]:
        model = current.model
        replies = await self._read_pairs(
            [(self.keys.user_recs(current.version, u), self.keys.recent(u)) for u in user_ids])
        codes = model.user_ids.lookup(list(user_ids))
        results: list[ListResult | None] = [None] * len(user_ids)
        misses: list[int] = []
        for pos, (blob, recent) in enumerate(replies):
            recent = {_text(k): float(v) for k, v in (recent or {}).items()}
            if blob is not None:
                self.metrics.cache_hits.labels("user").inc()
                ids, scores = unpack(blob)
                results[pos] = await self._personal(current, codes[pos], ids, scores, req, set(recent))
            elif codes[pos] >= 0:
                misses.append(pos)
            elif recent:
                results[pos] = await self._fold_in(current, user_ids[pos], recent, req)
            else:
                results[pos] = await self._popular(current, req)
        if misses:
            self.metrics.cache_misses.labels("user").inc(len(misses))
            miss_codes = codes[misses]
            ids, scores = await asyncio.to_thread(model.recommend_indices, miss_codes, self.settings.precompute_n)
            await self._write_back([self.keys.user_recs(current.version, user_ids[p]) for p in misses], ids, scores)
            for row, pos in enumerate(misses):
                recent = replies[pos][1] or {}
                results[pos] = await self._personal(current, miss_codes[row], ids[row], scores[row], req,
                                                    {_text(k) for k in recent})
        return results  # type: ignore[return-value]

    async def _personal(self, current: ServingModel, code: int, ids: np.ndarray, scores: np.ndarray,
                        req: ListRequest, recent: set[str]) -> ListResult:
        kept_ids, kept_scores = self._finish(current, ids, scores, req, recent)
        if len(kept_ids) < req.n and len(ids) >= min(self.settings.precompute_n, len(current.model.item_ids)):
            # filters thinned the precomputed list: rank the allowed items directly
            full = self._full_filter(current, req, recent)
            more_ids, more_scores = await asyncio.to_thread(
                current.model.recommend_indices, np.array([code]), req.n, full)
            kept_ids, kept_scores = more_ids[0][more_ids[0] >= 0], more_scores[0][more_ids[0] >= 0]
        return ListResult(PERSONALIZED, self._items(current, kept_ids, kept_scores))

    async def _fold_in(self, current: ServingModel, user_id: str, recent: dict[str, float],
                       req: ListRequest) -> ListResult:
        """A user who arrived after training: solve their vector from the events we have."""
        full = self._full_filter(current, req, set(recent))
        result = await asyncio.to_thread(current.model.recommend_for_history, user_id, list(recent),
                                         list(recent.values()), req.n, full)
        codes = current.model.item_ids.lookup([i.item_id for i in result.items])
        scores = np.array([i.score for i in result.items], dtype=np.float32)
        return ListResult(result.source, self._items(current, codes, scores))

    async def _popular(self, current: ServingModel, req: ListRequest) -> ListResult:
        ids, scores = current.popular_candidates()
        kept_ids, kept_scores = self._finish(current, ids, scores, req, set())
        if len(kept_ids) < req.n and len(ids) < len(current.model.item_ids):
            items = await asyncio.to_thread(current.model.popular, req.n, self._full_filter(current, req, set()))
            kept_ids = current.model.item_ids.lookup([i.item_id for i in items])
            kept_scores = np.array([i.score for i in items], dtype=np.float32)
        return ListResult(FALLBACK, self._items(current, kept_ids, kept_scores))

    # -- items ------------------------------------------------------------------------------
    async def similar(self, item_id: str, req: ListRequest) -> tuple[str, list[dict]]:
        current = self.require()
        model = current.model
        code = model.item_ids.get(item_id)
        if code is None:
            raise ApiError(404, "unknown_item", f"item {item_id!r} is not known to the model")
        key = self.keys.similar(current.version, item_id)
        (blob, _), = await self._read_pairs([(key, None)])
        if blob is not None:
            self.metrics.cache_hits.labels("similar").inc()
            ids, scores = unpack(blob)
        else:
            self.metrics.cache_misses.labels("similar").inc()
            ids, scores = await asyncio.to_thread(model.similar_indices, np.array([code]), self.settings.similar_n)
            await self._write_back([key], ids, scores)
            ids, scores = ids[0], scores[0]
        kept_ids, kept_scores = self._finish(current, ids, scores, req, set())
        if len(kept_ids) < req.n and len(ids) >= min(self.settings.similar_n, len(model.item_ids) - 1):
            more_ids, more_scores = await asyncio.to_thread(
                model.similar_indices, np.array([code]), req.n, self._full_filter(current, req, set()))
            kept_ids, kept_scores = more_ids[0][more_ids[0] >= 0], more_scores[0][more_ids[0] >= 0]
        return current.version, self._items(current, kept_ids, kept_scores)

    # -- shared pieces ----------------------------------------------------------------------
    async def _read_pairs(self, pairs: list[tuple[str, str | None]]) -> list[tuple[bytes | None, dict | None]]:
        """GET each list key (and HGETALL each recent-events key) in one round trip.

        When Redis is unreachable every key reads as a miss, so the in-memory model answers.
        """
        try:
            pipe = self.redis.pipeline(transaction=False)
            for list_key, recent_key in pairs:
                pipe.get(list_key)
                if recent_key is not None:
                    pipe.hgetall(recent_key)
            replies = await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("redis read failed, serving from the in-memory model: %s", exc)
            return [(None, None)] * len(pairs)
        out, it = [], iter(replies)
        for _, recent_key in pairs:
            blob = next(it)
            out.append((blob, next(it) if recent_key is not None else None))
        return out

    async def _write_back(self, keys: list[str], ids: np.ndarray, scores: np.ndarray) -> None:
        try:
            await write_lists(self.redis, keys, ids, scores, int(self.settings.cache_ttl))
        except (RedisError, OSError) as exc:
            log.warning("could not cache %d computed lists: %s", len(keys), exc)

    def _finish(self, current: ServingModel, ids: np.ndarray, scores: np.ndarray, req: ListRequest,
                recent: set[str]) -> tuple[np.ndarray, np.ndarray]:
        """Request-time filters over a ranked candidate list."""
        exclude = req.exclude | recent if recent else req.exclude
        if exclude:
            names = current.model.item_ids.ids
            keep = np.fromiter((i < 0 or names[i] not in exclude for i in ids), dtype=bool, count=len(ids))
            ids, scores = ids[keep], scores[keep]
        mask = current.base_mask(req.kind, req.category, req.in_stock_only)
        return filter_ranked(ids, scores, mask, current.model.attrs.category,
                             ItemFilter(max_per_category=req.max_per_category), req.n)

    def _full_filter(self, current: ServingModel, req: ListRequest, recent: set[str]) -> ItemFilter:
        return ItemFilter(kind=req.kind, category=req.category, in_stock_only=req.in_stock_only,
                          exclude=frozenset(req.exclude | recent | current.removed),
                          max_per_category=req.max_per_category)

    def _items(self, current: ServingModel, ids: np.ndarray, scores: np.ndarray) -> list[dict]:
        attrs = current.model.attrs
        names = current.model.item_ids.ids
        return [{"item_id": str(names[i]), "score": round(float(s), 6), "kind": attrs.kind[i] or None,
                 "category": attrs.category[i] or None}
                for i, s in zip(ids.tolist(), scores.tolist()) if i >= 0]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
