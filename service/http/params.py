"""Request parameters: parsing and checking what a client sends, with a 400 naming the field.

The checks raise service.errors.BadInput (code `invalid_parameter`, `invalid_json`, ...), which the
error middleware maps to 400; a body over its size limit is a 413 (ApiError). Bounds: limits.py.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from recommender.catalog import KINDS
from recommender.item_fields import DISPLAY_FIELDS
from recommender.ids import id_problem
from service.errors import bad_input
from service.http.app_keys import SETTINGS
from service.http.errors import ApiError
from recommender.times import latest_timestamp
from service.http.limits import MAX_BATCH_USERS, MAX_N, MAX_VALUE, MIN_NOW, PARSED_QUERIES
from service.serving.requests import ListRequest
from service.settings import ENV_NAMES


def int_param(raw: object, name: str, low: int, high: int, default: int) -> int:
    """An integer parameter from low to high (a query string or a JSON number); `default` when absent."""
    if raw is None:
        return default
    if isinstance(raw, bool) or not isinstance(raw, (int, str)):
        raise bad_input(f"{name} must be an integer from {low} to {high}", "invalid_parameter", field=name)
    try:
        value = int(raw)
    except ValueError:
        raise bad_input(f"{name} must be an integer from {low} to {high}", "invalid_parameter", field=name) from None
    if not low <= value <= high:
        raise bad_input(f"{name} must be from {low} to {high}, got {value}", "invalid_parameter", field=name)
    return value


def float_param(raw: object, name: str, low: float, high: float) -> float | None:
    """A finite number from low to high (a query string or a JSON number); None when absent."""
    if raw is None:
        return None
    message = f"{name} must be a number from {low:g} to {high:g}"
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise bad_input(message, "invalid_parameter", field=name)
    try:
        value = float(raw)
    except ValueError:
        raise bad_input(message, "invalid_parameter", field=name) from None
    if not low <= value <= high:  # NaN fails too
        raise bad_input(f"{message}, got {raw}", "invalid_parameter", field=name)
    return value


def lifecycle_filters(params: dict) -> tuple[float | None, float | None]:
    """`min_value` (predicted 365-day value, currency units, 0 to MAX_VALUE) and `max_p_alive` (0 to 1) of the
    lifecycle selections, each None when absent."""
    return (float_param(params.get("min_value"), "min_value", 0.0, MAX_VALUE),
            float_param(params.get("max_p_alive"), "max_p_alive", 0.0, 1.0))


def optional_now(raw: object) -> float | None:
    """A `now` parameter (integer epoch seconds in the plausible range, recommender.times); None when absent."""
    now = int_param(raw, "now", MIN_NOW, int(latest_timestamp()), None)
    return None if now is None else float(now)


def now_param(params: dict) -> float:
    """`now` (epoch seconds) that places a route's time windows; the current time when absent."""
    now = optional_now(params.get("now"))
    return time.time() if now is None else now


def _too_large(limit: int, setting: str) -> str:
    return (f"request body is larger than {limit} bytes ({ENV_NAMES[setting]}; a compressed body counts as "
            "decompressed): send it in smaller requests")


def bool_param(raw: object, name: str) -> bool:
    """true/1/yes or false/0/no (any case), or a JSON boolean; False when absent."""
    if raw is None or isinstance(raw, bool):
        return bool(raw)
    if type(raw) is int and raw in (0, 1):  # a JSON body's 1 or 0, as the message offers
        return bool(raw)
    if isinstance(raw, str) and raw.lower() in ("true", "1", "yes", "false", "0", "no", ""):
        return raw.lower() in ("true", "1", "yes")
    raise bad_input(f"{name} must be true or false (or 1/0, yes/no)", "invalid_parameter", field=name)


def check_id(value: object, name: str) -> str:
    """A user or item id: a string recommender.ids.id_problem finds nothing wrong with (not empty or only
    whitespace, at most MAX_ID_BYTES bytes, no control characters, valid Unicode)."""
    if not isinstance(value, str):
        raise bad_input(f"{name} must be a non-empty string", "invalid_parameter", field=name)
    problem = id_problem(value)
    if problem is not None:
        raise bad_input(f"{name} {problem}", "invalid_parameter", field=name)
    return value


def list_request(params: dict, default_n: int = 10) -> ListRequest:
    """Filters shared by every list route, from a query string or a JSON body."""
    kind = params.get("kind")
    if kind is not None and kind not in KINDS:
        raise bad_input(f"kind must be one of {', '.join(KINDS)}", "invalid_parameter", field="kind")
    category = params.get("category")
    if category is not None and not isinstance(category, str):
        raise bad_input("category must be a string", "invalid_parameter", field="category")
    exclude = params.get("exclude") or ()
    if isinstance(exclude, str):
        exclude = [e for e in exclude.split(",") if e]
    if not isinstance(exclude, (list, tuple)) or not all(isinstance(e, str) for e in exclude):
        raise bad_input("exclude must be a list of item ids", "invalid_parameter", field="exclude")
    cap = params.get("max_per_category")
    return ListRequest(
        n=int_param(params.get("n"), "n", 1, MAX_N, default_n),
        kind=kind, category=category or None,
        in_stock_only=bool_param(params.get("in_stock"), "in_stock"),
        exclude=frozenset(exclude),
        max_per_category=None if cap is None else int_param(cap, "max_per_category", 1, MAX_N, 1),
        fields=fields_param(params.get("fields")),
    )


