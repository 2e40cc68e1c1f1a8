"""The trigger campaigns (back in stock, price drop, browse abandonment) through HTTP against a real Redis:
catalog changes go through PUT /v1/items (stock and price history are written at the clock's time) and
events through POST /v1/events, so each test builds its own small story on top of the demo store."""

from __future__ import annotations

import json
import time

import pytest

from service.http.app_keys import HISTORY, SERVING
from tests.service.conftest import AUTH_WRITE, NOW

DAY = 86_400.0


async def ndjson(response) -> list[dict]:
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in (await response.text()).splitlines()]


def demo_item(demo, kind: str = "product", index: int = 0) -> dict:
    """A demo catalog row as a PUT /v1/items record (JSON-safe)."""
    frame = demo[0].catalog.frame
    row = frame[frame["kind"] == kind].iloc[index]
    return {"item_id": row["item_id"], "kind": row["kind"], "category": row["category"], "in_stock": True}


async def put_item(client, item: dict, **changes) -> None:
    response = await client.put("/v1/items", json=[{**item, **changes}], headers=AUTH_WRITE)
    assert response.status == 200, await response.text()


async def send(client, user: str, item: str, kind: str, **extra) -> None:
    response = await client.post("/v1/events", json={"user_id": user, "item_id": item, "type": kind, **extra},
                                 headers=AUTH_WRITE)
    assert response.status == 202, await response.text()


def later() -> int:
    """A `now` just after everything the test wrote (events default to the clock)."""
    return int(time.time()) + 2


# -- back in stock ----------------------------------------------------------------------------
async def test_back_in_stock_lists_interest_while_out_of_stock_not_before_and_not_bought_since(client, demo):
    item = demo_item(demo, index=3)
    await send(client, "bis-before", item["item_id"], "view")  # in stock then: no trigger
    await put_item(client, item, in_stock=False)
    await send(client, "bis-viewer", item["item_id"], "view")
    await send(client, "bis-asker", item["item_id"], "notify_me")
    await send(client, "bis-carter", item["item_id"], "add_to_cart")
    await send(client, "bis-buyer", item["item_id"], "view")
    url = f"/v1/campaigns/back-in-stock?within_days=30&n=3&now={later()}"
    assert [line["user_id"] for line in await ndjson(await client.get(url))] == []  # still out of stock
    await put_item(client, item, in_stock=True)
    await send(client, "bis-buyer", item["item_id"], "purchase")
    lines = await ndjson(await client.get(f"/v1/campaigns/back-in-stock?within_days=30&n=3&now={later()}"))
    assert [line["user_id"] for line in lines] == ["bis-asker", "bis-carter", "bis-viewer"]
    events = {line["user_id"]: line["items"][0]["event"] for line in lines}
    assert events == {"bis-asker": "notify_me", "bis-carter": "add_to_cart", "bis-viewer": "view"}
    catalog = demo[0].catalog.frame.set_index("item_id")
    for line in lines:
        assert [i["item_id"] for i in line["items"]] == [item["item_id"]]
        recommended = [i["item_id"] for i in line["recommended"]]
        assert len(recommended) == 3 and item["item_id"] not in recommended
        assert all(bool(catalog.loc[r, "in_stock"]) for r in recommended)
        scores = [i["score"] for i in line["recommended"]]
        assert scores == sorted(scores, reverse=True)


async def test_an_item_restocked_and_sold_out_again_triggers_nothing_until_it_is_back(client, demo):
    item = demo_item(demo, index=4)
    await put_item(client, item, in_stock=False)
    await send(client, "bis-waiting", item["item_id"], "view")
    await put_item(client, item, in_stock=True)
    await put_item(client, item, in_stock=False)
    url = "/v1/campaigns/back-in-stock?within_days=30&now={}"
    assert await ndjson(await client.get(url.format(later()))) == []
    await put_item(client, item, in_stock=True)
    lines = await ndjson(await client.get(url.format(later())))
    assert [(line["user_id"], line["items"][0]["item_id"]) for line in lines] == [("bis-waiting", item["item_id"])]


