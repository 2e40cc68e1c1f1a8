"""Trained variants: every training also fits each running experiment's own configurations, precomputes
them, and the customers of such a variant are served from its model."""

from __future__ import annotations

import time



from recommender.selection import Candidate
from service.experiments.assignment import assign, bounds
from service.http.app_keys import SERVING
from service.store.keys import Keys
from service.store.lists import unpack
from service.training.variants import variant_candidates
from tests.service.conftest import AUTH_ADMIN, wait_for

SPLIT = {"variants": [{"name": "control", "share": 0.5, "model": "serving"},
                      {"name": "bm25", "share": 0.5, "model": {"algorithm": "bm25", "params": {"neighbours": 20}}}]}


async def test_a_training_fits_the_variant_and_its_customers_get_its_lists(client, demo, settings):
    first = client.app[SERVING].current.version
    assert (await client.put("/v1/experiments/spring", json=SPLIT, headers=AUTH_ADMIN)).status == 200
    assert (await client.post("/v1/model/retrain", headers=AUTH_ADMIN)).status == 202

    async def trained():
        current = client.app[SERVING].current
        return current.version != first and "spring/bm25" in current.variants and client.app[SERVING].running_split()
    await wait_for(trained, timeout=120)
    current = client.app[SERVING].current
    variant = current.variants["spring/bm25"]
    assert variant.info.algorithm == "bm25" and variant.info.params["neighbours"] == 20
    assert variant.version != current.version and variant.folded_through == current.folded_through
    model = (await (await client.get("/v1/model")).json())
    assert model["version"] == current.version
    users = sorted(set(demo[0].events.user_ids.tolist()))
    treated = [u for u in users if assign("spring", u, bounds([0.5, 0.5])) == 1][:3]
    sync_keys = Keys(settings.key_prefix)
    for user in treated:
        body = await (await client.get(f"/v1/users/{user}/recommendations?n=5")).json()
        assert body.get("experiment") == {"name": "spring", "variant": "bm25"}
        blob = await client.app[SERVING].redis.get(sync_keys.user_recs(variant.version, user))
        ids, _ = unpack(blob)  # the variant's precomputed list, written by the training
        expected = [variant.model.item_ids.ids[i] for i in ids[ids >= 0][:5]]
        assert [i["item_id"] for i in body["items"]] == expected
        assert body["model_version"] == current.version and "@spring/bm25." in body["recommendation_id"]
    hits = await _hot_hits(client)
    for user in treated:  # asked again: answered from process memory, as the serving model's customers are
        again = await (await client.get(f"/v1/users/{user}/recommendations?n=5")).json()
        assert again.get("experiment") == {"name": "spring", "variant": "bm25"}
    assert await _hot_hits(client) == hits + len(treated)


async def _hot_hits(client) -> float:
    """encore_hot_cache_hits_total of user lists, as /metrics gives it."""
    metrics = await (await client.get("/metrics")).text()
    (line,) = [m for m in metrics.splitlines() if m.startswith('encore_hot_cache_hits_total{kind="user"}')]
    return float(line.split()[-1])


async def test_only_experiments_not_ended_give_candidates(client):
    keys = Keys(client.app[SERVING].settings.key_prefix)
    redis = client.app[SERVING].redis
    assert await variant_candidates(redis, keys) == []
    await client.put("/v1/experiments/spring", json=SPLIT, headers=AUTH_ADMIN)
    (candidate,) = await variant_candidates(redis, keys)
    assert isinstance(candidate, Candidate) and candidate.name == "spring/bm25" and candidate.filter_interacted
    assert candidate.params.algorithm == "bm25" and candidate.params.neighbours == 20
    await client.post("/v1/experiments/spring/stop", headers=AUTH_ADMIN)
    assert await variant_candidates(redis, keys) == []
    later = {**SPLIT, "start": time.time() + 90 * 86400}  # a quarter ahead: fitted by a training nearer its start
    await client.put("/v1/experiments/autumn", json=later, headers=AUTH_ADMIN)
    assert await variant_candidates(redis, keys, horizon=2 * 3600) == []
    assert [c.name for c in await variant_candidates(redis, keys, now=time.time() + 90 * 86400 - 3600,
                                                     horizon=2 * 3600)] == ["autumn/bm25"]


async def test_a_promoted_variant_is_what_the_next_training_serves(client):
    first = client.app[SERVING].current.version
    await client.put("/v1/experiments/spring", json=SPLIT, headers=AUTH_ADMIN)
    await client.post("/v1/experiments/spring/stop", headers=AUTH_ADMIN)
    assert (await client.post("/v1/experiments/spring/promote/bm25", headers=AUTH_ADMIN)).status == 200
    await client.post("/v1/model/retrain", headers=AUTH_ADMIN)

    async def trained():
        return client.app[SERVING].current.version != first
    await wait_for(trained, timeout=120)
    model = await (await client.get("/v1/model")).json()
    assert model["algorithm"] == "bm25" and model["params"]["neighbours"] == 20
    assert model["metrics"] == {"chosen": "spring/bm25", "promoted": True}  # why no model choice ran
    assert client.app[SERVING].current.variants == {}  # the experiment has ended: no variant trains
    # a later promotion replaces this one, and only the current one says promoted
    await client.put("/v1/experiments/autumn", json=SPLIT, headers=AUTH_ADMIN)
    await client.post("/v1/experiments/autumn/stop", headers=AUTH_ADMIN)
    back = SPLIT["variants"][0]["name"]
    assert (await client.post(f"/v1/experiments/autumn/promote/{back}", headers=AUTH_ADMIN)).status == 200
    listed = {e["name"]: e["promoted"] for e in (await (await client.get("/v1/experiments")).json())["experiments"]}
    assert listed == {"spring": None, "autumn": back}
    assert (await (await client.get("/v1/experiments/spring")).json())["promoted"] is None
