"""The catalog in Redis: a hash of item JSON, the removed set and a revision bumped on every change,
shared by every replica (service.ingest validates what is written here), and with each write the items'
offers and price history (service.store.prices)."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import redis.asyncio as aioredis

from recommender.catalog import Catalog
from service.store.keys import Keys
from service.store.prices import MAX_PRICE_CHANGES, OFFERS_LUA, offer_text
from service.store.stock import MAX_STOCK_CHANGES, STOCK_LUA, stock_flag


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def _item_json(row: dict) -> str:
    created = row.get("created_at")
    item = {
        "item_id": row["item_id"], "kind": row["kind"], "category": row["category"],
        "in_stock": bool(row["in_stock"]),
        "created_at": None if _missing(created) else created,
        "title": row.get("title"),
    }
    for name in ("price", "currency", "url", "image_url", "brand", "attributes"):  # only when given
        if not _missing(row.get(name)):
            item[name] = row[name]
    return json.dumps(item)


# Catalog writes, the offers and price history, and the revision bump in one script: atomic like
# MULTI/EXEC, which redis-py 8.1's async cluster client runs unreliably (each queued command goes through a
# throwaway event loop in a thread, and connections it opens there break the client's next reconnection).
# KEYS: catalog, removed, revision, offers, price changes, stock changes, then each item's price history
# and stock history (one slot: service.store.keys). ARGV: now, price changes kept per item, stock changes
# kept per item, then per item: id, JSON, offer, price, currency, stock flag.
_UPSERT = OFFERS_LUA + STOCK_LUA + """
for j = 4, #ARGV, 6 do
  local k = 6 + 2 * (j - 4) / 6
  redis.call('HSET', KEYS[1], ARGV[j], ARGV[j + 1])
  redis.call('SREM', KEYS[2], ARGV[j])
  record_offer(KEYS[4], KEYS[k + 1], KEYS[5], ARGV[j], ARGV[j + 2], ARGV[j + 3], ARGV[j + 4], ARGV[1], ARGV[2])
  record_stock(KEYS[k + 2], KEYS[6], ARGV[j], ARGV[j + 5], ARGV[1], ARGV[3])
end
return redis.call('INCR', KEYS[3])
"""
# KEYS: removed, revision. ARGV: the item id.
_REMOVE = """
redis.call('SADD', KEYS[1], ARGV[1])
return redis.call('INCR', KEYS[2])
"""


async def upsert_items(redis: aioredis.Redis, keys: Keys, catalog: Catalog, now: float | None = None) -> int:
    """Write every item of `catalog` (each replaces the item of its id, taking it out of the removed
    set), their offers, price and stock changes, and bump the revision, in one atomic script.

    Parameters
    ----------
    redis : redis.asyncio.Redis
    keys : Keys
    catalog : Catalog
        Validated items (service.ingest); created_at in epoch seconds or missing.
    now : float, optional
        Epoch seconds the price and stock changes are recorded at; default the clock.

    Returns
    -------
    int
        Items written.

    Raises
    ------
    redis.exceptions.RedisError, OSError
        Redis could not answer (service.store.client.REDIS_ERRORS).
    """
    now = time.time() if now is None else now
    records = catalog.frame.to_dict(orient="records")
    args: list[str] = []
    for r in records:
        price, currency = r.get("price"), r.get("currency")
        args += (r["item_id"], _item_json(r), offer_text(price, currency),
                 "" if _missing(price) else repr(float(price)), currency if isinstance(currency, str) else "",
                 stock_flag(bool(r["in_stock"])))
    script_keys = [keys.catalog, keys.removed, keys.catalog_revision, keys.catalog_offers, keys.price_changes,
                   keys.stock_changes]
    for r in records:
        script_keys += (keys.price_history(r["item_id"]), keys.stock_history(r["item_id"]))
    await redis.eval(_UPSERT, len(script_keys), *script_keys, repr(now), MAX_PRICE_CHANGES, MAX_STOCK_CHANGES,
                     *args)
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
