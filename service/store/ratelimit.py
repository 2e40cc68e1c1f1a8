"""Per-key rate limiting: a token bucket kept in Redis, so every replica shares one budget per key.

The bucket is named by a hash of the key: the key itself never reaches Redis, logs or metrics.
"""

from __future__ import annotations

import asyncio
import logging

import redis.asyncio as aioredis

from service.store.client import REDIS_ERRORS
from service.store.keys import Keys
from service.outage_log import OutageLog

log = logging.getLogger(__name__)
outage = OutageLog(log)

# Refill by elapsed time (Redis' clock, shared by all replicas), then take one token if there is one.
_BUCKET = """
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local allowed, wait = 0, (1 - tokens) / rate
if tokens >= 1 then
  tokens = tokens - 1
  allowed, wait = 1, 0
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, tostring(wait)}
"""


async def take_token(redis: aioredis.Redis, keys: Keys, key: str, rate: float, burst: float,
                     timeout: float) -> int | None:
    """Take one token from the bucket of API key `key`: the token bucket algorithm, run in one
    script on Redis's clock so every replica shares the bucket.

    Parameters
    ----------
    redis : redis.asyncio.Redis
    keys : Keys
        Names the bucket by a hash of `key` (`Keys.rate_limit`).
    key : str
        The caller's API key.
    rate : float
        Tokens added per second.
    burst : float
        Most tokens the bucket holds (the requests a key may send at once).
    timeout : float
        Seconds to wait for Redis (RECS_REDIS_READ_TIMEOUT): a hung Redis must not hold every request up.

    Returns
    -------
    int or None
        None when allowed (also when Redis cannot answer: the limiter fails open), else the whole
        seconds to wait before a token is there (at least 1).
    """
    try:
        async with asyncio.timeout(timeout):
            allowed, wait = await redis.eval(_BUCKET, 1, keys.rate_limit(key), rate, burst)
    except REDIS_ERRORS as exc:  # TimeoutError is an OSError
        outage.warning("rate limiter unavailable, allowing the request: %s", type(exc).__name__)
        return None
    return None if int(allowed) else max(1, int(float(wait) + 0.999))
