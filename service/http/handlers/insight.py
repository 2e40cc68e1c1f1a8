"""Handlers of the reads that describe the store rather than serve a list: a customer's events, an
item's record, its complements, and events per hour or day. The dashboard (service/dashboard) draws
them; any read key may call them. All read the retention index (service.serving.retention_index:
every event accepted so far), so counts are by event time; CPU work runs in worker threads."""

from __future__ import annotations

import asyncio
import dataclasses
import math

import numpy as np
from aiohttp import web

from recommender.events import EVENT_TYPES
from recommender.retention import complements_of, event_counts, item_activity
from service.errors import UnknownItem, bad_input
from service.http.app_keys import HISTORY, SERVING
from service.http.auth import READ, requires
from service.http.limits import EVENT_BUCKETS, MAX_N, MAX_STATS_DAYS, MAX_USER_EVENTS
from service.http.params import check_id, int_param, list_request, now_param, query
from service.http.responses import json_response
from service.serving.model_state import ServingModel
from service.serving.picking import full_filter
from service.serving.requests import lookup
from service.serving.retention_index import RetentionIndex

SECONDS_PER_DAY = EVENT_BUCKETS["day"]


async def _current_index(request: web.Request) -> tuple[ServingModel, RetentionIndex]:
    current = request.app[SERVING].require()
    return current, await request.app[HISTORY].get(current)


def _item_code(current: ServingModel, index: RetentionIndex, item_id: str) -> int | None:
    """The item's code in the index; None for an item with no events that the catalog or model knows;
    UnknownItem (404) for an item nobody knows."""
    code = index.history.items.get(item_id)
    if code is None and not current.knows_item(item_id):
        raise UnknownItem(item_id, "the catalog, the model or any event")
    return code


@requires(READ)
async def user_events(request: web.Request) -> web.Response:
    """A customer's events, newest first (at most `n`), with the catalog's kind, category and title."""
    user_id = check_id(request.match_info["user_id"], "user_id")
    n = int_param(query(request).get("n"), "n", 1, MAX_USER_EVENTS, 100)
    current, index = await _current_index(request)
    history = index.history
    events = history.for_user(user_id)
    newest = np.arange(len(events))[::-1][:n]
    codes = events.items[newest]
    catalog = index.catalog
    titles = {item_id: (item.title if (item := catalog.get(item_id)) else None)
              for item_id in np.unique(history.items.ids[codes]).tolist()}
    rows = [{"item_id": item_id, "type": EVENT_TYPES[t], "timestamp": ts, "kind": index.attrs.kind[c] or None,
             "category": index.attrs.category[c] or None, "title": titles[item_id]}
            for c, item_id, t, ts in zip(codes.tolist(), history.items.ids[codes].tolist(),
                                         events.types[newest].tolist(), events.timestamps[newest].tolist())]
    return json_response({"user_id": user_id, "total": len(events), "events": rows})


@requires(READ)
async def item_record(request: web.Request) -> web.Response:
    """What the catalog says about an item, whether the model knows it, and its events so far."""
    item_id = check_id(request.match_info["item_id"], "item_id")
    current, index = await _current_index(request)
    code = _item_code(current, index, item_id)
    item = current.model.catalog.get(item_id)
    catalog = None if item is None else {k: v for k, v in dataclasses.asdict(item).items() if k != "item_id"}
    activity = await asyncio.to_thread(item_activity, index.history, code) if code is not None else None
    counts = activity.counts.tolist() if activity else [0] * len(EVENT_TYPES)
    return json_response({
        "item_id": item_id, "catalog": catalog, "removed": item_id in current.removed,
        "in_model": bool(lookup(current.model.item_ids, [item_id])[0] >= 0), "model_version": current.version,
        "events": dict(zip(EVENT_TYPES, counts)), "customers": activity.customers if activity else 0,
        "first_event_at": activity.first if activity else None, "last_event_at": activity.last if activity else None,
    })


@requires(READ)
async def item_complements(request: web.Request) -> web.Response:
    """What buyers of the item also bought (co-purchase) and the content they read."""
    item_id = check_id(request.match_info["item_id"], "item_id")
    params = query(request)
    if params.get("kind") is not None:
        raise bad_input("kind is not accepted here: the answer has a product list (items) and a content "
                        "list (content)", "invalid_parameter", field="kind")
    req = list_request(params, default_n=10)
    content_n = int_param(params.get("content_n"), "content_n", 0, MAX_N, 3)
    current, index = await _current_index(request)
    code = _item_code(current, index, item_id)
    items, content = [], []
    if code is not None:
        items, content = await asyncio.to_thread(complements_of, index.history, index.complements, index.attrs,
                                                 code, req.n, content_n, full_filter(current, req))
    return json_response({"item_id": item_id, "model_version": current.version,
                          "items": [i.to_dict() for i in items], "content": [i.to_dict() for i in content]})


@requires(READ)
async def event_stats(request: web.Request) -> web.Response:
    """Events per type and UTC hour or day over the last `days` days (the current bucket included),
    for the whole store or one item; columns ready to chart."""
    params = query(request)
    days = int_param(params.get("days"), "days", 1, MAX_STATS_DAYS, 7)
    bucket = params.get("bucket", "hour")
    if bucket not in EVENT_BUCKETS:
        raise bad_input(f"bucket must be one of {', '.join(EVENT_BUCKETS)}", "invalid_parameter", field="bucket")
    item_id = params.get("item_id")
    if item_id is not None:
        check_id(item_id, "item_id")
    now = now_param(params)
    current, index = await _current_index(request)
    code = _item_code(current, index, item_id) if item_id is not None else None
    width = EVENT_BUCKETS[bucket]
    n_buckets = days * SECONDS_PER_DAY // width
    end = math.floor(now / width) * width + width
    start = end - n_buckets * width
    if item_id is not None and code is None:  # known, but no events yet
        counts = np.zeros((len(EVENT_TYPES), n_buckets), dtype=np.int64)
    else:
        counts = await asyncio.to_thread(event_counts, index.history, start, width, n_buckets, code)
    return json_response({
        "item_id": item_id, "bucket": bucket, "bucket_seconds": width, "from": start, "to": end,
        "buckets": list(range(start, end, width)),
        "counts": {name: row.tolist() for name, row in zip(EVENT_TYPES, counts)},
        "totals": {name: int(row.sum()) for name, row in zip(EVENT_TYPES, counts)},
    })
