"""Stock history against a real Redis: written with the catalog, one entry per change of the in_stock flag."""

from __future__ import annotations

import pandas as pd
import redis.asyncio as aioredis

from recommender.catalog import Catalog
from service.store.catalog import upsert_items
from service.store.keys import Keys
from service.store.stock import restocked_since, stock_histories

T0 = 1_790_000_000.0


def _catalog(**stock: bool) -> Catalog:
    return Catalog.from_frame(pd.DataFrame({"item_id": list(stock), "kind": "product", "category": "c",
                                            "in_stock": list(stock.values())}))


async def test_stock_history_starts_with_the_first_write_and_grows_only_when_the_flag_moves(redis_url):
    client = aioredis.from_url(redis_url)
    keys = Keys(prefix="stock-test")
    try:
        await upsert_items(client, keys, _catalog(a=True, b=False), now=T0)
        await upsert_items(client, keys, _catalog(a=True, b=False), now=T0 + 10)  # nothing moved
        await upsert_items(client, keys, _catalog(a=False, b=True), now=T0 + 20)
        await upsert_items(client, keys, _catalog(a=True), now=T0 + 30)
        histories = await stock_histories(client, keys, ["a", "b", "never"])
        assert histories == {"a": [(T0, True), (T0 + 20, False), (T0 + 30, True)],
                             "b": [(T0, False), (T0 + 20, True)], "never": []}
        assert sorted(await restocked_since(client, keys, T0 + 20)) == ["a", "b"]
        assert await restocked_since(client, keys, T0 + 25) == ["a"]
        assert await restocked_since(client, keys, T0, T0 + 10) == []  # a first write starts a history, no move
        assert await restocked_since(client, keys, T0, T0 + 25) == ["b"]  # a moved last at T0 + 30
    finally:
        await client.aclose()
