"""Scheduled refresh: fold new events, train, evaluate, save, precompute, swap; and the poll
that makes every replica serve the version the pointer in Redis names.

A Redis lock with a TTL (extended while training runs) makes one replica train at a time;
a replica that dies mid-training simply lets the lock expire.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from pathlib import Path

import redis.asyncio as aioredis

from recommender.errors import ArtifactError
from recommender.matrix import EventWeights
from service.metrics import Metrics
from service.periodic import pause
from service.serving.model_state import ServingModel, return_free_memory
from service.serving.read_path import Serving
from service.serving.variants import Splits
from service.training.choice import serving_candidate
from service.training.variants import VARIANTS
from service.experiments.registry import all_experiments
from service.settings import Settings
from service.store import training_history, training_state
from service.store.catalog import catalog_revision, load_catalog
from service.store.client import REDIS_ERRORS
from service.store.erasures import complete as complete_erasures
from service.store.erasures import drop_lists, erased_users
from service.store.events.since_training import forget_through
from service.store.keys import Keys
from service.training.job import (
    TrainingJob,
    TrainingReport,
    snapshot_path,
    train_in_child,
)

log = logging.getLogger(__name__)


class Refresher:
    def __init__(self, redis: aioredis.Redis, keys: Keys, settings: Settings, serving: Serving,
                 metrics: Metrics, redis_url: str) -> None:
        self.redis, self.keys, self.settings, self.serving, self.metrics = redis, keys, settings, serving, metrics
        self.redis_url = redis_url  # for the training child; may hold a password: never logged
        self.training: asyncio.Task | None = None
        self.catalog_rev = -1
        self.weights = EventWeights()  # the since-training hashes' confidence weights (types only)
        # the training record as last read together with a pointer naming the model this replica serves
        self._record: tuple[str, dict[str, str]] | None = None
        # held from reading the pointer (or moving it) to installing its model, so a poll's slow load of the
        # model the pointer named can never be swapped in over a newer model this replica trained meanwhile
        self._installing = asyncio.Lock()

    @property
    def snapshot_path(self) -> Path:
        return snapshot_path(self.settings)

    # -- serving the pointer's version ------------------------------------------------------
    async def sync(self) -> None:
        """Load the version the pointer names and any catalog change; keep serving on failure."""
        async with self._installing:
            version, record = await training_state.read_pointer_and_record(self.redis, self.keys)
            current = self.serving.current
            if version and (current is None or current.version != version):
                await self._load(version)
            if version and self.serving.current is not None and self.serving.current.version == version:
                self._record = (version, record)
        self.serving.erased = await erased_users(self.redis, self.keys)
        self.serving.splits = Splits.by_family(await all_experiments(self.redis, self.keys), time.time(),
                                               self.serving.splits)
        revision = await catalog_revision(self.redis, self.keys)
        if revision != self.catalog_rev and self.serving.current is not None:
            catalog, removed, revision = await load_catalog(self.redis, self.keys)
            await asyncio.to_thread(self.serving.current.update_catalog, catalog, removed)
            self.catalog_rev = revision

    async def _load(self, version: str) -> None:
        loaded = await self._read(version)
        if loaded is not None:
            await self._swap(*loaded)

    async def _read(self, version: str) -> tuple[ServingModel, int] | None:
        """The artifact of `version`, checked, with the catalog applied; None if it is refused."""
        path = self.settings.models_path / f"{version}.npz"
        try:
            catalog, removed, revision = await load_catalog(self.redis, self.keys)
            loaded = await asyncio.to_thread(ServingModel.load, path, catalog, removed, self.settings.currency)
            for name, variant_version in (loaded.info.extra.get(VARIANTS) or {}).items():  # experiments' models
                loaded.variants[name] = await asyncio.to_thread(
                    ServingModel.load, self.settings.models_path / f"{variant_version}.npz", catalog, removed,
                    self.settings.currency)
            return loaded, revision
        except ArtifactError as exc:
            log.error("refusing model %s, keeping %s: %s", version,
                      self.serving.current.version if self.serving.current else "none", exc)
            await self._status(load_error=str(exc), load_error_at=time.time())
            return None

    async def _swap(self, loaded: ServingModel, revision: int) -> None:
        self.install(loaded, revision)
        await asyncio.to_thread(return_free_memory)  # the replaced model's arrays

    def install(self, loaded: ServingModel, revision: int) -> None:
        self.serving.current = loaded  # one reference swap: requests see the old or the new model
        self.catalog_rev = revision
        self.metrics.set_version(loaded.version)
        log.info("serving model %s (%s, %d users, %d items)", loaded.version, loaded.info.algorithm,
                 loaded.info.users, loaded.info.items)

    # -- training ---------------------------------------------------------------------------
    async def due(self) -> str | None:
        """Why a training is due ("requested" or "scheduled"), or None. The reason is logged, so a
        request that another worker's loop picks up is still reported as requested."""
        status = await training_state.read_status(self.redis, self.keys)
        requested = await training_state.retrain_requested(self.redis, self.keys)
        elapsed = time.time() - float(status.get("last_attempt_at") or 0)
        if requested:
            return "requested"
        if await training_state.current_version(self.redis, self.keys) is None:
            due = self.settings.train_on_start and elapsed >= min(self.settings.refresh_interval, 60.0)
        else:
            due = elapsed >= self.settings.refresh_interval
        return "scheduled" if due else None

    def start_training(self, reason: str) -> bool:
        """Start a training task unless this replica already runs one."""
        if self.training is not None and not self.training.done():
            return False
        self.training = asyncio.create_task(self.train(reason), name="encore-training")
        return True

    async def train(self, reason: str = "scheduled") -> TrainingReport:
        token = uuid.uuid4().hex
        ttl_ms = int(self.settings.lock_ttl * 1000)
        if not await training_state.acquire_lock(self.redis, self.keys, token, ttl_ms):
            return TrainingReport("skipped", "another replica is training")
        keeping = asyncio.Event()
        keeper = asyncio.create_task(self._keep_lock(token, ttl_ms, keeping), name="encore-training-lock")
        started = time.perf_counter()
        await self._status(last_attempt_at=time.time(), running=1)
        await training_state.clear_retrain_request(self.redis, self.keys)
        try:
            report = await self._train_locked(reason, started)
        except Exception as exc:  # the serving model stays; the next scheduled run tries again
            log.exception("training failed")
            report = TrainingReport("failed", f"{type(exc).__name__}: {exc}")
        finally:
            keeping.set()
            await keeper  # at most the extension in progress (service.periodic)
            await training_state.release_lock(self.redis, self.keys, token)
        seconds = time.perf_counter() - started
        self.metrics.training_seconds.observe(seconds)
        self.metrics.trainings.labels(report.outcome).inc()
        if report.outcome != "trained":  # a trained model's record went with the pointer (_train_locked)
            await self._status(**self._outcome(report, seconds))
        await training_history.append_training(self.redis, self.keys, {
            "finished_at": time.time(), "seconds": round(seconds, 3), "reason": reason, "outcome": report.outcome,
            "message": report.message, "version": report.version, "algorithm": self._algorithm(report),
            "metrics": report.metrics})
        log.info("training (%s) %s in %.1fs: %s", reason, report.outcome, seconds, report.message)
        return report

    def _algorithm(self, report: TrainingReport) -> str:
        """The trained model's algorithm (the one model choice picked), else what was asked for."""
        current = self.serving.current
        if report.outcome == "trained" and current is not None and current.version == report.version:
            return current.info.algorithm
        return self.settings.algorithm

    @staticmethod
    def _outcome(report: TrainingReport, seconds: float) -> dict[str, object]:
        """The training record's fields for a finished run."""
        fields: dict[str, object] = {"running": 0, "last_outcome": report.outcome, "last_message": report.message,
                                     "last_metrics": json.dumps(report.metrics), "last_seconds": round(seconds, 3)}
        if report.outcome == "trained":
            fields.update(last_success_at=time.time(), last_version=report.version or "")
        else:
            fields.update(last_error=report.message, last_error_at=time.time())
        return fields

    async def _train_locked(self, reason: str, started: float) -> TrainingReport:
        """Train in a child process (service.training.job), then serve the result: move the pointer and
        write the training record in one step, swap, and forget what the replaced model already held."""
        current = self.serving.current
        job = TrainingJob(self.redis_url, self.settings, current.info.metrics if current else None, reason,
                          serving_candidate(current.info) if current else None)
        report = await train_in_child(job)
        if report.outcome != "trained" or report.version is None:
            return report
        loaded = await self._read(report.version)  # checked before any replica is pointed at it
        if loaded is None:
            return TrainingReport("failed", f"the new artifact {report.version} could not be loaded",
                                  metrics=report.metrics)
        previous = self.serving.current
        # lists the child wrote for users erased meanwhile; a user erased but not yet complete stays unknown
        await drop_lists(self.redis, self.keys, report.version, await erased_users(self.redis, self.keys))
        record = self._outcome(report, time.perf_counter() - started)
        async with self._installing:
            await training_state.point_to(self.redis, self.keys, report.version, **record)
            await self._swap(*loaded)
        self._record = None  # read again with the pointer at the next poll or GET /v1/model
        try:  # the model serves whatever happens here: a failure leaves the erasures folded, for the next swap
            done = await complete_erasures(self.redis, self.keys, report.version, self.settings.models_path)
            if done:
                log.info("erasure of %d users done", len(done))
                self.serving.erased = await erased_users(self.redis, self.keys)
        except REDIS_ERRORS as exc:
            log.warning("could not complete erasures: %s", exc)
        if previous is not None and previous.folded_through:
            # every replica serves the previous model or this one: what the previous one held, no list needs
            try:
                users = await forget_through(self.redis, self.keys, previous.folded_through)
                log.info("forgot the since-training events of %d users held by %s", users, previous.version)
            except REDIS_ERRORS as exc:  # they stay queued for the next swap
                log.warning("could not forget folded since-training events: %s", exc)
        return report

    async def model_record(self, current: ServingModel | None) -> tuple[dict[str, str], str | None]:
        """The training record to show beside `current` (the model this replica serves), read with the
        pointer as one snapshot, and the version the pointer names when this replica has not loaded it yet.

        While the pointer names `current`, the record is the one just read. Once it names a newer model
        (another replica trained it; this one loads it within a poll interval), the record describes that
        model: the record last read while the pointer named `current` is shown instead, so a finished
        training's outcome and metrics are never paired with the model it replaced.
        """
        pointer, record = await training_state.read_pointer_and_record(self.redis, self.keys)
        if current is None:
            return record, pointer
        if pointer == current.version:
            self._record = (current.version, record)
            return record, None
        kept = self._record
        if kept is not None and kept[0] == current.version:
            return kept[1], pointer
        return record, pointer

    async def _keep_lock(self, token: str, ttl_ms: int, stop: asyncio.Event) -> None:
        """Extend the training lock every third of its TTL until `stop` is set; a failed extension is
        tried again at the next (the lock outlives two misses)."""
        while not await pause(stop, ttl_ms / 3000):
            try:
                await training_state.extend_lock(self.redis, self.keys, token, ttl_ms)
            except REDIS_ERRORS as exc:
                log.warning("could not extend the training lock: %s", exc)

    async def _status(self, **fields: object) -> None:
        await training_state.record_status(self.redis, self.keys, **fields)

    async def status(self) -> dict[str, str]:
        return await training_state.read_status(self.redis, self.keys)

    # -- the background loop ----------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop` is set: follow the pointer, and train when due (in its own task, so polling
        goes on). A stop event, not cancellation (service.periodic)."""
        while not stop.is_set():
            try:
                await self.sync()
                reason = await self.due()
                if reason:
                    self.start_training(reason)
            except REDIS_ERRORS as exc:
                log.warning("refresh loop: redis unavailable: %s", exc)
            await pause(stop, self.settings.poll_interval)
