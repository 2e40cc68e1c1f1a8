"""Refresh against a real Redis: version swaps under traffic, fold-in, failures that keep the old model."""

from __future__ import annotations

import asyncio
import dataclasses
import multiprocessing
import os
import signal
import time

import redis

from service.http.app_keys import REFRESHER, SERVING
from service.serving.model_state import ServingModel
from service.store.events.since_training import read_lists_and_states
from service.store.keys import Keys
from tests.service.conftest import AUTH_ADMIN, AUTH_WRITE, wait_for

KEYS = Keys()


async def _version(client) -> str:
    return (await (await client.get("/v1/model")).json())["version"]


async def test_refresh_swaps_versions_while_requests_keep_succeeding(client):
    before = await _version(client)
    statuses: list[int] = []
    versions: set[str] = set()
    stop = asyncio.Event()

    async def traffic() -> None:
        i = 0
        while not stop.is_set():
            response = await client.get(f"/v1/users/u{i % 400:06d}/recommendations?n=5")
            statuses.append(response.status)
            versions.add((await response.json()).get("model_version"))
            i += 1

    load = asyncio.create_task(traffic())
    # new events make the next model differ, so its version (a content hash) changes
    await client.post("/v1/events", json=[{"user_id": "swap-user", "item_id": "p00001", "type": "purchase"}],
                      headers=AUTH_WRITE)
    assert (await client.post("/v1/model/retrain", headers=AUTH_ADMIN)).status == 202

    async def swapped():
        return await _version(client) != before

    await wait_for(swapped)
    await asyncio.sleep(0.2)
    stop.set()
    await load
    assert statuses and set(statuses) == {200}
    assert before in versions and await _version(client) in versions
    model = await (await client.get("/v1/model")).json()
    assert model["counts"]["users"] == 401  # the new user was folded into the snapshot


async def test_new_user_is_personalized_from_events_before_any_retraining(client):
    assert (await (await client.get("/v1/users/brand-new/recommendations")).json())["source"] == "fallback"
    events = [{"user_id": "brand-new", "item_id": item, "type": "purchase"} for item in ("p00001", "p00002")]
    assert (await client.post("/v1/events", json=events, headers=AUTH_WRITE)).status == 202
    body = await (await client.get("/v1/users/brand-new/recommendations?n=5")).json()
    assert body["source"] == "personalized" and len(body["items"]) == 5
    assert not {"p00001", "p00002"} & {i["item_id"] for i in body["items"]}


async def test_items_bought_since_training_are_not_recommended_again(client):
    user = "u000007"
    first = (await (await client.get(f"/v1/users/{user}/recommendations?n=3")).json())["items"][0]["item_id"]
    await client.post("/v1/events", json={"user_id": user, "item_id": first, "type": "purchase"}, headers=AUTH_WRITE)
    again = (await (await client.get(f"/v1/users/{user}/recommendations?n=10")).json())["items"]
    assert first not in {i["item_id"] for i in again} and len(again) == 10


async def test_failed_training_keeps_the_serving_model_and_loses_no_event(client, settings):
    before = await _version(client)
    events = [{"user_id": "kept", "item_id": "p00001", "type": "view"}] * 3
    await client.post("/v1/events", json=events, headers=AUTH_WRITE)
    (settings.models_path / "snapshot.npz").write_bytes(b"PK\x03\x04 not a snapshot")  # a corrupted snapshot
    report = await client.app[REFRESHER].train("test")
    assert report.outcome == "failed"
    model = await (await client.get("/v1/model")).json()
    assert model["version"] == before
    assert model["training"]["last_error"] == report.message and model["training"]["last_outcome"] == "failed"
    assert (await client.get("/v1/users/u000001/recommendations")).status == 200
    with redis.Redis.from_url(settings.redis_url) as r:
        assert r.xlen(KEYS.events) == 3  # nothing was trimmed: the events wait for the next run


async def test_a_training_process_killed_mid_run_is_reported_and_the_next_run_trains(client):
    before = await _version(client)
    refresher = client.app[REFRESHER]
    training = asyncio.create_task(refresher.train("doomed"))

    async def training_child():
        return [c for c in multiprocessing.active_children() if c.name == "encore-training"]

    children = await wait_for(training_child)
    os.kill(children[0].pid, signal.SIGKILL)
    report = await training
    assert report.outcome == "failed" and "died" in report.message
    assert await _version(client) == before
    assert (await client.get("/v1/users/u000001/recommendations")).status == 200
    await client.post("/v1/events", json={"user_id": "new-one", "item_id": "p00001", "type": "view"},
                      headers=AUTH_WRITE)  # new data, so a new version (ids hash the model)
    assert (await refresher.train("retry")).outcome == "trained"
    assert await _version(client) != before


async def test_quality_drop_rejects_the_new_model(client):
    before = await _version(client)
    current = client.app[SERVING].current
    current.info.metrics = {**current.info.metrics, "ndcg": 0.99}  # a serving model no candidate can match
    report = await client.app[REFRESHER].train("test")
    assert report.outcome == "rejected" and "below the serving model" in report.message
    model = await (await client.get("/v1/model")).json()
    assert model["version"] == before and "below the serving model" in model["training"]["last_error"]


