"""Handlers of the operations routes: liveness, readiness, Prometheus metrics, the OpenAPI document."""

from __future__ import annotations

import asyncio
import os

from aiohttp import web

from service.http.app_keys import METRICS, REDIS, SERVING, SETTINGS
from service.http.openapi import spec
from service.http.responses import json_response
from service.store.client import REDIS_ERRORS
from service.store.server import read_server_settings, write_refusal


async def healthz(request: web.Request) -> web.Response:
    """Also says which process answered and the version it serves: with `--workers N` several do."""
    current = request.app[SERVING].current
    return json_response({"status": "ok", "pid": os.getpid(), "model_version": current.version if current else None})


async def readyz(request: web.Request) -> web.Response:
    """Ready: a model is loaded and Redis answers. Also what the Redis server is set to (service.store.server):
    whether accepted events are durable (the AOF), whether it refuses writes now, and warnings about what
    may be lost; these do not make the process unready (reads keep working), they tell the operator."""
    app = request.app
    model_ok = app[SERVING].current is not None
    refused = None  # why Redis refuses writes, when it says so
    timeout = app[SETTINGS].redis_read_timeout  # a hung Redis is not ready, said at once
    try:
        async with asyncio.timeout(timeout):
            redis_ok = bool(await app[REDIS].ping())
    except Exception as exc:  # any failure to answer means not ready
        refused = write_refusal(exc)  # but Redis answers PING with MISCONF while its disk is full: reads work
        redis_ok = refused is not None
    server = None
    if redis_ok:
        try:
            async with asyncio.timeout(timeout):
                server = await read_server_settings(app[REDIS])
        except REDIS_ERRORS:
            server = None
    if refused is None and server is not None:  # PING answers while Redis refuses writes when out of memory
        refused = server.writes_refused
    ready = model_ok and redis_ok
    return json_response({"ready": ready, "model": model_ok, "redis": redis_ok, "writes_refused": refused,
                          "events_durable": server.events_durable if server else None,
                          "redis_settings": server.as_dict() if server else None,
                          "warnings": server.warnings() if server else []}, status=200 if ready else 503)


async def metrics(request: web.Request) -> web.Response:
    body, content_type = request.app[METRICS].render()
    return web.Response(body=body, content_type=content_type)


async def openapi(request: web.Request) -> web.Response:
    return json_response(spec())
