"""Handlers of the feedback routes: what a customer was shown (so the next list differs) and the
online counters (impressions, clicks, purchases per model version and route)."""

from __future__ import annotations

import time

import numpy as np
from aiohttp import web

from recommender.events import EVENT_TYPES, EventTable
from service.errors import bad_input
from service.http.app_keys import REDIS, REDIS_KEYS
from service.http.auth import READ, WRITE, requires
from service.http.handlers.writes import store
from service.http.limits import MAX_SHOWN_ITEMS, MAX_STATS_DAYS
from service.http.params import check_id, int_param, query, read_json
from service.http.responses import json_response
from service.ingest import EventBatch
from service.serving.online import online_stats

IMPRESSION = EVENT_TYPES.index("impression")


@requires(WRITE)
async def mark_shown(request: web.Request) -> web.Response:
    """`{"item_ids": [...]}` were shown to the user now: stored as `impression` events, exactly as
    if they had been posted to /v1/events (durable when 202)."""
    user_id = check_id(request.match_info["user_id"], "user_id")
    body = await read_json(request)
    item_ids = body.get("item_ids") if isinstance(body, dict) else None
    if not isinstance(item_ids, list) or not item_ids:
        raise bad_input("body must be an object with a non-empty list item_ids", "invalid_parameter",
                          field="item_ids")
    if len(item_ids) > MAX_SHOWN_ITEMS:
        raise bad_input(f"at most {MAX_SHOWN_ITEMS} item_ids per call, got {len(item_ids)}", "invalid_parameter",
                          field="item_ids")
    for index, item_id in enumerate(item_ids):
        check_id(item_id, f"item_ids[{index}]")
    unique = list(dict.fromkeys(item_ids))
    n = len(unique)
    now = time.time()
    events = EventTable(np.full(n, user_id, dtype=object), np.array(unique, dtype=object),
                        np.full(n, IMPRESSION, dtype=np.int8), np.full(n, now), np.ones(n, dtype=np.float32))
    await store(request.app, EventBatch(events), now=now)
    return json_response({"user_id": user_id, "shown": n}, status=202)


@requires(READ)
async def get_online_stats(request: web.Request) -> web.Response:
    days = int_param(query(request).get("days"), "days", 1, MAX_STATS_DAYS, 7)
    return json_response(await online_stats(request.app[REDIS], request.app[REDIS_KEYS], days))