async def test_corrupted_artifact_is_refused_and_the_old_version_stays(client, settings):
    before = await _version(client)
    bad = settings.models_path / "20990101T000000Z-deadbeef.npz"
    good = (settings.models_path / f"{before}.npz").read_bytes()
    bad.write_bytes(good[: len(good) // 2])  # truncated
    with redis.Redis.from_url(settings.redis_url) as r:
        r.set(KEYS.current_version, "20990101T000000Z-deadbeef")

    async def refused():
        status = await client.app[REFRESHER].status()
        return "load_error" in status

    await wait_for(refused)
    assert await _version(client) == before
    assert (await client.get("/v1/users/u000001/recommendations")).status == 200


async def test_only_one_training_at_a_time(client):
    refresher = client.app[REFRESHER]
    first, second = await asyncio.gather(refresher.train("a"), refresher.train("b"))
    outcomes = sorted([first.outcome, second.outcome])
    assert outcomes == ["skipped", "trained"]


async def test_training_with_no_events_fails_cleanly(make_client, settings):
    empty = dataclasses.replace(settings, bootstrap_events=None, bootstrap_catalog=None, train_on_start=False)
    client = await make_client(empty, ready=False)
    report = await client.app[REFRESHER].train("test")
    assert report.outcome == "failed" and "no events" in report.message
    response = await client.get("/v1/users/u1/recommendations")
    assert response.status == 503 and (await response.json())["error"]["code"] == "no_model"
    assert (await client.get("/readyz")).status == 503


async def test_training_moves_every_streamed_event_into_the_snapshot_exactly_once(client, settings, demo):
    from service.store.snapshot import load_snapshot

    events = [{"user_id": f"s-{i}", "item_id": "p00001", "type": "view"} for i in range(25)]
    await client.post("/v1/events", json=events, headers=AUTH_WRITE)
    assert (await client.app[REFRESHER].train("test")).outcome == "trained"
    with redis.Redis.from_url(settings.redis_url) as r:
        assert r.xlen(KEYS.events) == 0  # trimmed exactly, boundary entry included
    snapshot = load_snapshot(settings.models_path / "snapshot.npz")
    assert len(snapshot.events) == len(demo[0].events) + 25
    await client.post("/v1/events", json=events[:3], headers=AUTH_WRITE)
    await client.app[REFRESHER].train("again")
    assert len(load_snapshot(settings.models_path / "snapshot.npz").events) == len(demo[0].events) + 28


async def test_since_training_events_are_forgotten_once_no_replica_serves_a_model_without_them(make_client, settings):
    client = await make_client(settings, repeat="off")  # so the list leaves out what the user had
    user = "u000003"
    before = [{"user_id": user, "item_id": "p00001", "type": "view"},
              {"user_id": user, "item_id": "p00002", "type": "purchase"}]
    await client.post("/v1/events", json=before, headers=AUTH_WRITE)
    refresher, serving = client.app[REFRESHER], client.app[SERVING]

    async def counted() -> set[str]:  # what a replica serving the current model reads for the user
        _, (state,) = await read_lists_and_states(refresher.redis, KEYS, [], [user], 0, serving.current.folded_through)
        return set(state.since_training)

    with redis.Redis.from_url(settings.redis_url) as r:
        assert set(r.hkeys(KEYS.since_training(user))) == {b"p00001", b"p00002"}
        assert (await refresher.train("fold")).outcome == "trained"
        # the new model holds them, so this replica leaves them out; a replica still serving the model before
        # counts them until it loads the new one, so they stay in Redis until the next swap
        assert await counted() == set()
        assert set(r.hkeys(KEYS.since_training(user))) == {b"p00001", b"p00002"}
        await client.post("/v1/events", json={**before[0], "item_id": "p00003"}, headers=AUTH_WRITE)
        log_length = r.xlen(KEYS.change_log)
        assert (await refresher.train("fold again")).outcome == "trained"
        assert set(r.hkeys(KEYS.since_training(user))) == {b"p00003"}  # what the replaced model held is gone
        assert set(r.hkeys(KEYS.since_training_ids(user))) == {b"p00003"}
        assert r.xlen(KEYS.change_log) > log_length  # replicas drop their cached copy
        assert r.llen(KEYS.folds) == 1  # the last fold waits for the next swap
    await client.post("/v1/events", json={**before[0], "item_id": "p00004"}, headers=AUTH_WRITE)
    assert await counted() == {"p00004"}  # only what came after the serving model's fold
    items = (await (await client.get(f"/v1/users/{user}/recommendations?n=20")).json())["items"]
    assert not {"p00001", "p00002", "p00003", "p00004"} & {i["item_id"] for i in items}


async def test_an_unreadable_stream_entry_is_set_aside_and_training_goes_on(client, settings):
    before = await _version(client)
    await client.post("/v1/events", json={"user_id": "fine-user", "item_id": "p00001", "type": "view"},
                      headers=AUTH_WRITE)
    with redis.Redis.from_url(settings.redis_url) as r:  # as an older version (or a person) might have written
        poison = r.xadd(KEYS.events, {"u": "bad-user", "i": "p00002", "t": "view", "ts": "1.0", "v": "inf"})
    await client.post("/v1/events", json={"user_id": "fine-user", "item_id": "p00003", "type": "view"},
                      headers=AUTH_WRITE)
    report = await client.app[REFRESHER].train("with a poison entry")
    assert report.outcome == "trained" and await _version(client) != before
    with redis.Redis.from_url(settings.redis_url) as r:
        assert r.xlen(KEYS.events) == 0
        (_, fields), = r.xrange(KEYS.unreadable_events)
        assert fields[b"id"] == poison and fields[b"v"] == b"inf"
    model = client.app[SERVING].current.model
    assert model.user_ids.get("fine-user") is not None and model.user_ids.get("bad-user") is None


async def test_a_pending_request_is_due_as_requested_so_whichever_worker_trains_logs_it_so(client):
    refresher = client.app[REFRESHER]
    assert await refresher.due() is None  # just trained on start
    await refresher.redis.set(refresher.keys.retrain_requested, "1")
    assert await refresher.due() == "requested"
    await refresher.redis.delete(refresher.keys.retrain_requested)


async def test_the_model_route_pairs_each_model_with_its_own_training_record(make_client, settings):
    trainer = await make_client(settings)  # trains the first model at start
    lagging = await make_client(settings, poll_interval=3600)  # loads it, then looks at the pointer no more
    first = await (await lagging.get("/v1/model")).json()
    assert first["training"]["last_version"] == first["version"] and first["next_version"] is None
    await trainer.post("/v1/events", json={"user_id": "record-user", "item_id": "p00001", "type": "view"},
                       headers=AUTH_WRITE)
    assert (await trainer.app[REFRESHER].train("on the trainer")).outcome == "trained"
    second = await (await trainer.get("/v1/model")).json()
    assert second["version"] != first["version"] and second["training"]["last_version"] == second["version"]
    assert second["next_version"] is None and second["training"]["last_metrics"] == second["metrics"]
    # the other replica still serves the first model: it shows the record as it stood for that model, not
    # the second model's outcome and metrics beside the first model's, and says what it will load next
    behind = await (await lagging.get("/v1/model")).json()
    assert behind["version"] == first["version"] and behind["next_version"] == second["version"]
    assert behind["training"] == first["training"]
    await lagging.app[REFRESHER].sync()
    caught_up = await (await lagging.get("/v1/model")).json()
    assert caught_up["version"] == second["version"] and caught_up["training"] == second["training"]
    assert caught_up["next_version"] is None


async def test_a_slow_load_of_the_pointer_never_replaces_a_newer_model_this_replica_trained(
        make_client, settings, monkeypatch):
    """A replica behind the pointer starts loading the model it names (a poll) and, before that load ends,
    trains and serves a newer model itself: the older model must not be swapped in over it."""
    trainer = await make_client(settings)
    lagging = await make_client(settings, poll_interval=3600)
    first = lagging.app[SERVING].current.version
    assert (await trainer.app[REFRESHER].train("elsewhere")).outcome == "trained"
    pointed = trainer.app[SERVING].current.version
    real_load = ServingModel.load.__func__

    def slow_load(cls, path, *args, **kwargs):  # the pointed model's load ends once a newer one serves (1 s at most)
        deadline = time.monotonic() + 1.0
        while path.stem == pointed and lagging.app[SERVING].current.version == first and time.monotonic() < deadline:
            time.sleep(0.01)
        return real_load(cls, path, *args, **kwargs)

    monkeypatch.setattr(ServingModel, "load", classmethod(slow_load))
    poll = asyncio.create_task(lagging.app[REFRESHER].sync())
    await asyncio.sleep(0.05)  # the poll has read the pointer and is loading
    report = await lagging.app[REFRESHER].train("on the lagging replica")
    await poll
    assert report.outcome == "trained" and report.version not in (first, pointed)
    assert lagging.app[SERVING].current.version == report.version == await _version(lagging)
    assert await lagging.app[REFRESHER].redis.get(KEYS.current_version) == report.version.encode()


async def test_the_service_trains_serves_and_folds_in_with_ease_dan(make_client, settings):
    """RECS_ALGORITHM=ease_dan: trained at start-up, saved and served like any algorithm, new users folded in."""
    client = await make_client(settings, algorithm="ease_dan")
    model = await (await client.get("/v1/model")).json()
    assert model["algorithm"] == "ease_dan" and model["training"]["last_outcome"] == "trained"
    known = await (await client.get("/v1/users/u000007/recommendations?n=5")).json()
    assert known["source"] == "personalized" and len(known["items"]) == 5
    events = [{"user_id": "new-dan", "item_id": item, "type": "purchase"} for item in ("p00001", "p00002")]
    assert (await client.post("/v1/events", json=events, headers=AUTH_WRITE)).status == 202
    body = await (await client.get("/v1/users/new-dan/recommendations?n=5")).json()
    assert body["source"] == "personalized" and len(body["items"]) == 5
    assert not {"p00001", "p00002"} & {i["item_id"] for i in body["items"]}
