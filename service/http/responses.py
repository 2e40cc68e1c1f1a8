"""JSON responses (bodies encoded by service.encoding) and the NDJSON content type."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping

from aiohttp import web

from service.encoding import dumps

NDJSON = "application/x-ndjson"


def shown(request: web.Request) -> bool:
    """Whether a response's body reaches anyone: not for HEAD (RFC 9110: a GET's status and headers without
    its body, what load balancers and link checkers send), so a HEAD request counts no impressions and
    exposes no customer to an experiment."""
    return request.method != "HEAD"


def json_response(payload: object, *, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(body=dumps(payload), status=status, headers=headers, content_type="application/json")


async def stream_ndjson(request: web.Request, chunks: Iterator[list[bytes]]) -> web.StreamResponse:
    """Write each chunk of JSON lines the generator yields (computed in a worker thread) as NDJSON; a HEAD
    request gets the headers only, and no line is computed."""
    response = web.StreamResponse(headers={"Content-Type": NDJSON})
    await response.prepare(request)
    while shown(request):
        lines = await asyncio.to_thread(next, chunks, None)
        if lines is None:
            break
        if lines:
            await response.write(b"\n".join(lines) + b"\n")  # waits for the client to drain
    await response.write_eof()
    return response
