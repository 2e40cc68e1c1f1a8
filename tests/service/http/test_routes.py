"""Every route through HTTP against a real Redis: happy paths, filters, auth and bad input."""

from __future__ import annotations

import gzip

import json
import time

import numpy as np
import pytest
import redis

from recommender.events import EVENT_TYPES
from service.store.keys import Keys
from service.http.app_keys import ONLINE, SERVING
from service.http.auth import FAILED_AUTH_BURST
from service.http.routes import ROUTES
from tests.service.conftest import AUTH_ADMIN, AUTH_WRITE, NOW

KEYS = Keys()


def _interacted(demo, user_id: str) -> set[str]:
    events = demo[0].events
    return set(events.item_ids[events.user_ids == user_id])


def _heavy_user(demo) -> str:
    users, counts = np.unique(demo[0].events.user_ids, return_counts=True)
    return str(users[np.argmax(counts)])


def _bought(demo, user_id: str) -> set[str]:
    events = demo[0].events
    return set(events.item_ids[(events.user_ids == user_id) & (events.types == EVENT_TYPES.index("purchase"))])


@pytest.mark.parametrize("repeat", ["off", "on"])
async def test_known_user_gets_a_personal_list_with_or_without_their_own_items(make_client, settings, demo, repeat):
    client = await make_client(settings, repeat=repeat)
    user = _heavy_user(demo)
    response = await client.get(f"/v1/users/{user}/recommendations?n=30")
    assert response.status == 200
    body = await response.json()
    assert body["source"] == "personalized" and body["user_id"] == user and body["model_version"]
    assert len(body["items"]) == 30
    ids = {i["item_id"] for i in body["items"]}
    if repeat == "off":  # not one item they had, and items exactly as before repeats existed
        assert ids.isdisjoint(_interacted(demo, user))
        assert all(set(i) == {"item_id", "score", "kind", "category"} for i in body["items"])
    else:  # bought items may come back, flagged; nothing else is
        assert ids & _bought(demo, user)
        assert {i["item_id"] for i in body["items"] if i.get("repeat")} == ids & _bought(demo, user)
        assert all(set(i) - {"repeat"} == {"item_id", "score", "kind", "category"} for i in body["items"])
    scores = [i["score"] for i in body["items"]]
    assert scores == sorted(scores, reverse=True)


async def test_get_routes_answer_head_with_the_gets_status_and_no_body(client):
    for path in ("/healthz", "/readyz", "/openapi.json", "/v1/users/u000001/recommendations?n=2"):
        get, head = await client.get(path), await client.head(path)
        assert head.status == get.status == 200 and await head.read() == b""
        assert head.headers["Content-Type"] == get.headers["Content-Type"]
    assert (await client.head("/v1/users/u000001/recommendations?n=0")).status == 400
    assert (await client.head("/v1/events")).status == 405  # POST only


async def test_head_requests_count_no_impressions_and_compute_no_campaign(client):
    """A HEAD request's body reaches no one: nothing it would have shown counts as an impression."""
    async def impressions() -> int:
        await client.app[ONLINE].flush()
        return (await (await client.get("/v1/stats/online?days=1")).json())["total"]["impressions"]

    before = await impressions()
    for path in ("/v1/users/u000001/recommendations?n=3", "/v1/items/p00001/similar?n=3",
                 "/v1/users/u000001/email-block?blocks=recommended&n=2",
                 "/v1/campaigns/lapsed?min_days=0&max_days=3650&n=2"):
        head = await client.head(path)
        assert head.status == 200 and await head.read() == b"", path
    assert await impressions() == before
    assert (await client.get("/v1/users/u000001/recommendations?n=3")).status == 200
    assert await impressions() == before + 3


@pytest.mark.parametrize("path", ["/v1/recommendations/batch", "/v1/email-blocks/batch"])
@pytest.mark.parametrize("option, value", [("n", "5 "), ("n", True), ("in_stock", "false"), ("fields", "title,price"),
                                           ("exclude", "p00001,p00002"), ("max_per_category", "2"),
                                           ("blocks", "recommended"), ("now", "1790000000")])
