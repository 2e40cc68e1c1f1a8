"""Request counts and latency per route template, into the app's Prometheus registry (service.metrics)."""

from __future__ import annotations

import time

from aiohttp import web

from service.metrics import Metrics


def route_label(request: web.Request) -> str:
    """The route template (not the raw path), so user ids never become label values."""
    info = request.match_info
    resource = info.route.resource if info.route is not None else None
    return resource.canonical if resource is not None else "unmatched"


def metrics_middleware(metrics: Metrics):
    """Middleware counting every request by (route template, method, status) and timing it by route."""
    known: dict[tuple[str, str, int], tuple] = {}  # (route, method, status) -> (latency, count) children

    @web.middleware
    async def middleware(request: web.Request, handler) -> web.StreamResponse:
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            key = (route_label(request), request.method, status)
            children = known.get(key)
            if children is None:  # labels() costs more than the observation: look it up once per key
                children = known[key] = (metrics.latency.labels(key[0]), metrics.requests.labels(key[0], key[1],
                                                                                             str(status)))
            children[0].observe(time.perf_counter() - started)
            children[1].inc()

    return middleware
