"""Prices in Redis: each item's current offer (price and currency) and its price history.

The offers hash (`Keys.catalog_offers`, item -> "price\\x1fcurrency", either part empty when not given)
is what the event script reads to price a purchase sent without one and to count revenue in the item's
currency (service.store.events.write). The history is one sorted set per item (`Keys.price_history`:
member "time\\x1fprice\\x1fcurrency", score the epoch seconds of the catalog write), the newest
MAX_PRICE_CHANGES kept, and an index of when each item's price last moved (`Keys.price_changes`), so a
price-drop campaign can find the items that moved in a window and their price at any time.

Both are written by the catalog upsert script (service.store.catalog), in the same atomic step as the
item itself, with `OFFERS_LUA` below: an item's history gains an entry exactly when its price or currency
differs from its current offer (the first price counts: it starts the history).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import redis.asyncio as aioredis

from service.store.keys import Keys

#: Price changes kept per item (the newest).
MAX_PRICE_CHANGES = 100
SEP = "\x1f"

#: Lua for the catalog upsert script: `record_offer(offers, history, changes, item, offer, price, currency, now,
#: keep)` sets or clears the item's offer and appends to its history when the price or currency changed.
OFFERS_LUA = r"""
local function record_offer(offers, history, changes, item, offer, price, currency, now, keep)
  local old = redis.call('HGET', offers, item)
  if offer == '' then
    if old then
      redis.call('HDEL', offers, item)
    end
    return
  end
  if old == offer then
    return
  end
  redis.call('HSET', offers, item, offer)
  if price ~= '' then
    redis.call('ZADD', history, now, now .. '\031' .. price .. '\031' .. currency)
    redis.call('ZREMRANGEBYRANK', history, 0, -1 - tonumber(keep))
    redis.call('ZADD', changes, now, item)
  end
end
"""


def offer_text(price: float | None, currency: str | None) -> str:
    """The offers hash's value for an item ("" when it has neither a price nor a currency; a NaN price or
    a non-string currency, as a catalog frame holds them, is none)."""
    has_price = price is not None and not (isinstance(price, float) and math.isnan(price))
    currency = currency if isinstance(currency, str) else ""
    if not has_price and not currency:
        return ""
    return f"{repr(float(price)) if has_price else ''}{SEP}{currency}"


@dataclass(frozen=True)
class PriceChange:
    """One entry of an item's price history: from `at` (epoch seconds) the unit price was `price`, in
    `currency` (None: the store's default, RECS_CURRENCY)."""

    at: float
    price: float
    currency: str | None


async def price_history(redis: aioredis.Redis, keys: Keys, item_id: str) -> list[PriceChange]:
    """An item's price changes, oldest first (at most MAX_PRICE_CHANGES)."""
    return [_change(m) for m in await redis.zrange(keys.price_history(item_id), 0, -1)]


async def price_histories(redis: aioredis.Redis, keys: Keys,
                          item_ids: list[str]) -> dict[str, list[PriceChange]]:
    """Each item's price changes, oldest first (at most MAX_PRICE_CHANGES); one pipelined round trip."""
    if not item_ids:
        return {}
    async with redis.pipeline(transaction=False) as pipe:
        for item_id in item_ids:
            pipe.zrange(keys.price_history(item_id), 0, -1)
        replies = await pipe.execute()
    return {item_id: [_change(m) for m in members] for item_id, members in zip(item_ids, replies)}


def _change(member: bytes | str) -> PriceChange:
    at, price, currency = (member.decode() if isinstance(member, bytes) else member).split(SEP)
    return PriceChange(float(at), float(price), currency or None)


async def repriced_since(redis: aioredis.Redis, keys: Keys, since: float,
                         until: float | None = None) -> dict[str, float]:
    """Items whose price last changed from `since` to `until` (epoch seconds; None: no end) -> when."""
    pairs = await redis.zrangebyscore(keys.price_changes, since, "+inf" if until is None else until,
                                      withscores=True)
    return {(k.decode() if isinstance(k, bytes) else k): float(v) for k, v in pairs}


async def current_offer(redis: aioredis.Redis, keys: Keys, item_id: str) -> tuple[float | None, str | None]:
    """(price, currency) of an item's current offer; (None, None) when it has none."""
    raw = await redis.hget(keys.catalog_offers, item_id)
    if raw is None:
        return None, None
    price, _, currency = (raw.decode() if isinstance(raw, bytes) else raw).partition(SEP)
    return (float(price) if price else None), (currency or None)
