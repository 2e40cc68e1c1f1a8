"""API errors: every failure the client can fix is a JSON body with a 4xx status."""

from __future__ import annotations

import logging

from aiohttp import web

from recommender.errors import InputError

from service.metrics import route_label
from service.redis_client import REDIS_ERRORS

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error to show the client as {"error": {"code", "message"}}."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None,
                 **details: object) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}
        self.details = details


def bad_request(message: str, code: str = "bad_request", **details: object) -> ApiError:
    return ApiError(400, code, message, **details)


def json_records(payload: object, noun: str, limit: int) -> list[dict]:
    """A JSON body of one object or a list of 1..limit objects, as a list; 400 otherwise.

    Error codes are `invalid_body`, `too_many_<noun>s` and `invalid_<noun>` (with the index).
    """
    records = [payload] if isinstance(payload, dict) else payload
    if not isinstance(records, list):
        raise bad_request(f"body must be an {noun} object or a list of {noun} objects", "invalid_body")
    if not records:
        raise bad_request(f"no {noun}s in the request", "invalid_body")
    if len(records) > limit:
        raise bad_request(f"at most {limit} {noun}s per request, got {len(records)}", f"too_many_{noun}s")
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise bad_request(f"{noun}s[{index}] must be an object", f"invalid_{noun}", index=index)
    return records


def located(exc: InputError, noun: str) -> ApiError:
    """The library's validation error as a 400 that names the record and field, e.g. events[3].type."""
    where = f"{noun}s" if exc.row is None else f"{noun}s[{exc.row}]" + (f".{exc.field}" if exc.field else "")
    return bad_request(f"{where}: {exc}", f"invalid_{noun}", index=exc.row, field=exc.field)


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None,
                   **details: object) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message, **details}}, status=status,
                             headers=headers)


_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 406: "not_acceptable", 413: "payload_too_large",
               415: "unsupported_media_type", 429: "rate_limited"}


@web.middleware
async def error_middleware(request: web.Request, handler) -> web.StreamResponse:
    """Turn ApiError and aiohttp's HTTP errors into the JSON error shape; log real bugs."""
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.code, exc.message, exc.headers, **exc.details)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, "error")
        message = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else exc.reason
        headers = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "retry-after")}
        return error_response(exc.status, code, message, headers)
    except REDIS_ERRORS as exc:  # Redis away: a retryable 503, never a 500
        log.warning("redis unavailable on %s %s: %s", request.method, route_label(request), exc)
        return error_response(503, "unavailable", "storage is temporarily unavailable; retry shortly",
                              {"Retry-After": "1"})
    except Exception:
        log.exception("unhandled error on %s %s", request.method, route_label(request))
        return error_response(500, "internal", "internal server error")

