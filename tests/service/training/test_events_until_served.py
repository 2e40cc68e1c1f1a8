"""A customer's events since the serving model keep shaping their lists until a model that contains them
serves: while a training runs, after it folded the stream, and after the quality gate refused its model."""

from __future__ import annotations

import asyncio
import time

import pytest

from recommender.splits import time_cut_split
from service.http.app_keys import REFRESHER, SERVING
from service.store.keys import Keys
from service.training.job import fold_stream
from tests.service.conftest import AUTH_WRITE

KEYS = Keys()
KNOWN, NEW = "u000007", "arrived-since-training"


@pytest.fixture
async def client(make_client, settings):
    """Lists that never hold what a customer bought (RECS_REPEAT=off), so a purchase since training must
    stay out of them; with repeats on, it may come back once a model holds it (tests/service/serving/
    test_repeats.py)."""
    return await make_client(settings, repeat="off")


async def _setup(client) -> str:
    """A known customer buys the first item of their list; a new customer buys two items. Returns the
    item bought."""
    first = (await (await client.get(f"/v1/users/{KNOWN}/recommendations?n=3")).json())["items"][0]["item_id"]
    events = [{"user_id": KNOWN, "item_id": first, "type": "purchase"},
              {"user_id": NEW, "item_id": "p00001", "type": "purchase"},
              {"user_id": NEW, "item_id": "p00002", "type": "purchase"}]
    assert (await client.post("/v1/events", json=events, headers=AUTH_WRITE)).status == 202
    return first


async def _lists(client) -> tuple[dict, dict]:
    known = await (await client.get(f"/v1/users/{KNOWN}/recommendations?n=10")).json()
    new = await (await client.get(f"/v1/users/{NEW}/recommendations?n=5")).json()
    return known, new


async def _check(client, bought: str) -> None:
    known, new = await _lists(client)
    assert bought not in {i["item_id"] for i in known["items"]} and len(known["items"]) == 10
    assert new["source"] == "personalized" and len(new["items"]) == 5
    assert not {"p00001", "p00002"} & {i["item_id"] for i in new["items"]}


async def test_events_since_training_count_after_the_training_folded_them(client, settings):
    bought = await _setup(client)
    await _check(client, bought)
    refresher = client.app[REFRESHER]
    await fold_stream(refresher.redis, refresher.keys, settings)  # what a training does first, in its child
    assert await refresher.redis.xlen(KEYS.events) == 0  # folded and trimmed: the model serving lacks them
    await _check(client, bought)


async def test_events_since_training_count_during_a_training_and_after_it(client):
    bought = await _setup(client)
    refresher = client.app[REFRESHER]
    before = client.app[SERVING].current.version
    training = asyncio.create_task(refresher.train("under traffic"))
    checks = 0
    while not training.done():
        await _check(client, bought)
        checks += 1
        await asyncio.sleep(0.01)
    assert (await training).outcome == "trained" and client.app[SERVING].current.version != before
    assert checks > 3
    await _check(client, bought)  # now the model holds them
    known, new = await _lists(client)
    assert client.app[SERVING].current.model.user_ids.get(NEW) is not None  # a precomputed list, not fold-in


async def test_events_since_training_count_after_the_quality_gate_refused_the_model(client, settings):
    bought = await _setup(client)
    serving, refresher = client.app[SERVING], client.app[REFRESHER]
    before = serving.current.version
    metrics = serving.current.info.metrics
    # the gate compares figures of one holdout: the serving model claims one it cannot be matched on, on the cut
    # the coming trainings take (the events as they will read them: the stream folded, as a training does first)
    snapshot = await fold_stream(refresher.redis, refresher.keys, settings)
    cut = time_cut_split(snapshot.events).cut_time
    serving.current.info.metrics = {**metrics, "ndcg": 0.99, "cut_time": cut}
    report = await refresher.train("refused")
    assert report.outcome == "rejected" and serving.current.version == before
    assert await refresher.redis.xlen(KEYS.events) == 0  # the refused training folded the stream all the same
    await _check(client, bought)
    for _ in range(2):  # still, however many refusals later
        assert (await refresher.train("refused again")).outcome == "rejected"
        await _check(client, bought)
    serving.current.info.metrics = metrics
    assert (await refresher.train("accepted")).outcome == "trained" and serving.current.version != before
    await _check(client, bought)


async def test_a_replica_mirror_of_since_training_state_follows_the_model_it_serves(client):
    bought = await _setup(client)
    serving = client.app[SERVING]
    for _ in range(2):
        await _lists(client)
    assert set(serving.mirror.get(KNOWN, time.monotonic()).since_training) == {bought}
    assert (await client.app[REFRESHER].train("swap")).outcome == "trained"
    await _check(client, bought)
    assert serving.mirror.get(KNOWN, time.monotonic()).since_training == {}  # the new model holds the purchase
