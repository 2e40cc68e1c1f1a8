"""Contacts in Redis: when each customer was last sent a message, for the contact cap across campaigns.

`Keys.contacted` is one sorted set, user -> the time of their last contact (epoch seconds), so the
campaign routes read every customer contacted within a cap in one command, however many campaigns and
channels there are. It is trimmed to MAX_CAP_HOURS on every write. `Keys.contact_log` keeps what was sent
(user, channel, campaign, time) for people to look at, capped at CONTACT_LOG_MAXLEN entries.

A contact is written by one script (atomic; with appendfsync always the reply comes once it is on disk,
so the route's 202 means durable, like `shown`).
"""

from __future__ import annotations

import time

import redis.asyncio as aioredis

from service.store.keys import Keys

#: The longest contact cap a campaign may ask for (30 days): contacts older than this are forgotten.
MAX_CAP_HOURS = 720
#: Entries kept in the contact log (approximately: trimmed with MAXLEN ~).
CONTACT_LOG_MAXLEN = 100_000

# KEYS: contacted, contact log. ARGV: time, user, oldest time kept, log length, channel, campaign.
# ZADD GT: a contact reported late never moves the last one back in time.
_RECORD = """
redis.call('ZADD', KEYS[1], 'GT', ARGV[1], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'u', ARGV[2], 'c', ARGV[5], 'm', ARGV[6], 'ts', ARGV[1])
return 1
"""


async def record_contact(redis: aioredis.Redis, keys: Keys, user_id: str, channel: str, campaign: str,
                         now: float | None = None) -> None:
    """Record that `user_id` was sent a message on `channel` for `campaign` at `now` (epoch seconds, default the
    clock), in one atomic script.

    Raises
    ------
    redis.exceptions.RedisError, OSError
        Redis refused or could not be reached; nothing was written then.
    """
    now = time.time() if now is None else now
    await redis.eval(_RECORD, 2, keys.contacted, keys.contact_log, repr(now), user_id,
                     repr(now - MAX_CAP_HOURS * 3600.0), CONTACT_LOG_MAXLEN, channel, campaign)


async def contacted_since(redis: aioredis.Redis, keys: Keys, since: float) -> frozenset[str]:
    """Every customer whose last contact was at or after `since` (epoch seconds); one command."""
    members = await redis.zrangebyscore(keys.contacted, since, "+inf")
    return frozenset(m.decode() if isinstance(m, bytes) else m for m in members)


async def last_contact(redis: aioredis.Redis, keys: Keys, user_id: str) -> float | None:
    """When `user_id` was last contacted (epoch seconds), None if not within MAX_CAP_HOURS."""
    score = await redis.zscore(keys.contacted, user_id)
    return None if score is None else float(score)
