"""The experiment routes: definitions kept in Redis, their rules (400 naming the field, 409 on clashes), stop,
promote and a customer's variant."""

from __future__ import annotations

import asyncio
import time

import pytest

from service.experiments.assignment import assign, bounds
from tests.service.conftest import AUTH_ADMIN, AUTH_WRITE

HOLDOUT = {"variants": [{"name": "control", "share": 0.9, "model": "serving"},
                        {"name": "holdout", "share": 0.1, "model": "popularity"}]}
THREE = {"variants": [{"name": "control", "share": 0.4, "model": "serving"},
                      {"name": "als_small", "share": 0.4,
                       "model": {"algorithm": "als", "params": {"factors": 16, "regularization": 5}}},
                      {"name": "holdout", "share": 0.2, "model": "popularity"}], "control": "control"}


@pytest.fixture
async def admin_client(make_client, settings):
    return await make_client(settings, ready=False, train_on_start=False)


async def test_a_defined_experiment_is_listed_read_back_and_survives_a_new_process(admin_client, make_client,
                                                                                     settings):
    response = await admin_client.put("/v1/experiments/spring", json=THREE, headers=AUTH_ADMIN)
    assert response.status == 200
    stored = await response.json()
    assert stored["status"] == "running" and stored["salt"] == "spring" and stored["routes"] == ["lists", "email", "campaigns"]
    assert [v["name"] for v in stored["variants"]] == ["control", "als_small", "holdout"]
    assert stored["variants"][1]["model"] == {"algorithm": "als", "params": {"factors": 16, "regularization": 5},
                                              "repeat": False}
    other = await make_client(settings, ready=False, train_on_start=False)
    listed = await (await other.get("/v1/experiments")).json()
    assert [e["name"] for e in listed["experiments"]] == ["spring"]
    one = await (await other.get("/v1/experiments/spring")).json()
    assert one["variants"] == stored["variants"] and one["control"] == "control"


async def test_defining_needs_an_admin_key(admin_client):
    assert (await admin_client.put("/v1/experiments/x", json=HOLDOUT)).status == 401
    assert (await admin_client.put("/v1/experiments/x", json=HOLDOUT, headers=AUTH_WRITE)).status == 403
    assert (await admin_client.post("/v1/experiments/x/stop", headers=AUTH_WRITE)).status == 403
    assert (await admin_client.get("/v1/experiments")).status == 200  # reads are open in these settings


def _with(change) -> dict:
    body = {"variants": [dict(v) for v in THREE["variants"]], "control": "control"}
    change(body)
    return body


