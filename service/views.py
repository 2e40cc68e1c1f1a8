"""Thin handlers: parse and validate the request, call serving/ingest/refresh, serialise."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable

from aiohttp import web

from recommender.catalog import KINDS
from recommender.ids import MAX_ID_BYTES
from service.app_keys import METRICS, REDIS, REDIS_KEYS, REFRESHER, SERVING, SETTINGS
from service.auth import ADMIN, READ, WRITE, requires
from service.catalog_store import parse_items, remove_item, upsert_items
from service.errors import ApiError, bad_request
from service.event_store import StoreLimits, store_events
from service.ingest import EventBatch, parse_batch
from service.online import ONLINE, new_recommendation_id
from service.redis_client import REDIS_ERRORS
from service.responses import dumps, json_response
from service.serving import ListRequest, ListResult

MAX_N = 100
MAX_BATCH_USERS = 100_000
NDJSON = "application/x-ndjson"


# -- request parsing ------------------------------------------------------------------------
def _int(raw: object, name: str, low: int, high: int, default: int) -> int:
    if raw is None:
        return default
    if isinstance(raw, bool) or not isinstance(raw, (int, str)):
        raise bad_request(f"{name} must be an integer from {low} to {high}", "invalid_parameter", field=name)
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"{name} must be an integer from {low} to {high}", "invalid_parameter", field=name) from None
    if not low <= value <= high:
        raise bad_request(f"{name} must be from {low} to {high}, got {value}", "invalid_parameter", field=name)
    return value


def _bool(raw: object, name: str) -> bool:
    if raw is None or isinstance(raw, bool):
        return bool(raw)
    if isinstance(raw, str) and raw.lower() in ("true", "1", "yes", "false", "0", "no", ""):
        return raw.lower() in ("true", "1", "yes")
    raise bad_request(f"{name} must be true or false", "invalid_parameter", field=name)


def check_id(value: object, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise bad_request(f"{name} must be a non-empty string", "invalid_parameter", field=name)
    if len(value.encode("utf-8")) > MAX_ID_BYTES:
        raise bad_request(f"{name} is longer than {MAX_ID_BYTES} bytes", "invalid_parameter", field=name)
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise bad_request(f"{name} contains control characters", "invalid_parameter", field=name)
    return value


def list_request(params: dict, default_n: int = 10) -> ListRequest:
    """Filters shared by every list route, from a query string or a JSON body."""
    kind = params.get("kind")
    if kind is not None and kind not in KINDS:
        raise bad_request(f"kind must be one of {', '.join(KINDS)}", "invalid_parameter", field="kind")
    category = params.get("category")
    if category is not None and not isinstance(category, str):
        raise bad_request("category must be a string", "invalid_parameter", field="category")
    exclude = params.get("exclude") or ()
    if isinstance(exclude, str):
        exclude = [e for e in exclude.split(",") if e]
    if not isinstance(exclude, (list, tuple)) or not all(isinstance(e, str) for e in exclude):
        raise bad_request("exclude must be a list of item ids", "invalid_parameter", field="exclude")
    cap = params.get("max_per_category")
    return ListRequest(
        n=_int(params.get("n"), "n", 1, MAX_N, default_n),
        kind=kind, category=category or None,
        in_stock_only=_bool(params.get("in_stock"), "in_stock"),
        exclude=frozenset(exclude),
        max_per_category=None if cap is None else _int(cap, "max_per_category", 1, MAX_N, 1),
    )


def personal_request(params: dict, default_n: int = 10) -> ListRequest:
    """`list_request` plus what only personal lists take: `explain` (add `because` to each item)."""
    req = list_request(params, default_n)
    explain = _bool(params.get("explain"), "explain")
    return dataclasses.replace(req, explain=True) if explain else req


def served(request: web.Request, version: str, route: str, results: list[ListResult],
           recommendation_id: str | None = None) -> str:
    """Give a response its recommendation_id and count what it shows (service.online: tallied in
    process, never waits for Redis, never fails the response)."""
    request.app[ONLINE].served(version, route, sum(r.count for r in results))
    return recommendation_id or new_recommendation_id(version, route)


async def read_json(request: web.Request, max_bytes: int | None = None) -> object:
    """The body as JSON; 413 past `max_bytes` (default RECS_MAX_BODY_BYTES), 400 if not UTF-8 JSON."""
    limit = max_bytes or request.app[SETTINGS].max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, "payload_too_large", f"request body is larger than {limit} bytes")
    chunks, size = [], 0
    while chunk := await request.content.read(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "payload_too_large", f"request body is larger than {limit} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    try:
        return json.loads(body)
    except UnicodeDecodeError:
        raise bad_request("body is not valid UTF-8", "invalid_json") from None
    except ValueError as exc:
        raise bad_request(f"body is not valid JSON: {exc}", "invalid_json") from None


def _query(request: web.Request) -> dict:
    return dict(request.query)


#: Parsed list requests by (parser, raw query string): a storefront sends the same few query
#: strings over and over, and parsing one was about 5% of a hot request's CPU.
_PARSED: dict[tuple[Callable[[dict], ListRequest], str], ListRequest] = {}
PARSED_QUERIES = 1024


def parsed_query(request: web.Request, parse: Callable[[dict], ListRequest]) -> ListRequest:
    """`parse` of the query string, remembered (a bad one raises every time: errors are not kept)."""
    key = (parse, request.rel_url.raw_query_string)
    req = _PARSED.get(key)
    if req is None:
        req = parse(_query(request))
        if len(_PARSED) >= PARSED_QUERIES:
            _PARSED.clear()
        _PARSED[key] = req
    return req


# -- reads ----------------------------------------------------------------------------------
@requires(READ)
async def user_recommendations(request: web.Request) -> web.Response:
    user_id = check_id(request.match_info["user_id"], "user_id")
    req = parsed_query(request, personal_request)
    version, (result,) = await request.app[SERVING].for_users([user_id], req)
    rid = served(request, version, "recommendations", [result])
    return json_response({"user_id": user_id, "model_version": version, "source": result.source,
                          "recommendation_id": rid, "items": result.payload})


@requires(READ)
async def similar_items(request: web.Request) -> web.Response:
    item_id = check_id(request.match_info["item_id"], "item_id")
    req = parsed_query(request, list_request)
    version, source, items = await request.app[SERVING].similar(item_id, req)
    return json_response({"item_id": item_id, "model_version": version, "source": source, "items": items})


@requires(READ)
async def batch_recommendations(request: web.Request) -> web.StreamResponse:
    body = await read_json(request, request.app[SETTINGS].max_batch_body_bytes)
    if not isinstance(body, dict):
        raise bad_request("body must be an object with user_ids", "invalid_body")
    user_ids = body.get("user_ids")
    if not isinstance(user_ids, list) or not user_ids:
        raise bad_request("user_ids must be a non-empty list", "invalid_parameter", field="user_ids")
    if len(user_ids) > MAX_BATCH_USERS:
        raise bad_request(f"at most {MAX_BATCH_USERS} user_ids per call, got {len(user_ids)}",
                          "too_many_users", field="user_ids")
    for index, user_id in enumerate(user_ids):
        check_id(user_id, f"user_ids[{index}]")
    req = personal_request(body, default_n=10)
    serving = request.app[SERVING]
    if NDJSON in request.headers.get("Accept", ""):
        return await _stream_batch(request, serving, user_ids, req)
    version, results = await serving.for_users(user_ids, req)
    rid = served(request, version, "batch", results)
    return json_response({"model_version": version, "recommendation_id": rid, "results": [
        {"user_id": u, "source": r.source, "recommendation_id": rid, "items": r.payload}
        for u, r in zip(user_ids, results)]})


async def _stream_batch(request: web.Request, serving, user_ids: list[str], req: ListRequest) -> web.StreamResponse:
    """One JSON line per user, written chunk by chunk so large batches never sit in memory.
    The whole response has one recommendation_id, on every line."""
    serving.require()  # fail with a clean 503 before the 200 header goes out
    response = web.StreamResponse(headers={"Content-Type": NDJSON})
    await response.prepare(request)
    chunk = 1000
    rid = None
    for start in range(0, len(user_ids), chunk):
        part = user_ids[start:start + chunk]
        version, results = await serving.for_users(part, req)
        rid = served(request, version, "batch", results, rid)
        lines = (dumps({"user_id": u, "model_version": version, "source": r.source, "recommendation_id": rid,
                        "items": r.payload})
                 for u, r in zip(part, results))
        await response.write(b"\n".join(lines) + b"\n")
    await response.write_eof()
    return response


# -- writes ---------------------------------------------------------------------------------
@requires(WRITE)
async def post_events(request: web.Request) -> web.Response:
    batch = parse_batch(await read_json(request))
    stored = await store(request.app, batch)
    accepted = len(batch.events)
    return json_response({"accepted": accepted, "duplicates": accepted - stored}, status=202)


async def store(app: web.Application, batch: EventBatch, now: float | None = None) -> int:
    """Write a validated batch (service.event_store) and count it; how many were stored."""
    stored = await store_events(app[REDIS], app[REDIS_KEYS], batch, app[REFRESHER].weights,
                                StoreLimits.from_settings(app[SETTINGS]), now=now)
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
    item_id = check_id(request.match_info["item_id"], "item_id")
    await remove_item(request.app[REDIS], request.app[REDIS_KEYS], item_id)
    await request.app[REFRESHER].sync()
    return json_response({"item_id": item_id, "removed": True})


# -- model ----------------------------------------------------------------------------------
@requires(READ)
async def get_model(request: web.Request) -> web.Response:
    current = request.app[SERVING].current
    try:
        status = await request.app[REFRESHER].status()
    except REDIS_ERRORS:  # the model is in memory; only the training record is out of reach
        status = {"last_message": "training status unavailable: redis is not answering"}
    training = {
        "running": status.get("running") == "1",
        "last_outcome": status.get("last_outcome"),
        "last_message": status.get("last_message"),
        "last_attempt_at": _float(status.get("last_attempt_at")),
        "last_success_at": _float(status.get("last_success_at")),
        "last_error": status.get("last_error") or None,
        "last_error_at": _float(status.get("last_error_at")),
        "last_metrics": json.loads(status["last_metrics"]) if status.get("last_metrics") else None,
        "load_error": status.get("load_error") or None,
    }
    if current is None:
        return json_response({"version": None, "training": training})
    info = current.info
    return json_response({
        "version": info.version, "algorithm": info.algorithm, "trained_at": info.trained_at,
        "counts": {"users": info.users, "items": info.items, "interactions": info.interactions},
        "params": info.params, "metrics": info.metrics, "training": training,
    })


def _float(raw: str | None) -> float | None:
    return float(raw) if raw else None


@requires(ADMIN)
async def retrain(request: web.Request) -> web.Response:
    app = request.app
    await app[REDIS].set(app[REDIS_KEYS].retrain_requested, str(time.time()))
    started = app[REFRESHER].start_training("requested")
    return json_response({"status": "started" if started else "already_running"}, status=202)


# -- operations -----------------------------------------------------------------------------
async def healthz(request: web.Request) -> web.Response:
    """Also says which process answered and the version it serves: with `--workers N` several do."""
    current = request.app[SERVING].current
    return json_response({"status": "ok", "pid": os.getpid(), "model_version": current.version if current else None})


async def readyz(request: web.Request) -> web.Response:
    app = request.app
    model_ok = app[SERVING].current is not None
    try:
        redis_ok = bool(await app[REDIS].ping())
    except Exception:  # any failure to answer means not ready
        redis_ok = False
    ready = model_ok and redis_ok
    return json_response({"ready": ready, "model": model_ok, "redis": redis_ok}, status=200 if ready else 503)


async def metrics(request: web.Request) -> web.Response:
    return request.app[METRICS].render()


async def openapi(request: web.Request) -> web.Response:
    from service.openapi import spec

    return json_response(spec())
