"""Handlers of the email tool: the blocks of one recipient (JSON or an HTML fragment), the same for many
recipients as an NDJSON stream, and recording that a customer was contacted (the campaigns' contact cap).

Blocks are computed by service.serving.email_blocks and rendered by service.serving.email_html; the batch
route works a chunk of recipients at a time, so 100,000 recipients never sit in memory as responses.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from aiohttp import web

from service.encoding import dumps
from service.errors import bad_input
from service.http.app_keys import HISTORY, ONLINE, REDIS, REDIS_KEYS, SERVING, SETTINGS
from service.http.auth import READ, WRITE, requires
from service.http.params import check_id, list_request, optional_now, query, read_batch, read_json
from service.http.responses import NDJSON, json_response, shown
from service.serving.email_blocks import BlockIds, BlockRequest, block_route, parse_blocks, recommended_lists, user_blocks
from service.serving.email_html import HTML_FIELDS, render
from service.serving.variants import VariantTag, models_for, version_label
from service.experiments.definition import EMAIL
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


@dataclass
class Recipient:
    """One recipient's blocks, their HTML when asked for, their block ids and, under an experiment splitting
    the email family, their variant's tag (service.serving.variants.VariantTag)."""

    user_id: str
    blocks: dict
    html: str | None
    ids: BlockIds
    tag: VariantTag | None

    def experiment(self) -> dict:
        """The `experiment` field of the recipient's answer (empty outside experiments)."""
        return {} if self.tag is None else {"experiment": {"name": self.tag[1], "variant": self.tag[2]}}


async def _blocks(request: web.Request, user_ids: Sequence[str], block_request: BlockRequest,
                  ids: dict[str, BlockIds], html: bool) -> list[Recipient]:
    """The blocks of a chunk of recipients, each from the model of their variant while an experiment splits
    the email family; `ids` holds one BlockIds per version label for the whole response (filled here). The CPU
    work runs in a worker thread; impressions and exposures are counted per variant."""
    serving = request.app[SERVING]
    current = serving.require()
    index = await request.app[HISTORY].get(current)
    running = serving.running_split(EMAIL)
    models = models_for(running, current, user_ids)
    recommended = await recommended_lists(serving, current, running, user_ids, block_request)
    settings = request.app[SETTINGS]
    erased = serving.erased
    for _, tag in models:
        label = version_label(current, tag)
        if label not in ids:
            ids[label] = BlockIds(label, block_request.blocks)

    def work() -> list[Recipient]:
        out = []
        for k, user in enumerate(user_ids):
            model, tag = models[k]
            block_ids = ids[version_label(current, tag)]
            blocks = user_blocks(model, index, user, None if recommended is None else recommended[k],
                                 block_request, block_ids, erased)
            page = render(blocks, user, settings.link_param, settings.template_dir) if html else None
            out.append(Recipient(user, blocks, page, block_ids, tag))
        return out

    results = await asyncio.to_thread(work)
    if not shown(request):
        return results
    online = request.app[ONLINE]
    tally: Counter[tuple[str, str]] = Counter()  # (version label, block) -> items
    for recipient in results:
        label = version_label(current, recipient.tag)
        for block in block_request.blocks:
            tally[(label, block)] += len(recipient.blocks[block]["items"])
        if recipient.tag is not None:
            online.exposed(recipient.tag[1], recipient.tag[2], [recipient.user_id])
    for (label, block), items in tally.items():
        online.served(label, block_route(block), items)
    return results


@requires(READ)
async def user_email_block(request: web.Request) -> web.Response:
    user_id = check_id(request.match_info["user_id"], "user_id")
    params = query(request)
    fmt = _format(params)
    block_request = _block_request(params, fmt == "html")
    version = request.app[SERVING].require().version
    [recipient] = await _blocks(request, [user_id], block_request, {}, fmt == "html")
    if recipient.html is not None:
        return web.Response(text=recipient.html, content_type="text/html", charset="utf-8")
    return json_response({"user_id": user_id, "model_version": version, **recipient.experiment(),
                          "blocks": recipient.blocks})


@requires(READ)
async def email_blocks_batch(request: web.Request) -> web.StreamResponse:
    """NDJSON, one line per recipient in input order, written a chunk at a time."""
    body, user_ids = await read_batch(request)
    fmt = _format(body)
    block_request = _block_request(body, fmt == "html")
    request.app[SERVING].require()  # a clean 503 before the 200 header goes out
    response = web.StreamResponse(headers={"Content-Type": NDJSON})
    await response.prepare(request)
    ids: dict[str, BlockIds] = {}
    for start in range(0, len(user_ids), EMAIL_CHUNK):
        results = await _blocks(request, user_ids[start:start + EMAIL_CHUNK], block_request, ids, fmt == "html")
        version = request.app[SERVING].require().version
        lines = [dumps({"user_id": r.user_id, "model_version": version, **r.experiment(),
                        **({"html": r.html, "recommendation_ids": r.ids.ids} if r.html is not None
                           else {"blocks": r.blocks})})
                 for r in results]
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