async def test_a_batch_body_takes_json_types_not_query_string_text(client, path, option, value):
    response = await client.post(path, json={"user_ids": ["u000001"], option: value})
    error = (await response.json())["error"]
    assert response.status == 400 and error["field"] == option and "in a request body" in error["message"]


async def test_unknown_user_gets_popularity_fallback(client):
    body = await (await client.get("/v1/users/never-seen/recommendations?n=5")).json()
    assert body["source"] == "fallback" and len(body["items"]) == 5


@pytest.mark.parametrize("query, check", [
    ("kind=content", lambda i: i["kind"] == "content"),
    ("kind=product", lambda i: i["kind"] == "product"),
    ("category=coffee", lambda i: i["category"] == "coffee"),
])
async def test_filters_apply_to_personal_and_fallback_lists(client, demo, query, check):
    for user in (_heavy_user(demo), "never-seen"):
        body = await (await client.get(f"/v1/users/{user}/recommendations?n=5&{query}")).json()
        assert body["items"] and all(check(i) for i in body["items"])


async def test_in_stock_exclude_and_category_cap(client, demo):
    user = _heavy_user(demo)
    catalog = demo[0].catalog
    first = (await (await client.get(f"/v1/users/{user}/recommendations?n=10")).json())["items"]
    excluded = [first[0]["item_id"], first[1]["item_id"]]
    body = await (await client.get(
        f"/v1/users/{user}/recommendations?n=10&in_stock=true&exclude={','.join(excluded)}")).json()
    ids = [i["item_id"] for i in body["items"]]
    assert len(ids) == 10 and not set(ids) & set(excluded)
    assert all(catalog.get(i).in_stock for i in ids)
    capped = await (await client.get(f"/v1/users/{user}/recommendations?n=8&max_per_category=1")).json()
    categories = [i["category"] for i in capped["items"]]
    assert len(categories) == len(set(categories))


@pytest.mark.parametrize("query", ["n=0", "n=101", "n=abc", "kind=service", "in_stock=maybe",
                                   "max_per_category=0"])
async def test_bad_query_parameters_give_400(client, query):
    response = await client.get(f"/v1/users/u000001/recommendations?{query}")
    assert response.status == 400
    body = await response.json()
    assert body["error"]["code"] == "invalid_parameter" and body["error"]["message"]


async def test_long_ids_and_query_strings_get_the_services_answer_not_the_parsers(client):
    # 2,000 four-byte characters are 24 KB percent-encoded: past aiohttp's default 8,190-byte request line,
    # within MAX_REQUEST_LINE_BYTES, so the service answers: the id check (over MAX_ID_BYTES) ...
    long_id = "\U0001F600" * 2000
    response = await client.get(f"/v1/items/{long_id}/similar")
    assert response.status == 400 and response.content_type == "application/json"
    assert (await response.json())["error"]["field"] == "item_id"
    # ... or the list, which an exclusion of an item nobody knows does not change
    response = await client.get(f"/v1/users/u000001/recommendations?n=3&exclude={long_id}")
    assert response.status == 200 and len((await response.json())["items"]) == 3


