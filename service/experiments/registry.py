"""Defining, stopping and promoting experiments against the stored definitions: the rules (a started
experiment is not redefined, one running experiment per route family, promote only after a stop) checked
on a read of every definition and written by compare-and-set on their version, retried when another writer got
there first."""

from __future__ import annotations

from datetime import datetime, timezone

import redis.asyncio as aioredis

from service.errors import Conflict, NotFound
from service.experiments.definition import ENDED, SCHEDULED, Experiment, overlapping
from service.store import experiments as store
from service.store.keys import Keys

#: Compare-and-set attempts before giving up (only concurrent admin writes make one fail).
ATTEMPTS = 10


async def all_experiments(redis: aioredis.Redis, keys: Keys) -> list[Experiment]:
    """Every stored experiment, oldest definition first."""
    records, _ = await store.read_all(redis, keys)
    return sorted((Experiment.from_dict(r) for r in records.values()), key=lambda e: (e.created_at, e.name))


async def get_experiment(redis: aioredis.Redis, keys: Keys, name: str) -> Experiment:
    """The experiment called `name`; NotFound when there is none."""
    return (await _read(redis, keys, name))[0]


async def _read(redis: aioredis.Redis, keys: Keys, name: str) -> tuple[Experiment, str]:
    """The experiment called `name` and the version it was read at; NotFound when there is none."""
    record, version = await store.read_one(redis, keys, name)
    if record is None:
        raise NotFound("experiment", name)
    return Experiment.from_dict(record), version


async def define(redis: aioredis.Redis, keys: Keys, experiment: Experiment, now: float) -> Experiment:
    """Store a new definition, or replace one that has not started; Conflict when it has, or when another
    experiment would split one of its route families at the same time."""
    for _ in range(ATTEMPTS):
        records, version = await store.read_all(redis, keys)
        if experiment.name in records:
            old = Experiment.from_dict(records[experiment.name])
            if old.status(now) != SCHEDULED:
                raise Conflict("experiment_started", f"experiment {experiment.name!r} {_no_longer(old, now)}: it "
                               "cannot be changed (define a new one under another name)", field="name")
        clash = overlapping(experiment, [Experiment.from_dict(r) for r in records.values()])
        if clash is not None:
            raise Conflict("route_family_busy", _clash_message(experiment, clash, now), field="routes",
                           experiment=clash.name)
        if await store.compare_and_set(redis, keys, experiment.name, version, experiment.as_dict(now)):
            return experiment
    raise Conflict("concurrent_change", "experiments changed while this one was written; retry")


def _clash_message(new: Experiment, clash: Experiment, now: float) -> str:
    """Why `new` cannot split its route families when `clash` does: at the same time, or (an ended one) during
    part of `new`'s window, which then starts too early."""
    shared = ", ".join(r for r in new.routes if r in clash.routes)
    ended = clash.ended_at()
    if clash.status(now) == ENDED and ended is not None:
        until = datetime.fromtimestamp(ended, timezone.utc).isoformat(timespec="seconds")
        return (f"experiment {clash.name!r} split {shared} during part of this window (until {until}): start this "
                "one after it")
    return f"experiment {clash.name!r} splits {shared} at the same time; stop it first or choose other times"


def _no_longer(experiment: Experiment, now: float) -> str:
    """Why a definition can no longer change, for a 409: it was stopped (perhaps before it started), it has
    ended, or it is running."""
    if experiment.stopped_at is not None:
        return "was stopped"
    return "has ended" if experiment.status(now) == ENDED else "has started"


async def stop(redis: aioredis.Redis, keys: Keys, name: str, now: float) -> Experiment:
    """End an experiment now (every replica stops splitting at its next poll); an ended one is returned as it is."""
    for _ in range(ATTEMPTS):
        experiment, version = await _read(redis, keys, name)
        if experiment.stopped_at is not None:
            return experiment
        stopped = experiment.stopped(now)
        if await store.compare_and_set(redis, keys, name, version, stopped.as_dict(now)):
            return stopped
    raise Conflict("concurrent_change", "the experiment changed while it was stopped; retry")


async def promote(redis: aioredis.Redis, keys: Keys, name: str, variant_name: str, now: float) -> Experiment:
    """Make an ended experiment's variant configuration the default that every training uses ("serving":
    back to model choice as configured), replacing any earlier promotion. Conflict while it still runs."""
    for _ in range(ATTEMPTS):
        experiment, version = await _read(redis, keys, name)
        variant = experiment.variant(variant_name)
        if variant is None:
            raise NotFound("variant", variant_name, field="variant")
        if experiment.status(now) != ENDED:
            raise Conflict("experiment_not_ended", f"experiment {name!r} has not ended: stop it before promoting "
                           "a variant", field="name")
        promoted = Experiment.from_dict({**experiment.as_dict(now), "promoted": variant_name})
        if await store.compare_and_set(redis, keys, name, version, promoted.as_dict(now)):
            await store.set_promoted(redis, keys, {"experiment": name, "variant": variant_name,
                                                   "model": variant.model.as_dict(), "at": now})
            return promoted
    raise Conflict("concurrent_change", "the experiment changed while it was promoted; retry")
