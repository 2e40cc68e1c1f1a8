"""service.http.errors: the client leaving mid-answer is not a Redis outage."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.client_exceptions import ClientConnectionResetError
from aiohttp.test_utils import TestClient, TestServer

from service.http.errors import CLIENT_CLOSED, ClientErrorLogs, error_middleware
from service.http.metrics import metrics_middleware
from service.metrics import Metrics
from tests.service.conftest import AUTH_WRITE


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


async def test_requests_the_client_got_wrong_log_one_warning_line_not_an_error_traceback(client, caplog):
    with caplog.at_level(logging.DEBUG, logger="aiohttp.server"):
        not_gzip = await client.post("/v1/events", data=b'[{"user_id": "u"}]',
                                     headers={**AUTH_WRITE, "Content-Encoding": "gzip"})
        too_long = await client.get("/v1/users/" + "x" * 70_000 + "/recommendations")
    assert (not_gzip.status, too_long.status) == (400, 400)
    records = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert len(records) == 2 and all(r.levelno == logging.WARNING and r.exc_info is None for r in records)
    assert all(r.getMessage().startswith("bad request from a client, answered 400: ") for r in records)
    assert "gzip" in records[0].getMessage()
    other = logging.LogRecord("aiohttp.server", logging.ERROR, __file__, 1, "Error handling request", (),
                              (ValueError, ValueError("a bug"), None))
    assert ClientErrorLogs().filter(other) and other.levelno == logging.ERROR and other.exc_info  # bugs stay errors
