"""Handlers of the retention routes: win-back, abandoned-cart, back-in-stock, price-drop and
browse-abandonment campaigns (NDJSON streams) and
the per-customer follow-up, new-for-you and buy-again blocks.

They parse and check parameters (400 with the service's JSON error), get the event index from
the HistoryStore (service.serving.retention_index: snapshot plus stream, every event accepted so far), and hand the CPU work to
the library in worker threads. Campaigns stream one chunk of customers at a time.

`now` (epoch seconds) may be passed to place the time windows (default: the current time); it
only moves the windows, every event known still counts (see recommender.retention.campaigns).

The campaigns leave out customers contacted within `cap_hours` before `now` (default RECS_CONTACT_CAP_HOURS;
0: off; service.store.contacts) and count them in encore_campaign_customers_left_out_total. `fields` embeds
catalog fields in every item (as in the list routes).

The win-back campaign takes `max_p_alive` and `min_value` as an alternative to the idle window: its
customers are then those the lifecycle fit gives at most that P(alive) and at least that predicted 365-day
value, listed by value at risk (service.serving.profiles), each row with its p_alive, churn risk, value and
value at risk.
"""

from __future__ import annotations

import asyncio
from collections import Counter as Tally

import numpy as np
from aiohttp import web

from recommender.retention import (
    abandoned_carts,
    back_in_stock,
    browse_abandonment,
    price_drop,
    buy_again,
    follow_up,
    new_for_you,
    win_back,
    win_back_customers,
)
from recommender.retention.audience import item_audience
from recommender.retention.browse import BROWSE_GROUPS
from recommender.retention.campaigns import CampaignRows
from recommender.retention.trending import trending
from recommender.sources import TRENDING
from recommender.units import SECONDS_PER_DAY
from service.encoding import dumps
from service.errors import UnknownItem, bad_input
from service.experiments.definition import CAMPAIGNS
from service.http.app_keys import HISTORY, METRICS, ONLINE, REDIS, REDIS_KEYS, SERVING, SETTINGS
from service.http.auth import READ, requires
from service.http.handlers.customers import lifecycle_index
from service.http.limits import MAX_AUDIENCE, MAX_DAYS, MAX_HOURS, MAX_N, MAX_VIEWS
from service.http.params import bool_param, check_id, int_param, lifecycle_filters, list_request, now_param, query
from service.http.responses import json_response, shown, stream_ndjson
from service.serving.campaign_split import OrderKeys, SplitCampaign, split_campaign
from service.serving.model_state import ServingModel
from service.serving.picking import full_filter
from service.serving.profiles import prediction_view, value_at_risk_order
from service.serving.requests import ListRequest
from service.serving.retention_index import RetentionIndex
from service.settings import MAX_TRENDING_HOURS
from service.store.contacts import MAX_CAP_HOURS, contacted_since
from service.store.online import campaign_route, new_recommendation_id
from service.store.prices import price_histories, repriced_since
from service.store.stock import restocked_since, stock_histories

#: What a win-back row selected by lifecycle (max_p_alive, min_value) adds: service.serving.profiles.
LAPSED_RISK_FIELDS = ("p_alive", "churn_risk", "value_365d", "value_at_risk")
#: The contact cap's reason label in encore_campaign_customers_left_out_total.
CONTACT_CAP = "contact_cap"


async def _index(request: web.Request) -> tuple[ServingModel, RetentionIndex]:
    current = request.app[SERVING].require()
    return current, await request.app[HISTORY].get(current)


async def _contacted(request: web.Request, params: dict, now: float) -> frozenset[str]:
    """Customers contacted within `cap_hours` before `now` (none when the cap is 0)."""
    hours = int_param(params.get("cap_hours"), "cap_hours", 0, MAX_CAP_HOURS, None)
    cap = request.app[SETTINGS].contact_cap_hours if hours is None else hours
    if cap <= 0:
        return frozenset()
    return await contacted_since(request.app[REDIS], request.app[REDIS_KEYS], now - cap * 3600.0)


def _dicts(current: ServingModel, items, fields: tuple[str, ...]) -> list[dict]:
    """Block items as response dicts, with the catalog fields asked for."""
    out = [i.to_dict() for i in items]
    current.display_by_id(out, fields)
    return out


async def _campaign_inputs(request: web.Request, params: dict
                          ) -> tuple[ListRequest, float, frozenset[str], ServingModel, RetentionIndex]:
    """What every trigger campaign reads after its own parameters: the list request (default n=3),
    `now` (epoch seconds), the customers the contact cap leaves out, the serving model and the index."""
    req = list_request(params, default_n=3)
    now = now_param(params)
    contacted = await _contacted(request, params, now)
    current, index = await _index(request)
    return req, now, contacted, current, index