async def test_back_in_stock_honours_the_window_the_filters_and_the_contact_cap(client, demo):
    item = demo_item(demo, index=5)
    await put_item(client, item, in_stock=False)
    await send(client, "bis-old", item["item_id"], "notify_me", timestamp=time.time() - 40 * DAY)
    for user in ("bis-one", "bis-two"):
        await send(client, user, item["item_id"], "notify_me")
    await put_item(client, item, in_stock=True)
    url = "/v1/campaigns/back-in-stock?within_days=30&n=2&now={}"
    assert [line["user_id"] for line in await ndjson(await client.get(url.format(later())))] == ["bis-one", "bis-two"]
    other = "content" if item["kind"] == "product" else "product"
    assert await ndjson(await client.get(url.format(later()) + f"&kind={other}")) == []
    assert await ndjson(await client.get(url.format(later()) + f"&exclude={item['item_id']}")) == []
    assert (await client.post("/v1/users/bis-one/contacted", json={"campaign": "back_in_stock"},
                              headers=AUTH_WRITE)).status == 202
    assert [line["user_id"] for line in await ndjson(await client.get(url.format(later())))] == ["bis-two"]
    assert [line["user_id"] for line in await ndjson(await client.get(url.format(later()) + "&cap_hours=0"))] == [
        "bis-one", "bis-two"]
    lines = await ndjson(await client.get(url.format(later()) + "&fields=title"))
    assert all("title" in i for line in lines for i in line["items"] + line["recommended"])


# -- price drop -----------------------------------------------------------------------------
async def test_price_drop_compares_the_price_at_the_last_look_even_after_it_went_up_then_down(client, demo):
    item = {**demo_item(demo, index=6), "currency": "EUR"}
    await put_item(client, item, price=100.0)
    await send(client, "pd-at-100", item["item_id"], "view")
    await send(client, "pd-buyer", item["item_id"], "add_to_cart")
    await put_item(client, item, price=150.0)
    await send(client, "pd-at-150", item["item_id"], "view")
    await send(client, "pd-buyer", item["item_id"], "purchase")
    await put_item(client, item, price=95.0)
    url = "/v1/campaigns/price-drop?within_days=30&n=3&now={}&min_drop_pct={}"
    lines = await ndjson(await client.get(url.format(later(), 10)))
    assert [line["user_id"] for line in lines] == ["pd-at-150"]  # 100 -> 95 is 5%: below the threshold
    (dropped,) = lines[0]["items"]
    assert dropped["item_id"] == item["item_id"]
    assert (dropped["old_price"], dropped["price"]) == (150.0, 95.0)
    assert dropped["drop_pct"] == pytest.approx(36.67) and dropped["score"] == pytest.approx(55 / 150, abs=1e-6)
    lines = await ndjson(await client.get(url.format(later(), 5)))
    assert {line["user_id"]: line["items"][0]["drop_pct"] for line in lines} == {"pd-at-100": 5.0,
                                                                                 "pd-at-150": pytest.approx(36.67)}


async def test_price_drop_lists_the_biggest_drops_first_up_to_n_and_honours_the_cap(client, demo):
    items = [{**demo_item(demo, index=k), "currency": "EUR"} for k in (7, 8, 9)]
    for item in items:
        await put_item(client, item, price=50.0)
        await send(client, "pd-many", item["item_id"], "view")
    for item, price in zip(items, (40.0, 20.0, 30.0)):
        await put_item(client, item, price=price)
    url = "/v1/campaigns/price-drop?min_drop_pct=10&within_days=30&n=2&now={}"
    (line,) = await ndjson(await client.get(url.format(later())))
    assert [i["item_id"] for i in line["items"]] == [items[1]["item_id"], items[2]["item_id"]]
    assert [i["drop_pct"] for i in line["items"]] == [60.0, 40.0]
    assert (await client.post("/v1/users/pd-many/contacted", json={"campaign": "price_drop"},
                              headers=AUTH_WRITE)).status == 202
    assert await ndjson(await client.get(url.format(later()))) == []


