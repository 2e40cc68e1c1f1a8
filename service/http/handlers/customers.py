"""Handlers of the customer lifecycle routes: a customer's profile (history and predictions) and audiences
of customers by RFM segment, predicted value and P(alive), streamed as NDJSON.

Both read the purchase book of the retention index (every purchase accepted so far) and the lifecycle fit
kept with the serving model (service.serving.profiles); the CPU work runs in worker threads. A store whose
training could not fit the models gets profiles without predictions, and audiences a 409 that says why.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from recommender.lifecycle import SEGMENTS
from service.encoding import dumps
from service.errors import UnknownUser, bad_input
from service.http.app_keys import HISTORY, SERVING, SETTINGS
from service.http.auth import READ, requires
from service.http.limits import MAX_AUDIENCE
from service.http.params import check_id, int_param, lifecycle_filters, now_param, query
from service.http.responses import json_response, stream_ndjson
from service.serving.model_state import ServingModel
from service.serving.profiles import StoreLifecycle, audience, audience_line, customer_profile
from service.serving.retention_index import RetentionIndex
from service.serving.requests import lookup

#: Customers per streamed chunk.
CHUNK = 1000


async def lifecycle_index(request: web.Request) -> tuple[ServingModel, RetentionIndex, StoreLifecycle]:
    """The serving model, the retention index and the model's lifecycle fit (with the serving settings)."""
    current = request.app[SERVING].require()
    index = await request.app[HISTORY].get(current)
    return current, index, StoreLifecycle.of(current.info, request.app[SETTINGS].lifecycle_config)


@requires(READ)
async def user_profile(request: web.Request) -> web.Response:
    """A customer's orders, revenue per currency, AOV, dates and lifecycle predictions as of `now`."""
    user_id = check_id(request.match_info["user_id"], "user_id")
    now = now_param(query(request))
    current, index, lifecycle = await lifecycle_index(request)
    erased = user_id in request.app[SERVING].erased  # the model may hold them until the next training
    if erased or (index.history.user_code(user_id) is None and lookup(current.model.user_ids, [user_id])[0] < 0):
        raise UnknownUser(user_id)
    profile = await asyncio.to_thread(customer_profile, index.purchases, lifecycle, user_id, now)
    return json_response({**profile, "model_version": current.version})


@requires(READ)
async def customer_audience(request: web.Request) -> web.StreamResponse:
    """Customers by segment, predicted value and P(alive), by value_365d (service.serving.profiles)."""
    params = query(request)
    segment = params.get("segment")
    if segment is not None and segment not in SEGMENTS:
        raise bad_input(f"segment must be one of {', '.join(SEGMENTS)}", "invalid_parameter", field="segment")
    min_value, max_p_alive = lifecycle_filters(params)
    n = int_param(params.get("n"), "n", 1, MAX_AUDIENCE, 1000)
    now = now_param(params)
    current, index, lifecycle = await lifecycle_index(request)
    model = lifecycle.require()
    ranked = await asyncio.to_thread(audience, index.purchases, model, now, segment, min_value, max_p_alive)
    total = min(n, len(ranked))
    version = current.version

    def lines():
        for start in range(0, total, CHUNK):
            yield [dumps({**audience_line(ranked, k), "model_version": version})
                   for k in range(start, min(start + CHUNK, total))]

    return await stream_ndjson(request, lines())
