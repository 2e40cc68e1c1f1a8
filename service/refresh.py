"""Scheduled refresh: fold new events, train, evaluate, save, precompute, swap; and the poll
that makes every replica serve the version the pointer in Redis names.

A Redis lock with a TTL (extended while training runs) makes one replica train at a time;
a replica that dies mid-training simply lets the lock expire.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from recommender.algorithms import ModelParams
from recommender.artifacts import ArtifactInfo, save_model
from recommender.catalog import Catalog
from recommender.errors import ArtifactError, InputError
from recommender.evaluation import temporal_split, train_and_evaluate
from recommender.events import EventTable, EventWeights, build_matrix, read_events
from recommender.models import Recommender
from service.cache import write_lists
from service.catalog_store import catalog_revision, load_catalog, upsert_items
from service.ingest import stream_entries_to_table
from service.keys import Keys
from service.metrics import Metrics
from service.model_state import ServingModel
from service.serving import Serving
from service.settings import Settings
from service.snapshot import START, Snapshot, load_snapshot, save_snapshot

log = logging.getLogger(__name__)
STREAM_PAGE = 10_000
PRECOMPUTE_CHUNK = 5_000
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
_EXTEND = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"


@dataclass
class TrainingReport:
    outcome: str  # trained | rejected | failed | skipped
    message: str = ""
    version: str | None = None
    metrics: dict = field(default_factory=dict)


@dataclass
class Candidate:
    model: Recommender | None
    metrics: dict
    rejected: str = ""


def train_candidate(events: EventTable, catalog: Catalog, params: ModelParams, weights: EventWeights,
                    serving_ndcg: float | None, max_drop: float) -> Candidate:
    """CPU work, run in a thread: evaluate on a temporal holdout, gate on quality, fit on all data."""
    metrics: dict = {}
    try:
        _, held_out = train_and_evaluate(temporal_split(events), params, weights, catalog)
        metrics = held_out.as_dict()
    except InputError as exc:  # too little data to hold any out; train anyway, with no metrics
        log.warning("skipping the holdout evaluation: %s", exc)
    if serving_ndcg and metrics and metrics["ndcg"] < serving_ndcg * (1 - max_drop):
        return Candidate(None, metrics, f"nDCG@10 {metrics['ndcg']:.4f} is more than {max_drop:.0%} below the "
                                        f"serving model's {serving_ndcg:.4f}")
    model = Recommender(params).fit(build_matrix(events, weights), catalog)
    return Candidate(model, metrics)


class Refresher:
    def __init__(self, redis: aioredis.Redis, keys: Keys, settings: Settings, serving: Serving,
                 metrics: Metrics) -> None:
        self.redis, self.keys, self.settings, self.serving, self.metrics = redis, keys, settings, serving, metrics
        self.training: asyncio.Task | None = None
        self.catalog_rev = -1
        self.params = ModelParams(algorithm=settings.algorithm)
        self.weights = EventWeights()

    @property
    def snapshot_path(self) -> Path:
        return self.settings.models_path / "snapshot.npz"

    # -- serving the pointer's version ------------------------------------------------------
    async def sync(self) -> None:
        """Load the version the pointer names and any catalog change; keep serving on failure."""
        version = await self.redis.get(self.keys.current_version)
        version = version.decode() if version else None
        current = self.serving.current
        if version and (current is None or current.version != version):
            await self._load(version)
        revision = await catalog_revision(self.redis, self.keys)
        if revision != self.catalog_rev and self.serving.current is not None:
            catalog, removed, revision = await load_catalog(self.redis, self.keys)
            await asyncio.to_thread(self.serving.current.update_catalog, catalog, removed)
            self.catalog_rev = revision

    async def _load(self, version: str) -> None:
        path = self.settings.models_path / f"{version}.npz"
        try:
            catalog, removed, revision = await load_catalog(self.redis, self.keys)
            loaded = await asyncio.to_thread(ServingModel.load, path, catalog, removed)
        except ArtifactError as exc:
            log.error("refusing model %s, keeping %s: %s", version,
                      self.serving.current.version if self.serving.current else "none", exc)
            await self._status(load_error=str(exc), load_error_at=time.time())
            return
        self.install(loaded, revision)

    def install(self, loaded: ServingModel, revision: int) -> None:
        self.serving.current = loaded  # one reference swap: requests see the old or the new model
        self.catalog_rev = revision
        self.metrics.set_version(loaded.version)
        log.info("serving model %s (%s, %d users, %d items)", loaded.version, loaded.info.algorithm,
                 loaded.info.users, loaded.info.items)

    # -- training ---------------------------------------------------------------------------
    async def due(self) -> bool:
        status = await self.redis.hgetall(self.keys.training_status)
        requested = await self.redis.get(self.keys.retrain_requested)
        last_attempt = float(status.get(b"last_attempt_at", 0) or 0)
        elapsed = time.time() - last_attempt
        if requested:
            return True
        if await self.redis.get(self.keys.current_version) is None:
            return self.settings.train_on_start and elapsed >= min(self.settings.refresh_interval, 60.0)
        return elapsed >= self.settings.refresh_interval

    def start_training(self, reason: str) -> bool:
        """Start a training task unless this replica already runs one."""
        if self.training is not None and not self.training.done():
            return False
        self.training = asyncio.create_task(self.train(reason), name="encore-training")
        return True

    async def train(self, reason: str = "scheduled") -> TrainingReport:
        token = uuid.uuid4().hex
        ttl_ms = int(self.settings.lock_ttl * 1000)
        if not await self.redis.set(self.keys.train_lock, token, nx=True, px=ttl_ms):
            return TrainingReport("skipped", "another replica is training")
        keeper = asyncio.create_task(self._keep_lock(token, ttl_ms))
        started = time.perf_counter()
        await self._status(last_attempt_at=time.time(), running=1)
        await self.redis.delete(self.keys.retrain_requested)
        try:
            report = await self._train_locked(reason)
        except Exception as exc:  # the serving model stays; the next scheduled run tries again
            log.exception("training failed")
            report = TrainingReport("failed", f"{type(exc).__name__}: {exc}")
        finally:
            keeper.cancel()
            await self.redis.eval(_RELEASE, 1, self.keys.train_lock, token)
        seconds = time.perf_counter() - started
        self.metrics.training_seconds.observe(seconds)
        self.metrics.trainings.labels(report.outcome).inc()
        fields = {"running": 0, "last_outcome": report.outcome, "last_message": report.message,
                  "last_metrics": json.dumps(report.metrics), "last_seconds": round(seconds, 3)}
        if report.outcome == "trained":
            fields.update(last_success_at=time.time(), last_version=report.version or "")
        else:
            fields.update(last_error=report.message, last_error_at=time.time())
        await self._status(**fields)
        log.info("training (%s) %s in %.1fs: %s", reason, report.outcome, seconds, report.message)
        return report

    async def _train_locked(self, reason: str) -> TrainingReport:
        snapshot = await self.fold_stream()
        if len(snapshot.events) == 0:
            return TrainingReport("failed", "no events to train on")
        catalog, removed, revision = await load_catalog(self.redis, self.keys)
        current = self.serving.current
        serving_ndcg = current.info.metrics.get("ndcg") if current else None
        candidate = await asyncio.to_thread(train_candidate, snapshot.events, catalog, self.params, self.weights,
                                            serving_ndcg, self.settings.max_quality_drop)
        if candidate.model is None:
            return TrainingReport("rejected", candidate.rejected, metrics=candidate.metrics)
        info = await asyncio.to_thread(self._save, candidate.model, candidate.metrics)
        await self.precompute(candidate.model, info.version, snapshot.events)
        await self.redis.set(self.keys.current_version, info.version)
        self.install(ServingModel(candidate.model, info, removed), revision)
        return TrainingReport("trained", f"{reason}: version {info.version}", info.version, candidate.metrics)

    def _save(self, model: Recommender, metrics: dict) -> ArtifactInfo:
        directory = self.settings.models_path
        tmp = directory / f".candidate-{os.getpid()}.npz"
        info = save_model(model, tmp, metrics=metrics)
        os.replace(tmp, directory / f"{info.version}.npz")
        return info

    async def fold_stream(self) -> Snapshot:
        """Append new stream events to the snapshot, persist it, then trim what it now holds."""
        snapshot = await asyncio.to_thread(load_snapshot, self.snapshot_path)
        if snapshot is None:
            snapshot = Snapshot(await self._bootstrap_events(), START)
        pages, last_id = [], snapshot.last_id
        while True:
            entries = await self.redis.xrange(self.keys.events, min=f"({last_id}", count=STREAM_PAGE)
            if not entries:
                break
            pages.append(stream_entries_to_table(entries))
            last_id = entries[-1][0].decode()
        if pages or not self.snapshot_path.exists():
            snapshot = Snapshot(EventTable.concat([snapshot.events, *pages]), last_id)
            await asyncio.to_thread(save_snapshot, snapshot, self.snapshot_path)
            if last_id != START:  # exact trim (not "~"), and the boundary entry too: all now in the snapshot
                pipe = self.redis.pipeline(transaction=True)
                pipe.xtrim(self.keys.events, minid=last_id, approximate=False)
                pipe.xdel(self.keys.events, last_id)
                await pipe.execute()
        return snapshot

    async def _bootstrap_events(self) -> EventTable:
        """First start with seed files (the demo): load the catalog and events once."""
        if self.settings.bootstrap_catalog and not await self.redis.exists(self.keys.catalog):
            from recommender.catalog import read_catalog

            catalog = await asyncio.to_thread(read_catalog, self.settings.bootstrap_catalog)
            await upsert_items(self.redis, self.keys, catalog)
        if self.settings.bootstrap_events:
            return await asyncio.to_thread(read_events, self.settings.bootstrap_events)
        return EventTable.empty()

    async def precompute(self, model: Recommender, version: str, events: EventTable) -> None:
        """Top lists for users active in the window and similar items for every item, into Redis."""
        ttl = self.settings.version_ttl
        horizon = events.timestamps.max() - self.settings.active_days * 86400.0
        active = pd.unique(events.user_ids[events.timestamps >= horizon])  # hash-based: 3x np.unique on strings
        user_codes = model.user_ids.lookup(active)
        for start in range(0, len(active), PRECOMPUTE_CHUNK):
            codes = user_codes[start:start + PRECOMPUTE_CHUNK]
            ids, scores = await asyncio.to_thread(model.precompute_indices, codes, self.settings.precompute_n)
            await write_lists(self.redis, [self.keys.user_recs(version, u) for u in active[start:start + len(codes)]],
                              ids, scores, ttl)
        item_ids = model.item_ids.ids
        for start in range(0, len(item_ids), PRECOMPUTE_CHUNK):
            codes = np.arange(start, min(start + PRECOMPUTE_CHUNK, len(item_ids)))
            ids, scores = await asyncio.to_thread(model.similar_indices, codes, self.settings.similar_n)
            await write_lists(self.redis, [self.keys.similar(version, i) for i in item_ids[codes]], ids, scores, ttl)
        log.info("precomputed %d users and %d items for %s", len(active), len(item_ids), version)

    async def _keep_lock(self, token: str, ttl_ms: int) -> None:
        while True:
            await asyncio.sleep(ttl_ms / 3000)
            await self.redis.eval(_EXTEND, 1, self.keys.train_lock, token, ttl_ms)

    async def _status(self, **fields: object) -> None:
        await self.redis.hset(self.keys.training_status, mapping={k: str(v) for k, v in fields.items()})

    async def status(self) -> dict[str, str]:
        raw = await self.redis.hgetall(self.keys.training_status)
        return {k.decode(): v.decode() for k, v in raw.items()}

    # -- the background loop ----------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop` is set: follow the pointer, and train when due (in its own task, so polling
        goes on). A stop event, not cancellation: redis-py may turn a cancellation mid-command into
        a connection error, which this loop is meant to survive."""
        while not stop.is_set():
            try:
                await self.sync()
                if await self.due():
                    self.start_training("scheduled")
            except (RedisError, OSError) as exc:
                log.warning("refresh loop: redis unavailable: %s", exc)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.poll_interval)
