"""Handlers of the experiment routes: define, list, read with results, stop, promote; a customer's variants."""

from __future__ import annotations

import time

from aiohttp import web

from service.experiments import registry
from service.experiments.assignment import assign, bounds
from service.experiments.definition import RUNNING, Experiment, check_name, parse_definition
from service.experiments.results import experiment_results
from service.http.app_keys import REDIS, REDIS_KEYS
from service.http.auth import ADMIN, READ, requires
from service.http.params import check_id, read_json
from service.http.responses import json_response
from service.store.experiments import read_promoted


@requires(ADMIN)
async def put_experiment(request: web.Request) -> web.Response:
    now = time.time()
    name = check_name(request.match_info["name"], "name")
    experiment = parse_definition(name, await read_json(request), now)
    await registry.define(request.app[REDIS], request.app[REDIS_KEYS], experiment, now)
    return json_response(experiment.as_dict(now))


@requires(READ)
async def list_experiments(request: web.Request) -> web.Response:
    now = time.time()
    found = await registry.all_experiments(request.app[REDIS], request.app[REDIS_KEYS])
    promoted = await read_promoted(request.app[REDIS], request.app[REDIS_KEYS])
    return json_response({"experiments": [_view(e, now, promoted) for e in found]})


@requires(READ)
async def get_experiment(request: web.Request) -> web.Response:
    now = time.time()
    name = check_name(request.match_info["name"], "name")
    redis, keys = request.app[REDIS], request.app[REDIS_KEYS]
    experiment = await registry.get_experiment(redis, keys, name)
    return json_response({**_view(experiment, now, await read_promoted(redis, keys)),
                          "results": await experiment_results(redis, keys, experiment, now)})


def _view(experiment: Experiment, now: float, promoted: dict | None) -> dict:
    """An experiment as the API shows it: `promoted` names its variant only while that promotion is the default
    (a later promotion of any experiment replaces it)."""
    current = promoted is not None and promoted.get("experiment") == experiment.name
    return {**experiment.as_dict(now), "promoted": experiment.promoted if current else None}


@requires(ADMIN)
async def stop_experiment(request: web.Request) -> web.Response:
    now = time.time()
    name = check_name(request.match_info["name"], "name")
    return json_response((await registry.stop(request.app[REDIS], request.app[REDIS_KEYS], name, now)).as_dict(now))


@requires(ADMIN)
async def promote_variant(request: web.Request) -> web.Response:
    now = time.time()
    name = check_name(request.match_info["name"], "name")
    variant = check_name(request.match_info["variant"], "variant")
    promoted = await registry.promote(request.app[REDIS], request.app[REDIS_KEYS], name, variant, now)
    return json_response(promoted.as_dict(now))


@requires(READ)
async def user_variant(request: web.Request) -> web.Response:
    """The customer's variant in every running experiment (known to the model or not)."""
    now = time.time()
    user_id = check_id(request.match_info["user_id"], "user_id")
    found = await registry.all_experiments(request.app[REDIS], request.app[REDIS_KEYS])
    assignments = []
    for experiment in found:
        if experiment.status(now) == RUNNING:
            index = assign(experiment.salt, user_id, bounds([v.share for v in experiment.variants]))
            variant = experiment.variants[index]
            assignments.append({"experiment": experiment.name, "variant": variant.name,
                                "model": variant.model.as_dict(), "routes": list(experiment.routes)})
    return json_response({"user_id": user_id, "experiments": assignments})
