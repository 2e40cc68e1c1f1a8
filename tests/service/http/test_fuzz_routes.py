"""Every route, sent ids, strings and numbers from the whole of Unicode and every JSON type (Hypothesis),
answers 2xx, or 4xx with the JSON error shape: never a 500. A write it refuses leaves Redis exactly as
it was (every key, dumped before and after), so nothing partial is ever written.

The service runs for the whole module in a thread of its own (its own event loop, a real port, the real
Redis of the tests): Hypothesis drives plain synchronous requests at it. About 1,000 requests in all, about a minute.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import redis
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.http.app import create_app
from service.settings import Settings
from service.store.embedded import free_port
from service.store.keys import Keys
from tests.service.conftest import ADMIN, WRITE

KEYS = Keys()
FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- what is sent ------------------------------------------------------------------------------
#: Any code point, lone surrogates included (JSON carries them as \ud800 escapes, a URL as raw bytes).
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=40)
LONG_TEXT = st.text(st.characters(exclude_categories=()), min_size=200, max_size=400)
NUMBERS = (st.integers() | st.integers(min_value=-2 ** 70, max_value=2 ** 70)
           | st.floats(allow_nan=True, allow_infinity=True))
TEXTS = ANY_TEXT | LONG_TEXT | NUMBERS.map(str) | st.sampled_from(["", " ", "0", "-1", "true", "1e309", "NaN", "null",
                                                                    "p00001", "u000001", "product", "content"])
JSON = st.recursive(st.none() | st.booleans() | NUMBERS | ANY_TEXT,
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ANY_TEXT, inner, max_size=4),
                    max_leaves=12)
IDS = ANY_TEXT | LONG_TEXT | st.sampled_from(["u000001", "u000002", "p00001", "p00002"]) | JSON
TYPES = st.sampled_from(["view", "click", "add_to_cart", "purchase", "review", "impression"]) | ANY_TEXT | JSON
STAMPS = (st.none() | NUMBERS | ANY_TEXT | st.datetimes().map(lambda d: d.isoformat())
          | st.floats(min_value=1e9, max_value=1.8e9) | JSON)
GOOD_EVENT = st.fixed_dictionaries({"user_id": st.sampled_from(["fz-1", "fz-2"]), "item_id": st.sampled_from(
    ["p00001", "p00002"]), "type": st.sampled_from(["view", "purchase", "impression"])})
EVENT = st.fixed_dictionaries({}, optional={
    "user_id": IDS, "item_id": IDS, "type": TYPES, "timestamp": STAMPS, "value": NUMBERS | JSON,
    "event_id": IDS, "recommendation_id": IDS}) | GOOD_EVENT
ITEM = st.fixed_dictionaries({}, optional={
    "item_id": IDS, "kind": st.sampled_from(["product", "content"]) | ANY_TEXT | JSON, "category": ANY_TEXT | JSON,
    "in_stock": st.booleans() | JSON, "created_at": STAMPS, "title": ANY_TEXT | JSON})
LIST_PARAMS = ["n", "kind", "category", "in_stock", "exclude", "max_per_category", "explain"]
RETENTION_PARAMS = ["min_days", "max_days", "now", "older_than_hours", "within_days", "content_n", "days"]
QUERY = st.dictionaries(st.sampled_from(LIST_PARAMS + RETENTION_PARAMS) | ANY_TEXT, TEXTS, max_size=5)
RAW_BODIES = st.binary(max_size=200) | st.sampled_from([b"", b"{", b"\xff\xfe", b"[1,", b"NaN", b"1e999999"])


def json_body(strategy: st.SearchStrategy) -> st.SearchStrategy[bytes]:
    """JSON text (ASCII, so lone surrogates travel as escapes; NaN and Infinity as Python writes them)."""
    return strategy.map(lambda value: json.dumps(value).encode())


def quoted(text: str) -> str:
    """A path segment or query value as a URL carries it: UTF-8, percent-encoded (a lone surrogate as
    the bytes it would have, which are not UTF-8)."""
    return urllib.parse.quote(text.encode("utf-8", "surrogatepass"), safe="")


# -- the service under test ----------------------------------------------------------------------
@dataclass
class Live:
    base_host: str
    port: int
    redis_url: str

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, str, bytes]:
        conn = http.client.HTTPConnection(self.base_host, self.port, timeout=60)
        try:
            conn.request(method, path, body=body, headers={"Content-Type": "application/json", **(headers or {})})
            response = conn.getresponse()
            return response.status, response.getheader("Content-Type") or "", response.read()
        finally:
            conn.close()


@pytest.fixture(scope="module")
def live(redis_server, demo, tmp_path_factory) -> Iterator[Live]:
    """The app served from a thread with its own event loop, on the session's Redis (flushed first)."""
    with redis.Redis.from_url(redis_server.url) as r:
        r.flushall()
    _, events, catalog = demo
    config = Settings(redis_url=redis_server.url, data_dir=tmp_path_factory.mktemp("fuzz"), bootstrap_events=events,
                      bootstrap_catalog=catalog, write_keys=(WRITE,), admin_keys=(ADMIN,), poll_interval=0.5,
                      refresh_interval=3600, active_days=3650, rate_limit=0)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    port = free_port()
    runner = web.AppRunner(create_app(config), handle_signals=False)

    async def start() -> None:
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()

    asyncio.run_coroutine_threadsafe(start(), loop).result(60)
    service = Live("127.0.0.1", port, redis_server.url)
    deadline = time.monotonic() + 120
    while True:  # ready, and the first training has let go of the lock
        status, _, body = service.request("GET", "/v1/model")
        if status == 200 and json.loads(body).get("version") and not json.loads(body)["training"]["running"]:
            break
        assert time.monotonic() < deadline, "the service did not become ready"
        time.sleep(0.1)
    yield service
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(60)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def redis_state(url: str) -> dict[bytes, bytes]:
    """Every key and its dumped value, but the online counters (reads tally impressions in the background)."""
    with redis.Redis.from_url(url) as r:
        keys = sorted(k for k in r.scan_iter(count=1000) if not k.startswith(KEYS.online("").encode()))
        pipe = r.pipeline(transaction=False)
        for key in keys:
            pipe.dump(key)
        return dict(zip(keys, pipe.execute()))