def fields_param(raw: object) -> tuple[str, ...]:
    """Catalog fields to embed in each item: a comma-separated string (query) or a list (JSON body) of
    DISPLAY_FIELDS names, in the order given, each once; () when absent. 400 naming `fields` otherwise."""
    if raw is None:
        return ()
    names = [n for n in raw.split(",") if n] if isinstance(raw, str) else raw
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise bad_input("fields must be a list of field names", "invalid_parameter", field="fields")
    unknown = [n for n in names if n not in DISPLAY_FIELDS]
    if unknown:
        raise bad_input(f"unknown field {unknown[0][:64]!r} in fields; known: {', '.join(DISPLAY_FIELDS)}",
                        "invalid_parameter", field="fields")
    return tuple(dict.fromkeys(names))


def personal_request(params: dict, default_n: int = 10) -> ListRequest:
    """`list_request` plus what only personal lists take: `explain` (add `because` to each item)."""
    req = list_request(params, default_n)
    explain = bool_param(params.get("explain"), "explain")
    return dataclasses.replace(req, explain=True) if explain else req


async def read_json(request: web.Request, limit_setting: str = "max_body_bytes") -> object:
    """The body as JSON; 413 past the size the setting `limit_setting` allows (bytes; default RECS_MAX_BODY_BYTES,
    named in the message), 400 if not UTF-8 JSON (NaN and Infinity included)."""
    limit = getattr(request.app[SETTINGS], limit_setting)
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, "payload_too_large", _too_large(limit, limit_setting))
    chunks, size = [], 0
    try:
        while chunk := await request.content.read(64 * 1024):
            size += len(chunk)
            if size > limit:
                raise ApiError(413, "payload_too_large", _too_large(limit, limit_setting))
            chunks.append(chunk)
    except RequestPayloadError as exc:  # e.g. a body marked Content-Encoding: gzip that is not gzip
        # the rest of the body cannot be read past either: the connection ends with this answer
        reason = str(exc).strip().splitlines()[-1].strip()  # aiohttp's "400, message:" line dropped
        raise ApiError(400, "invalid_body", f"body could not be read: {reason}", {"Connection": "close"}) from None
    body = b"".join(chunks)
    try:
        return json.loads(body, parse_constant=_not_json)
    except UnicodeDecodeError:
        raise bad_input("body is not valid UTF-8", "invalid_json") from None
    except ValueError as exc:
        raise bad_input(f"body is not valid JSON: {exc}", "invalid_json") from None
    except RecursionError:
        raise bad_input("body is not valid JSON: nested too deeply", "invalid_json") from None


async def read_batch(request: web.Request) -> tuple[dict, list[str]]:
    """A batch route's JSON body (at most RECS_MAX_BATCH_BODY_BYTES) and its `user_ids`: a non-empty
    list of at most MAX_BATCH_USERS valid ids. Raises ApiError (400, naming the field) otherwise."""
    body = await read_json(request, "max_batch_body_bytes")
    if not isinstance(body, dict):
        raise bad_input("body must be an object with user_ids", "invalid_body")
    user_ids = body.get("user_ids")
    if not isinstance(user_ids, list) or not user_ids:
        raise bad_input("user_ids must be a non-empty list", "invalid_parameter", field="user_ids")
    if len(user_ids) > MAX_BATCH_USERS:
        raise bad_input(f"at most {MAX_BATCH_USERS} user_ids per call, got {len(user_ids)}", "too_many_users",
                        field="user_ids")
    for index, user_id in enumerate(user_ids):
        check_id(user_id, f"user_ids[{index}]")
    for name, kind in BODY_OPTION_TYPES.items():
        value = body.get(name)
        if value is not None and (not isinstance(value, kind) or (kind is int and isinstance(value, bool))):
            raise bad_input(f"{name} must be a JSON {_JSON_TYPE_NAMES[kind]} in a request body, not "
                            f"{json.dumps(value)[:64]}", "invalid_parameter", field=name)
    return body, user_ids


#: The JSON type of each option a batch body may carry (null means absent): the text forms a query string
#: takes ("5", "true", "a,b") are for query strings only.
BODY_OPTION_TYPES: dict[str, type] = {"n": int, "max_per_category": int, "now": int, "in_stock": bool,
                                      "explain": bool, "kind": str, "category": str, "format": str,
                                      "fields": list, "exclude": list, "blocks": list}
_JSON_TYPE_NAMES = {int: "integer", bool: "boolean", str: "string", list: "array"}


def _not_json(name: str) -> float:
    """NaN, Infinity and -Infinity: Python's json reads them, JSON has no such values (RFC 8259), and a NaN
    would pass for a missing number (a review's rating taken as the default)."""
    raise ValueError(f"{name} is not a JSON value")


def query(request: web.Request) -> dict:
    return dict(request.query)


#: Parsed list requests by (parser, raw query string): a storefront sends the same few query
#: strings over and over, and parsing one was about 5% of a hot request's CPU.
_PARSED: dict[tuple[Callable[[dict], ListRequest], str], ListRequest] = {}


def parsed_query(request: web.Request, parse: Callable[[dict], ListRequest]) -> ListRequest:
    """`parse` of the query string, remembered (a bad one raises every time: errors are not kept)."""
    key = (parse, request.rel_url.raw_query_string)
    req = _PARSED.get(key)
    if req is None:
        req = parse(query(request))
        if len(_PARSED) >= PARSED_QUERIES:
            _PARSED.clear()
        _PARSED[key] = req
    return req
