"""Experiments in Redis: the definitions (one hash, name -> JSON, changed by compare-and-set so two
admins cannot both start an experiment on one route family), the promoted configuration, and each
variant's exposed customers (a set per variant, added to by the serving side's online recorder).
Who bought what in a variant is written by the event script (service.store.events.write)."""

from __future__ import annotations

import orjson
import redis.asyncio as aioredis

from service.store.keys import Keys

# Set field ARGV[1] of hash KEYS[1] to ARGV[3] only while it still holds ARGV[2] ("" = absent).
_COMPARE_AND_SET = """
local now = redis.call('HGET', KEYS[1], ARGV[1]) or ''
if now ~= ARGV[2] then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
"""


async def read_all(redis: aioredis.Redis, keys: Keys) -> dict[str, dict]:
    """Every stored experiment record, name -> decoded JSON (one command)."""
    raw = await redis.hgetall(keys.experiments)
    return {(k.decode() if isinstance(k, bytes) else k): orjson.loads(v) for k, v in raw.items()}


async def read_raw(redis: aioredis.Redis, keys: Keys, name: str) -> bytes | None:
    """One experiment's stored JSON as it is (what compare_and_set expects), None when absent."""
    return await redis.hget(keys.experiments, name)


async def compare_and_set(redis: aioredis.Redis, keys: Keys, name: str, expected: bytes | None, record: dict) -> bool:
    """Store `record` for `name` if its stored JSON is still `expected` (None: absent); False if it moved."""
    done = await redis.eval(_COMPARE_AND_SET, 1, keys.experiments, name, expected or b"", orjson.dumps(record))
    return bool(done)


async def set_promoted(redis: aioredis.Redis, keys: Keys, record: dict | None) -> None:
    """Make `record` (experiment, variant, model) the default configuration; None: back to model choice."""
    if record is None:
        await redis.delete(keys.promoted_model)
    else:
        await redis.set(keys.promoted_model, orjson.dumps(record))


async def read_promoted(redis: aioredis.Redis, keys: Keys) -> dict | None:
    raw = await redis.get(keys.promoted_model)
    return orjson.loads(raw) if raw else None


async def add_exposures(redis: aioredis.Redis, keys: Keys, exposed: dict[tuple[str, str], set[str]]) -> None:
    """Add customers to the exposed sets of (experiment, variant) pairs, pipelined (one round trip)."""
    pipe = redis.pipeline(transaction=False)
    for (experiment, variant), users in exposed.items():
        if users:
            pipe.sadd(keys.experiment_exposed(experiment, variant), *users)
    await pipe.execute()


async def exposure_counts(redis: aioredis.Redis, keys: Keys, experiment: str, variants: list[str]) -> list[int]:
    """Exposed customers per variant, in order (one round trip)."""
    pipe = redis.pipeline(transaction=False)
    for variant in variants:
        pipe.scard(keys.experiment_exposed(experiment, variant))
    return [int(n) for n in await pipe.execute()]


async def buyers(redis: aioredis.Redis, keys: Keys, experiment: str) -> dict[str, dict[str, dict[str, int]]]:
    """variant -> currency -> customer -> attributed revenue (micro-units) of one experiment's buyers."""
    prefix = f"{experiment}/"
    out: dict[str, dict[str, dict[str, int]]] = {}
    async for field, value in redis.hscan_iter(keys.experiment_buyers, match=f"{_glob_escape(prefix)}*", count=1000):
        text = field.decode() if isinstance(field, bytes) else field
        label, currency, user = text.split("\x1f", 2)
        variant = label[len(prefix):]
        out.setdefault(variant, {}).setdefault(currency, {})[user] = int(value)
    return out


def _glob_escape(text: str) -> str:
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)