def check(status: int, content_type: str, body: bytes, what: str) -> None:
    """2xx with a JSON (or NDJSON) body, or 4xx with {"error": {"code", "message"}}; never 5xx."""
    assert status < 500, f"{status} for {what}: {body[:500]!r}"
    if content_type.startswith("application/x-ndjson"):
        for line in body.splitlines():
            json.loads(line)
        return
    assert content_type.startswith("application/json"), (status, content_type, what)
    payload = json.loads(body)
    if status >= 400:
        error = payload["error"]
        assert isinstance(error["code"], str) and error["code"] and isinstance(error["message"], str), payload


def send(live: Live, method: str, path: str, body: bytes | None = None, key: str | None = None,
         writes: bool = False) -> int:
    """Send, check the answer's shape, and for a write route refused with a 4xx that Redis is unchanged."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    before = redis_state(live.redis_url) if writes else None
    status, content_type, answer = live.request(method, path, body, headers)
    check(status, content_type, answer, f"{method} {path} {body[:300] if body else body!r}")
    if writes and status >= 400:
        assert redis_state(live.redis_url) == before, f"{status} {method} {path} wrote something"
    return status


def query_string(params: dict[str, str]) -> str:
    return "&".join(f"{quoted(k)}={quoted(v)}" for k, v in params.items())


# -- the routes ----------------------------------------------------------------------------------
USER_ROUTES = ["recommendations", "follow-up", "new", "buy-again"]


@FUZZ
@given(user=IDS.map(str) | ANY_TEXT, route=st.sampled_from(USER_ROUTES), params=QUERY)
def test_per_user_routes(live, user, route, params):
    send(live, "GET", f"/v1/users/{quoted(user)}/{route}?{query_string(params)}")


@FUZZ
@given(item=ANY_TEXT | LONG_TEXT | st.sampled_from(["p00001", "p00002"]), params=QUERY)
def test_similar_items(live, item, params):
    send(live, "GET", f"/v1/items/{quoted(item)}/similar?{query_string(params)}")


@FUZZ
@given(route=st.sampled_from(["/v1/campaigns/lapsed", "/v1/campaigns/abandoned-carts", "/v1/stats/online"]),
       params=QUERY)
def test_campaigns_and_stats(live, route, params):
    send(live, "GET", f"{route}?{query_string(params)}")


BATCH = st.fixed_dictionaries({}, optional={
    "user_ids": st.lists(IDS, max_size=6) | JSON, "n": NUMBERS | JSON, "kind": ANY_TEXT | JSON,
    "category": ANY_TEXT | JSON, "in_stock": JSON, "exclude": st.lists(IDS, max_size=3) | JSON,
    "max_per_category": NUMBERS | JSON, "explain": JSON})


@FUZZ
@given(body=json_body(BATCH | JSON) | RAW_BODIES, ndjson=st.booleans())
def test_batch(live, body, ndjson):
    headers = {"Accept": "application/x-ndjson"} if ndjson else {}
    status, content_type, answer = live.request("POST", "/v1/recommendations/batch", body, headers)
    check(status, content_type, answer, f"batch {body[:300]!r}")


@FUZZ
@given(body=json_body(EVENT | st.lists(EVENT, min_size=1, max_size=6) | JSON) | RAW_BODIES)
def test_events(live, body):
    send(live, "POST", "/v1/events", body, key=WRITE, writes=True)


@FUZZ
@given(user=ANY_TEXT | LONG_TEXT | st.just("u000001"),
       body=json_body(st.fixed_dictionaries({}, optional={"item_ids": st.lists(IDS, max_size=5) | JSON}) | JSON)
       | RAW_BODIES)
def test_shown(live, user, body):
    send(live, "POST", f"/v1/users/{quoted(user)}/shown", body, key=WRITE, writes=True)


@settings(max_examples=60, deadline=None)
@given(user=ANY_TEXT | st.just("u000001"),
       body=json_body(st.fixed_dictionaries({}, optional={"from": IDS}) | JSON) | RAW_BODIES)
def test_merges(live, user, body):
    send(live, "POST", f"/v1/users/{quoted(user)}/merge", body, key=WRITE, writes=True)


@FUZZ
@given(body=json_body(st.lists(ITEM, min_size=1, max_size=4) | ITEM | JSON) | RAW_BODIES)
def test_catalog_upserts(live, body):
    send(live, "PUT", "/v1/items", body, key=WRITE, writes=True)


@settings(max_examples=60, deadline=None)
@given(item=ANY_TEXT | LONG_TEXT)
def test_catalog_removals(live, item):
    send(live, "DELETE", f"/v1/items/{quoted(item)}", key=WRITE, writes=True)


@settings(max_examples=60, deadline=None)
@given(method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]),
       path=st.sampled_from(["/v1/model", "/v1/model/retrain", "/healthz", "/readyz", "/openapi.json", "/v1/events",
                             "/v1/nothing-here", "/v1/users//recommendations"]) | ANY_TEXT.map(lambda t: "/" + quoted(t)),
       key=st.none() | ANY_TEXT.filter(lambda k: k.isprintable() and k.isascii() and k.strip() == k),
       body=json_body(JSON) | RAW_BODIES)
def test_any_method_any_path_any_key(live, method, path, key, body):
    """Keys other than the real ones (so no training starts), wrong methods, unknown paths."""
    send(live, method, path, body, key=key if key not in (WRITE, ADMIN) else None, writes=method != "GET")


def test_a_batch_of_events_with_one_bad_event_writes_none_of_them(live):
    good = [{"user_id": "fz-atomic", "item_id": "p00001", "type": "purchase"}] * 20
    for bad in ({"user_id": "fz-atomic", "item_id": "p00001", "type": "view", "timestamp": 1.79e12},
                {"user_id": "fz-\ud800", "item_id": "p00001", "type": "view"},
                {"user_id": "fz-atomic", "item_id": "p00001", "type": "review", "value": float("nan")}):
        before = redis_state(live.redis_url)
        status = send(live, "POST", "/v1/events", json.dumps(good + [bad] + good).encode(), key=WRITE, writes=True)
        assert status == 400 and redis_state(live.redis_url) == before
