"""Handlers of a customer's identity: erasure (GDPR/CCPA deletion) and its state, and merging an anonymous
visitor into a signed-in customer. Storage: service.store.erasures and service.store.merges; the next training
completes both (service.training.rewrite)."""

from __future__ import annotations

import time

from aiohttp import web

from service.errors import NoErasure, bad_input
from service.http.app_keys import REDIS, REDIS_KEYS, SERVING, SETTINGS
from service.http.auth import ADMIN, WRITE, requires
from service.http.params import check_id, read_json
from service.http.responses import json_response
from service.store.erasures import erase, erasure_record, stored_versions
from service.store.events.write import StoreLimits
from service.store.merges import merge


@requires(ADMIN)
async def erase_user(request: web.Request) -> web.Response:
    """Erase a customer: what Redis holds of them goes at once, their events at the next training (202)."""
    user_id = check_id(request.match_info["user_id"], "user_id")
    app = request.app
    redis, keys = app[REDIS], app[REDIS_KEYS]
    versions = await stored_versions(redis, keys, app[SETTINGS].models_path)
    now = time.time()
    serving = app[SERVING]
    # this replica at once (the others at their next poll): from now on no list is cached for them, and the
    # lists computed for them before now are written before the erasure deletes them
    serving.erased = serving.erased | {user_id}
    await serving.flush_writes()
    position = await erase(redis, keys, user_id, versions, now)
    return json_response({"user_id": user_id, "state": "pending", "requested_at": now, "erased_through": position},
                         status=202)


@requires(ADMIN)
async def erasure_state(request: web.Request) -> web.Response:
    """The state of a customer's erasure: pending, folded (no events left; a model trained before may still
    serve) or done, with its times."""
    user_id = check_id(request.match_info["user_id"], "user_id")
    record = await erasure_record(request.app[REDIS], request.app[REDIS_KEYS], user_id)
    if record is None:
        raise NoErasure(user_id)
    return json_response({"user_id": user_id, "state": record.get("state"),
                          **{k: record.get(k) for k in ("requested_at", "folded_at", "done_at")}})


@requires(WRITE)
async def merge_user(request: web.Request) -> web.Response:
    """`{"from": "anon-123"}`: the visitor's since-training events, shown set and contacts move to this customer
    at once, their folded events at the next training; repeating it changes nothing (202)."""
    user_id = check_id(request.match_info["user_id"], "user_id")
    body = await read_json(request)
    if not isinstance(body, dict):
        raise bad_input('body must be an object: {"from": "<visitor id>"}', "invalid_body")
    if "from" not in body:
        raise bad_input("from is required: the id of the visitor to merge into this customer", "missing_field",
                        field="from")
    visitor = check_id(body["from"], "from")
    if visitor == user_id:
        raise bad_input("from must be another user than user_id", "invalid_parameter", field="from")
    app = request.app
    now = time.time()
    position = await merge(app[REDIS], app[REDIS_KEYS], visitor, user_id, StoreLimits.from_settings(app[SETTINGS]),
                           now)
    return json_response({"user_id": user_id, "from": visitor, "merged_at": now, "merged_through": position},
                         status=202)
