"""Handlers of the write routes: events and the catalog. Validation: service.ingest; storage:
service.store.events and service.store.catalog."""

from __future__ import annotations

from aiohttp import web

from service.errors import Conflict, UnknownItem
from service.http.app_keys import METRICS, REDIS, REDIS_KEYS, REFRESHER, SERVING, SETTINGS
from service.http.auth import WRITE, requires
from service.http.params import check_id, read_json
from service.http.responses import json_response
from service.ingest import EventBatch, parse_batch, parse_items
from service.store.catalog import remove_item, upsert_items
from service.store.events.write import EventIdReused, StoreLimits, store_events


@requires(WRITE)
async def post_events(request: web.Request) -> web.Response:
    batch = parse_batch(await read_json(request))
    stored = await store(request.app, batch)
    accepted = len(batch.events)
    return json_response({"accepted": accepted, "duplicates": accepted - stored}, status=202)


async def store(app: web.Application, batch: EventBatch, now: float | None = None) -> int:
    """Write a validated batch (service.store.events) and count it; how many were stored. 409 when an event
    reuses the id of a different event stored before (nothing is written)."""
    try:
        stored = await store_events(app[REDIS], app[REDIS_KEYS], batch, app[REFRESHER].weights,
                                    StoreLimits.from_settings(app[SETTINGS]), now=now)
    except EventIdReused as exc:
        raise Conflict("event_id_reused", f"events[{exc.index}].event_id {exc.event_id!r} was already used for a "
                       "different event (another customer, item or type): each event needs an id of its own; "
                       "nothing was stored", index=exc.index, field="event_id") from None
    app[METRICS].events.inc(stored)
    return stored


@requires(WRITE)
async def put_items(request: web.Request) -> web.Response:
    catalog = parse_items(await read_json(request))
    count = await upsert_items(request.app[REDIS], request.app[REDIS_KEYS], catalog)
    await request.app[REFRESHER].sync()  # this replica applies it now; others within a poll interval
    return json_response({"upserted": count})


@requires(WRITE)
async def delete_item(request: web.Request) -> web.Response:
    """Take an item out of every list until a catalog write adds it again; 404 for an item the catalog and the
    model have never known (a typo would otherwise answer "removed")."""
    item_id = check_id(request.match_info["item_id"], "item_id")
    current = request.app[SERVING].current
    if current is not None and not current.knows_item(item_id):
        raise UnknownItem(item_id, "the catalog or the model")
    await remove_item(request.app[REDIS], request.app[REDIS_KEYS], item_id)
    await request.app[REFRESHER].sync()
    return json_response({"item_id": item_id, "removed": True})
