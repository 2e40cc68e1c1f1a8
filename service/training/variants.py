"""Experiments' trained variants at every training: each variant of an experiment not yet ended, starting
before the next two trainings are due, that has a model configuration of its own is fitted on the same events as the serving model (service.training.job
saves and precomputes it like the serving model); the serving model's artifact names their artifacts
(VARIANTS), so every replica loads them with it (service.training.refresh) and maps each once."""

from __future__ import annotations

import time

import redis.asyncio as aioredis

from recommender.algorithms import ModelParams
from recommender.selection import Candidate
from service.experiments.definition import ENDED, POPULARITY, SERVING, stored_model
from service.experiments.registry import all_experiments
from service.store.experiments import read_promoted
from service.store.keys import Keys

#: The serving artifact's extra field naming its variants' artifacts: `{experiment}/{variant}` -> version.
VARIANTS = "variants"
#: ... and the seconds fitting, saving and precomputing them added to the training.
VARIANTS_SECONDS = "variants_seconds"


async def promoted_candidate(redis: aioredis.Redis, keys: Keys) -> Candidate | None:
    """The configuration an experiment's variant made the default, as a candidate; None: model choice."""
    record = await read_promoted(redis, keys)
    if record is None or record["model"] == SERVING:  # "serving": model choice as configured
        return None
    name = f"{record['experiment']}/{record['variant']}"
    if record["model"] == POPULARITY:
        return Candidate(name, ModelParams(algorithm="popular"))
    model = stored_model(record["model"])
    return Candidate(name, model.model_params(), filter_interacted=not model.repeat)


async def variant_candidates(redis: aioredis.Redis, keys: Keys, now: float | None = None,
                             horizon: float = float("inf")) -> list[Candidate]:
    """The trained variants of every experiment not yet ended that starts within `horizon` seconds of `now`
    (epoch seconds; the trainings in between fit the later ones), as candidates named `{experiment}/{variant}`
    (a variant with `repeat` serves bought items: filter_interacted False)."""
    now = time.time() if now is None else now
    return [Candidate(f"{experiment.name}/{variant.name}", variant.model.model_params(),
                      filter_interacted=not variant.model.repeat)
            for experiment in await all_experiments(redis, keys)
            if experiment.status(now) != ENDED and experiment.start <= now + horizon
            for variant in experiment.variants if variant.model.kind == "trained"]