async def test_similar_items(client, demo):
    item = demo[0].events.item_ids[0]
    body = await (await client.get(f"/v1/items/{item}/similar?n=5")).json()
    assert len(body["items"]) == 5 and item not in {i["item_id"] for i in body["items"]}
    content = await (await client.get(f"/v1/items/{item}/similar?n=3&kind=content")).json()
    assert content["items"] and all(i["kind"] == "content" for i in content["items"])
    missing = await client.get("/v1/items/no-such-item/similar")
    assert missing.status == 404 and (await missing.json())["error"]["code"] == "unknown_item"
    # product pages' clicks are attributed: the answer (remembered or not) has an id of its own each time
    again = await (await client.get(f"/v1/items/{item}/similar?n=5")).json()
    assert body["recommendation_id"].startswith("similar.") and again["recommendation_id"] != body["recommendation_id"]
    click = {"user_id": "shopper", "item_id": again["items"][0]["item_id"], "type": "click",
             "recommendation_id": again["recommendation_id"]}
    assert (await client.post("/v1/events", json=click, headers=AUTH_WRITE)).status == 202
    await client.app[ONLINE].flush()
    stats = await (await client.get("/v1/stats/online?days=1")).json()
    similar = next(r for r in stats["by_route"] if r["route"] == "similar")
    assert similar["clicks"] == 1 and similar["impressions"] == 5 + 3 + 5


async def test_a_json_bodys_in_stock_is_a_json_boolean(client):
    body = {"user_ids": ["u000001"], "n": 3}
    for value in (True, False, None):
        response = await client.post("/v1/recommendations/batch", json={**body, "in_stock": value})
        assert response.status == 200, value
    for value in (1, 0, "1", "yes", "true", 2, 1.0, "maybe", [True]):  # a query string's forms are not JSON's
        response = await client.post("/v1/recommendations/batch", json={**body, "in_stock": value})
        error = (await response.json())["error"]
        assert response.status == 400 and error["field"] == "in_stock" and "JSON boolean" in error["message"], value


async def test_batch_json_keeps_input_order(client, demo):
    users = [_heavy_user(demo), "never-seen", "u000003"]
    response = await client.post("/v1/recommendations/batch", json={"user_ids": users, "n": 4, "kind": "product"})
    assert response.status == 200
    results = (await response.json())["results"]
    assert [r["user_id"] for r in results] == users
    assert results[1]["source"] == "fallback"
    assert all(len(r["items"]) == 4 and all(i["kind"] == "product" for i in r["items"]) for r in results)


async def test_batch_ndjson_streams_thousands_of_users(client):
    users = [f"u{i:06d}" for i in range(400)] + [f"stranger-{i}" for i in range(2600)]
    response = await client.post("/v1/recommendations/batch", json={"user_ids": users, "n": 3},
                                 headers={"Accept": "application/x-ndjson"})
    assert response.status == 200 and response.headers["Content-Type"].startswith("application/x-ndjson")
    lines = (await response.text()).splitlines()
    assert len(lines) == 3000
    parsed = [json.loads(line) for line in lines]
    assert [p["user_id"] for p in parsed] == users
    assert all(len(p["items"]) == 3 for p in parsed)


async def test_a_json_batch_of_thousands_is_one_json_document_written_in_chunks(client):
    users = [f"u{i:06d}" for i in range(400)] * 3 + [f"stranger-{i}" for i in range(1300)]  # three chunks
    response = await client.post("/v1/recommendations/batch", json={"user_ids": users, "n": 3})
    assert response.status == 200 and response.headers["Content-Type"].startswith("application/json")
    assert response.headers.get("Transfer-Encoding") == "chunked"  # streamed, not built whole
    body = await response.json()
    assert [r["user_id"] for r in body["results"]] == users
    assert {r["recommendation_id"] for r in body["results"]} == {body["recommendation_id"]}
    assert body["model_version"] == client.app[SERVING].current.version
    assert all(len(r["items"]) == 3 for r in body["results"])
    assert [r["source"] for r in body["results"][-1300:]] == ["fallback"] * 1300


async def test_batch_bad_input(client):
    for body, code in [({"user_ids": []}, 400), ({"user_ids": "u1"}, 400), ({"user_ids": ["u1", 7]}, 400),
                       ({"user_ids": ["u1"], "n": 500}, 400), ([1, 2], 400),
                       ({"user_ids": [f"u{i}" for i in range(100_001)]}, 400)]:
        response = await client.post("/v1/recommendations/batch", json=body)
        assert response.status == code, body if not isinstance(body, dict) or len(str(body)) < 200 else "big"
        assert "error" in await response.json()
    malformed = await client.post("/v1/recommendations/batch", data=b"{not json")
    assert malformed.status == 400 and (await malformed.json())["error"]["code"] == "invalid_json"


