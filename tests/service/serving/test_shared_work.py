"""Single-user requests that arrive together share their Redis read, their cache-miss computation and
their write-back (service.serving.coalescing), and every one still gets exactly the list it gets alone;
a cache miss is computed as the training's precompute would have stored it."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
import redis

from service.http.app_keys import REDIS_KEYS, SERVING
from service.serving.requests import ListRequest, lookup
from service.store.lists import pack, unpack
from tests.service.conftest import AUTH_WRITE

#: Request-time filters a page may ask for (the demo catalog has these categories and kinds).
REQUESTS = {
    "none": ListRequest(n=10),
    "kind-product": ListRequest(n=10, kind="product"),
    "kind-content": ListRequest(n=5, kind="content"),
    "category": ListRequest(n=5, category="kitchen"),
    "in-stock": ListRequest(n=10, in_stock_only=True),
    "exclude": ListRequest(n=10, exclude=frozenset({"p00001", "p00002", "p00003", "guide-0001"})),
    "cap-1": ListRequest(n=8, max_per_category=1),
    "products-in-stock-cap-2": ListRequest(n=8, kind="product", in_stock_only=True, max_per_category=2),
}


def forget_in_process(serving) -> None:
    """As if the requests came to a replica that has not served these users yet."""
    serving.hot.clear()
    serving.served.clear()
    serving.mirror.clear()


def answers(results) -> list[list[tuple[str, float]]]:
    return [[(item["item_id"], item["score"]) for item in result.items] for result in results]


def assert_same_lists(got, expected) -> None:
    assert [[i for i, _ in row] for row in got] == [[i for i, _ in row] for row in expected]
    for row_got, row_expected in zip(got, expected):
        np.testing.assert_allclose([s for _, s in row_got], [s for _, s in row_expected], atol=2e-6)


@pytest.fixture
async def users(client) -> list[str]:
    """Twenty known users, two of them with events since training (excluded from their lists)."""
    model = client.app[SERVING].current.model
    chosen = [str(u) for u in model.user_ids.ids[::17][:20]]
    events = [{"user_id": chosen[0], "item_id": "p00005", "type": "purchase"},
              {"user_id": chosen[1], "item_id": "p00010", "type": "view"}]
    assert (await client.post("/v1/events", json=events, headers=AUTH_WRITE)).status == 202
    return chosen


async def test_concurrent_first_reads_share_one_round_trip_and_get_the_lists_they_get_alone(client, settings,
                                                                                           users) -> None:
    serving = client.app[SERVING]
    for req in REQUESTS.values():
        forget_in_process(serving)
        alone = [(await serving.for_users([u], req))[1][0] for u in users]
        forget_in_process(serving)
        with redis.Redis.from_url(settings.redis_url) as r:
            r.config_resetstat()
            together = [result for _, (result,) in
                        await asyncio.gather(*(serving.for_users([u], req) for u in users))]
            stats = r.info("commandstats")
        assert_same_lists(answers(together), answers(alone))
        assert stats["cmdstat_evalsha"]["calls"] == 1  # twenty users, one read
    assert "p00005" not in {i["item_id"] for i in together[0].items}


async def test_cache_misses_computed_together_match_the_general_ranking_for_every_filter(client, settings,
                                                                                        users) -> None:
    """The slow path is what a miss was before: recommend_indices (implicit's recommend, filters,
    back-fill) for one user at a time. Its lists, put where the precompute puts lists, must give
    the same answers as misses computed together by precompute_indices."""
    serving = client.app[SERVING]
    current = serving.current
    keys = client.app[REDIS_KEYS]
    list_keys = [keys.user_recs(current.version, u) for u in users]
    codes = lookup(current.model.user_ids, users)
    with redis.Redis.from_url(settings.redis_url) as r:
        for name, req in REQUESTS.items():
            r.delete(*list_keys)
            forget_in_process(serving)
            together = [result for _, (result,) in
                        await asyncio.gather(*(serving.for_users([u], req) for u in users))]
            written = [r.get(key) for key in list_keys]
            assert all(blob is not None for blob in written), name  # written back
            fast_ids, fast_scores = current.model.precompute_indices(codes, settings.precompute_n)
            for row, blob in enumerate(written):
                ids, scores = unpack(blob)
                keep = fast_ids[row] >= 0
                assert ids.tolist() == fast_ids[row][keep].tolist()
                np.testing.assert_allclose(scores, fast_scores[row][keep])

            for key, code in zip(list_keys, codes):
                ids, scores = current.model.recommend_indices(np.array([code]), settings.precompute_n)
                r.set(key, pack(ids[0], scores[0]))
            forget_in_process(serving)
            alone = [(await serving.for_users([u], req))[1][0] for u in users]
            assert_same_lists(answers(together), answers(alone))
            assert all(len(result.items) == req.n for result in together), name
