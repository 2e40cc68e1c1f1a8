"""The read path: precomputed lists from Redis, filtered at request time, with the in-memory model behind them for
cache misses, short lists, fold-in of new users and Redis outages.

Single-user and similar-item requests keep the lists they read in a bounded in-process cache keyed like Redis (so by
model version: hot_lists), and users' since-training state in a mirror kept exact by the change log ingestion writes
(service.store.mirror): a hot request reads no Redis key at all, and one asked the same way as last time reuses that
answer (served_lists) unless the user's state, the catalog, the fatigue window or a waiting purchase's due time has
moved since. Batch requests go to Redis in two commands per chunk (MGET and one script for the since-training state)
and leave the in-process caches alone, so a sweep over every user cannot push the hot lists out.

Single-user and similar-item requests that arrive together (in one pass of the event loop) share their Redis read
and their cache-miss computation (service.serving.coalescing): one round trip and one scoring, in the event loop, for
all of them. The read keeps one round trip in flight, so requests that arrive while it is out share the next one.
Computed lists are written back behind the answers, one pipeline in flight carrying every list computed meanwhile
(shared_work.SharedWrites). A cache miss is computed as the training's precompute computes lists
(Recommender.precompute_indices), so a user's list is the same whether the training or a request put it in Redis. A
first read of the default request (no parameters) by a user with nothing since training answers with the answer the
training rendered with their list (service.serving.rendered): nothing to decode, pick or encode.

With a model that serves bought items, what the user bought since training waits behind other items until it is due
again, and bought items say `"repeat": true` (service.serving.repeats); other models' lists lose every item the user
touched since training. Items the store recently showed the user (their shown set) go behind unshown ones
(recommender.retention.fatigue). The set, like the purchases since training, is read with the since-training events
(same pipeline or script, so no extra round trip) and mirrored with them: ingestion logs impressions in the same
change log, so a hot request still reads no Redis key. Reasons (`because`, recommender.explain) are computed only
when asked, for the final n items, after the list is picked.

No HTTP here: it raises service.errors (NoModel, UnknownItem), which service.http maps to statuses.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import AsyncIterator, Sequence

import numpy as np
import orjson
import redis.asyncio as aioredis

from recommender.retention.fatigue import recently_shown
from recommender.sources import FALLBACK, IN_MEMORY_MODEL, PERSONALIZED, SIMILAR
from service.errors import NoModel, UnknownItem
from service.metrics import Metrics
from service.serving.shared_work import ReadOrder, SharedComputes, SharedReads, SharedWrites
from service.serving.hot_lists import HotLists
from service.serving.model_state import ServingModel
from service.serving.picking import add_reasons, full_filter, items_of, pick, ranked
from service.serving.rendered import DEFAULT, usable
from service.serving.repeats import OwnItems, fold_in_history, own_items
from service.serving.requests import ListRequest, ListResult, lookup
from service.serving.served_lists import FOREVER, ServedLists, fatigue_until
from service.serving.trending import TrendingFallback
from service.serving.variants import Choice, Split, Splits
from service.experiments.definition import LISTS
from service.settings import Settings
from service.store.events.since_training import NO_STATE, UserState
from service.store.keys import Keys
from service.store.lists import Rendered, pack, rendered_of, unpack
from service.store.mirror import SinceTrainingMirror

READ_CHUNK = 1000
#: Lists picked between two yields to the event loop (about 10 ms of CPU at n=100), so a batch of 100,000
#: users never holds up a health check or a page's request for long.
YIELD_EVERY = 50
#: In-process cache of precomputed lists: about 28,000 lists of 100 (or 55,000 of 50) per replica.
HOT_LIST_BYTES = 32 * 1024 * 1024
#: Final answers kept per replica (served_lists): about 1.2 KB each for n=10, 12 MB in all.
SERVED_LISTS = 10_000
#: Users whose since-training state is mirrored, and how long an entry may go unchecked by a read
#: (writes invalidate at once; this only bounds how late an expiring hash is noticed).
MIRRORED_USERS = 100_000
MIRROR_MAX_AGE = 300.0


_Lists = tuple[np.ndarray, np.ndarray]


class Serving:
    def __init__(self, redis: aioredis.Redis, keys: Keys, settings: Settings, metrics: Metrics) -> None:
        self.redis, self.keys, self.settings, self.metrics = redis, keys, settings, metrics
        self.current: ServingModel | None = None
        self.trending: TrendingFallback | None = None  # RECS_FALLBACK=trending's source (set by the app)
        # customers erased whose events the serving model may still hold: served as unknown to it, never from
        # the in-process caches, and nothing computed for them is written back (service.store.erasures)
        self.erased: frozenset[str] = frozenset()
        # experiments splitting each route family (service.training.refresh keeps them)
        self.splits: dict[str, Splits] = {}
        self.hot = HotLists(HOT_LIST_BYTES)
        self.served = ServedLists(SERVED_LISTS)
        # the model the in-process caches were filled for, and the id() of its trained variants: neither kept alive
        self._hot_model: weakref.ref[ServingModel] | None = None
        self._hot_variants: frozenset[int] = frozenset()
        self.mirror = SinceTrainingMirror(redis, keys.change_log, MIRRORED_USERS, MIRROR_MAX_AGE,
                                          settings.redis_read_timeout)
        hot_hits = metrics.counter("encore_hot_cache_hits", "Precomputed lists served from the in-process "
                                   "cache (a subset of encore_cache_hits_total)", ("kind",))
        self._hits = {kind: metrics.cache_hits.labels(kind) for kind in ("user", "similar")}
        self._misses = {kind: metrics.cache_misses.labels(kind) for kind in ("user", "similar")}
        self._hot_hits = {kind: hot_hits.labels(kind) for kind in ("user", "similar")}
        self._rendered = metrics.counter("encore_rendered_answers", "First reads answered as their training rendered")
        # single-user and similar-item requests of one event-loop pass share these (service.serving.coalescing)
        self._reads = SharedReads(redis, keys, settings)
        self._computes = SharedComputes(settings.precompute_n)
        self._writes = SharedWrites(redis, settings)

    async def flush_writes(self) -> None:
        """Wait until the lists computed so far are written back (shutdown, before the app closes Redis)."""
        await self._writes.flush()

    def require(self) -> ServingModel:
        current = self.current
        if current is None:
            raise NoModel(retry_after=int(self.settings.poll_interval) + 1)
        return current

    def _hot_for(self, current: ServingModel) -> HotLists | None:
        """The in-process list cache, emptied when a new model is served; None for a request that began before a swap
        (its keys would only crowd out the new model's). An experiment's trained variant of the serving model shares
        it (its keys carry its own version; its folded position is the serving model's)."""
        serving = self.current
        if serving is None:
            return None
        # a new model object, even of the same version (its catalog_generation starts over), starts afresh;
        # so does the mirror: a user's since-training state is read relative to the model's folded position
        if self._hot_model is None or self._hot_model() is not serving:
            self.hot.clear()
            self.served.clear()
            self.mirror.clear()
            self._hot_model = weakref.ref(serving)
            self._hot_variants = frozenset(map(id, serving.variants.values()))  # live: the serving model holds them
        return self.hot if current is serving or id(current) in self._hot_variants else None

    # -- users ------------------------------------------------------------------------------
    def running_split(self, family: str = LISTS) -> Split | None:
        """The experiment splitting a route family now, if any (a dictionary look-up when none is defined)."""
        splits = self.splits.get(family)
        return splits.running(time.time()) if splits is not None and splits.pending else None

    async def for_users(self, user_ids: Sequence[str], req: ListRequest, remember: bool = True,
                        family: str = LISTS) -> tuple[str, list[ListResult]]:
        """Lists for users in input order, one Redis round trip per chunk of users (none when hot). `remember=False`:
        every result holds its items as dicts (the batch path, even for one user). While an experiment splits the
        route `family` (service.experiments.definition), each customer's list comes from their variant
        (service.serving.variants) and says so (ListResult.variant)."""
        current = self.require()
        return current.version, await self.lists_for(current, self.running_split(family), user_ids, req, remember)

    async def lists_for(self, current: ServingModel, running: Split | None, user_ids: Sequence[str],
                        req: ListRequest, remember: bool = False) -> list[ListResult]:
        """`for_users` with the serving model and the running experiment (or None) chosen by the caller, who
        needs the same split for more than the lists (the email blocks)."""
        if running is None:
            return await self._plain_users(current, user_ids, req, remember)
        if len(user_ids) == 1:  # a user's list, the hot path: one variant, nothing to group
            return await self._chosen_lists(current, running.choice(current, user_ids[0]), user_ids, req, remember)
        return await self._split_users(current, running, user_ids, req, remember)

    async def _plain_users(self, current: ServingModel, user_ids: Sequence[str], req: ListRequest,
                           remember: bool) -> list[ListResult]:
        if len(user_ids) == 1 and remember:
            remembered = await self._remembered(current, user_ids[0], req)
            if remembered is not None:
                return [remembered]
            return await self._user_chunk(current, user_ids, req, interactive=True)
        results: list[ListResult] = []
        for start in range(0, len(user_ids), READ_CHUNK):
            results.extend(await self._user_chunk(current, user_ids[start:start + READ_CHUNK], req, interactive=False))
        return results

    async def user_chunks(self, current: ServingModel, user_ids: Sequence[str], req: ListRequest
                          ) -> AsyncIterator[list[ListResult]]:
        """Lists for many users from one model (`current`, from `require()`), READ_CHUNK users at a time in input
        order: a caller streams them out without holding every list (the batch route). The experiment splitting the
        list routes when the batch began splits all of it."""
        running = self.running_split()
        for start in range(0, len(user_ids), READ_CHUNK):
            yield await self.lists_for(current, running, user_ids[start:start + READ_CHUNK], req)

    async def _split_users(self, current: ServingModel, running: Split, user_ids: Sequence[str], req: ListRequest,
                           remember: bool) -> list[ListResult]:
        """Each customer's list from their variant (service.serving.variants.Choice), grouped by variant."""
        groups: dict[int, list[int]] = {}
        for pos, user_id in enumerate(user_ids):
            groups.setdefault(running.index_of(user_id), []).append(pos)
        choices = running.choices(current)
        results: list[ListResult | None] = [None] * len(user_ids)
        for index, positions in groups.items():
            got = await self._chosen_lists(current, choices[index], [user_ids[p] for p in positions], req, remember)
            for pos, result in zip(positions, got):
                results[pos] = result
        return results  # type: ignore[return-value]

    async def _chosen_lists(self, current: ServingModel, choice: Choice, user_ids: Sequence[str], req: ListRequest,
                            remember: bool) -> list[ListResult]:
        """The lists of customers of one variant: the popularity holdout's (model None), or their model's (the
        serving model, or a trained variant's: the serving model, not counted, until a training has made it)."""
        model, tag = choice
        if model is None:
            got = await self._holdout(current, req, len(user_ids), remember)
        else:
            got = await self._plain_users(model, user_ids, req, remember)
        for result in got:
            result.variant = tag
        return got

    async def _remembered(self, current: ServingModel, user_id: str, req: ListRequest) -> ListResult | None:
        """The answer served last time for this user and request, if nothing it depends on has
        changed since (served_lists); None sends the request down the full path."""
        if req.explain or self._hot_for(current) is None or user_id in self.erased:
            return None
        key = (self.keys.user_recs(current.version, user_id), req)
        if key not in self.served or not await self.mirror.fresh():
            return None
        state = self.mirror.get(user_id, time.monotonic())
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
        erased = self.erased
        masked = [pos for pos, u in enumerate(user_ids) if u in erased] if erased else []
        hot = self._hot_for(current) if interactive and not masked else None
        codes: np.ndarray | None = None  # looked up only when some list is not in memory
        deadline = asyncio.get_running_loop().time() + self.settings.redis_read_timeout  # for all reads below
        if hot is not None:
            lists = [hot.get(key) for key in list_keys]  # only known users' lists are ever kept
            hits = n - lists.count(None)
            if hits:
                self._hot_hits["user"].inc(hits)
            # fresh() gives up after the same timeout, and a read after it failed finds the deadline past
            if self.mirror.worth_checking(user_ids) and await self.mirror.fresh():
                now = time.monotonic()
                states = [self.mirror.get(u, now) for u in user_ids]

        if hot is None or hits < n or model.recommends_bought_items:  # the last: their purchases are by code
            codes = lookup(model.user_ids, user_ids)
            if masked:
                codes[masked] = -1
        list_reads = [pos for pos in range(n) if lists[pos] is None and codes[pos] >= 0]  # type: ignore[index]
        state_reads = [pos for pos in range(n) if states[pos] is None]
        degraded = False  # Redis could not be read: the lists then say they came from the model alone
        remember = hot is not None and not req.explain  # explain adds `because` to the items it gets
        rendered: dict[int, Rendered] = {}  # users answered as the training rendered it
        may_render = remember and req == DEFAULT
        generation = current.catalog_generation  # before building anything from the catalog
        if list_reads or state_reads:
            readers = [user_ids[pos] for pos in state_reads]
            mirrored = hot is not None  # states read for another model must not fill this model's mirror
            token = self.mirror.begin(readers) if mirrored else 0
            blobs = read_states = None
            try:
                order = ReadOrder([list_keys[pos] for pos in list_reads], readers, deadline, current.folded_through)
                blobs, read_states = await (self._reads.submit(order) if interactive else self._reads.read(*order))
            finally:
                if mirrored:
                    self.mirror.finish(token, readers, read_states, time.monotonic())  # type: ignore[arg-type]
            degraded = blobs is None
            for pos, state in zip(state_reads, read_states or [NO_STATE] * len(state_reads)):
                states[pos] = state
            for pos, blob in zip(list_reads, blobs or ()):
                answer = rendered_of(blob) if may_render and blob is not None else None
                if answer is not None and usable(current, answer, states[pos] or NO_STATE):
                    hot.keep(list_keys[pos], blob)  # type: ignore[union-attr]
                    rendered[pos] = answer  # nothing to decode, pick or encode
                    self._rendered.inc()
                elif blob is not None:
                    lists[pos] = hot.put(list_keys[pos], blob) if hot is not None else unpack(blob)

        wall = time.time()
        fatigue = self.settings.fatigue_days
        results: list[ListResult | None] = [None] * n
        shown_sets: list[frozenset[str]] = [frozenset()] * n
        histories: dict[int, dict[str, float]] = {}  # folded-in users' events, for explain
        misses: list[int] = []
        hits = len(rendered)
        own_sets: list[OwnItems] = [OwnItems()] * n
        for pos in range(n):
            if pos % YIELD_EVERY == YIELD_EVERY - 1:
                await asyncio.sleep(0)  # a batch's picking is CPU in the loop: let other requests in between
            state = states[pos] or NO_STATE
            answer = rendered.get(pos) if rendered else None
            if answer is not None:  # counted as a hit with the others below
                results[pos] = ListResult(PERSONALIZED, [], self.served.put_encoded(
                    (list_keys[pos], req), state, generation, FOREVER, answer.items, answer.count))
                continue
            since = state.since_training
            shown = shown_sets[pos] = recently_shown(state.shown, wall, fatigue) if state.shown else frozenset()
            own = own_sets[pos] = own_items(current, -1 if codes is None else int(codes[pos]), state, wall)
            found = lists[pos]
            if found is not None:
                hits += 1
                results[pos] = await self._personal(current, None if codes is None else int(codes[pos]),
                                                    found[0], found[1], req, own, user_id=user_ids[pos], shown=shown)
                if remember:  # the answer as the response embeds it: its items are encoded once
                    until = min(fatigue_until(state.shown, wall, fatigue), own.until)
                    results[pos] = ListResult(PERSONALIZED, [], self.served.put(
                        (list_keys[pos], req), state, generation, until, results[pos].items))  # type: ignore[union-attr]
            elif codes[pos] >= 0:  # type: ignore[index]
                misses.append(pos)
            elif since and max(since.values()) > 0:  # only weight-0 events (notify_me): nothing to fold in
                histories[pos] = dict(since)
                results[pos] = await self._fold_in(current, user_ids[pos], state, own, req, shown)
            else:
                results[pos] = await self._popular(current, req, shown)
        if hits:
            self._hits["user"].inc(hits)
        if misses:
            self._misses["user"].inc(len(misses))
            miss_codes = codes[misses]  # type: ignore[index]
            if interactive:
                ids, scores = await self._computes.submit((model, miss_codes))
            else:
                ids, scores = await asyncio.to_thread(model.precompute_indices, miss_codes, self.settings.precompute_n)
            blobs = [pack(ids[row], scores[row]) for row in range(len(misses))]
            if not degraded:  # Redis just failed to answer: writing would only wait for it again
                erased = self.erased  # as it is now: a customer erased during the compute is not cached
                kept = [row for row, p in enumerate(misses) if user_ids[p] not in erased]
                keys, kept_blobs = [list_keys[misses[row]] for row in kept], [blobs[row] for row in kept]
                if interactive:
                    self._writes.later(keys, kept_blobs)
                elif keys:
                    await self._writes.write(keys, kept_blobs)
            if hot is not None:
                for pos, blob in zip(misses, blobs):
                    hot.put(list_keys[pos], blob)
            for row, pos in enumerate(misses):
                if row % YIELD_EVERY == YIELD_EVERY - 1:
                    await asyncio.sleep(0)
                results[pos] = await self._personal(current, int(miss_codes[row]), ids[row], scores[row], req,
                                                    own_sets[pos], shown=shown_sets[pos])
        if req.explain:
            await asyncio.to_thread(add_reasons, current, user_ids, codes, results, histories)
        if degraded:
            for result in results:
                result.source = IN_MEMORY_MODEL  # type: ignore[union-attr]
        return results  # type: ignore[return-value]

    async def _personal(self, current: ServingModel, code: int | None, ids: np.ndarray, scores: np.ndarray,
                        req: ListRequest, own: OwnItems, user_id: str = "",
                        shown: frozenset[str] = frozenset()) -> ListResult:
        items = pick(current, ids, scores, req, own.exclude, shown, own.waiting, own.bought)
        if len(items) < req.n and len(ids) >= min(self.settings.precompute_n, len(current.model.item_ids)):
            # filters thinned the precomputed list: rank the allowed items directly
            if code is None:
                code = int(lookup(current.model.user_ids, [user_id])[0])
            full = full_filter(current, req, own.exclude)
            more_ids, more_scores = await asyncio.to_thread(
                current.model.recommend_indices, np.array([code]), req.n + len(shown) + len(own.waiting), full)
            items = ranked(current, more_ids[0], more_scores[0], shown, req.n, req.fields, own.waiting,
                           own.bought)
        return ListResult(PERSONALIZED, items)

    async def _fold_in(self, current: ServingModel, user_id: str, state: UserState, own: OwnItems,
                       req: ListRequest, shown: frozenset[str] = frozenset()) -> ListResult:
        """A user who arrived after training: solve their vector from the events we have (the basket
        models also learn which of them were purchases, and when)."""
        full = full_filter(current, req, own.exclude)
        items, weights, types, times = fold_in_history(state.since_training, state.bought)
        history = {"types": types, "timestamps": times} if current.model.uses_baskets else {}
        result = await asyncio.to_thread(current.model.recommend_for_history, user_id, items, weights,
                                         req.n + len(shown) + len(own.waiting), full, **history)
        codes = lookup(current.model.item_ids, [i.item_id for i in result.items])
        scores = np.array([i.score for i in result.items], dtype=np.float32)
        return ListResult(result.source, ranked(current, codes, scores, shown, req.n, req.fields, own.waiting,
                                                own.bought))

    async def _popular(self, current: ServingModel, req: ListRequest,
                       shown: frozenset[str] = frozenset()) -> ListResult:
        ids, scores = current.popular_candidates() if self.trending is None else await self.trending.fallback(current)
        items = pick(current, ids, scores, req, set(), shown)
        if len(items) < req.n and len(ids) < len(current.model.item_ids):
            popular = await asyncio.to_thread(current.model.popular, req.n + len(shown), full_filter(current, req))
            items = ranked(current, lookup(current.model.item_ids, [i.item_id for i in popular]),
                                 np.array([i.score for i in popular], dtype=np.float32), shown, req.n, req.fields)
        return ListResult(FALLBACK, items)

    async def _holdout(self, current: ServingModel, req: ListRequest, n: int, remember: bool) -> list[ListResult]:
        """`n` copies of the popularity holdout's list (the same for every customer: no personal state), the
        answer remembered per request and catalog like a similar-items list, so a hot request picks nothing
        (`remember=False`: items as dicts, never a remembered answer's JSON)."""
        key, generation = (("holdout", current.version), req), current.catalog_generation
        remember = remember and not req.explain and self._hot_for(current) is not None
        answer = self.served.get(key, None, generation, 0.0) if remember else None
        if answer is None:
            top = await self._popular(current, req)
            if not remember:
                reasons = {"because": []} if req.explain else {}  # popularity has no reasons
                return [ListResult(FALLBACK, [{**item, **reasons} for item in top.items]) for _ in range(n)]
            answer = self.served.put(key, None, generation, FOREVER, top.items)  # its items encoded once
        return [ListResult(FALLBACK, [], answer) for _ in range(n)]

    # -- items ------------------------------------------------------------------------------
    async def similar(self, item_id: str, req: ListRequest) -> tuple[str, str, list[dict] | orjson.Fragment, int]:
        """(model version, source, items, how many): source is IN_MEMORY_MODEL when Redis could not be read."""
        current = self.require()
        key = self.keys.similar(current.version, item_id)
        hot = self._hot_for(current)
        generation = current.catalog_generation  # before building anything from the catalog
        if hot is not None:
            answer = self.served.get((key, req), None, generation, 0.0)  # no user state, no clock
            if answer is not None:
                self._hot_hits["similar"].inc()
                self._hits["similar"].inc()
                return current.version, SIMILAR, answer.items, answer.count
        model = current.model
        code = int(lookup(model.item_ids, [item_id])[0])
        if code < 0:
            raise UnknownItem(item_id)
        found = hot.get(key) if hot is not None else None
        source = SIMILAR
        if found is not None:
            self._hot_hits["similar"].inc()
        else:
            loop = asyncio.get_running_loop()
            blobs, _ = await self._reads.submit(ReadOrder([key], [], loop.time() + self.settings.redis_read_timeout))
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
                self._writes.later([key], [blob])
            if hot is not None:
                hot.put(key, blob)
            ids, scores = ids[0], scores[0]
        items = pick(current, ids, scores, req, set())
        if len(items) < req.n and len(ids) >= min(self.settings.similar_n, len(model.item_ids) - 1):
            more_ids, more_scores = await asyncio.to_thread(
                model.similar_indices, np.array([code]), req.n, full_filter(current, req))
            items = items_of(current, more_ids[0][more_ids[0] >= 0], more_scores[0][more_ids[0] >= 0], req.fields)
        if hot is not None:
            return current.version, source, self.served.put((key, req), None, generation, FOREVER, items).items, len(items)
        return current.version, source, items, len(items)