@pytest.mark.parametrize("path, method, headers", [("/v1/events", "post", AUTH_WRITE),
                                                   ("/v1/recommendations/batch", "post", {}),
                                                   ("/v1/experiments/deep", "put", AUTH_ADMIN)])
async def test_bodies_nested_too_deeply_or_not_in_their_encoding_are_400_and_write_nothing(
        client, settings, path, method, headers):
    with redis.Redis.from_url(settings.redis_url) as r:
        before = r.xlen(KEYS.events)
        for body in (b"[" * 5000 + b"]" * 5000, b'{"a":' * 5000 + b"1" + b"}" * 5000):
            response = await getattr(client, method)(path, data=body, headers=headers)
            assert response.status == 400 and (await response.json())["error"]["code"] == "invalid_json"
        not_gzip = await getattr(client, method)(path, data=b'{"user_id": "u1"}',
                                                 headers={**headers, "Content-Encoding": "gzip"})
        assert not_gzip.status == 400 and (await not_gzip.json())["error"]["code"] == "invalid_body"
        assert not_gzip.headers["Connection"] == "close"  # its body cannot be read to its end
        assert r.xlen(KEYS.events) == before
    assert (await client.get("/v1/experiments/deep", headers=AUTH_ADMIN)).status == 404


async def test_events_are_accepted_and_land_in_the_stream(client, settings):
    events = [{"user_id": "e-user", "item_id": "p00001", "type": "view", "timestamp": "2026-11-01T10:00:00Z"},
              {"user_id": "e-user", "item_id": "p00002", "type": "review", "value": 4, "timestamp": NOW},
              {"user_id": "e-user", "item_id": "p00003", "type": "purchase"}]
    response = await client.post("/v1/events", json=events, headers=AUTH_WRITE)
    assert response.status == 202 and await response.json() == {"accepted": 3, "duplicates": 0}
    single = await client.post("/v1/events", json=events[0], headers=AUTH_WRITE)
    assert (await single.json()) == {"accepted": 1, "duplicates": 0}
    with redis.Redis.from_url(settings.redis_url) as r:
        assert r.xlen(KEYS.events) == 4


async def test_events_with_client_ids_are_stored_once_however_often_they_are_sent(client, settings):
    events = [{"user_id": "retry-user", "item_id": f"p{i:05d}", "type": "purchase", "event_id": f"order-{i}"}
              for i in range(4)]
    first = await client.post("/v1/events", json=events[:3], headers=AUTH_WRITE)
    assert await first.json() == {"accepted": 3, "duplicates": 0}
    # a client retrying after a lost 202 resends everything; a copy inside one request counts too
    retry = await client.post("/v1/events", json=events + [events[3]], headers=AUTH_WRITE)
    assert retry.status == 202 and await retry.json() == {"accepted": 5, "duplicates": 4}
    with redis.Redis.from_url(settings.redis_url) as r:
        entries = r.xrange(KEYS.events)
        assert sorted(fields[b"e"].decode() for _, fields in entries) == [f"order-{i}" for i in range(4)]
        # the user's since-training history counts each purchase once too
        weights = {k.decode(): float(v) for k, v in r.hgetall(KEYS.since_training("retry-user")).items()}
        assert weights == {f"p{i:05d}": 5.0 for i in range(4)}
        assert 0 < r.ttl(KEYS.event_seen("order-0")) <= settings.event_id_ttl
    bad = await client.post("/v1/events", json=[events[0], {**events[1], "event_id": "a\nb"}], headers=AUTH_WRITE)
    assert bad.status == 400 and (await bad.json())["error"]["field"] == "event_id"
    # one id for two different events: the second would be dropped as a retry of the first
    reused = [{"user_id": "reuser", "item_id": "p00032", "type": "view", "event_id": "evt-1"},
              {"user_id": "reuser", "item_id": "p00033", "type": "purchase", "event_id": "evt-1"}]
    refused = await client.post("/v1/events", json=reused, headers=AUTH_WRITE)
    error = (await refused.json())["error"]
    assert refused.status == 400 and (error["index"], error["field"]) == (1, "event_id") and "events[0]" in error["message"]
    with redis.Redis.from_url(settings.redis_url) as r:
        assert not r.exists(KEYS.event_seen("evt-1")) and not r.exists(KEYS.since_training("reuser"))
    # ... or in a later request, even another customer's: a 409 naming it, and nothing of the request stored
    later = [{"user_id": "reuser-2", "item_id": "p00034", "type": "view"},
             {"user_id": "reuser-2", "item_id": "p00035", "type": "purchase", "event_id": "order-0"}]
    conflict = await client.post("/v1/events", json=later, headers=AUTH_WRITE)
    error = (await conflict.json())["error"]
    assert conflict.status == 409 and (error["code"], error["index"], error["field"]) == ("event_id_reused", 1,
                                                                                           "event_id")
    with redis.Redis.from_url(settings.redis_url) as r:
        assert not r.exists(KEYS.since_training("reuser-2")) and len(r.xrange(KEYS.events)) == len(entries)


