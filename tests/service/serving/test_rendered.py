"""Rendered default answers (service.serving.rendered): written with each precomputed list by the training,
served as they are on a first read exactly when the usual path would give the same items, and left alone
otherwise (other requests, anything since training, a catalog change that could alter them)."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from service.http.app_keys import SERVING
from service.serving import read_path
from service.serving.rendered import DEFAULT, render
from service.store.lists import Rendered, pack, rendered_of, unpack
from tests.service.conftest import AUTH_WRITE, NOW, wait_for


def test_a_list_keeps_its_rendered_answer_and_a_plain_list_reads_as_before() -> None:
    ids, scores = np.array([7, 3, -1, 5]), np.array([0.9, 0.5, 0.0, 0.25], dtype=np.float32)
    answer = Rendered(b"d" * 16, 2, b'[{"item_id":"a"},{"item_id":"b"}]')
    blob = pack(ids, scores, answer)
    for got in (unpack(blob), unpack(pack(ids, scores))):
        assert got[0].tolist() == [7, 3, 5] and got[1].tolist() == scores[[0, 1, 3]].tolist()
    assert rendered_of(blob) == answer
    assert rendered_of(pack(ids, scores)) is None and rendered_of(b"") is None
    empty = pack(np.array([-1]), np.array([0.0], dtype=np.float32), answer)
    assert [len(a) for a in unpack(empty)] == [0, 0] and rendered_of(empty) == answer
    with pytest.raises(ValueError, match="16 bytes"):
        pack(ids, scores, Rendered(b"short", 1, b"[]"))


def _forget(serving) -> None:
    """The process's caches emptied: the next read of any user is a first read."""
    serving.hot.clear()
    serving.served.clear()
    serving.mirror.clear()


async def _items(client, user: str, query: str = "") -> list[dict]:
    response = await client.get(f"/v1/users/{user}/recommendations{query}")
    assert response.status == 200
    return (await response.json())["items"]


@pytest.fixture
def picks(monkeypatch) -> list[int]:
    """How many lists the read path picked items from (a rendered answer picks none)."""
    calls: list[int] = []
    original = read_path.pick

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(read_path, "pick", counting)
    return calls


async def _user_with_answer(client) -> tuple[str, str, bytes]:
    """A precomputed user, their list's key and the value the training wrote there."""
    serving = client.app[SERVING]
    current = serving.current
    for user in current.model.user_ids.ids[:50].tolist():
        key = serving.keys.user_recs(current.version, str(user))
        blob = await serving.redis.get(key)
        if blob is not None and rendered_of(blob) is not None:
            return str(user), key, blob
    raise AssertionError("no precomputed list carries a rendered answer")


async def test_a_first_read_answers_with_the_rendered_answer_the_usual_path_would_give(client, picks):
    serving = client.app[SERVING]
    user, key, blob = await _user_with_answer(client)
    answer = rendered_of(blob)
    assert answer.digest == serving.current.view_digest() and answer.count == 10
    _forget(serving)
    rendered = await _items(client, user)
    assert picks == [] and orjson.loads(answer.items) == rendered
    metrics = await (await client.get("/metrics")).text()
    assert "encore_rendered_answers_total 1.0" in metrics
    kept = serving.hot.get(key)  # the list is kept in process all the same, for the user's other requests
    assert kept is not None and [a.tolist() for a in kept] == [a.tolist() for a in unpack(blob)]
    assert (await _items(client, user, "?n=10")) == rendered and picks == []  # remembered, as any answer

    await serving.redis.set(key, pack(*unpack(blob)))  # the plain list: the usual path
    _forget(serving)
    assert (await _items(client, user)) == rendered and len(picks) == 1


async def test_other_requests_and_users_with_events_since_training_go_the_usual_way(client, picks):
    serving = client.app[SERVING]
    user, _, blob = await _user_with_answer(client)
    _forget(serving)
    assert len(await _items(client, user, "?n=5")) == 5 and len(picks) == 1
    _forget(serving)
    await _items(client, user, "?category=nothing-like-this")
    assert len(picks) == 2
    first = orjson.loads(rendered_of(blob).items)[0]["item_id"]
    event = {"user_id": user, "item_id": first, "type": "view", "timestamp": NOW}
    assert (await client.post("/v1/events", json=event, headers=AUTH_WRITE)).status in (200, 202)
    _forget(serving)
    after = await _items(client, user)
    assert len(picks) == 3  # the usual path: a model that removes touched items removes this one
    assert serving.current.model.recommends_bought_items or first not in {item["item_id"] for item in after}


async def test_a_catalog_change_that_could_alter_it_sets_the_rendered_answer_aside(client, picks):
    serving = client.app[SERVING]
    user, _, blob = await _user_with_answer(client)
    first = orjson.loads(rendered_of(blob).items)[0]
    generation = serving.current.catalog_generation
    stock = await client.put("/v1/items", json=[{"item_id": first["item_id"], "kind": first["kind"],
                                                 "category": first["category"], "in_stock": False}], headers=AUTH_WRITE)
    assert stock.status == 200
    await wait_for(lambda: _async(serving.current.catalog_generation > generation))
    _forget(serving)
    assert (await _items(client, user)) == orjson.loads(rendered_of(blob).items) and picks == []  # stock: no change

    generation = serving.current.catalog_generation
    moved = await client.put("/v1/items", json=[{"item_id": first["item_id"], "kind": first["kind"],
                                                 "category": "moved"}], headers=AUTH_WRITE)
    assert moved.status == 200
    await wait_for(lambda: _async(serving.current.catalog_generation > generation))
    _forget(serving)
    after = await _items(client, user)
    assert len(picks) == 1 and after[0]["item_id"] == first["item_id"] and after[0]["category"] == "moved"


async def _async(value):
    return value


def test_render_leaves_out_lists_too_short_for_the_default_request(client) -> None:
    current = client.app[SERVING].current
    digest = current.view_digest()
    ids = np.arange(DEFAULT.n - 1)
    assert render(current, 0, ids, np.linspace(1, 0, len(ids), dtype=np.float32), digest) is None
    ids = np.arange(DEFAULT.n + 5)
    answer = render(current, 0, ids, np.linspace(1, 0, len(ids), dtype=np.float32), digest)
    assert answer.count == DEFAULT.n and answer.digest == digest and len(orjson.loads(answer.items)) == DEFAULT.n