# -- browse abandonment ---------------------------------------------------------------------
async def test_browse_abandonment_lists_repeated_views_without_a_cart_after_them(client, demo):
    item, other = demo_item(demo, index=10), demo_item(demo, index=11)
    clock = time.time()
    hours = 3600.0
    story = [("br-browser", item, "view", 5), ("br-browser", item, "view", 4),
             ("br-once", item, "view", 5),
             ("br-bought", item, "view", 5), ("br-bought", item, "view", 4), ("br-bought", item, "purchase", 3),
             ("br-carted-before", item, "add_to_cart", 10), ("br-carted-before", item, "view", 5),
             ("br-carted-before", item, "view", 4),
             ("br-still-here", item, "view", 1.5), ("br-still-here", item, "view", 0.5)]
    for user, it, kind, ago in story:
        await send(client, user, it["item_id"], kind, timestamp=clock - ago * hours)
    url = f"/v1/campaigns/browse-abandonment?older_than_hours=2&within_hours=48&min_views=2&n=3&now={int(clock)}"
    lines = await ndjson(await client.get(url))
    assert [line["user_id"] for line in lines] == ["br-browser", "br-carted-before"]
    catalog = demo[0].catalog.frame.set_index("item_id")
    for line in lines:
        viewed, *similar = line["items"]
        assert (viewed["item_id"], viewed["via"], viewed["views"]) == (item["item_id"], "viewed", 2)
        assert viewed["last_viewed"] == pytest.approx(clock - 4 * hours)
        assert len(similar) == 2 and all(i["via"] == "similar" for i in similar)
        assert all(bool(catalog.loc[i["item_id"], "in_stock"]) and i["item_id"] != item["item_id"] for i in similar)
    # one view each of two items of the same category is a browse of the category
    same = demo[0].catalog.frame
    same = same[(same["category"] == other["category"]) & (same["item_id"] != other["item_id"])].iloc[0]
    for it, ago in ((other["item_id"], 6), (same["item_id"], 5)):
        await send(client, "br-category", it, "view", timestamp=clock - ago * hours)
    by_item = [line["user_id"] for line in await ndjson(await client.get(url))]
    by_category = {line["user_id"]: line for line in await ndjson(await client.get(url + "&by=category"))}
    assert "br-category" not in by_item and "br-category" in by_category
    assert [i["item_id"] for i in by_category["br-category"]["items"][:2]] == [same["item_id"], other["item_id"]]
    assert (await client.post("/v1/users/br-browser/contacted", json={"campaign": "browse"},
                              headers=AUTH_WRITE)).status == 202
    assert [line["user_id"] for line in await ndjson(await client.get(url))] == ["br-carted-before"]


# -- audiences ------------------------------------------------------------------------------
async def test_an_items_audience_is_the_models_best_customers_without_recent_buyers(client, demo):
    events = demo[0].events.to_frame()
    buys = events[events["type"] == "purchase"]
    item = buys["item_id"].value_counts().index[0]
    model = client.app[SERVING].current.model
    scores = dict(zip(model.user_ids.ids, model.item_user_scores(model.item_ids.get(item)).tolist()))
    url = f"/v1/items/{item}/audience?n=40&now={int(NOW)}&cap_hours=0"
    everyone = await ndjson(await client.get(url + "&exclude_bought_days=0"))
    assert len(everyone) == 40 and all(line["scored_by"] == "model" for line in everyone)
    best = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:40]
    assert [line["user_id"] for line in everyone] == [u for u, _ in best]
    assert [line["score"] for line in everyone] == [pytest.approx(s, abs=1e-5) for _, s in best]
    # buyers are left out unless the item's median repurchase interval has passed since their last purchase
    index = await client.app[HISTORY].get(client.app[SERVING].current)
    interval = index.intervals.median_days[index.history.items.get(item)]
    last = buys[buys["item_id"] == item].groupby("user_id")["timestamp"].max()
    due = (NOW - last) / DAY >= interval  # False for all when the item has no interval (NaN)
    not_due, due = set(last.index[~due]), set(last.index[due])
    assert not_due & {line["user_id"] for line in everyone}
    lines = await ndjson(await client.get(url + "&exclude_bought_days=3650"))
    assert lines and not not_due & {line["user_id"] for line in lines}
    assert [line["user_id"] for line in lines] == [u for u, _ in sorted(
        ((u, v) for u, v in scores.items() if u not in not_due), key=lambda kv: (-kv[1], kv[0]))[:40]]
    top = lines[0]["user_id"]
    assert (await client.post(f"/v1/users/{top}/contacted", json={"campaign": "audience"},
                              headers=AUTH_WRITE)).status == 202
    capped = await ndjson(await client.get(f"/v1/items/{item}/audience?n=40&now={int(time.time())}"
                                           "&exclude_bought_days=3650"))
    assert top not in {line["user_id"] for line in capped}


async def test_an_item_without_a_vector_goes_to_the_customers_most_into_its_category(client, demo):
    events = demo[0].events.to_frame()
    catalog = demo[0].catalog.frame.set_index("item_id")
    events = events[events["type"].isin(["view", "click", "add_to_cart", "purchase", "review"])]
    category = catalog.loc[events["item_id"], "category"].to_numpy()
    share = (category == "garden").astype(float)
    share = events.assign(share=share).groupby("user_id")["share"].mean()
    share = share[share > 0].sort_values(ascending=False, kind="stable")
    await put_item(client, {"item_id": "aud-brand-new", "kind": "product", "category": "garden", "in_stock": True})
    lines = await ndjson(await client.get(f"/v1/items/aud-brand-new/audience?n=5&now={int(NOW)}"))
    assert [line["scored_by"] for line in lines] == ["category"] * 5
    assert [line["score"] for line in lines] == [pytest.approx(v, abs=1e-6) for v in share.iloc[:5]]
    assert {line["user_id"] for line in lines} <= set(share.index[share >= share.iloc[4]])
    response = await client.get("/v1/items/nobody-knows-this/audience")
    assert response.status == 404 and (await response.json())["error"]["code"] == "unknown_item"


