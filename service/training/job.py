"""One training run, in a child process: fold the event stream into the snapshot, choose the model on a
time cut holdout and train it (service.training.choice), fit the lifecycle models (service.training.lifecycle),
save the artifact with both, precompute lists into Redis.

Why a child process: training allocates several times the model's size in short-lived arrays
and millions of id strings, and holds the GIL for long stretches. Run inside the serving
process it ratcheted RSS up at every retrain (+49% over a 5-minute soak, with malloc_trim) and
pushed p99 latency to 400-500 ms while it ran. The child exits when it is done, so its memory
goes back to the operating system, and the serving process only loads the finished artifact,
exactly as every other replica does. Children are forked from a forkserver (a small process
that imported the libraries once): no copy of the serving process's heap, and no second
import of numpy and implicit per run.

The parent keeps what must outlive a crash of the child: the Redis lock and its keeper, the
pointer swap and the status. A child that dies leaves no pointer moved and no event lost:
the stream is trimmed only after the snapshot holding its events is on disk.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np
import pandas as pd
import redis.asyncio as aioredis

from recommender.artifacts import ArtifactInfo, save_model
from recommender.catalog import Catalog
from recommender.events import EventTable, active_users, read_events
from recommender.models import Recommender
from recommender.selection import Candidate
from recommender.trainers import open_trainer
from service.parent_death import signal_on_parent_death
from service.serving.model_state import FOLDED_THROUGH, ServingModel
from service.serving.profiles import LIFECYCLE
from service.serving.rendered import render
from service.settings import Settings
from service.store import erasures, merges
from service.training.choice import choose_and_train, train
from service.training.lifecycle import lifecycle_record
from service.training.rewrite import apply_changes
from service.training.variants import VARIANTS, VARIANTS_SECONDS, promoted_candidate, variant_candidates
from service.store.catalog import load_catalog, upsert_items
from service.store.erasures import parse_position, pending_erasures
from service.store.client import connect
from service.store.events.since_training import record_fold
from service.store.events.stream import (
    START,
    StreamCursor,
    StreamPages,
    StreamReset,
    set_aside,
    trim_folded,
)
from service.store.keys import Keys
from service.store.lists import write_lists
from service.store.merges import pending_merges
from service.store.snapshot import Snapshot, load_snapshot, save_snapshot

log = logging.getLogger(__name__)
PRECOMPUTE_CHUNK = 5_000
#: Experiments starting within this many refresh intervals get their trained variants fitted at a training.
VARIANT_HORIZON_TRAININGS = 2


@dataclass
class TrainingReport:
    outcome: str  # trained | rejected | failed | skipped
    message: str = ""
    version: str | None = None
    metrics: dict = field(default_factory=dict)


@dataclass(frozen=True)
class TrainingJob:
    """Everything a child needs; picklable, and free of secrets in its repr (the URL may hold a password)."""

    redis_url: str = field(repr=False)
    settings: Settings
    serving_metrics: dict | None  # the serving model's holdout figures, for the quality gate
    reason: str
    serving_choice: Candidate | None = None  # its configuration, carried on when model choice cannot score


def snapshot_path(settings: Settings) -> Path:
    return settings.models_path / "snapshot.npz"


async def fold_stream(redis: aioredis.Redis, keys: Keys, settings: Settings) -> Snapshot:
    """Append new stream events to the snapshot, with pending erasures and merges applied (events dropped or
    given to the customer: service.training.rewrite), persist it, queue its users for the since-training
    forget, then trim what the snapshot now holds, and mark the erasures and merges it folded through.

    Users' since-training entries are not forgotten here: replicas keep counting them until a model that
    holds them serves (service.store.events.since_training), whatever happens to this training.
    If the stream is not the one the snapshot was folded from (deleted and written again: Redis lost
    its data, or someone removed the key), none of its entries are in the snapshot: all are folded.
    """
    path = snapshot_path(settings)
    snapshot = await asyncio.to_thread(load_snapshot, path)
    if snapshot is None:
        snapshot = Snapshot(await bootstrap_events(redis, keys, settings))
    try:
        pages, ids, cursor = await _read_pages(redis, keys, snapshot.cursor)
    except StreamReset as exc:
        log.error("the event stream is not the one the snapshot was folded from (%s); folding all of it", exc)
        pages, ids, cursor = await _read_pages(redis, keys, StreamCursor())
    # read after the pages: a request recorded before them has a position at or after what they hold
    changes = sorted([*await pending_erasures(redis, keys), *await pending_merges(redis, keys)],
                     key=lambda c: c.seq)
    folded, rewritten = snapshot.events, 0
    if changes:
        folded, rewritten = apply_changes(snapshot.events, None, changes)
        for k, page in enumerate(pages):
            pages[k], changed = apply_changes(page, ids[k], changes)
            rewritten += changed
        log.info("%d erasures and merges pending: %d events dropped or moved", len(changes), rewritten)
    if pages or rewritten or not path.exists() or cursor != snapshot.cursor:
        snapshot = Snapshot(EventTable.concat([folded, *pages]), cursor)
        await asyncio.to_thread(save_snapshot, snapshot, path)
    if any(len(p) for p in pages):  # before the trim: a child that dies in between queues them again
        await record_fold(redis, keys, pd.unique(np.concatenate([p.user_ids for p in pages])), cursor.last_id)
    if cursor.last_id != START:  # exact trim (not "~"), and the boundary entry too: all now in the snapshot
        await trim_folded(redis, keys, cursor.last_id)
    reached = [c for c in changes if parse_position(c.position) <= parse_position(cursor.last_id)]
    await erasures.mark_folded(redis, keys, [c for c in reached if c.to is None])
    await merges.mark_folded(redis, keys, [c for c in reached if c.to is not None])
    return snapshot


async def _read_pages(redis: aioredis.Redis, keys: Keys, cursor: StreamCursor
                      ) -> tuple[list[EventTable], list[list[str]], StreamCursor]:
    """The stream's events after `cursor`, their entry ids, and where they end; unreadable entries are set
    aside."""
    pages: list[EventTable] = []
    ids: list[list[str]] = []
    reader = StreamPages(redis, keys, cursor)
    async for table, unreadable in reader:
        pages.append(table)
        ids.append(reader.entry_ids)
        if unreadable:
            await set_aside(redis, keys, unreadable)
    return pages, ids, reader.cursor


async def bootstrap_events(redis: aioredis.Redis, keys: Keys, settings: Settings) -> EventTable:
    """First start with seed files (the demo): load the catalog and events once."""
    if settings.bootstrap_catalog and not await redis.exists(keys.catalog):
        from recommender.catalog import read_catalog

        if settings.bootstrap_catalog_changes:  # the store's stock and price history, oldest write first
            from recommender.catalog_changes import read_catalog_changes

            for at, changed in await asyncio.to_thread(read_catalog_changes, settings.bootstrap_catalog_changes):
                await upsert_items(redis, keys, changed, now=at)
        catalog = await asyncio.to_thread(read_catalog, settings.bootstrap_catalog)
        await upsert_items(redis, keys, catalog)
    if settings.bootstrap_events:
        return await asyncio.to_thread(read_events, settings.bootstrap_events)
    return EventTable.empty()


def save_artifact(settings: Settings, model: Recommender, metrics: dict, extra: dict | None = None) -> ArtifactInfo:
    directory = settings.models_path
    tmp = directory / f".candidate-{os.getpid()}.npz"
    info = save_model(model, tmp, metrics=metrics, extra={"trainer": settings.trainer, **(extra or {})})
    os.replace(tmp, directory / f"{info.version}.npz")
    return info


async def precompute(redis: aioredis.Redis, keys: Keys, settings: Settings, model: Recommender, info: ArtifactInfo,
                     events: EventTable, removed: frozenset[str]) -> None:
    """Top lists for users active in the window, each with its rendered default answer
    (service.serving.rendered) against the catalog the model was trained with and the items `removed` from
    it, and similar items for every item, into Redis."""
    ttl = settings.version_ttl
    version = info.version
    view = ServingModel(model, info, removed, default_currency=settings.currency)
    digest = view.view_digest()
    active = active_users(events, settings.active_days)
    user_codes = model.user_ids.lookup(active)
    known = user_codes >= 0  # a customer with only impressions is not in the model
    active, user_codes = active[known], user_codes[known]
    for start in range(0, len(active), PRECOMPUTE_CHUNK):
        codes = user_codes[start:start + PRECOMPUTE_CHUNK]
        ids, scores = model.precompute_indices(codes, settings.precompute_n)
        answers = [render(view, int(code), ids[row], scores[row], digest) for row, code in enumerate(codes.tolist())]
        await write_lists(redis, [keys.user_recs(version, u) for u in active[start:start + len(codes)]],
                          ids, scores, ttl, answers)
    item_ids = model.item_ids.ids
    for start in range(0, len(item_ids), PRECOMPUTE_CHUNK):
        codes = np.arange(start, min(start + PRECOMPUTE_CHUNK, len(item_ids)))
        ids, scores = model.similar_indices(codes, settings.similar_n)
        await write_lists(redis, [keys.similar(version, i) for i in item_ids[codes]], ids, scores, ttl)
    log.info("precomputed %d users and %d items for %s", len(active), len(item_ids), version)


async def train_variants(redis: aioredis.Redis, keys: Keys, settings: Settings, snapshot: Snapshot,
                         catalog: Catalog, removed: frozenset[str]) -> tuple[dict[str, str], float]:
    """Fit, save and precompute every trained variant of the experiments not yet ended that start before two
    more scheduled trainings (service.training.variants); `{experiment}/{variant}` -> its artifact's version, and
    the seconds it took (wall clock). One further ahead is fitted by a later training, not at every one."""
    started = time.perf_counter()
    versions: dict[str, str] = {}
    for candidate in await variant_candidates(redis, keys, horizon=VARIANT_HORIZON_TRAININGS * settings.refresh_interval):
        model = train(snapshot.events, catalog, candidate)
        experiment, _, variant = candidate.name.partition("/")
        info = save_artifact(settings, model, {}, {FOLDED_THROUGH: snapshot.cursor.last_id, "experiment": experiment,
                                                  "variant": variant})
        await precompute(redis, keys, settings, model, info, snapshot.events, removed)
        versions[candidate.name] = info.version
        log.info("trained experiment variant %s (%s) as %s", candidate.name, candidate.params.algorithm, info.version)
    return versions, time.perf_counter() - started


async def run_job(job: TrainingJob) -> TrainingReport:
    """The whole run; in the child this is the only thing on its event loop, so CPU work runs inline."""
    settings = job.settings
    redis = connect(job.redis_url, settings.cluster, socket_timeout=60, socket_connect_timeout=5)
    keys = Keys(settings.key_prefix)
    started = time.time()  # the lifecycle fit sees what was accepted up to here
    try:
        snapshot = await fold_stream(redis, keys, settings)
        if len(snapshot.events) == 0:
            return TrainingReport("failed", "no events to train on")
        catalog, removed, _ = await load_catalog(redis, keys)
        with open_trainer(settings.trainer, settings.models_path) as fit:
            trained = choose_and_train(snapshot.events, catalog, settings, job.serving_metrics, fit,
                                       await promoted_candidate(redis, keys), job.serving_choice)
        if trained.model is None:
            return TrainingReport("rejected", trained.rejected, metrics=trained.metrics)
        extra: dict = {FOLDED_THROUGH: snapshot.cursor.last_id,
                       LIFECYCLE: lifecycle_record(snapshot.events, started, settings.lifecycle_config)}
        if trained.selection:
            extra["selection"] = trained.selection.as_dict()
        variants, seconds = await train_variants(redis, keys, settings, snapshot, catalog, removed)
        if variants:  # saved and precomputed before the serving artifact that names them
            extra[VARIANTS] = variants
            extra[VARIANTS_SECONDS] = round(seconds, 3)
        info = save_artifact(settings, trained.model, trained.metrics, extra)
        await precompute(redis, keys, settings, trained.model, info, snapshot.events, removed)
        chosen = f" ({trained.selection.chosen})" if trained.selection else ""
        return TrainingReport("trained", f"{job.reason}: version {info.version}{chosen}", info.version,
                              trained.metrics)
    finally:
        await redis.aclose()


def _child_main(job: TrainingJob, reports: Connection) -> None:
    # killed with its parent (the forkserver, which follows the service): a killed replica leaves no
    # orphan training on to write lists for a version nobody will serve
    signal_on_parent_death(signal.SIGKILL)
    logging.basicConfig(level=job.settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s[training]: %(message)s")
    try:
        report = asyncio.run(run_job(job))
    except Exception as exc:  # reported to the parent, which keeps serving the current model
        log.exception("training failed")
        report = TrainingReport("failed", f"{type(exc).__name__}: {exc}")
    reports.send(report)
    reports.close()


def _context() -> multiprocessing.context.BaseContext:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


async def train_in_child(job: TrainingJob) -> TrainingReport:
    """Run `job` in a fresh child process and return its report; cancelling terminates the child."""
    context = _context()
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_child_main, args=(job, send), name="encore-training", daemon=True)
    child.start()
    send.close()  # the child holds the only write end now: its exit ends recv() with EOFError
    try:
        report = await asyncio.to_thread(_wait_for_report, receive, child)
    finally:  # also on cancellation (shutdown): the waiting thread then sees EOF and ends
        if child.is_alive():
            child.terminate()
        await asyncio.to_thread(child.join, 10)
    receive.close()
    return report


def _wait_for_report(receive: Connection, child: multiprocessing.process.BaseProcess) -> TrainingReport:
    try:
        return receive.recv()
    except EOFError:
        child.join(5)
        return TrainingReport("failed", f"the training process died (exit code {child.exitcode})")