@pytest.mark.parametrize("event, field", [
    ({"item_id": "p1", "type": "view"}, "user_id"),
    ({"user_id": "u", "item_id": "p1", "type": "teleport"}, "type"),
    ({"user_id": "u", "item_id": "p1", "type": "view", "timestamp": "yesterday-ish"}, "timestamp"),
    ({"user_id": "u", "item_id": "p1", "type": "view", "timestamp": "now"}, "timestamp"),  # pandas would take it
    ({"user_id": "u", "item_id": "p1", "type": "view", "timestamp": "Today"}, "timestamp"),
    ({"user_id": "u", "item_id": "p1", "type": "view", "timestamp": NOW * 1000}, "timestamp"),  # milliseconds
    ({"user_id": "u", "item_id": "p1", "type": "view", "timestamp": 253_402_214_400}, "timestamp"),  # year 9999
    ({"user_id": "u", "item_id": "p1", "type": "view", "timestamp": 20_240_101}, "timestamp"),
    ({"user_id": "u", "item_id": "p1", "type": "view", "timestamp": "1970-01-02T00:00:00Z"}, "timestamp"),
    ({"user_id": "u", "item_id": "p1", "type": "view", "timestamp": 4_102_444_800}, "timestamp"),  # 2100
    ({"user_id": "u", "item_id": "p1", "type": "review", "value": 9}, "value"),
    ({"user_id": "u", "item_id": "p1", "type": "view", "value": "lots"}, "value"),
    ({"user_id": "u", "item_id": "p1", "type": "view", "value": 1e300}, "value"),  # float32 would make it inf
    ({"user_id": "u" * 300, "item_id": "p1", "type": "view"}, "user_id"),
    ({"user_id": "u\n1", "item_id": "p1", "type": "view"}, "user_id"),
    ({"user_id": "a\u0085b", "item_id": "p1", "type": "view"}, "user_id"),  # a C1 control (NEL)
    ({"user_id": "u", "item_id": "p1", "type": "review"}, "value"),  # a review without its rating
    ({"user_id": "   ", "item_id": "p1", "type": "view"}, "user_id"),  # only whitespace
    ({"user_id": "u", "item_id": "\t", "type": "view"}, "item_id"),
    ({"user_id": 12, "item_id": "p1", "type": "view"}, "user_id"),
])
async def test_a_bad_event_rejects_the_whole_request(client, settings, event, field):
    good = {"user_id": "u", "item_id": "p1", "type": "view"}
    response = await client.post("/v1/events", json=[good, good, event], headers=AUTH_WRITE)
    assert response.status == 400
    error = (await response.json())["error"]
    assert error["code"] == "invalid_event" and error["index"] == 2 and error["field"] == field
    assert f"events[2].{field}" in error["message"] and "row" not in error["message"]  # the request's terms
    with redis.Redis.from_url(settings.redis_url) as r:
        assert r.xlen(KEYS.events) == 0  # nothing partial was written


