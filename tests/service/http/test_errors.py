"""service.http.errors: the client leaving mid-answer is not a Redis outage."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.client_exceptions import ClientConnectionResetError
from aiohttp.test_utils import TestClient, TestServer

from service.http.errors import CLIENT_CLOSED, error_middleware
from service.http.metrics import metrics_middleware
from service.metrics import Metrics


async def test_a_client_that_left_mid_answer_is_counted_as_499_not_as_redis_being_away(caplog):
    async def streams_to_a_gone_client(request: web.Request) -> web.StreamResponse:
        raise ClientConnectionResetError("Cannot write to closing transport")  # what a write to it raises

    async def redis_is_away(request: web.Request) -> web.StreamResponse:
        raise ConnectionRefusedError("redis")

    metrics = Metrics()
    app = web.Application(middlewares=[metrics_middleware(metrics), error_middleware])
    app.router.add_get("/gone", streams_to_a_gone_client)
    app.router.add_get("/away", redis_is_away)
    async with TestClient(TestServer(app)) as client:
        with caplog.at_level(logging.WARNING):
            assert (await client.get("/gone")).status == CLIENT_CLOSED
            assert not caplog.records
            assert (await client.get("/away")).status == 503  # any other OSError still means Redis
            assert "redis unavailable" in caplog.text
    counted = {s.labels["status"]: s.value for m in metrics.registry.collect() for s in m.samples
               if s.name == "encore_http_requests_total"}
    assert counted == {str(CLIENT_CLOSED): 1.0, "503": 1.0}
