"""Handlers of the email tool: the blocks of one recipient (JSON or an HTML fragment), the same for many
recipients as an NDJSON stream, and recording that a customer was contacted (the campaigns' contact cap).

Blocks are computed by service.serving.email_blocks and rendered by service.serving.email_html; the batch
route works a chunk of recipients at a time, so 100,000 recipients never sit in memory as responses.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Sequence

from aiohttp import web

from service.encoding import dumps
from service.errors import bad_input
from service.http.app_keys import HISTORY, ONLINE, REDIS, REDIS_KEYS, SERVING, SETTINGS
from service.http.auth import READ, WRITE, requires
from service.http.params import check_id, list_request, optional_now, query, read_batch, read_json
from service.http.responses import NDJSON, json_response
from service.serving.email_blocks import BlockIds, BlockRequest, block_route, parse_blocks, recommended_lists, user_blocks
from service.serving.email_html import HTML_FIELDS, render
from service.store.contacts import record_contact
from service.store.online import EMAIL_BLOCKS

#: Recipients computed per step of the batch route.
EMAIL_CHUNK = 500
FORMATS = ("json", "html")


def _block_request(params: dict, html: bool) -> BlockRequest:
    blocks = parse_blocks(params.get("blocks", list(EMAIL_BLOCKS)))
    if blocks is None:
        raise bad_input(f"blocks must be a list of {', '.join(EMAIL_BLOCKS)}", "invalid_parameter", field="blocks")
    req = list_request(params, default_n=4)
    if html:  # what the template shows, whatever else was asked for
        req = dataclasses.replace(req, fields=tuple(dict.fromkeys((*req.fields, *HTML_FIELDS))))
    return BlockRequest(blocks, req, optional_now(params.get("now")))


def _format(params: dict) -> str:
    fmt = params.get("format", "json")
    if fmt not in FORMATS:
        raise bad_input("format must be json or html", "invalid_parameter", field="format")
    return fmt


async def _blocks(request: web.Request, user_ids: Sequence[str], block_request: BlockRequest, ids: BlockIds | None,
                  html: bool) -> tuple[BlockIds, list[tuple[str, dict, str | None]]]:
    """(ids, [(user, blocks, html or None)]) for a chunk of recipients; the CPU work in a worker thread."""
    serving = request.app[SERVING]
    current = serving.require()
    index = await request.app[HISTORY].get(current)
    ids = ids or BlockIds(current.version, block_request.blocks)
    recommended = await recommended_lists(serving, user_ids, block_request)
    settings = request.app[SETTINGS]

    def work() -> list[tuple[str, dict, str | None]]:
        out = []
        for k, user in enumerate(user_ids):
            blocks = user_blocks(current, index, user, None if recommended is None else recommended[k],
                                 block_request, ids)
            out.append((user, blocks, render(blocks, user, settings.link_param, settings.template_dir)
                        if html else None))
        return out

    results = await asyncio.to_thread(work)
    online = request.app[ONLINE]
    for block in block_request.blocks:
        online.served(current.version, block_route(block), sum(len(b[block]["items"]) for _, b, _ in results))
    return ids, results


@requires(READ)
async def user_email_block(request: web.Request) -> web.Response:
    user_id = check_id(request.match_info["user_id"], "user_id")
    params = query(request)
    fmt = _format(params)
    block_request = _block_request(params, fmt == "html")
    version = request.app[SERVING].require().version
    _, [(_, blocks, html)] = await _blocks(request, [user_id], block_request, None, fmt == "html")
    if html is not None:
        return web.Response(text=html, content_type="text/html", charset="utf-8")
    return json_response({"user_id": user_id, "model_version": version, "blocks": blocks})


@requires(READ)
async def email_blocks_batch(request: web.Request) -> web.StreamResponse:
    """NDJSON, one line per recipient in input order, written a chunk at a time."""
    body, user_ids = await read_batch(request)
    fmt = _format(body)
    block_request = _block_request(body, fmt == "html")
    request.app[SERVING].require()  # a clean 503 before the 200 header goes out
    response = web.StreamResponse(headers={"Content-Type": NDJSON})
    await response.prepare(request)
    ids = None
    for start in range(0, len(user_ids), EMAIL_CHUNK):
        ids, results = await _blocks(request, user_ids[start:start + EMAIL_CHUNK], block_request, ids,
                                     fmt == "html")
        version = request.app[SERVING].require().version
        lines = [dumps({"user_id": user, "model_version": version,
                        **({"html": html, "recommendation_ids": ids.ids} if html is not None else {"blocks": blocks})})
                 for user, blocks, html in results]
        await response.write(b"\n".join(lines) + b"\n")  # waits for the client to drain
    await response.write_eof()
    return response


#: Channel and campaign names are short labels.
MAX_LABEL_CHARS = 64


def _label(body: dict, name: str, default: str | None) -> str:
    value = body.get(name, default)
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_LABEL_CHARS or any(
            ord(c) < 32 or ord(c) == 127 or 0xD800 <= ord(c) <= 0xDFFF for c in value):
        raise bad_input(f"{name} must be a non-blank string of at most {MAX_LABEL_CHARS} characters without control "
                        "characters", "invalid_parameter", field=name)
    return value


@requires(WRITE)
async def mark_contacted(request: web.Request) -> web.Response:
    """`{"channel": "email", "campaign": "win_back"}`: the customer was just sent a message; the campaign
    routes leave them out for the contact cap (durable when 202)."""
    user_id = check_id(request.match_info["user_id"], "user_id")
    body = await read_json(request)
    if not isinstance(body, dict):
        raise bad_input("body must be an object with campaign (and channel)", "invalid_body")
    channel, campaign = _label(body, "channel", "email"), _label(body, "campaign", None)
    now = time.time()
    await record_contact(request.app[REDIS], request.app[REDIS_KEYS], user_id, channel, campaign, now)
    return json_response({"user_id": user_id, "channel": channel, "campaign": campaign, "contacted_at": now},
                         status=202)