async def test_an_event_stamped_after_the_clock_is_stored_at_the_time_received(client):
    before = time.time()
    ahead = {"user_id": "skewed", "item_id": "p00001", "type": "purchase", "timestamp": before + 3600}
    assert (await client.post("/v1/events", json=ahead, headers=AUTH_WRITE)).status == 202
    (stored,) = (await (await client.get("/v1/users/skewed/events")).json())["events"]
    assert before <= stored["timestamp"] <= time.time()  # counted now, not in an hour


async def test_event_request_limits(client):
    too_many = [{"user_id": "u", "item_id": "p", "type": "view"}] * 10_001
    response = await client.post("/v1/events", json=too_many, headers=AUTH_WRITE)
    assert response.status == 400 and (await response.json())["error"]["code"] == "too_many_events"
    oversized = await client.post("/v1/events", data=b"[" + b" " * (1024 * 1024 + 10) + b"]", headers=AUTH_WRITE)
    assert oversized.status == 413 and (await oversized.json())["error"]["code"] == "payload_too_large"
    assert "RECS_MAX_BODY_BYTES" in (await oversized.json())["error"]["message"]
    batch = await client.post("/v1/recommendations/batch", data=b"[" + b" " * (16 * 1024 * 1024 + 10) + b"]")
    assert batch.status == 413 and "(RECS_MAX_BATCH_BODY_BYTES;" in (await batch.json())["error"]["message"]
    zipped = gzip.compress(b"[" + b" " * (1024 * 1024 + 10) + b"]")  # small on the wire, not once read
    compressed = await client.post("/v1/events", data=zipped, headers={**AUTH_WRITE, "Content-Encoding": "gzip"})
    assert compressed.status == 413 and "decompressed" in (await compressed.json())["error"]["message"]
    for body in (b"\xff\xfe not utf8", b"{broken", b"42", b"[]"):
        response = await client.post("/v1/events", data=body, headers=AUTH_WRITE)
        assert response.status == 400, body


@pytest.mark.parametrize("method, path, body", [
    ("POST", "/v1/events", [{"user_id": "u", "item_id": "p", "type": "view"}]),
    ("PUT", "/v1/items", [{"item_id": "p-new", "kind": "product"}]),
    ("DELETE", "/v1/items/p00001", None),
])
async def test_write_routes_need_a_write_key(client, method, path, body):
    missing = await client.request(method, path, json=body)
    assert missing.status == 401 and (await missing.json())["error"]["code"] == "unauthorized"
    wrong = await client.request(method, path, json=body, headers={"Authorization": "Bearer not-the-key"})
    assert wrong.status == 403 and (await wrong.json())["error"] == {
        "code": "forbidden", "message": "this key is not one of the service's keys"}
    ok = await client.request(method, path, json=body, headers=AUTH_WRITE)
    assert ok.status in (200, 202)
    # the scheme's case does not matter (RFC 9110 11.1)
    lower = await client.request(method, path, json=body, headers={"Authorization": AUTH_WRITE["Authorization"]
                                                                   .replace("Bearer", "bearer")})
    assert lower.status in (200, 202)


async def test_retrain_needs_an_admin_key(client):
    assert (await client.post("/v1/model/retrain")).status == 401
    not_admin = await client.post("/v1/model/retrain", headers=AUTH_WRITE)
    assert not_admin.status == 403 and (await not_admin.json())["error"]["message"] == (
        "this key may not use admin routes")  # a key of the service, not of this scope
    first = await client.post("/v1/model/retrain", headers=AUTH_ADMIN)
    assert first.status == 202 and (await first.json())["status"] in ("started", "already_running")
    again = await (await client.post("/v1/model/retrain", headers=AUTH_ADMIN)).json()  # while it runs
    assert again["status"] == "already_running" and "one more starts when it ends" in again["message"]