async def _stream_campaign(request: web.Request, name: str, version: str, rows: CampaignRows | SplitCampaign,
                           line) -> web.StreamResponse:
    """Stream a campaign's rows (recommender.retention CampaignRows: lists of customers) as NDJSON, one
    `line(row)` dict per customer. Each line carries the response's `recommendation_id` for the route
    `campaign_{name}` (one per variant: rows of a split campaign, service.serving.campaign_split, also name
    the customer's experiment and variant, and the customer counts as exposed to it), and its items count as
    impressions: listing is sending. With `dry_run=true` (counting a campaign, as the dashboard does) nothing
    is counted (no impressions, exposures or contact-cap metric) and lines carry no id."""
    dry_run = bool_param(query(request).get("dry_run"), "dry_run") or not shown(request)
    split = rows if isinstance(rows, SplitCampaign) else SplitCampaign(rows)
    if not dry_run:
        request.app[METRICS].campaign_left_out.labels(name, CONTACT_CAP).inc(split.rows.left_out)
    loop, online = asyncio.get_running_loop(), request.app[ONLINE]
    route = campaign_route(name)
    ids: dict[str, str] = {}  # version label -> this response's id

    def lines():  # runs in worker threads (stream_ndjson): counting goes to the event loop's thread
        for chunk in split.rows:
            out, shown = [], Tally()
            for r in chunk:
                tag = split.tag(r.user_id)
                body = line(r)
                if not dry_run:
                    label = version if tag is None else tag[0]
                    if label not in ids:
                        ids[label] = new_recommendation_id(label, route)
                    body["recommendation_id"] = ids[label]
                    shown[label] += len(body["items"]) if "items" in body else 1  # an audience line: its item
                if tag is not None:
                    body["experiment"] = {"name": tag[1], "variant": tag[2]}
                    if not dry_run:
                        loop.call_soon_threadsafe(online.exposed, tag[1], tag[2], [r.user_id])
                out.append(dumps(body))
            for label, items in shown.items():
                loop.call_soon_threadsafe(online.served, label, route, items)
            yield out

    return await stream_ndjson(request, lines())


def _user_order(index: RetentionIndex) -> OrderKeys:
    """A campaign listed in user id order (history codes) as merge keys for split_campaign."""
    return lambda user_ids: index.history.users.lookup(user_ids)


# -- campaigns ------------------------------------------------------------------------------
@requires(READ)
async def lapsed_campaign(request: web.Request) -> web.StreamResponse:
    params = query(request)
    min_value, max_p_alive = lifecycle_filters(params)
    by_lifecycle = min_value is not None or max_p_alive is not None
    if by_lifecycle and (params.get("min_days") is not None or params.get("max_days") is not None):
        raise bad_input("choose the customers by the idle window (min_days, max_days) or by lifecycle "
                        "(max_p_alive, min_value), not both", "invalid_parameter",
                        field="max_p_alive" if max_p_alive is not None else "min_value")
    min_days = int_param(params.get("min_days"), "min_days", 0, MAX_DAYS, 240)
    max_days = int_param(params.get("max_days"), "max_days", 0, MAX_DAYS, 365)
    if min_days > max_days:
        raise bad_input(f"min_days ({min_days}) must not exceed max_days ({max_days})", "invalid_parameter",
                          field="min_days")
    req = list_request(params, default_n=4)
    now = now_param(params)
    contacted = await _contacted(request, params, now)
    running = request.app[SERVING].running_split(CAMPAIGNS)
    if by_lifecycle:
        current, index, lifecycle = await lifecycle_index(request)
        ranked = await asyncio.to_thread(value_at_risk_order, index.purchases, lifecycle.require(), now, min_value,
                                         max_p_alive)
        users = index.history.users.lookup(ranked.customer_ids)
        chosen = users[users >= 0]
        position = {user_id: k for k, user_id in enumerate(ranked.customer_ids.tolist())}
        rows = split_campaign(running, current, contacted, lambda model, skip: win_back_customers(
            model.model, index.history, chosen, req.n, full_filter(model, req), leave_out=skip),
            lambda user_ids: np.array([position[u] for u in user_ids], dtype=np.int64))

        def risk(user_id: str) -> dict:
            view = prediction_view(ranked.predictions, int(ranked.rows[position[user_id]]))
            return {name: view[name] for name in LAPSED_RISK_FIELDS}
    else:
        current, index = await _index(request)
        rows = split_campaign(running, current, contacted, lambda model, skip: win_back(
            model.model, index.history, now, min_days, max_days, req.n, full_filter(model, req), leave_out=skip),
            _user_order(index))

        def risk(user_id: str) -> dict:
            return {}
    version = current.version
    return await _stream_campaign(request, "lapsed", current.version, rows, lambda r: {
        "user_id": r.user_id, "last_active": r.last_active, "model_version": version, "source": r.source,
        "items": _dicts(current, r.items, req.fields), **risk(r.user_id)})


