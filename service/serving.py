"""The read path: precomputed lists from Redis, filtered at request time, with the in-memory
model behind them for cache misses, short lists, fold-in of new users and Redis outages.

Single-user and similar-item requests keep the lists they read in a bounded in-process cache
keyed like Redis (so by model version), and users' since-training events in a cache kept exact
by the change log ingestion writes (service.cache.RecentEvents): a hot request reads no Redis
key at all, and one asked the same way as last time reuses that answer (service.served_lists)
unless the user's state, the catalog or the fatigue window has moved since. Batch requests go
to Redis in two commands per chunk (MGET and one script for the since-training events) and
leave the in-process caches alone, so a sweep over every user cannot push the hot lists out.

Items the store recently showed the user (their shown set, service.event_store) go behind unshown
ones (recommender.retention.fatigue). The set is read with the since-training events (same pipeline or
script, so no extra round trip) and cached with them: ingestion logs impressions in the same
change log, so a hot request still reads no Redis key. Reasons (`because`, recommender.explain)
are computed only when asked, for the final n items, after the list is picked.

No HTTP here: views parse requests and serialise what this returns.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from types import MappingProxyType
from typing import NamedTuple

import numpy as np
import orjson
import redis.asyncio as aioredis

from recommender.explain import because
from recommender.retention.fatigue import demote, recently_shown
from recommender.filters import ItemFilter, filter_ranked
from recommender.ids import IdMap
from recommender.models import FALLBACK, PERSONALIZED
from service.cache import HotLists, RecentEvents, pack, unpack, write_blobs
from service.errors import ApiError
from service.keys import Keys
from service.metrics import Metrics
from service.model_state import ServingModel
from service.redis_client import REDIS_ERRORS, is_cluster
from service.served_lists import FOREVER, Remembered, ServedLists, fatigue_until
from service.settings import Settings

log = logging.getLogger(__name__)
READ_CHUNK = 1000
#: In-process cache of precomputed lists: about 28,000 lists of 100 (or 55,000 of 50) per replica.
HOT_LIST_BYTES = 32 * 1024 * 1024
#: Final answers kept per replica (service.served_lists): about 1.2 KB each for n=10, 12 MB in all.
SERVED_LISTS = 10_000
#: Users whose since-training events are cached, and how long an entry may go unchecked by a read
#: (writes invalidate at once; this only bounds how late an expiring hash is noticed).
RECENT_ENTRIES = 100_000
RECENT_MAX_AGE = 300.0
#: Look-ups up to this many ids go through the hash table one by one (no array round trip).
SMALL_LOOKUP = 16
NO_EVENTS: Mapping[str, float] = MappingProxyType({})
#: `source` of every list served while Redis could not be read: computed from the in-process model
#: alone, without the user's events since training (so a purchase from this morning may reappear).
IN_MEMORY_MODEL = "in_memory_model"
SIMILAR = "similar"
_INF = float("inf")
#: `because` reasons per item when explain=true.
REASONS = 3

# Every user whose recent hash or shown set is not empty, as (position, flat field/value list,
# flat member/score list) triples: one command for a whole chunk instead of two per user, and
# most users send nothing back. KEYS: the recent hashes, then (when ARGV[2] is not empty) the
# shown sets; ARGV: the number of users, the oldest impression time that still counts.
_RECENT_MANY = """
local out = {}
local n = tonumber(ARGV[1])
for k = 1, n do
  local h = redis.call('HGETALL', KEYS[k])
  local s = {}
  if ARGV[2] ~= '' then
    s = redis.call('ZRANGEBYSCORE', KEYS[n + k], ARGV[2], '+inf', 'WITHSCORES')
  end
  if #h > 0 or #s > 0 then
    out[#out + 1] = k
    out[#out + 1] = h
    out[#out + 1] = s
  end
end
return out
"""


class UserState(NamedTuple):
    """What Redis holds about a user besides their list: events since training (item -> weight)
    and impressions (item -> epoch seconds last shown). Cached per user by RecentEvents."""

    recent: Mapping[str, float]
    shown: Mapping[str, float]


NO_STATE = UserState(NO_EVENTS, NO_EVENTS)


def lookup(ids: IdMap, values: Sequence[str]) -> np.ndarray:
    """Codes of `values` (-1 if unknown); IdMap.lookup, without its array overhead for a few ids."""
    if len(values) > SMALL_LOOKUP or len(ids) == 0:
        return ids.lookup(list(values))
    index = ids.index
    out = np.empty(len(values), dtype=np.int64)
    for k, value in enumerate(values):
        try:
            loc = index.get_loc(value)
        except (KeyError, TypeError):
            loc = -1
        out[k] = loc if isinstance(loc, (int, np.integer)) else -1
    return out


@dataclass(frozen=True)
class ListRequest:
    """What a caller asked for: size and request-time filters."""

    n: int = 10
    kind: str | None = None
    category: str | None = None
    in_stock_only: bool = False
    exclude: frozenset[str] = frozenset()
    max_per_category: int | None = None
    explain: bool = False  # add `because` (the user's items behind each item) to personal lists


@dataclass
class ListResult:
    source: str
    items: list[dict]
    remembered: Remembered | None = None  # an answer served from memory (items is then empty)

    @property
    def count(self) -> int:
        return self.remembered.count if self.remembered is not None else len(self.items)

    @property
    def payload(self) -> list[dict] | orjson.Fragment:
        """The items for a response body (orjson embeds a remembered answer's JSON as it is)."""
        return self.remembered.items if self.remembered is not None else self.items


class Serving:
    def __init__(self, redis: aioredis.Redis, keys: Keys, settings: Settings, metrics: Metrics) -> None:
        self.redis, self.keys, self.settings, self.metrics = redis, keys, settings, metrics
        self.cluster = is_cluster(redis)
        self.current: ServingModel | None = None
        self.hot = HotLists(HOT_LIST_BYTES)
        self.served = ServedLists(SERVED_LISTS)
        # the model the in-process caches were filled for (weak: a replaced model must not be kept alive)
        self._hot_model: weakref.ref[ServingModel] | None = None
        self.recent = RecentEvents(redis, keys.recent_log, RECENT_ENTRIES, RECENT_MAX_AGE,
                                   settings.redis_read_timeout)
        hot_hits = metrics.counter("encore_hot_cache_hits", "Precomputed lists served from the in-process "
                                   "cache (a subset of encore_cache_hits_total)", ("kind",))
        self._hits = {kind: metrics.cache_hits.labels(kind) for kind in ("user", "similar")}
        self._misses = {kind: metrics.cache_misses.labels(kind) for kind in ("user", "similar")}
        self._hot_hits = {kind: hot_hits.labels(kind) for kind in ("user", "similar")}

    def require(self) -> ServingModel:
        current = self.current
        if current is None:
            raise ApiError(503, "no_model", "no model is trained yet; retry after the first training",
                           headers={"Retry-After": str(int(self.settings.poll_interval) + 1)})
        return current

    def _hot_for(self, current: ServingModel) -> HotLists | None:
        """The in-process list cache, emptied when a new model is served; None for a request that
        began before a swap (its keys would only crowd out the new model's)."""
        if current is not self.current:
            return None
        # a new model object, even of the same version (its catalog_generation starts over), starts afresh
        if self._hot_model is None or self._hot_model() is not current:
            self.hot.clear()
            self.served.clear()
            self._hot_model = weakref.ref(current)
        return self.hot

    # -- users ------------------------------------------------------------------------------
    async def for_users(self, user_ids: Sequence[str], req: ListRequest) -> tuple[str, list[ListResult]]:
        """Lists for users in input order, one Redis round trip per chunk of users (none when hot)."""
        current = self.require()
        if len(user_ids) == 1:
            remembered = await self._remembered(current, user_ids[0], req)
            if remembered is not None:
                return current.version, [remembered]
            return current.version, await self._user_chunk(current, user_ids, req, interactive=True)
        results: list[ListResult] = []
        for start in range(0, len(user_ids), READ_CHUNK):
            results.extend(await self._user_chunk(current, user_ids[start:start + READ_CHUNK], req,
                                                  interactive=False))
        return current.version, results

    async def _remembered(self, current: ServingModel, user_id: str, req: ListRequest) -> ListResult | None:
        """The answer served last time for this user and request, if nothing it depends on has
        changed since (service.served_lists); None sends the request down the full path."""
        if req.explain or self._hot_for(current) is None:
            return None
        key = (self.keys.user_recs(current.version, user_id), req)
        if key not in self.served or not await self.recent.fresh():
            return None
        state = self.recent.get(user_id, time.monotonic())
        answer = self.served.get(key, state, current.catalog_generation, time.time()) if state is not None else None
        if answer is None:
            return None
        self._hot_hits["user"].inc()
        self._hits["user"].inc()
        return ListResult(PERSONALIZED, [], answer)

    async def _user_chunk(self, current: ServingModel, user_ids: Sequence[str], req: ListRequest,
                          interactive: bool) -> list[ListResult]:
        model = current.model
        n = len(user_ids)
        list_keys = [self.keys.user_recs(current.version, u) for u in user_ids]
        lists: list[tuple[np.ndarray, np.ndarray] | None] = [None] * n
        states: list[UserState | None] = [None] * n
        hot = self._hot_for(current) if interactive else None
        codes: np.ndarray | None = None  # looked up only when some list is not in memory
        deadline = asyncio.get_running_loop().time() + self.settings.redis_read_timeout  # for all reads below
        if hot is not None:
            lists = [hot.get(key) for key in list_keys]  # only known users' lists are ever kept
            hits = n - lists.count(None)
            if hits:
                self._hot_hits["user"].inc(hits)
            # fresh() gives up after the same timeout, and a read after it failed finds the deadline past
            if self.recent.worth_checking(user_ids) and await self.recent.fresh():
                now = time.monotonic()
                states = [self.recent.get(u, now) for u in user_ids]

        if hot is None or hits < n:
            codes = lookup(model.user_ids, user_ids)
        list_reads = [pos for pos in range(n) if lists[pos] is None and codes[pos] >= 0]  # type: ignore[index]
        state_reads = [pos for pos in range(n) if states[pos] is None]
        degraded = False  # Redis could not be read: the lists then say they came from the model alone
        if list_reads or state_reads:
            readers = [user_ids[pos] for pos in state_reads]
            token = self.recent.begin(readers) if interactive else 0
            blobs = read_states = None
            try:
                blobs, read_states = await self._read([list_keys[pos] for pos in list_reads], readers, deadline)
            finally:
                if interactive:
                    self.recent.finish(token, readers, read_states, time.monotonic())  # type: ignore[arg-type]
            degraded = blobs is None
            for pos, blob in zip(list_reads, blobs or ()):
                if blob is not None:
                    lists[pos] = hot.put(list_keys[pos], blob) if hot is not None else unpack(blob)
            for pos, state in zip(state_reads, read_states or [NO_STATE] * len(state_reads)):
                states[pos] = state

        wall = time.time()
        fatigue = self.settings.fatigue_days
        generation = current.catalog_generation  # before building anything from the catalog
        remember = hot is not None and not req.explain  # explain adds `because` to the items it gets
        results: list[ListResult | None] = [None] * n
        shown_sets: list[frozenset[str]] = [frozenset()] * n
        histories: dict[int, dict[str, float]] = {}  # folded-in users' events, for explain
        misses: list[int] = []
        hits = 0
        for pos in range(n):
            state = states[pos] or NO_STATE
            recent = state.recent
            shown = shown_sets[pos] = recently_shown(state.shown, wall, fatigue) if state.shown else frozenset()
            found = lists[pos]
            if found is not None:
                hits += 1
                results[pos] = await self._personal(current, None if codes is None else int(codes[pos]),
                                                    found[0], found[1], req, set(recent) if recent else set(),
                                                    user_id=user_ids[pos], shown=shown)
                if remember:
                    self.served.put((list_keys[pos], req), state, generation,
                                    fatigue_until(state.shown, wall, fatigue), results[pos].items)  # type: ignore[union-attr]
            elif codes[pos] >= 0:  # type: ignore[index]
                misses.append(pos)
            elif recent:
                histories[pos] = dict(recent)
                results[pos] = await self._fold_in(current, user_ids[pos], histories[pos], req, shown)
            else:
                results[pos] = await self._popular(current, req, shown)
        if hits:
            self._hits["user"].inc(hits)
        if misses:
            self._misses["user"].inc(len(misses))
            miss_codes = codes[misses]  # type: ignore[index]
            ids, scores = await asyncio.to_thread(model.recommend_indices, miss_codes, self.settings.precompute_n)
            blobs = [pack(ids[row], scores[row]) for row in range(len(misses))]
            if not degraded:  # Redis just failed to answer: writing would only wait for it again
                await self._write_back([list_keys[p] for p in misses], blobs)
            if hot is not None:
                for pos, blob in zip(misses, blobs):
                    hot.put(list_keys[pos], blob)
            for row, pos in enumerate(misses):
                recent = (states[pos] or NO_STATE).recent
                results[pos] = await self._personal(current, int(miss_codes[row]), ids[row], scores[row], req,
                                                    set(recent) if recent else set(), shown=shown_sets[pos])
        if req.explain:
            await asyncio.to_thread(self._explain, current, user_ids, codes, results, histories)
        if degraded:
            for result in results:
                result.source = IN_MEMORY_MODEL  # type: ignore[union-attr]
        return results  # type: ignore[return-value]

    def _explain(self, current: ServingModel, user_ids: Sequence[str], codes: np.ndarray | None,
                 results: Sequence[ListResult | None], histories: Mapping[int, dict[str, float]]) -> None:
        """Add `because` to every item of the final lists (a worker thread, explain=true only):
        known users from their training row, folded-in users from their events, fallback none."""
        model = current.model
        if codes is None:
            codes = lookup(model.user_ids, user_ids)
        for pos, result in enumerate(results):
            if result is None or not result.items:
                continue
            basis = int(codes[pos]) if codes[pos] >= 0 else histories.get(pos)
            if basis is None or result.source == FALLBACK:
                reasons: list[list[str]] = [[] for _ in result.items]
            else:
                item_codes = lookup(model.item_ids, [item["item_id"] for item in result.items])
                reasons = because(model, basis, item_codes, REASONS)
            for item, why in zip(result.items, reasons):
                item["because"] = why

    async def _personal(self, current: ServingModel, code: int | None, ids: np.ndarray, scores: np.ndarray,
                        req: ListRequest, recent: set[str], user_id: str = "",
                        shown: frozenset[str] = frozenset()) -> ListResult:
        items = self._pick(current, ids, scores, req, recent, shown)
        if len(items) < req.n and len(ids) >= min(self.settings.precompute_n, len(current.model.item_ids)):
            # filters thinned the precomputed list: rank the allowed items directly
            if code is None:
                code = int(lookup(current.model.user_ids, [user_id])[0])
            full = full_filter(current, req, recent)
            more_ids, more_scores = await asyncio.to_thread(
                current.model.recommend_indices, np.array([code]), req.n + len(shown), full)
            items = self._ranked(current, more_ids[0], more_scores[0], shown, req.n)
        return ListResult(PERSONALIZED, items)

    async def _fold_in(self, current: ServingModel, user_id: str, recent: dict[str, float],
                       req: ListRequest, shown: frozenset[str] = frozenset()) -> ListResult:
        """A user who arrived after training: solve their vector from the events we have."""
        full = full_filter(current, req, set(recent))
        result = await asyncio.to_thread(current.model.recommend_for_history, user_id, list(recent),
                                         list(recent.values()), req.n + len(shown), full)
        codes = lookup(current.model.item_ids, [i.item_id for i in result.items])
        scores = np.array([i.score for i in result.items], dtype=np.float32)
        return ListResult(result.source, self._ranked(current, codes, scores, shown, req.n))

    async def _popular(self, current: ServingModel, req: ListRequest,
                       shown: frozenset[str] = frozenset()) -> ListResult:
        ids, scores = current.popular_candidates()
        items = self._pick(current, ids, scores, req, set(), shown)
        if len(items) < req.n and len(ids) < len(current.model.item_ids):
            popular = await asyncio.to_thread(current.model.popular, req.n + len(shown),
                                              full_filter(current, req))
            items = self._ranked(current, lookup(current.model.item_ids, [i.item_id for i in popular]),
                                 np.array([i.score for i in popular], dtype=np.float32), shown, req.n)
        return ListResult(FALLBACK, items)

    # -- items ------------------------------------------------------------------------------
    async def similar(self, item_id: str, req: ListRequest) -> tuple[str, str, list[dict] | orjson.Fragment]:
        """(model version, source, items): source is IN_MEMORY_MODEL when Redis could not be read."""
        current = self.require()
        key = self.keys.similar(current.version, item_id)
        hot = self._hot_for(current)
        generation = current.catalog_generation  # before building anything from the catalog
        if hot is not None:
            answer = self.served.get((key, req), None, generation, 0.0)  # no user state, no clock
            if answer is not None:
                self._hot_hits["similar"].inc()
                self._hits["similar"].inc()
                return current.version, SIMILAR, answer.items
        model = current.model
        code = int(lookup(model.item_ids, [item_id])[0])
        if code < 0:
            raise ApiError(404, "unknown_item", f"item {item_id!r} is not known to the model")
        found = hot.get(key) if hot is not None else None
        source = SIMILAR
        if found is not None:
            self._hot_hits["similar"].inc()
        else:
            blobs, _ = await self._read([key], [])
            if blobs is None:
                source = IN_MEMORY_MODEL
            if blobs and blobs[0] is not None:
                found = hot.put(key, blobs[0]) if hot is not None else unpack(blobs[0])
        if found is not None:
            self._hits["similar"].inc()
            ids, scores = found
        else:
            self._misses["similar"].inc()
            ids, scores = await asyncio.to_thread(model.similar_indices, np.array([code]), self.settings.similar_n)
            blob = pack(ids[0], scores[0])
            if source != IN_MEMORY_MODEL:
                await self._write_back([key], [blob])
            if hot is not None:
                hot.put(key, blob)
            ids, scores = ids[0], scores[0]
        items = self._pick(current, ids, scores, req, set())
        if len(items) < req.n and len(ids) >= min(self.settings.similar_n, len(model.item_ids) - 1):
            more_ids, more_scores = await asyncio.to_thread(
                model.similar_indices, np.array([code]), req.n, full_filter(current, req))
            items = self._items(current, more_ids[0][more_ids[0] >= 0], more_scores[0][more_ids[0] >= 0])
        if hot is not None:
            self.served.put((key, req), None, generation, FOREVER, items)
        return current.version, source, items

    # -- shared pieces ----------------------------------------------------------------------
    async def _read(self, list_keys: list[str], users: Sequence[str], deadline: float | None = None
                    ) -> tuple[list[bytes | None] | None, list[UserState] | None]:
        """The packed lists under `list_keys`, and the since-training events and recent
        impressions of `users`, in one round trip: MGET, and HGETALL plus ZRANGEBYSCORE (one
        user) or a script (several). On a cluster, where those keys live on many nodes, a GET
        per list and the one-user reads per user (redis-py sends one round trip per node).

        When Redis is unreachable both come back None, so the in-memory model answers.
        """
        recent_keys = [self.keys.recent(u) for u in users]
        fatigue = self.settings.fatigue_days
        horizon = repr(time.time() - fatigue * 86_400.0) if fatigue > 0 else ""
        per_key = self.cluster
        try:
            pipe = self.redis.pipeline(transaction=False)
            if list_keys and per_key:
                for key in list_keys:
                    pipe.get(key)
            elif list_keys:
                pipe.mget(list_keys)
            if len(users) == 1 or per_key:
                for user, recent_key in zip(users, recent_keys):
                    pipe.hgetall(recent_key)
                    if horizon:
                        pipe.zrangebyscore(self.keys.shown(user), horizon, "+inf", withscores=True)
            elif users:
                shown_keys = [self.keys.shown(u) for u in users] if horizon else []
                pipe.eval(_RECENT_MANY, len(recent_keys) + len(shown_keys), *recent_keys, *shown_keys,
                          len(users), horizon)
            if deadline is None:
                deadline = asyncio.get_running_loop().time() + self.settings.redis_read_timeout
            async with asyncio.timeout_at(deadline):  # a hung Redis must not hang the page
                replies = await pipe.execute()
        except REDIS_ERRORS as exc:  # TimeoutError is an OSError
            log.warning("redis read failed, serving from the in-memory model: %r", exc)
            return None, None
        it = iter(replies)
        if per_key:
            blobs = [next(it) for _ in list_keys]
        else:
            blobs = list(next(it)) if list_keys else []
        states: list[UserState] = []
        if len(users) == 1 or per_key:
            for _ in users:
                raw = next(it)
                recent = {_text(k): float(v) for k, v in raw.items()} if raw else NO_EVENTS
                pairs = next(it) if horizon else None
                shown = {_text(m): float(at) for m, at in pairs} if pairs else NO_EVENTS
                states.append(UserState(recent, shown) if recent or shown else NO_STATE)
        elif users:
            states = [NO_STATE] * len(users)
            flat = next(it) or []
            for k in range(0, len(flat) - 2, 3):
                fields, members = flat[k + 1], flat[k + 2]
                states[int(flat[k]) - 1] = UserState(
                    {_text(fields[j]): float(fields[j + 1]) for j in range(0, len(fields), 2)} or NO_EVENTS,
                    {_text(members[j]): float(members[j + 1]) for j in range(0, len(members), 2)} or NO_EVENTS)
        return blobs, states

    async def _write_back(self, keys: list[str], blobs: list[bytes]) -> None:
        try:
            async with asyncio.timeout(self.settings.redis_read_timeout):
                await write_blobs(self.redis, keys, blobs, int(self.settings.cache_ttl))
        except REDIS_ERRORS as exc:
            log.warning("could not cache %d computed lists: %s", len(keys), exc)

    def _pick(self, current: ServingModel, ids: np.ndarray, scores: np.ndarray, req: ListRequest,
              recent: set[str], shown: frozenset[str] = frozenset()) -> list[dict]:
        """Request-time filters over a ranked candidate list, straight to response items; recently
        shown items go behind the rest first (so the category cap applies to the final order).

        Without a category cap this walks the list in Python and stops at n: the same items as
        `_finish` then `_items`, without a dozen array operations per list.
        """
        if shown:
            ids, scores = demote(ids, scores, self._codes(current, shown))
        if req.max_per_category is not None:
            return self._items(current, *self._finish(current, ids, scores, req, recent))
        exclude = req.exclude | recent if recent else req.exclude
        skip: set[int] = set()
        if exclude:
            codes = lookup(current.model.item_ids, list(exclude))
            skip = set(codes[codes >= 0].tolist())
        allowed = current.allowed_bytes(req.kind, req.category, req.in_stock_only)
        names, kinds, categories = current.item_fields()
        items: list[dict] = []
        n = req.n
        head = 2 * n + len(skip)  # enough unless the filters are strict; then walk the rest too
        for i, s in _walk(ids, scores, head):
            # the checks filter_ranked makes: a real index, a finite score, allowed, not excluded
            if i < 0 or not allowed[i] or not -1e30 < s < _INF or i in skip:
                continue
            items.append({"item_id": names[i], "score": round(s, 6), "kind": kinds[i], "category": categories[i]})
            if len(items) == n:
                break
        return items

    def _finish(self, current: ServingModel, ids: np.ndarray, scores: np.ndarray, req: ListRequest,
                recent: set[str]) -> tuple[np.ndarray, np.ndarray]:
        """Request-time filters over a ranked candidate list."""
        exclude = req.exclude | recent if recent else req.exclude
        if exclude:
            codes = lookup(current.model.item_ids, list(exclude))
            codes = codes[codes >= 0]
            if len(codes):
                keep = ~np.isin(ids, codes)
                ids, scores = ids[keep], scores[keep]
        mask = current.base_mask(req.kind, req.category, req.in_stock_only)
        return filter_ranked(ids, scores, mask, current.model.attrs.category,
                             ItemFilter(max_per_category=req.max_per_category), req.n)

    def _ranked(self, current: ServingModel, ids: np.ndarray, scores: np.ndarray, shown: frozenset[str],
                n: int) -> list[dict]:
        """A list already filtered (and capped) by the model, shown items demoted, cut to n."""
        keep = ids >= 0
        ids, scores = ids[keep], scores[keep]
        if shown:
            ids, scores = demote(ids, scores, self._codes(current, shown))
        return self._items(current, ids[:n], scores[:n])

    @staticmethod
    def _codes(current: ServingModel, item_ids: frozenset[str]) -> np.ndarray:
        codes = lookup(current.model.item_ids, list(item_ids))
        return codes[codes >= 0]

    def _items(self, current: ServingModel, ids: np.ndarray, scores: np.ndarray) -> list[dict]:
        names, kinds, categories = current.item_fields()
        return [{"item_id": names[i], "score": round(s, 6), "kind": kinds[i], "category": categories[i]}
                for i, s in zip(ids.tolist(), scores.tolist()) if i >= 0]


def full_filter(current: ServingModel, req: ListRequest, recent: Set[str] = frozenset()) -> ItemFilter:
    """The request's filters, plus the user's since-training items and the items taken out of the
    catalog: for the model's own filtered ranking (recommend, popular, similar, the retention blocks)."""
    return ItemFilter(kind=req.kind, category=req.category, in_stock_only=req.in_stock_only,
                      exclude=frozenset(req.exclude | recent | current.removed),
                      max_per_category=req.max_per_category)


def _walk(ids: np.ndarray, scores: np.ndarray, head: int):
    """(index, score) pairs in rank order, converting the first `head` and the rest only if reached."""
    yield from zip(ids[:head].tolist(), scores[:head].tolist())
    if len(ids) > head:
        yield from zip(ids[head:].tolist(), scores[head:].tolist())


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