@pytest.mark.parametrize(("body", "field"), [
    (_with(lambda b: b.pop("variants")), "variants"),
    (_with(lambda b: b.update(variants=b["variants"][:1])), "variants"),
    (_with(lambda b: b.update(variants=b["variants"] * 2)), "variants"),  # five or more variants
    (_with(lambda b: b["variants"][0].update(share=0.5)), "variants"),  # shares sum to 1.1
    (_with(lambda b: b["variants"][1].update(share=0)), "variants[1].share"),
    (_with(lambda b: b["variants"][1].update(share="0.4")), "variants[1].share"),
    (_with(lambda b: b["variants"][2].update(name="hold.out")), "variants[2].name"),
    (_with(lambda b: b["variants"][2].update(name="control")), "variants[2].name"),
    (_with(lambda b: b["variants"][0].update(model="best")), "variants[0].model"),
    (_with(lambda b: b["variants"][1].update(model={"algorithm": "svd"})), "variants[1].model.algorithm"),
    (_with(lambda b: b["variants"][1].update(model={"algorithm": "als", "params": {"factors": 0}})),
     "variants[1].model.params"),
    (_with(lambda b: b["variants"][1].update(model={"algorithm": "als", "params": {"fctors": 64}})),
     "variants[1].model.params.fctors"),
    (_with(lambda b: b["variants"][1].update(model={"algorithm": "als", "params": {"factors": 1.5}})),
     "variants[1].model.params"),  # accepted once, then every training failed
    (_with(lambda b: b["variants"][1].update(model={"algorithm": "als", "params": {"factors": 100_000_000}})),
     "variants[1].model.params"),
    (_with(lambda b: b.update(start=time.time() * 1000)), "start"),  # milliseconds
    (_with(lambda b: b.update(end=time.time() * 1000)), "end"),
    (_with(lambda b: b["variants"][1].update(model={"algorithm": "personal", "repeat": False})),
     "variants[1].model.repeat"),
    (_with(lambda b: b["variants"][1].update(weight=2)), "variants[1].weight"),
    (_with(lambda b: b.update(control="treatment")), "control"),
    (_with(lambda b: b.update(routes=["emails"])), "routes"),
    (_with(lambda b: b.update(start=-5)), "start"),
    (_with(lambda b: b.update(start=2_000_000_000, end=1_900_000_000)), "end"),
    (_with(lambda b: b.update(start=time.time() - 86400, end=time.time() - 3600)), "end"),  # would never run
    (_with(lambda b: b.update(end=time.time() - 60)), "end"),
    (_with(lambda b: b.update(salt="")), "salt"),
    (_with(lambda b: b.update(colour="blue")), "colour"),
])
async def test_a_bad_definition_is_a_400_naming_the_field_and_stores_nothing(admin_client, body, field):
    response = await admin_client.put("/v1/experiments/spring", json=body, headers=AUTH_ADMIN)
    assert response.status == 400
    assert (await response.json())["error"]["field"] == field
    assert (await (await admin_client.get("/v1/experiments")).json())["experiments"] == []


async def test_bad_definition_messages_say_what_to_change(admin_client):
    async def message(body) -> str:
        response = await admin_client.put("/v1/experiments/spring", json=body, headers=AUTH_ADMIN)
        assert response.status == 400
        return (await response.json())["error"]["message"]

    assert "unknown parameter 'fctors'" in await message(
        _with(lambda b: b["variants"][1].update(model={"algorithm": "als", "params": {"fctors": 64}})))
    assert "personal always serves bought items" in await message(
        _with(lambda b: b["variants"][1].update(model={"algorithm": "personal", "repeat": False})))
    assert "never run" in await message(_with(lambda b: b.update(end=time.time() - 60)))


async def test_a_clash_with_an_ended_experiment_names_the_shared_family_and_when_it_ended(admin_client):
    assert (await admin_client.put("/v1/experiments/first", json={**HOLDOUT, "routes": ["email", "lists"]},
                                   headers=AUTH_ADMIN)).status == 200
    assert (await admin_client.post("/v1/experiments/first/stop", headers=AUTH_ADMIN)).status == 200
    clash = await admin_client.put("/v1/experiments/second", json={
        **HOLDOUT, "routes": ["lists"], "start": time.time() - 86400}, headers=AUTH_ADMIN)
    assert clash.status == 409
    message = (await clash.json())["error"]["message"]
    assert "'first' split lists during part of this window (until " in message and "email" not in message


async def test_a_bad_experiment_name_is_a_400(admin_client):
    response = await admin_client.put("/v1/experiments/a.b", json=HOLDOUT, headers=AUTH_ADMIN)
    assert response.status == 400 and (await response.json())["error"]["field"] == "name"


