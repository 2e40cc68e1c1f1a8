"""Handlers of the feedback routes: what a customer was shown (so the next list differs) and the
online counters (impressions, clicks, purchases per model version and route)."""

from __future__ import annotations

import time

import numpy as np
from aiohttp import web

from recommender.events import EVENT_TYPES, EventTable
from service.app_keys import REDIS, REDIS_KEYS
from service.auth import READ, WRITE, requires
from service.errors import bad_request
from service.ingest import EventBatch
from service.online import MAX_DAYS, online_stats
from service.responses import json_response
from service.views import _int, _query, check_id, read_json, store

#: Items per POST /v1/users/{user_id}/shown (an email or a page shows a few dozen at most).
MAX_SHOWN_ITEMS = 1000
_IMPRESSION = EVENT_TYPES.index("impression")


@requires(WRITE)
async def mark_shown(request: web.Request) -> web.Response:
    """`{"item_ids": [...]}` were shown to the user now: stored as `impression` events, exactly as
    if they had been posted to /v1/events (durable when 202)."""
    user_id = check_id(request.match_info["user_id"], "user_id")
    body = await read_json(request)
    item_ids = body.get("item_ids") if isinstance(body, dict) else None
    if not isinstance(item_ids, list) or not item_ids:
        raise bad_request("body must be an object with a non-empty list item_ids", "invalid_parameter",
                          field="item_ids")
    if len(item_ids) > MAX_SHOWN_ITEMS:
        raise bad_request(f"at most {MAX_SHOWN_ITEMS} item_ids per call, got {len(item_ids)}", "invalid_parameter",
                          field="item_ids")
    for index, item_id in enumerate(item_ids):
        check_id(item_id, f"item_ids[{index}]")
    unique = list(dict.fromkeys(item_ids))
    n = len(unique)
    now = time.time()
    events = EventTable(np.full(n, user_id, dtype=object), np.array(unique, dtype=object),
                        np.full(n, _IMPRESSION, dtype=np.int8), np.full(n, now), np.ones(n, dtype=np.float32))
    await store(request.app, EventBatch(events), now=now)
    return json_response({"user_id": user_id, "shown": n}, status=202)


@requires(READ)
async def get_online_stats(request: web.Request) -> web.Response:
    days = _int(_query(request).get("days"), "days", 1, MAX_DAYS, 7)
    return json_response(await online_stats(request.app[REDIS], request.app[REDIS_KEYS], days))