# -- trending -------------------------------------------------------------------------------
def least_popular_product(demo) -> str:
    events = demo[0].events.to_frame()
    catalog = demo[0].catalog.frame.set_index("item_id")
    counts = events["item_id"].value_counts()
    products = [i for i in counts.index[::-1] if catalog.loc[i, "kind"] == "product" and catalog.loc[i, "in_stock"]]
    return products[0]


async def test_trending_follows_events_sent_since_training_and_feeds_the_fallback(make_client, settings, demo):
    client = await make_client(settings, fallback="trending")
    item = least_popular_product(demo)
    for k in range(6):
        await send(client, f"tr-{k}", item, "view")
    body = await (await client.get(f"/v1/items/trending?hours=24&n=5&now={later()}")).json()
    assert body["source"] == "trending" and body["items"][0]["item_id"] == item
    assert (body["items"][0]["score"], body["items"][0]["current"], body["items"][0]["baseline"]) == (6.0, 6.0, 0.0)
    kind = demo[0].catalog.frame.set_index("item_id").loc[item, "kind"]
    other = "content" if kind == "product" else "product"
    assert item not in [i["item_id"] for i in (await (await client.get(
        f"/v1/items/trending?kind={other}&now={later()}")).json())["items"]]
    stranger = await (await client.get("/v1/users/someone-new/recommendations?n=3")).json()
    assert stranger["source"] == "fallback" and stranger["items"][0]["item_id"] == item
    assert len(stranger["items"]) == 3  # topped up with popular items


async def test_the_default_fallback_stays_popular(client, demo):
    item = least_popular_product(demo)
    for k in range(6):
        await send(client, f"tr-{k}", item, "view")
    stranger = await (await client.get("/v1/users/someone-new/recommendations?n=3")).json()
    model = client.app[SERVING].current.model
    assert [i["item_id"] for i in stranger["items"]] == [i.item_id for i in model.popular(3)]


async def test_a_stranger_whose_only_event_is_notify_me_gets_the_popular_fallback(client):
    await send(client, "bis-only-asked", "p00001", "notify_me")
    body = await (await client.get("/v1/users/bis-only-asked/recommendations?n=3")).json()
    model = client.app[SERVING].current.model
    assert body["source"] == "fallback"
    assert [i["item_id"] for i in body["items"]] == [i.item_id for i in model.popular(3)]


@pytest.mark.parametrize("url, field", [
    ("/v1/items/trending?hours=0", "hours"),
    ("/v1/items/trending?hours=721", "hours"),
    ("/v1/items/trending?n=0", "n"),
    ("/v1/items/trending?now=tomorrow", "now"),
    ("/v1/items/p00001/audience?n=0", "n"),
    ("/v1/items/p00001/audience?n=1000001", "n"),
    ("/v1/items/p00001/audience?exclude_bought_days=-1", "exclude_bought_days"),
    ("/v1/items/p00001/audience?now=soon", "now"),
    ("/v1/campaigns/browse-abandonment?min_views=0", "min_views"),
    ("/v1/campaigns/browse-abandonment?within_hours=0", "within_hours"),
    ("/v1/campaigns/browse-abandonment?older_than_hours=50&within_hours=48", "older_than_hours"),
    ("/v1/campaigns/browse-abandonment?by=brand", "by"),
    ("/v1/campaigns/browse-abandonment?in_stock=maybe", "in_stock"),
    ("/v1/campaigns/price-drop?min_drop_pct=0", "min_drop_pct"),
    ("/v1/campaigns/price-drop?min_drop_pct=101", "min_drop_pct"),
    ("/v1/campaigns/price-drop?within_days=-3", "within_days"),
    ("/v1/campaigns/price-drop?n=101", "n"),
    ("/v1/campaigns/price-drop?fields=nope", "fields"),
    ("/v1/campaigns/back-in-stock?within_days=0", "within_days"),
    ("/v1/campaigns/back-in-stock?within_days=x", "within_days"),
    ("/v1/campaigns/back-in-stock?n=0", "n"),
    ("/v1/campaigns/back-in-stock?now=yesterday", "now"),
    ("/v1/campaigns/back-in-stock?cap_hours=-1", "cap_hours"),
    ("/v1/campaigns/back-in-stock?kind=gadget", "kind"),
])
async def test_bad_trigger_parameters_get_400_naming_the_field(client, url, field):
    response = await client.get(url)
    assert response.status == 400
    error = (await response.json())["error"]
    assert error["code"] == "invalid_parameter" and error["field"] == field
