"""JSON responses (bodies encoded by service.encoding) and the NDJSON content type."""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from service.encoding import dumps

NDJSON = "application/x-ndjson"


def json_response(payload: object, *, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(body=dumps(payload), status=status, headers=headers, content_type="application/json")
