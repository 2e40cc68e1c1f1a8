"""Every event ever accepted, indexed for the retention routes, rebuilt only when it changed.

Events live in two places: the snapshot file (every event folded at the last training, up to
its stream cursor) and the Redis stream (entries after it). A customer who came back
yesterday must not get a win-back mail, and a cart bought an hour ago is not abandoned, so the
index covers both. It is cached under (snapshot file, last stream id read, model item map,
catalog): a request reads only the stream entries it has not seen (usually none: one XRANGE
that returns nothing), and rebuilds the index in a worker thread only when something changed.
One lock makes concurrent requests share a build instead of starting their own. Customers erased
(service.store.erasures) are left out from the erasure on, until the training that removes their events.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import redis.asyncio as aioredis

from recommender.catalog import Catalog, ItemAttributes
from recommender.events import EventTable
from recommender.retention.blocks import RepurchaseIntervals
from recommender.retention.complements import Complements
from recommender.retention.history import History
from service.serving.model_state import ServingModel
from service.serving.purchase_book import PurchaseBook
from service.store.events.stream import StreamCursor, StreamPages, StreamReset
from service.store.keys import Keys
from service.store.snapshot import load_snapshot

log = logging.getLogger(__name__)


@dataclass
class RetentionIndex:
    """The event index and the statistics the retention blocks read, built together."""

    history: History
    attrs: ItemAttributes  # catalog aligned to history item codes
    complements: Complements
    intervals: RepurchaseIntervals
    catalog: Catalog
    purchases: PurchaseBook  # every customer's purchases, priced, for the lifecycle routes


def build_index(events: EventTable, current: ServingModel) -> RetentionIndex:
    """CPU work for a worker thread: index the events on the model's item map, then the stats."""
    model = current.model
    history = History.build(events, model.item_ids)
    attrs = model.catalog.align(history.items)
    return RetentionIndex(history, attrs, Complements.build(history, attrs.kind == "content"),
                          RepurchaseIntervals.build(history), model.catalog,
                          PurchaseBook.build(events, model.catalog, current.default_currency))


def compact(events: EventTable) -> EventTable:
    """The same events with each distinct id held once (a snapshot loads one string per event)."""
    users, user_names = pd.factorize(events.user_ids)
    items, item_names = pd.factorize(events.item_ids)
    return dataclasses.replace(events, user_ids=np.asarray(user_names, dtype=object)[users],
                               item_ids=np.asarray(item_names, dtype=object)[items])


class HistoryStore:
    def __init__(self, redis: aioredis.Redis, keys: Keys, snapshot_path: Path,
                 erased: Callable[[], frozenset[str]] = frozenset) -> None:
        self.redis, self.keys, self.snapshot_path = redis, keys, snapshot_path
        # customers erased whose events the snapshot or stream may still hold (the read path's set): left out
        self.erased = erased
        self._lock = asyncio.Lock()
        self._snapshot_stamp: tuple | None = None
        self._snapshot_events = EventTable.empty()
        self._delta: list[EventTable] = []
        self._delta_cursor = StreamCursor()
        self._key: tuple | None = None
        self._index: RetentionIndex | None = None
        self._current: ServingModel | None = None  # keeps the objects whose ids are in the key alive
        self._resets = 0  # stream resets seen: part of the index key, as ids may repeat after one
        self.builds = 0  # how many times the index was built (tests check the cache works)

    async def get(self, current: ServingModel) -> RetentionIndex:
        """The index over the snapshot and the whole stream after it, as of this call."""
        async with self._lock:
            while True:
                await self._load_snapshot()
                stamp = self._snapshot_stamp
                if await self._read_stream():
                    # the stream is not the one the snapshot was folded from (Redis lost it, or the key
                    # was deleted): the snapshot's events stay, and every entry of this stream is new
                    log.error("the event stream was reset since the last training; reading all of it")
                    self._delta, self._delta_cursor = [], StreamCursor()
                    self._resets += 1
                    await self._read_stream()
                # a training may have folded (and trimmed) the stream while we read it: go again
                if self._stamp() == stamp:
                    break
            model = current.model
            erased = self.erased()
            key = (stamp, self._resets, self._delta_cursor.last_id, id(model.item_ids), id(model.catalog), erased)
            if self._index is None or key != self._key:
                events = EventTable.concat([self._snapshot_events, *self._delta])
                if erased:
                    events = events.take(np.flatnonzero(~pd.Series(events.user_ids).isin(erased).to_numpy()))
                self._index = await asyncio.to_thread(build_index, events, current)
                self._key = key
                self._current = current
                self.builds += 1
                log.info("retention index built: %d events, %d users", len(events), self._index.history.n_users)
            return self._index

    def _stamp(self) -> tuple | None:
        try:
            stat = os.stat(self.snapshot_path)
        except FileNotFoundError:
            return None
        return (stat.st_mtime_ns, stat.st_size, stat.st_ino)

    async def _load_snapshot(self) -> None:
        stamp = self._stamp()
        if stamp == self._snapshot_stamp:
            return
        snapshot = await asyncio.to_thread(load_snapshot, self.snapshot_path) if stamp else None
        if snapshot is None:
            events, cursor = EventTable.empty(), StreamCursor()
        else:
            events, cursor = await asyncio.to_thread(compact, snapshot.events), snapshot.cursor
        self._snapshot_stamp, self._snapshot_events = stamp, events
        self._delta, self._delta_cursor = [], cursor

    async def _read_stream(self) -> bool:
        """Append the stream entries after the last one read (after the snapshot's, at first); True
        when the stream turned out not to be the one followed (nothing is appended then)."""
        reader = StreamPages(self.redis, self.keys, self._delta_cursor)
        pages = []
        try:
            async for table, _ in reader:
                pages.append(table)
        except StreamReset:
            return True
        self._delta.extend(pages)
        self._delta_cursor = reader.cursor
        if len(self._delta) > 64:  # keep concatenation cheap for a long-running replica
            self._delta = [EventTable.concat(self._delta)]
        return False