async def test_one_running_experiment_per_route_family_and_a_started_one_cannot_change(admin_client):
    assert (await admin_client.put("/v1/experiments/first", json=HOLDOUT, headers=AUTH_ADMIN)).status == 200
    clash = await admin_client.put("/v1/experiments/second", json=THREE, headers=AUTH_ADMIN)
    assert clash.status == 409 and (await clash.json())["error"]["experiment"] == "first"
    changed = await admin_client.put("/v1/experiments/first", json=THREE, headers=AUTH_ADMIN)
    assert changed.status == 409 and (await changed.json())["error"]["code"] == "experiment_started"
    assert "'first' has started" in (await changed.json())["error"]["message"]
    later = {**THREE, "start": time.time() + 86400}
    assert (await admin_client.put("/v1/experiments/second", json=later, headers=AUTH_ADMIN)).status == 409
    stopped = await admin_client.post("/v1/experiments/first/stop", headers=AUTH_ADMIN)
    assert stopped.status == 200 and (await stopped.json())["status"] == "ended"
    assert (await admin_client.put("/v1/experiments/second", json=later, headers=AUTH_ADMIN)).status == 200
    scheduled = await (await admin_client.get("/v1/experiments/second")).json()
    assert scheduled["status"] == "scheduled"  # not started: it may still be redefined
    assert (await admin_client.put("/v1/experiments/second", json={**later, "salt": "s2"},
                                   headers=AUTH_ADMIN)).status == 200


async def test_of_concurrent_definitions_on_one_route_family_one_is_stored(admin_client):
    window = {"start": time.time() + 3600, "end": time.time() + 7200}
    answers = await asyncio.gather(*(admin_client.put(f"/v1/experiments/race{k}", json={**HOLDOUT, **window},
                                                      headers=AUTH_ADMIN) for k in range(6)))
    assert sorted(a.status for a in answers) == [200] + [409] * 5
    stored = (await (await admin_client.get("/v1/experiments")).json())["experiments"]
    assert len(stored) == 1


async def test_promote_needs_an_ended_experiment_and_a_known_variant(admin_client):
    await admin_client.put("/v1/experiments/spring", json=THREE, headers=AUTH_ADMIN)
    early = await admin_client.post("/v1/experiments/spring/promote/als_small", headers=AUTH_ADMIN)
    assert early.status == 409 and (await early.json())["error"]["code"] == "experiment_not_ended"
    await admin_client.post("/v1/experiments/spring/stop", headers=AUTH_ADMIN)
    missing = await admin_client.post("/v1/experiments/spring/promote/nope", headers=AUTH_ADMIN)
    assert missing.status == 404 and (await missing.json())["error"]["field"] == "variant"
    assert (await admin_client.post("/v1/experiments/nope/stop", headers=AUTH_ADMIN)).status == 404
    promoted = await admin_client.post("/v1/experiments/spring/promote/als_small", headers=AUTH_ADMIN)
    assert promoted.status == 200 and (await promoted.json())["promoted"] == "als_small"


async def test_a_customers_variant_is_the_hash_assignment_and_a_stopped_experiment_stops_splitting(admin_client):
    await admin_client.put("/v1/experiments/spring", json=THREE, headers=AUTH_ADMIN)
    ends = bounds([0.4, 0.4, 0.2])
    for user in ("u000001", "never-seen-before", "ü ñ"):
        answer = await (await admin_client.get(f"/v1/users/{user}/variant")).json()
        expected = THREE["variants"][assign("spring", user, ends)]["name"]
        assert answer["experiments"] == [{"experiment": "spring", "variant": expected,
                                          "model": answer["experiments"][0]["model"],
                                          "routes": ["lists", "email", "campaigns"]}]
    await admin_client.post("/v1/experiments/spring/stop", headers=AUTH_ADMIN)
    answer = await (await admin_client.get("/v1/users/u000001/variant")).json()
    assert answer["experiments"] == []


async def test_a_definition_stopped_before_it_started_says_so_when_changed(admin_client):
    later = {**THREE, "start": time.time() + 86400}
    assert (await admin_client.put("/v1/experiments/later", json=later, headers=AUTH_ADMIN)).status == 200
    assert (await admin_client.post("/v1/experiments/later/stop", headers=AUTH_ADMIN)).status == 200
    changed = await admin_client.put("/v1/experiments/later", json=later, headers=AUTH_ADMIN)
    error = (await changed.json())["error"]
    assert changed.status == 409 and error["code"] == "experiment_started"
    assert "'later' was stopped" in error["message"] and "has started" not in error["message"]
