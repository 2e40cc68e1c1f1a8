"""Remembered answers (service.serving.served_lists): a repeated request is answered from memory, and
every change the answer depends on (events, impressions, the catalog, the clock, the model)
still shows at once."""

from __future__ import annotations

import asyncio
import time

import orjson

from service.http.app_keys import REFRESHER, SERVING, SETTINGS
from service.serving.model_state import ServingModel
from service.serving.served_lists import FOREVER, ServedLists, fatigue_until
from tests.service.conftest import AUTH_WRITE
from tests.service.http.test_routes import _heavy_user


def test_an_entry_answers_only_for_the_same_state_generation_and_time() -> None:
    lists = ServedLists(max_entries=10)
    state, other = object(), object()
    items = [{"item_id": "a", "score": 0.5}]
    lists.put("k", state, 1, until=100.0, items=items)
    answer = lists.get("k", state, 1, now=50.0)
    assert answer.count == 1 and orjson.loads(orjson.dumps({"items": answer.items})) == {"items": items}
    assert lists.get("k", other, 1, now=50.0) is None  # a changed user state drops the entry
    lists.put("k", state, 1, until=100.0, items=items)
    assert lists.get("k", state, 2, now=50.0) is None  # so does a catalog change
    lists.put("k", state, 1, until=100.0, items=items)
    assert lists.get("k", state, 1, now=100.0) is None and "k" not in lists  # and the clock


def test_served_lists_are_bounded_and_evict_the_least_recently_used() -> None:
    lists = ServedLists(max_entries=2)
    for key in ("a", "b"):
        lists.put(key, None, 0, FOREVER, [])
    assert lists.get("a", None, 0, 0.0).count == 0  # a is now the most recently used
    lists.put("c", None, 0, FOREVER, [])
    assert len(lists) == 2 and "b" not in lists and "a" in lists and "c" in lists


def test_fatigue_until_is_when_the_first_impression_leaves_the_window() -> None:
    day = 86_400.0
    assert fatigue_until({}, 1000.0, 14) == FOREVER
    assert fatigue_until({"a": 1000.0}, 1000.0, 0) == FOREVER  # fatigue off
    shown = {"old": 1000.0 - 20 * day, "a": 1000.0 - day, "b": 1000.0 - 3 * day}
    assert fatigue_until(shown, 1000.0, 14) == 1000.0 - 3 * day + 14 * day  # "old" has already left
    assert fatigue_until({"edge": 1000.0 - 14 * day}, 1000.0, 14) == 1000.0  # still in: leaves right after


async def _get(client, path: str) -> dict:
    response = await client.get(path)
    assert response.status == 200, await response.text()
    return await response.json()


async def test_a_repeated_request_is_remembered_and_a_catalog_change_still_shows(client, demo):
    user = _heavy_user(demo)
    serving = client.app[SERVING]
    path = f"/v1/users/{user}/recommendations?n=5"
    first = await _get(client, path)
    assert len(serving.served) == 1
    again = await _get(client, path)
    assert again["items"] == first["items"] and again["recommendation_id"] != first["recommendation_id"]

    top = first["items"][0]["item_id"]
    assert (await client.delete(f"/v1/items/{top}", headers=AUTH_WRITE)).status == 200
    after = await _get(client, path)
    assert top not in [i["item_id"] for i in after["items"]] and len(after["items"]) == 5

    item = after["items"][0]["item_id"]
    similar_path = f"/v1/items/{item}/similar?n=5"
    similar = (await _get(client, similar_path))["items"]
    assert (await _get(client, similar_path))["items"] == similar
    gone = similar[0]["item_id"]
    assert (await client.delete(f"/v1/items/{gone}", headers=AUTH_WRITE)).status == 200
    assert gone not in [i["item_id"] for i in (await _get(client, similar_path))["items"]]


async def test_a_purchase_or_an_impression_changes_the_remembered_answer(client, demo):
    user = _heavy_user(demo)
    path = f"/v1/users/{user}/recommendations?n=5"
    first = [i["item_id"] for i in (await _get(client, path))["items"]]
    assert [i["item_id"] for i in (await _get(client, path))["items"]] == first
    bought = await client.post("/v1/events", json={"user_id": user, "item_id": first[0], "type": "purchase"},
                               headers=AUTH_WRITE)
    assert bought.status == 202
    second = [i["item_id"] for i in (await _get(client, path))["items"]]
    assert first[0] not in second
    shown = await client.post(f"/v1/users/{user}/shown", json={"item_ids": [second[0]]}, headers=AUTH_WRITE)
    assert shown.status == 202, await shown.text()
    third = [i["item_id"] for i in (await _get(client, path))["items"]]
    assert third[0] != second[0]


async def test_an_impression_leaving_the_fatigue_window_ends_the_remembered_answer(make_client, settings, demo):
    client = await make_client(settings, fatigue_days=3 / 86_400)  # a three-second window
    user = _heavy_user(demo)
    path = f"/v1/users/{user}/recommendations?n=5"
    top = (await _get(client, path))["items"][0]["item_id"]
    posted = await client.post("/v1/events", json={"user_id": user, "item_id": top, "type": "impression",
                                                   "timestamp": time.time()}, headers=AUTH_WRITE)
    assert posted.status == 202
    demoted = [i["item_id"] for i in (await _get(client, path))["items"]]
    assert demoted[0] != top and [i["item_id"] for i in (await _get(client, path))["items"]] == demoted
    await asyncio.sleep(3.5)
    assert (await _get(client, path))["items"][0]["item_id"] == top


async def test_explain_never_changes_a_remembered_answer(client, demo):
    user = _heavy_user(demo)
    path = f"/v1/users/{user}/recommendations?n=5"
    plain = await _get(client, path)
    explained = await _get(client, path + "&explain=true")
    assert all("because" in item for item in explained["items"])
    assert (await _get(client, path))["items"] == plain["items"]
    assert all("because" not in item for item in (await _get(client, path))["items"])


async def test_a_bad_query_is_refused_every_time(client, demo):
    user = _heavy_user(demo)
    for _ in range(2):
        response = await client.get(f"/v1/users/{user}/recommendations?n=1000")
        assert response.status == 400 and (await response.json())["error"]["field"] == "n"
    assert len((await _get(client, f"/v1/users/{user}/recommendations?n=3"))["items"]) == 3
    assert len((await _get(client, f"/v1/users/{user}/recommendations?n=4"))["items"]) == 4


async def test_the_same_version_loaded_again_starts_with_no_remembered_answers(client, demo):
    user = _heavy_user(demo)
    serving = client.app[SERVING]
    path = f"/v1/users/{user}/recommendations?n=5"
    top = (await _get(client, path))["items"][0]["item_id"]
    current = serving.current
    # the same artifact again, with the top item taken out: a new object whose catalog_generation is 0 again
    again = ServingModel.load(client.app[SETTINGS].models_path / f"{current.version}.npz",
                              removed=frozenset({top}))
    assert again.version == current.version and again.catalog_generation == current.catalog_generation
    client.app[REFRESHER].install(again, client.app[REFRESHER].catalog_rev)
    assert top not in [i["item_id"] for i in (await _get(client, path))["items"]]