async def test_read_keys_guard_reads_when_set(make_client, settings):
    client = await make_client(settings, read_keys=("reader",), ready=False)
    assert (await client.get("/v1/users/u1/recommendations")).status == 401
    assert (await client.get("/v1/users/u1/recommendations", headers={"Authorization": "Bearer x"})).status == 403
    assert (await client.get("/healthz")).status == 200  # operations routes stay open


async def test_catalog_upsert_and_delete_change_what_is_served(client, demo):
    user = _heavy_user(demo)
    top = (await (await client.get(f"/v1/users/{user}/recommendations?n=3")).json())["items"][0]["item_id"]
    gone = await client.delete(f"/v1/items/{top}", headers=AUTH_WRITE)
    assert gone.status == 200 and (await gone.json()) == {"item_id": top, "removed": True}
    after = (await (await client.get(f"/v1/users/{user}/recommendations?n=20")).json())["items"]
    assert top not in {i["item_id"] for i in after}
    similar = (await (await client.get(f"/v1/items/{after[0]['item_id']}/similar?n=20")).json())["items"]
    assert top not in {i["item_id"] for i in similar}
    fallback = (await (await client.get("/v1/users/nobody/recommendations?n=50")).json())["items"]
    assert top not in {i["item_id"] for i in fallback}
    assert (await client.delete(f"/v1/items/{top}", headers=AUTH_WRITE)).status == 200  # again: the same answer
    typo = await client.delete("/v1/items/no-such-item", headers=AUTH_WRITE)
    assert typo.status == 404 and "not known to the catalog or the model" in (await typo.json())["error"]["message"]

    second = after[0]["item_id"]
    upsert = await client.put("/v1/items", json=[{"item_id": second, "kind": "product", "category": "moved",
                                                  "in_stock": False, "title": "Out of stock"}], headers=AUTH_WRITE)
    assert upsert.status == 200 and (await upsert.json()) == {"upserted": 1}
    in_stock = (await (await client.get(f"/v1/users/{user}/recommendations?n=20&in_stock=true")).json())["items"]
    assert second not in {i["item_id"] for i in in_stock}
    moved = (await (await client.get(f"/v1/users/{user}/recommendations?n=5&category=moved")).json())["items"]
    assert [i["item_id"] for i in moved] == [second]


async def test_catalog_bad_input(client):
    for body, field in [([{"item_id": "x", "kind": "service"}], "kind"), ([{"kind": "product"}], "item_id"),
                        ([{"item_id": "x", "in_stock": "perhaps"}], "in_stock"),
                        ([{"item_id": "x", "created_at": NOW}, {"item_id": "y", "created_at": NOW * 1000}],
                         "created_at"),
                        ([{"item_id": "x", "created_at": "2999-01-01T00:00:00Z"}], "created_at")]:
        response = await client.put("/v1/items", json=body, headers=AUTH_WRITE)
        assert response.status == 400 and (await response.json())["error"]["field"] == field