@requires(READ)
async def abandoned_carts_campaign(request: web.Request) -> web.StreamResponse:
    params = query(request)
    older = int_param(params.get("older_than_hours"), "older_than_hours", 0, MAX_HOURS, 24)
    within = int_param(params.get("within_days"), "within_days", 1, MAX_DAYS, 7)
    if older > within * 24:
        raise bad_input(f"older_than_hours ({older}) must not exceed within_days * 24 ({within * 24})",
                          "invalid_parameter", field="older_than_hours")
    req, now, contacted, current, index = await _campaign_inputs(request, params)
    rows = abandoned_carts(index.history, index.complements, index.attrs, now, older, within, req.n,
                           full_filter(current, req), leave_out=contacted)
    return await _stream_campaign(request, "abandoned_carts", current.version, rows, lambda r: {
        "user_id": r.user_id, "abandoned": _dicts(current, r.abandoned, req.fields),
        "items": _dicts(current, r.items, req.fields)})


@requires(READ)
async def back_in_stock_campaign(request: web.Request) -> web.StreamResponse:
    params = query(request)
    within = int_param(params.get("within_days"), "within_days", 1, MAX_DAYS, 30)
    req, now, contacted, current, index = await _campaign_inputs(request, params)
    redis, keys = request.app[REDIS], request.app[REDIS_KEYS]
    changes = await stock_histories(redis, keys, await restocked_since(redis, keys, now - within * SECONDS_PER_DAY, now))
    rows = split_campaign(request.app[SERVING].running_split(CAMPAIGNS), current, contacted, lambda model, skip: (
        back_in_stock(index.history, index.attrs, changes, model.model, now, within, req.n, full_filter(model, req),
                      leave_out=skip)), _user_order(index))
    return await _stream_campaign(request, "back_in_stock", current.version, rows, lambda r: {
        "user_id": r.user_id, "items": _dicts(current, r.items, req.fields),
        "recommended": _dicts(current, r.recommended, req.fields)})


@requires(READ)
async def price_drop_campaign(request: web.Request) -> web.StreamResponse:
    params = query(request)
    min_drop = int_param(params.get("min_drop_pct"), "min_drop_pct", 1, 100, 10)
    within = int_param(params.get("within_days"), "within_days", 1, MAX_DAYS, 30)
    req, now, contacted, current, index = await _campaign_inputs(request, params)
    redis, keys = request.app[REDIS], request.app[REDIS_KEYS]
    repriced = await repriced_since(redis, keys, now - within * SECONDS_PER_DAY, now)
    changes = {item: [(c.at, c.price, c.currency) for c in steps]
               for item, steps in (await price_histories(redis, keys, list(repriced))).items()}
    rows = price_drop(index.history, index.attrs, changes, now, within, min_drop, req.n, full_filter(current, req),
                      leave_out=contacted)
    return await _stream_campaign(request, "price_drop", current.version, rows, lambda r: {
        "user_id": r.user_id, "items": _dicts(current, r.items, req.fields)})


@requires(READ)
async def browse_abandonment_campaign(request: web.Request) -> web.StreamResponse:
    params = query(request)
    older = int_param(params.get("older_than_hours"), "older_than_hours", 0, MAX_HOURS, 2)
    within = int_param(params.get("within_hours"), "within_hours", 1, MAX_HOURS, 48)
    if older > within:
        raise bad_input(f"older_than_hours ({older}) must not exceed within_hours ({within})", "invalid_parameter",
                        field="older_than_hours")
    min_views = int_param(params.get("min_views"), "min_views", 1, MAX_VIEWS, 2)
    by = params.get("by") or "item"
    if by not in BROWSE_GROUPS:
        raise bad_input(f"by must be one of {', '.join(BROWSE_GROUPS)}", "invalid_parameter", field="by")
    req, now, contacted, current, index = await _campaign_inputs(request, params)
    rows = split_campaign(request.app[SERVING].running_split(CAMPAIGNS), current, contacted, lambda model, skip: (
        browse_abandonment(index.history, index.attrs, model.model, now, older, within, min_views, req.n, by,
                           full_filter(model, req), leave_out=skip)), _user_order(index))
    return await _stream_campaign(request, "browse_abandonment", current.version, rows, lambda r: {
        "user_id": r.user_id, "items": _dicts(current, r.items, req.fields)})


