"""Lists of a model that serves bought items, through HTTP and a real Redis: bought items say
`"repeat": true` and still honour every filter, exclusion, removed item and fatigue; something bought
since training waits behind the other items until the customer's usual interval for it has passed."""

from __future__ import annotations

import dataclasses
import time

import pytest

from recommender.units import SECONDS_PER_DAY
from service.http.app_keys import SERVING
from service.serving import read_path
from tests.service.conftest import AUTH_WRITE, wait_for
from tests.service.stores import LAPSED_SINCE, WEEK, grocery

ALL = 28  # every item of the grocery


@pytest.fixture
async def shop_client(make_client, settings, tmp_path):
    """The grocery, served by the personal algorithm (own most-bought items first, then bestsellers)."""
    shop = grocery(time.time())
    events, catalog = shop.write(tmp_path / "grocery")
    client = await make_client(dataclasses.replace(settings, bootstrap_events=events, bootstrap_catalog=catalog),
                               algorithm="personal")
    assert client.app[SERVING].current.model.recommends_bought_items
    return client, shop


async def items(client, user: str, query: str = "") -> list[dict]:
    response = await client.get(f"/v1/users/{user}/recommendations?n={ALL}&{query}")
    assert response.status == 200
    return (await response.json())["items"]


def ids(listed: list[dict]) -> list[str]:
    return [i["item_id"] for i in listed]


def attributes(shop) -> dict[str, dict]:
    return shop.catalog.frame.set_index("item_id")[["kind", "category", "in_stock"]].to_dict("index")


@pytest.mark.parametrize("query, holds", [
    ("", lambda item, attrs: True),
    ("kind=product", lambda item, attrs: attrs["kind"] == "product"),
    ("category=dairy", lambda item, attrs: attrs["category"] == "dairy"),
    ("in_stock=true", lambda item, attrs: attrs["in_stock"]),
    ("explain=true", lambda item, attrs: "because" in item),
])
async def test_repeat_items_are_flagged_and_honour_the_filters(shop_client, query, holds):
    client, shop = shop_client
    catalog = attributes(shop)
    user = sorted(shop.staples)[0]
    staples = set(shop.staples[user])
    listed = await items(client, user, query)
    assert listed and all(holds(item, catalog[item["item_id"]]) for item in listed)
    assert [i["item_id"] for i in listed if i.get("repeat")] == [i for i in ids(listed) if i in staples]
    assert all(i.get("repeat") is True or "repeat" not in i for i in listed)
    expected = [s for s in staples if holds({"because": []}, catalog[s])]
    assert set(ids(listed)[:len(expected)]) == set(expected)  # their own items lead a personal-frequency list
    options = {name: value == "true" if value in ("true", "false") else value
               for name, value in (p.split("=") for p in query.split("&") if p)}  # as JSON: "true" -> true
    batch = await (await client.post("/v1/recommendations/batch", json={"user_ids": [user], "n": ALL,
                                                                       **options})).json()
    assert [(i["item_id"], i.get("repeat")) for i in batch["results"][0]["items"]] == \
        [(i["item_id"], i.get("repeat")) for i in listed]


async def test_exclusions_the_category_cap_and_removed_items_hold_for_repeat_items(shop_client):
    client, shop = shop_client
    user = sorted(shop.staples)[1]
    first, second = shop.staples[user][:2]
    listed = await items(client, user, f"exclude={first}")
    assert first not in ids(listed) and second in ids(listed)
    capped = await items(client, user, "max_per_category=1")
    categories = [attributes(shop)[i]["category"] for i in ids(capped)]
    assert len(categories) == len(set(categories)) and any(i.get("repeat") for i in capped)
    assert (await client.delete(f"/v1/items/{second}", headers=AUTH_WRITE)).status == 200

    async def gone():
        return second not in ids(await items(client, user))
    await wait_for(gone)
    assert first in ids(await items(client, user))


async def test_recently_shown_repeat_items_go_behind_every_unshown_item(shop_client):
    client, shop = shop_client
    user = sorted(shop.staples)[2]
    shown = shop.staples[user][0]
    before = await items(client, user)
    assert ids(before).index(shown) < 4
    await client.post(f"/v1/users/{user}/shown", json={"item_ids": [shown]}, headers=AUTH_WRITE)
    after = await items(client, user)
    assert ids(after)[-1] == shown and after[-1]["repeat"] is True
    assert ids(after)[:-1] == [i for i in ids(before) if i != shown]


async def test_a_purchase_since_training_waits_until_the_customers_interval_has_passed(shop_client, monkeypatch):
    client, shop = shop_client
    now = time.time()
    active = next(u for u in sorted(shop.staples) if u not in shop.lapsed)
    bought = shop.staples[active][0]
    before = await items(client, active)
    assert ids(before).index(bought) < 4 and before[ids(before).index(bought)]["repeat"] is True
    await client.post("/v1/events", json={"user_id": active, "item_id": bought, "type": "purchase",
                                          "timestamp": now}, headers=AUTH_WRITE)
    after = await items(client, active)  # the cached answer is dropped: the change log names this user
    assert ids(after) == [i for i in ids(before) if i != bought] + [bought]  # behind every other item
    assert after[-1]["repeat"] is True
    # a week later (their interval: they buy it every WEEK days) it is back in place
    later = now + (WEEK + 1) * SECONDS_PER_DAY
    monkeypatch.setattr(read_path.time, "time", lambda: later)
    assert ids(await items(client, active)) == ids(before)


async def test_a_purchase_long_enough_ago_stays_in_place_and_fatigue_still_comes_last(shop_client):
    client, shop = shop_client
    now = time.time()
    lapsed = shop.lapsed[0]  # last bought everything LAPSED_SINCE days ago, every WEEK days before that
    due, waiting = shop.staples[lapsed][:2]
    before = await items(client, lapsed)
    await client.post("/v1/events", json=[
        {"user_id": lapsed, "item_id": due, "type": "purchase",
         "timestamp": now - (LAPSED_SINCE - 10) * SECONDS_PER_DAY},  # 10 days ago: due 3 days ago
        {"user_id": lapsed, "item_id": waiting, "type": "purchase", "timestamp": now - SECONDS_PER_DAY}],
        headers=AUTH_WRITE)
    after = await items(client, lapsed)
    assert ids(after) == [i for i in ids(before) if i != waiting] + [waiting]
    unshown = ids(after)[0]
    await client.post(f"/v1/users/{lapsed}/shown", json={"item_ids": [unshown]}, headers=AUTH_WRITE)
    shown_last = await items(client, lapsed)  # the shown item goes behind even the waiting one
    assert ids(shown_last)[-2:] == [waiting, unshown]


async def test_a_new_customers_purchases_are_flagged_and_wait(shop_client):
    client, shop = shop_client
    await client.post("/v1/events", json=[
        {"user_id": "newcomer", "item_id": "p001", "type": "purchase"},
        {"user_id": "newcomer", "item_id": "p002", "type": "purchase"},
        {"user_id": "newcomer", "item_id": "p003", "type": "view"}], headers=AUTH_WRITE)
    body = await (await client.get(f"/v1/users/newcomer/recommendations?n={ALL}")).json()
    assert body["source"] == "personalized"
    listed = body["items"]
    assert {i["item_id"] for i in listed if i.get("repeat")} == {"p001", "p002"}
    assert set(ids(listed)[-2:]) == {"p001", "p002"}  # bought just now: behind the rest
    assert "p003" in ids(listed)  # viewed, not bought: a model that keeps own items keeps it
