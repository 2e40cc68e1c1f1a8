"""Email blocks and campaign items under an experiment: each customer's come from the model of their variant,
name it, and count the customer as exposed; an experiment that splits only the list routes leaves them alone."""

from __future__ import annotations

import json
import time

from recommender.retention import win_back
from service.experiments.assignment import assign, bounds
from service.http.app_keys import HISTORY, ONLINE, SERVING
from service.http.params import list_request
from service.serving.picking import full_filter
from tests.service.conftest import AUTH_ADMIN, wait_for
from tests.service.http.test_trigger_routes import demo_item, later, put_item, send

SPLIT = {"variants": [{"name": "control", "share": 0.5, "model": "serving"},
                      {"name": "holdout", "share": 0.5, "model": "popularity"}]}
LAPSED = "/v1/campaigns/lapsed?min_days=0&max_days=3650&n=4"


def _users(demo, variant: int, n: int) -> list[str]:
    users = sorted(set(demo[0].events.user_ids.tolist()))
    return [u for u in users if assign("spring", u, bounds([0.5, 0.5])) == variant][:n]


async def _start(client, family: str, body: dict = SPLIT) -> None:
    assert (await client.put("/v1/experiments/spring", json=body, headers=AUTH_ADMIN)).status == 200

    async def running():
        return client.app[SERVING].running_split(family) is not None
    await wait_for(running, timeout=10)


async def _lines(response) -> list[dict]:
    assert response.status == 200, await response.text()
    return [json.loads(line) for line in (await response.text()).splitlines()]


def _ids(items: list[dict]) -> list[str]:
    return [i["item_id"] for i in items]


async def test_each_recipients_email_blocks_come_from_their_variant(client, demo):
    control, holdout = _users(demo, 0, 2), _users(demo, 1, 2)
    before = {u: await (await client.get(f"/v1/users/{u}/email-block?n=4")).json() for u in control + holdout}
    popular = await (await client.get("/v1/users/nobody-at-all/recommendations?n=4")).json()
    await _start(client, "email")
    for user in control:
        body = await (await client.get(f"/v1/users/{user}/email-block?n=4")).json()
        assert body["experiment"] == {"name": "spring", "variant": "control"}
        for block, shown in body["blocks"].items():
            assert _ids(shown["items"]) == _ids(before[user]["blocks"][block]["items"]), block  # the serving model
            assert "@spring/control." in shown["recommendation_id"]
    for user in holdout:
        body = await (await client.get(f"/v1/users/{user}/email-block?n=4")).json()
        assert body["experiment"] == {"name": "spring", "variant": "holdout"}
        recommended = body["blocks"]["recommended"]
        assert _ids(recommended["items"]) == _ids(popular["items"]) and recommended["source"] == "fallback"
        assert all("@spring/holdout." in shown["recommendation_id"] for shown in body["blocks"].values())
    lines = await _lines(await client.post("/v1/email-blocks/batch", json={"user_ids": control + holdout, "n": 4}))
    assert [line["experiment"]["variant"] for line in lines] == ["control"] * 2 + ["holdout"] * 2
    assert lines[2]["blocks"]["recommended"]["recommendation_id"] == lines[3]["blocks"]["recommended"][
        "recommendation_id"]  # one id per variant and block for the whole response
    await client.app[ONLINE].flush()
    results = (await (await client.get("/v1/experiments/spring")).json())["results"]
    assert {v["variant"]: v["exposed_customers"] for v in results["variants"]} == {"control": 2, "holdout": 2}


