"""Stock history in Redis: when each item went out of stock and came back, for the back-in-stock campaign.

One sorted set per item (`Keys.stock_history`: member "time\\x1f0" or "time\\x1f1", score the epoch seconds
of the catalog write), the newest MAX_STOCK_CHANGES kept, and an index of when each item's stock last
moved (`Keys.stock_changes`: the first write of an item starts its history but is not a move), so the
campaign reads only the items whose stock moved in its window.

Both are written by the catalog upsert script (service.store.catalog) in the same atomic step as the item,
with `STOCK_LUA` below: an item's history gains an entry exactly when its in_stock flag differs from the
newest entry (the first write counts: it starts the history).
"""

from __future__ import annotations

import redis.asyncio as aioredis

from service.store.keys import Keys

#: Stock changes kept per item (the newest).
MAX_STOCK_CHANGES = 100
SEP = "\x1f"

#: Lua for the catalog upsert script: `record_stock(history, changes, item, flag, now, keep)` appends "now
#: \x1f flag" ("1" in stock, "0" out) to the item's history when the flag differs from its newest entry.
STOCK_LUA = r"""
local function record_stock(history, changes, item, flag, now, keep)
  local newest = redis.call('ZRANGE', history, -1, -1)
  if newest[1] and string.sub(newest[1], -1) == flag then
    return
  end
  redis.call('ZADD', history, now, now .. '\031' .. flag)
  redis.call('ZREMRANGEBYRANK', history, 0, -1 - tonumber(keep))
  if newest[1] then
    redis.call('ZADD', changes, now, item)
  end
end
"""


def stock_flag(in_stock: bool) -> str:
    """The flag STOCK_LUA stores for an in_stock value."""
    return "1" if in_stock else "0"


async def restocked_since(redis: aioredis.Redis, keys: Keys, since: float, until: float | None = None) -> list[str]:
    """Items whose stock last changed from `since` to `until` (epoch seconds; None: no end)."""
    members = await redis.zrangebyscore(keys.stock_changes, since, "+inf" if until is None else until)
    return [m.decode() if isinstance(m, bytes) else m for m in members]


async def stock_histories(redis: aioredis.Redis, keys: Keys,
                          item_ids: list[str]) -> dict[str, list[tuple[float, bool]]]:
    """Each item's stock changes, oldest first: (epoch seconds, in stock); one pipelined round trip."""
    if not item_ids:
        return {}
    async with redis.pipeline(transaction=False) as pipe:
        for item_id in item_ids:
            pipe.zrange(keys.stock_history(item_id), 0, -1)
        replies = await pipe.execute()
    out = {}
    for item_id, members in zip(item_ids, replies):
        steps = []
        for member in members:
            at, flag = (member.decode() if isinstance(member, bytes) else member).split(SEP)
            steps.append((float(at), flag == "1"))
        out[item_id] = steps
    return out
