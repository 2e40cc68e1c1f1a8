"""Serving under an experiment: each customer's list from their variant, ids naming experiment and
variant, exposures and attributed events counted for it; a stopped experiment stops splitting; with
no experiment running, the read path is as before."""

from __future__ import annotations

import json

import re
import time

import pytest
import redis

from service.experiments.assignment import assign, bounds
from service.http.app_keys import ONLINE, REFRESHER, SERVING
from tests.service.conftest import AUTH_ADMIN, AUTH_WRITE, recorder_paused, wait_for

SPLIT = {"variants": [{"name": "control", "share": 0.5, "model": "serving"},
                      {"name": "holdout", "share": 0.5, "model": "popularity"}]}
PLAIN_ID = re.compile(r"recommendations\.\d{8}T\d{6}Z-[0-9a-f]{8}\.[0-9a-f]{16}")


def _users(demo, variant: int, n: int = 3) -> list[str]:
    data = demo[0]
    users = sorted(set(data.events.user_ids.tolist()))
    return [u for u in users if assign("spring", u, bounds([0.5, 0.5])) == variant][:n]


async def _running(client, expected: bool) -> None:
    async def check():
        return (client.app[SERVING].running_split() is not None) == expected
    await wait_for(check, timeout=10)


async def test_with_no_experiment_running_the_read_path_is_unchanged(make_client, demo, settings):
    client = await make_client(settings, poll_interval=3600)  # no poll (a script) while commands are counted
    user = _users(demo, 0, 1)[0]
    before = await (await client.get(f"/v1/users/{user}/recommendations?n=5")).json()
    later = {**SPLIT, "start": time.time() + 86400}  # defined, not running
    assert (await client.put("/v1/experiments/spring", json=later, headers=AUTH_ADMIN)).status == 200
    await client.app[REFRESHER].sync()  # the poll that reads the definitions
    assert client.app[SERVING].splits["lists"].pending
    async with recorder_paused(client):
        sync = redis.Redis.from_url(settings.redis_url)
        sync.config_resetstat()
        after = await (await client.get(f"/v1/users/{user}/recommendations?n=5")).json()
        assert not {"cmdstat_hgetall", "cmdstat_mget", "cmdstat_eval", "cmdstat_get"} & set(sync.info("commandstats"))
        sync.close()
    assert after["items"] == before["items"] and set(after) == set(before) and "experiment" not in after
    assert PLAIN_ID.fullmatch(after["recommendation_id"])
    await client.app[ONLINE].flush()
    assert (await (await client.get("/v1/experiments/spring")).json())["results"]["variants"][0][
        "exposed_customers"] == 0


async def test_each_customer_gets_their_variant_and_events_count_for_it_until_the_stop(client, demo):
    control, holdout = _users(demo, 0), _users(demo, 1)
    plain = {u: (await (await client.get(f"/v1/users/{u}/recommendations?n=5")).json()) for u in control + holdout}
    popular = await (await client.get("/v1/users/nobody-at-all/recommendations?n=5")).json()
    assert (await client.put("/v1/experiments/spring", json=SPLIT, headers=AUTH_ADMIN)).status == 200
    await _running(client, True)
    for user in control:
        body = await (await client.get(f"/v1/users/{user}/recommendations?n=5")).json()
        assert body["experiment"] == {"name": "spring", "variant": "control"}
        assert body["items"] == plain[user]["items"]  # the serving model's list, as before
        assert "@spring/control." in body["recommendation_id"]
    prober = _users(demo, 0, len(control) + 1)[-1]  # a HEAD request (a probe) neither counts nor exposes
    assert (await client.head(f"/v1/users/{prober}/recommendations?n=5")).status == 200
    for _ in range(2):  # the same variant every time
        for user in holdout:
            body = await (await client.get(f"/v1/users/{user}/recommendations?n=5")).json()
            assert body["experiment"] == {"name": "spring", "variant": "holdout"}
            assert [i["item_id"] for i in body["items"]] == [i["item_id"] for i in popular["items"]]
            assert "@spring/holdout." in body["recommendation_id"]
    click = {"user_id": holdout[0], "item_id": body["items"][0]["item_id"], "type": "click",
             "recommendation_id": body["recommendation_id"]}
    buy = {**click, "type": "purchase", "price": 12.5}
    assert (await client.post("/v1/events", json=[click, buy], headers=AUTH_WRITE)).status == 202
    await client.app[ONLINE].flush()
    results = (await (await client.get("/v1/experiments/spring")).json())["results"]
    by_name = {v["variant"]: v for v in results["variants"]}
    assert by_name["control"]["exposed_customers"] == len(control)
    assert by_name["holdout"]["exposed_customers"] == len(holdout)
    assert by_name["holdout"]["impressions"] == 5 * 2 * len(holdout) and by_name["control"]["impressions"] == 15
    assert (by_name["holdout"]["clicks"], by_name["holdout"]["purchases"], by_name["holdout"]["buyers"]) == (1, 1, 1)
    assert by_name["holdout"]["revenue"] == {"USD": 12.5} and by_name["control"]["clicks"] == 0
    assert by_name["holdout"]["revenue_per_customer"]["USD"]["value"] == pytest.approx(12.5 / len(holdout))
    assert (await client.post("/v1/experiments/spring/stop", headers=AUTH_ADMIN)).status == 200
    await _running(client, False)
    body = await (await client.get(f"/v1/users/{holdout[0]}/recommendations?n=5")).json()
    assert "experiment" not in body and PLAIN_ID.fullmatch(body["recommendation_id"])


async def test_a_batch_gives_each_customer_the_id_of_their_variant(client, demo):
    control, holdout = _users(demo, 0, 2), _users(demo, 1, 2)
    assert (await client.put("/v1/experiments/spring", json=SPLIT, headers=AUTH_ADMIN)).status == 200
    await _running(client, True)
    body = await (await client.post("/v1/recommendations/batch",
                                    json={"user_ids": control + holdout + ["new-customer"], "n": 3})).json()
    ids = {r["user_id"]: r["recommendation_id"] for r in body["results"]}
    assert len({ids[u] for u in control}) == 1 and "@spring/control." in ids[control[0]]
    assert len({ids[u] for u in holdout}) == 1 and "@spring/holdout." in ids[holdout[0]]
    variants = {r["user_id"]: r["experiment"] for r in body["results"]}
    assert all(variants[u] == {"name": "spring", "variant": "control"} for u in control)
    assert all(variants[u] == {"name": "spring", "variant": "holdout"} for u in holdout)
    lines = (await (await client.post("/v1/recommendations/batch", json={"user_ids": holdout, "n": 3},
                                      headers={"Accept": "application/x-ndjson"})).text()).splitlines()
    assert [json.loads(line)["experiment"]["variant"] for line in lines] == ["holdout", "holdout"]
    await client.app[ONLINE].flush()
    results = (await (await client.get("/v1/experiments/spring")).json())["results"]
    assert sum(v["exposed_customers"] for v in results["variants"]) == 5  # the new customer was assigned too


async def test_the_holdout_list_says_it_has_no_reasons_when_asked_for_them(client, demo):
    holdout = _users(demo, 1, 1)[0]
    assert (await client.put("/v1/experiments/spring", json=SPLIT, headers=AUTH_ADMIN)).status == 200
    await _running(client, True)
    body = await (await client.get(f"/v1/users/{holdout}/recommendations?n=4&explain=true")).json()
    assert body["source"] == "fallback" and [i["because"] for i in body["items"]] == [[]] * 4