async def test_model_health_metrics_and_openapi(client):
    model = await (await client.get("/v1/model")).json()
    serving = [c for c in model["selection"]["candidates"] if c["serving"]]
    assert model["version"] and [model["algorithm"]] == [c["algorithm"] for c in serving]
    assert model["counts"]["users"] > 0 and model["metrics"]["chosen"] == model["selection"]["chosen"]
    assert 0 <= model["metrics"]["ndcg"] <= 1 and model["training"]["last_outcome"] == "trained"
    assert (await client.get("/healthz")).status == 200
    ready = await (await client.get("/readyz")).json()
    assert {k: ready[k] for k in ("ready", "model", "redis", "writes_refused")} == {
        "ready": True, "model": True, "redis": True, "writes_refused": None}
    for _ in range(3):
        await client.get("/v1/users/u000001/recommendations")
    await client.get("/v1/users/u000001/recommendations?n=0")  # 400
    text = await (await client.get("/metrics")).text()
    route = 'route="/v1/users/{user_id}/recommendations"'
    assert f'encore_http_requests_total{{method="GET",{route},status="200"}} 3.0' in text
    assert f'encore_http_requests_total{{method="GET",{route},status="400"}} 1.0' in text
    assert f'encore_http_request_seconds_count{{{route}}} 4.0' in text
    for name in ("encore_http_requests_total", "encore_http_request_seconds_bucket", "encore_cache_hits_total",
                 "encore_events_ingested_total", "encore_training_seconds", "encore_model_info"):
        assert name in text
    assert 'route="/v1/users/{user_id}/recommendations"' in text and "u000001" not in text
    doc = await (await client.get("/openapi.json")).json()
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    assert documented == {(m, p) for m, p, _ in ROUTES}
    schema = doc["paths"]["/v1/model"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert set(model["training"]) == set(schema["properties"]["training"]["properties"])
    keyed = [op for ops in doc["paths"].values() for op in ops.values() if op.get("security")]
    assert len(keyed) > 30 and all("429" in op["responses"] for op in keyed)
    assert "409" in doc["paths"]["/v1/events"]["post"]["responses"]


async def test_keys_never_reach_logs_or_metrics(client, caplog):
    caplog.set_level("DEBUG")
    await client.post("/v1/events", json={"user_id": "u", "item_id": "p", "type": "view"}, headers=AUTH_WRITE)
    await client.post("/v1/events", json={"user_id": "u", "item_id": "p", "type": "view"},
                      headers={"Authorization": "Bearer wrong-secret"})
    metrics = await (await client.get("/metrics")).text()
    for secret in ("write-key", "wrong-secret"):
        assert secret not in caplog.text and secret not in metrics


async def test_refused_keys_are_limited_per_address_so_keys_cannot_be_guessed_fast(make_client, settings):
    client = await make_client(settings, rate_limit=100.0, rate_limit_burst=100.0, ready=False)
    event = {"user_id": "u", "item_id": "p", "type": "view"}
    guesses = [(await client.post("/v1/events", json=event, headers={"Authorization": f"Bearer guess-{k}"})).status
               for k in range(int(FAILED_AUTH_BURST) + 3)]
    assert set(guesses[:int(FAILED_AUTH_BURST)]) == {403} and guesses[-1] == 429
    no_key = await client.post("/v1/events", json=event)
    assert no_key.status == 429 and int(no_key.headers["Retry-After"]) >= 1  # a missing key counts too
    assert (await client.post("/v1/events", json=event, headers=AUTH_WRITE)).status == 202  # a real key is not held


async def test_rate_limit_answers_429_with_retry_after(make_client, settings):
    client = await make_client(settings, rate_limit=1.0, rate_limit_burst=3.0, ready=False)
    event = {"user_id": "u", "item_id": "p", "type": "view"}
    statuses = [(await client.post("/v1/events", json=event, headers=AUTH_WRITE)).status for _ in range(5)]
    assert statuses[:3] == [202, 202, 202] and statuses[3:] == [429, 429]
    limited = await client.post("/v1/events", json=event, headers=AUTH_WRITE)
    assert limited.status == 429 and int(limited.headers["Retry-After"]) >= 1
    assert (await limited.json())["error"]["code"] == "rate_limited"
    # another key has its own bucket
    first = await client.post("/v1/model/retrain", headers=AUTH_ADMIN)
    assert first.status == 202 and (await first.json())["status"] in ("started", "already_running")
    again = await (await client.post("/v1/model/retrain", headers=AUTH_ADMIN)).json()  # while it runs
    assert again["status"] == "already_running" and "one more starts when it ends" in again["message"]
