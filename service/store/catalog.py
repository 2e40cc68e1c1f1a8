"""The catalog in Redis: a hash of item JSON, the removed set and a revision bumped on every change,
shared by every replica (service.ingest validates what is written here)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import redis.asyncio as aioredis

from recommender.catalog import Catalog
from service.store.keys import Keys


def _item_json(row: dict) -> str:
    created = row.get("created_at")
    return json.dumps({
        "item_id": row["item_id"], "kind": row["kind"], "category": row["category"],
        "in_stock": bool(row["in_stock"]),
        "created_at": None if created is None or (isinstance(created, float) and np.isnan(created)) else created,
        "title": row.get("title"),
    })


# Catalog writes and the revision bump in one script: atomic like MULTI/EXEC, which redis-py
# 8.1's async cluster client runs unreliably (each queued command goes through a throwaway event
# loop in a thread, and connections it opens there break the client's next reconnection).
# KEYS: catalog, removed, revision (one slot: service.store.keys). ARGV: id, JSON, id, JSON, ...
_UPSERT = """
for j = 1, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[j], ARGV[j + 1])
  redis.call('SREM', KEYS[2], ARGV[j])
end
return redis.call('INCR', KEYS[3])
"""
# KEYS: removed, revision. ARGV: the item id.
_REMOVE = """
redis.call('SADD', KEYS[1], ARGV[1])
return redis.call('INCR', KEYS[2])
"""


async def upsert_items(redis: aioredis.Redis, keys: Keys, catalog: Catalog) -> int:
    """Write every item of `catalog` (taking it out of the removed set) and bump the revision, in
    one atomic script.

    Parameters
    ----------
    redis : redis.asyncio.Redis
    keys : Keys
    catalog : Catalog
        Validated items (service.ingest); created_at in epoch seconds or missing.

    Returns
    -------
    int
        Items written.

    Raises
    ------
    redis.exceptions.RedisError, OSError
        Redis could not answer (service.store.client.REDIS_ERRORS).
    """
    records = catalog.frame.to_dict(orient="records")
    pairs = [value for r in records for value in (r["item_id"], _item_json(r))]
    await redis.eval(_UPSERT, 3, keys.catalog, keys.removed, keys.catalog_revision, *pairs)
    return len(records)


async def remove_item(redis: aioredis.Redis, keys: Keys, item_id: str) -> None:
    """Add `item_id` to the removed set (never recommended again) and bump the revision, atomically.

    Raises
    ------
    redis.exceptions.RedisError, OSError
        Redis could not answer (service.store.client.REDIS_ERRORS).
    """
    await redis.eval(_REMOVE, 2, keys.removed, keys.catalog_revision, item_id)


# The revision, the items and the removed ids, read at one instant (a script, as above).
# KEYS: revision, catalog, removed.
_LOAD = """
return {redis.call('GET', KEYS[1]), redis.call('HVALS', KEYS[2]), redis.call('SMEMBERS', KEYS[3])}
"""


async def load_catalog(redis: aioredis.Redis, keys: Keys) -> tuple[Catalog, frozenset[str], int]:
    """The whole catalog, the removed ids and the revision they belong to, read at one instant.

    Returns
    -------
    (Catalog, frozenset of str, int)
        The items (empty Catalog when there are none), the removed item ids, and the revision
        (0 before the first write).

    Raises
    ------
    redis.exceptions.RedisError, OSError
        Redis could not answer (service.store.client.REDIS_ERRORS).
    """
    revision, values, removed = await redis.eval(_LOAD, 3, keys.catalog_revision, keys.catalog, keys.removed)
    catalog = Catalog()
    if values:
        frame = pd.DataFrame([json.loads(v) for v in values])
        catalog = Catalog.from_frame(frame)
    return catalog, frozenset(r.decode() for r in removed), int(revision or 0)


async def catalog_revision(redis: aioredis.Redis, keys: Keys) -> int:
    """The catalog's revision (0 before the first write): replicas reload when it moves.

    Raises
    ------
    redis.exceptions.RedisError, OSError
        Redis could not answer (service.store.client.REDIS_ERRORS).
    """
    return int(await redis.get(keys.catalog_revision) or 0)