async def test_win_back_lists_the_same_customers_each_with_their_variants_items(client):
    plain = await _lines(await client.get(LAPSED))
    assert len(plain) > 20
    await _start(client, "campaigns")
    split = await _lines(await client.get(LAPSED))
    assert [r["user_id"] for r in split] == [r["user_id"] for r in plain]  # same customers, same order
    current = client.app[SERVING].current
    index = await client.app[HISTORY].get(current)
    popularity = current.popularity_model().model
    variants = {r["user_id"]: r["experiment"]["variant"] for r in split}
    assert set(variants.values()) == {"control", "holdout"}
    holdout = [r for r in split if variants[r["user_id"]] == "holdout"]
    item_filter = full_filter(current.popularity_model(), list_request({}, default_n=4))
    expected = [row for part in win_back(popularity, index.history, time.time(), 0, 3650, 4, item_filter,
                                         leave_out=lambda ids: ids != holdout[0]["user_id"]) for row in part]
    assert _ids(holdout[0]["items"]) == [i.item_id for i in expected[0].items]
    for before, after in zip(plain, split):
        if variants[after["user_id"]] == "control":
            assert after["items"] == before["items"]
    assert any(after["items"] != before["items"] for before, after in zip(plain, split)
               if variants[after["user_id"]] == "holdout")
    ids = {variants[r["user_id"]]: r["recommendation_id"] for r in split}  # one id per variant per response
    assert all(r["recommendation_id"] == ids[variants[r["user_id"]]] for r in split)
    assert ids["holdout"].startswith("campaign_lapsed.") and "@spring/holdout." in ids["holdout"]
    await client.app[ONLINE].flush()
    results = (await (await client.get("/v1/experiments/spring")).json())["results"]
    assert sum(v["exposed_customers"] for v in results["variants"]) == len(split)
    # a purchase through the holdout's email is the holdout's
    buyer = holdout[0]
    await send(client, buyer["user_id"], buyer["items"][0]["item_id"], "purchase", price=12.5,
               recommendation_id=ids["holdout"])
    results = (await (await client.get("/v1/experiments/spring")).json())["results"]
    by_name = {v["variant"]: v for v in results["variants"]}
    assert (by_name["holdout"]["buyers"], by_name["holdout"]["revenue"], by_name["control"]["buyers"]) == (
        1, {"USD": 12.5}, 0)
    assert by_name["holdout"]["impressions"] == sum(len(r["items"]) for r in holdout)


async def test_a_campaigns_impressions_are_the_items_its_lines_list(client):
    empty = await _lines(await client.get(LAPSED + "&category=no-such-category"))
    full = await _lines(await client.get(LAPSED))
    assert empty and not any(r["items"] for r in empty) and any(r["items"] for r in full)
    await client.app[ONLINE].flush()
    stats = await (await client.get("/v1/stats/online?days=1")).json()
    lapsed = next(r for r in stats["by_route"] if r["route"] == "campaign_lapsed")
    assert lapsed["impressions"] == sum(len(r["items"]) for r in full)  # a line with no items shows nothing


async def test_a_dry_run_counts_nothing_and_names_no_id(client):
    await _start(client, "campaigns")
    online = client.app[ONLINE]
    dry = await _lines(await client.get(LAPSED + "&dry_run=true"))
    assert dry and all("recommendation_id" not in r and "experiment" in r for r in dry)
    await online.flush()
    results = (await (await client.get("/v1/experiments/spring")).json())["results"]
    assert [v["exposed_customers"] for v in results["variants"]] == [0, 0]
    assert [v["impressions"] for v in results["variants"]] == [0, 0]
    assert (await client.get(LAPSED + "&dry_run=maybe")).status == 400


async def test_an_experiment_on_the_list_routes_leaves_email_and_campaigns_alone(client, demo):
    user = _users(demo, 1, 1)[0]
    block = await (await client.get(f"/v1/users/{user}/email-block?n=4")).json()
    plain = await _lines(await client.get(LAPSED + "&dry_run=true"))  # each response has ids of its own
    await _start(client, "lists", {**SPLIT, "routes": ["lists"]})
    assert (await (await client.get(f"/v1/users/{user}/recommendations?n=4")).json())["experiment"]["variant"] == \
        "holdout"
    again = await (await client.get(f"/v1/users/{user}/email-block?n=4")).json()
    assert "experiment" not in again and again["blocks"]["recommended"]["items"] == block["blocks"]["recommended"][
        "items"]
    assert await _lines(await client.get(LAPSED + "&dry_run=true")) == plain


async def test_back_in_stock_recommends_from_each_customers_variant(client, demo):
    item = demo_item(demo, index=3)
    await put_item(client, item, in_stock=False)
    askers = [f"asker-{k}" for k in range(12)]
    for user in askers:
        await send(client, user, item["item_id"], "notify_me")
    await put_item(client, item, in_stock=True)
    url = f"/v1/campaigns/back-in-stock?within_days=30&n=3&now={later()}"
    plain = await _lines(await client.get(url))
    await _start(client, "campaigns")
    split = await _lines(await client.get(url))
    assert [r["user_id"] for r in split] == [r["user_id"] for r in plain] == sorted(askers)
    popular = _ids((await (await client.get("/v1/users/nobody-at-all/recommendations?n=10")).json())["items"])
    for before, after in zip(plain, split):
        if after["experiment"]["variant"] == "control":
            assert after["recommended"] == before["recommended"]  # the serving model's similar items
        else:  # the holdout's model knows no similarity: the bestsellers in stock
            assert after["experiment"]["variant"] == "holdout"
            assert _ids(after["recommended"]) == [i for i in popular if i != item["item_id"]][:3]
    assert {r["experiment"]["variant"] for r in split} == {"control", "holdout"}
