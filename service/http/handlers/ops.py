"""Handlers of the operations routes: liveness, readiness, Prometheus metrics, the OpenAPI document."""

from __future__ import annotations

import os

from aiohttp import web

from service.http.app_keys import METRICS, REDIS, SERVING
from service.http.openapi import spec
from service.http.responses import json_response


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
    body, content_type = request.app[METRICS].render()
    return web.Response(body=body, content_type=content_type)


async def openapi(request: web.Request) -> web.Response:
    return json_response(spec())