@requires(READ)
async def item_audience_route(request: web.Request) -> web.StreamResponse:
    """The customers most likely to want an item, best first (NDJSON); 404 for an item nobody knows."""
    item_id = check_id(request.match_info["item_id"], "item_id")
    params = query(request)
    n = int_param(params.get("n"), "n", 1, MAX_AUDIENCE, 1000)
    exclude_days = int_param(params.get("exclude_bought_days"), "exclude_bought_days", 0, MAX_DAYS, 90)
    now = now_param(params)
    contacted = await _contacted(request, params, now)
    current, index = await _index(request)
    model = current.model
    item = model.catalog.get(item_id)
    if not current.knows_item(item_id) and index.history.items.get(item_id) is None:
        raise UnknownItem(item_id)
    ranking, rows = await asyncio.to_thread(
        item_audience, model, index.history, index.attrs, index.intervals, item_id, item.category if item else None,
        now, exclude_days, n, leave_out=contacted, unknown=request.app[SERVING].erased)
    return await _stream_campaign(request, "audience", current.version, rows, lambda r: {
        "user_id": r.user_id, "score": round(r.score, 6), "scored_by": ranking})


@requires(READ)
async def trending_items(request: web.Request) -> web.Response:
    """Items whose weighted event rate in the last `hours` rose most against the seven windows before
    (recommender.retention.trending), from every event accepted so far."""
    params = query(request)
    hours = int_param(params.get("hours"), "hours", 1, MAX_TRENDING_HOURS, 24)
    req = list_request(params, default_n=10)
    now = now_param(params)
    current, index = await _index(request)
    items = await asyncio.to_thread(trending, index.history, index.attrs, now, hours, req.n, full_filter(current, req))
    return json_response({"hours": hours, "now": now, "source": TRENDING,
                          "items": _dicts(current, items, req.fields)})


# -- per-customer blocks ---------------------------------------------------------------------
@requires(READ)
async def user_follow_up(request: web.Request) -> web.Response:
    user_id = check_id(request.match_info["user_id"], "user_id")
    params = query(request)
    if params.get("kind") is not None:
        raise bad_input("kind is not accepted here: the block has a product list (items) and a content "
                          "list (content)", "invalid_parameter", field="kind")
    req = list_request(params, default_n=4)
    content_n = int_param(params.get("content_n"), "content_n", 0, MAX_N, 2)
    current, index = await _index(request)
    block = await asyncio.to_thread(follow_up, index.history, index.complements, index.attrs, user_id, req.n,
                                    content_n, full_filter(current, req), current.model)
    return json_response({"user_id": user_id, "model_version": current.version, "source": block.source,
                              "purchased": _dicts(current, block.purchased, req.fields),
                              "items": _dicts(current, block.items, req.fields),
                              "content": _dicts(current, block.content, req.fields)})


@requires(READ)
async def user_new_items(request: web.Request) -> web.Response:
    user_id = check_id(request.match_info["user_id"], "user_id")
    params = query(request)
    days = int_param(params.get("days"), "days", 1, MAX_DAYS, 30)
    req = list_request(params, default_n=10)
    now = now_param(params)
    current, index = await _index(request)
    block = await asyncio.to_thread(new_for_you, current.model, index.history, index.attrs, user_id, now, days,
                                    req.n, full_filter(current, req), user_id not in request.app[SERVING].erased)
    return json_response({"user_id": user_id, "model_version": current.version, "source": block.source,
                              "items": _dicts(current, block.items, req.fields)})


@requires(READ)
async def user_buy_again(request: web.Request) -> web.Response:
    user_id = check_id(request.match_info["user_id"], "user_id")
    params = query(request)
    req = list_request(params, default_n=10)
    now = now_param(params)
    current, index = await _index(request)
    block = await asyncio.to_thread(buy_again, index.history, index.intervals, index.attrs, user_id, now, req.n,
                                    full_filter(current, req))
    return json_response({"user_id": user_id, "source": block.source,
                              "items": _dicts(current, block.items, req.fields)})
