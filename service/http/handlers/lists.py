"""Handlers of the list routes: a user's list, similar items, and batches (JSON or NDJSON)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from service.encoding import dumps
from service.http.app_keys import ONLINE, SERVING
from service.http.auth import READ, requires
from service.http.params import (
    check_id,
    list_request,
    parsed_query,
    personal_request,
    read_batch,
)
from service.http.responses import NDJSON, json_response, shown
from service.serving.requests import ListRequest, ListResult
from service.store.online import SIMILAR_ROUTE, new_recommendation_id


def served(request: web.Request, version: str, route: str, results: list[ListResult],
           recommendation_id: str | None = None) -> str:
    """Give a response of lists its recommendation_id and count the items they show (`counted`)."""
    return counted(request, version, route, sum(r.count for r in results), recommendation_id)


def counted(request: web.Request, version: str, route: str, impressions: int,
            recommendation_id: str | None = None) -> str:
    """Give a response its recommendation_id and count the items it shows (service.serving.online: tallied
    in process, never waits for Redis, never fails the response; none for HEAD)."""
    if shown(request):
        request.app[ONLINE].served(version, route, impressions)
    return recommendation_id or new_recommendation_id(version, route)


@requires(READ)
async def user_recommendations(request: web.Request) -> web.Response:
    user_id = check_id(request.match_info["user_id"], "user_id")
    req = parsed_query(request, personal_request)
    version, (result,) = await request.app[SERVING].for_users([user_id], req)
    if result.variant is None:
        rid = served(request, version, "recommendations", [result])
        return json_response({"user_id": user_id, "model_version": version, "source": result.source,
                              "recommendation_id": rid, "items": result.payload})
    label, experiment, variant = result.variant
    rid = served(request, label, "recommendations", [result])
    if shown(request):
        request.app[ONLINE].exposed(experiment, variant, (user_id,))
    return json_response({"user_id": user_id, "model_version": version, "source": result.source,
                          "recommendation_id": rid, "experiment": {"name": experiment, "variant": variant},
                          "items": result.payload})


@requires(READ)
async def similar_items(request: web.Request) -> web.Response:
    item_id = check_id(request.match_info["item_id"], "item_id")
    req = parsed_query(request, list_request)
    version, source, items, count = await request.app[SERVING].similar(item_id, req)
    return json_response({"item_id": item_id, "model_version": version, "source": source,
                          "recommendation_id": counted(request, version, SIMILAR_ROUTE, count), "items": items})


@requires(READ)
async def batch_recommendations(request: web.Request) -> web.StreamResponse:
    body, user_ids = await read_batch(request)
    req = personal_request(body, default_n=10)
    return await _stream_batch(request, user_ids, req, ndjson=NDJSON in request.headers.get("Accept", ""))


async def _stream_batch(request: web.Request, user_ids: list[str], req: ListRequest, ndjson: bool
                        ) -> web.StreamResponse:
    """The batch's answer, written a chunk of users at a time, so 100,000 lists of 100 never sit in memory
    (as one JSON document they are about 730 MiB): NDJSON, one line per user, or one JSON object whose
    `results` array is written element by element. Every list comes from one model, and the response has
    one recommendation_id, on every result. Encoding runs in a worker thread and each chunk waits for
    the client to take it, so other requests (health checks) are answered meanwhile.

    Errors the client can fix are found before the 200 header goes out; after it nothing can fail but
    the connection (Redis outages make lists come from the in-memory model, as for one user)."""
    serving = request.app[SERVING]
    current = serving.require()  # a clean 503 before the 200 header goes out
    version = current.version
    rid = new_recommendation_id(version, "batch")
    response = web.StreamResponse(headers={"Content-Type": NDJSON if ndjson else "application/json"})
    await response.prepare(request)
    if not ndjson:
        await response.write(b'{"model_version":' + dumps(version) + b',"recommendation_id":' + dumps(rid)
                             + b',"results":[')
    done = 0
    variant_ids: dict[str, str] = {}  # variant label -> its id in this response
    async for results in serving.user_chunks(current, user_ids, req):
        part = user_ids[done:done + len(results)]
        rids = _variant_ids(request, part, results, version, rid, variant_ids)
        chunk = await asyncio.to_thread(_encode, part, results, version, rids, ndjson, done > 0)
        done += len(results)
        await response.write(chunk)  # waits while the client is behind
    if not ndjson:
        await response.write(b"]}")
    await response.write_eof()
    return response


def _variant_ids(request: web.Request, user_ids: list[str], results: list[ListResult], version: str, rid: str,
                 variant_ids: dict[str, str]) -> str | list[str]:
    """Count a chunk as served and give each result its id: `rid` for all (no experiment), or per result the
    id of its variant (one per variant for the whole response) with the customer counted as exposed."""
    if all(r.variant is None for r in results):
        served(request, version, "batch", results, rid)
        return rid
    online = request.app[ONLINE]
    groups: dict[tuple[str, str, str] | None, list[int]] = {}
    for pos, result in enumerate(results):
        groups.setdefault(result.variant, []).append(pos)
    rids: list[str] = [rid] * len(results)
    for variant, positions in groups.items():
        if variant is None:
            served(request, version, "batch", [results[p] for p in positions], rid)
            continue
        label, experiment, name = variant
        variant_rid = variant_ids.setdefault(label, new_recommendation_id(label, "batch"))
        served(request, label, "batch", [results[p] for p in positions], variant_rid)
        online.exposed(experiment, name, [user_ids[p] for p in positions])
        for pos in positions:
            rids[pos] = variant_rid
    return rids


def _encode(user_ids: list[str], results: list[ListResult], version: str, rids: str | list[str], ndjson: bool,
            more: bool) -> bytes:
    """One chunk of a batch's answer: NDJSON lines, or array elements (after a comma when `more`); `rids`
    is the response's id, or each result's (an experiment splits the batch)."""
    ids = [rids] * len(results) if isinstance(rids, str) else rids
    head = {"model_version": version} if ndjson else {}
    encoded = (dumps({"user_id": u, **head, "source": r.source, "recommendation_id": i, **_experiment(r),
                      "items": r.payload}) for u, r, i in zip(user_ids, results, ids))
    if ndjson:
        return b"".join(line + b"\n" for line in encoded)
    body = b",".join(encoded)
    return (b"," + body) if more else body


def _experiment(result: ListResult) -> dict:
    """The `experiment` field of a result its variant served (nothing outside experiments)."""
    return {} if result.variant is None else {"experiment": {"name": result.variant[1],
                                                             "variant": result.variant[2]}}
