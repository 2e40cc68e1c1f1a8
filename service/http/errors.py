"""Errors as the client sees them: every failure the client can fix is a JSON body
`{"error": {"code", "message", ...}}` with a 4xx status; Redis being away is a retryable 503.

Serving, ingestion and training raise the domain errors of service.errors; the middleware here maps
each to its status. ApiError is for what only HTTP knows (keys, body sizes, rate limits).
"""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.client_exceptions import ClientConnectionResetError
from aiohttp.http_exceptions import BadHttpMessage
from aiohttp.web_protocol import RequestPayloadError

from service.errors import (
    BadInput, Conflict, LifecycleUnavailable, NoErasure, NoModel, NotFound, ServiceError, UnknownItem, UnknownUser,
)
from service.http.metrics import route_label
from service.store.client import REDIS_ERRORS
from service.store.server import refusal_message, write_refusal
from service.outage_log import OutageLog

log = logging.getLogger(__name__)
outage = OutageLog(log)
#: The status a request whose client left mid-answer is counted under (nginx's "client closed request").
CLIENT_CLOSED = 499
#: Seconds a client waits before retrying a write Redis refused (out of memory, a full disk): longer than
#: for Redis away, as an operator usually has to act.
WRITE_REFUSED_RETRY_AFTER = 5


class ApiError(Exception):
    """An HTTP-level error to show the client as {"error": {"code", "message"}}."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None,
                 **details: object) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}
        self.details = details


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None,
                   **details: object) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message, **details}}, status=status,
                             headers=headers)


#: Status of each domain error (service.errors).
DOMAIN_STATUS: dict[type[ServiceError], int] = {BadInput: 400, UnknownItem: 404, NoErasure: 404, NoModel: 503,
                                                 UnknownUser: 404, LifecycleUnavailable: 409, NotFound: 404,
                                                 Conflict: 409}
_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 406: "not_acceptable", 409: "conflict", 413: "payload_too_large",
               415: "unsupported_media_type", 429: "rate_limited"}


def domain_response(exc: ServiceError) -> web.Response:
    """A domain error as its JSON error response."""
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, NoModel) else None
    status = next(s for kind, s in DOMAIN_STATUS.items() if isinstance(exc, kind))
    return error_response(status, exc.code, exc.message, headers, **exc.details)


class ClientErrorLogs(logging.Filter):
    """aiohttp.server logs a request the client got wrong (a body that is not the gzip it claims, a request
    line over the limit) as an ERROR with a traceback, after answering it with a 400: a client could page
    whoever watches the errors. Such a record becomes one WARNING line; every other record passes as it is."""

    CLIENT_ERRORS = (RequestPayloadError, BadHttpMessage)

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, self.CLIENT_ERRORS):
            lines = str(exc).strip().splitlines()
            record.msg, record.args = "bad request from a client, answered 400: %s", (
                lines[-1].strip() if lines else type(exc).__name__,)
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info, record.exc_text = None, None
        return True


def quiet_client_errors() -> None:
    """Install ClientErrorLogs on aiohttp.server's logger (once per process)."""
    logger = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, ClientErrorLogs) for f in logger.filters):
        logger.addFilter(ClientErrorLogs())


@web.middleware
async def error_middleware(request: web.Request, handler) -> web.StreamResponse:
    """Turn domain errors, ApiError and aiohttp's HTTP errors into the JSON error shape; log real bugs."""
    try:
        return await handler(request)
    except ServiceError as exc:
        return domain_response(exc)
    except ApiError as exc:
        return error_response(exc.status, exc.code, exc.message, exc.headers, **exc.details)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, "error")
        message = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else exc.reason
        headers = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "retry-after")}
        return error_response(exc.status, code, message, headers)
    except ClientConnectionResetError:  # the client left while a streamed answer was written: not Redis
        log.debug("client went away during %s %s", request.method, route_label(request))
        return web.Response(status=CLIENT_CLOSED)  # never sent; the request metrics count it
    except REDIS_ERRORS as exc:  # Redis away or refusing writes: a retryable 503, never a 500
        refusal = write_refusal(exc)
        if refusal is not None:  # nothing was written: scripts and transactions are refused whole
            log.warning("redis refused a write on %s %s: %s", request.method, route_label(request), exc)
            return error_response(503, "write_refused", refusal_message(refusal),
                                  {"Retry-After": str(WRITE_REFUSED_RETRY_AFTER)}, reason=refusal)
        outage.warning("redis unavailable on %s %s: %s", request.method, route_label(request), exc)
        return error_response(503, "unavailable", "storage is temporarily unavailable; retry shortly",
                              {"Retry-After": "1"})
    except Exception:
        log.exception("unhandled error on %s %s", request.method, route_label(request))
        return error_response(500, "internal", "internal server error")
