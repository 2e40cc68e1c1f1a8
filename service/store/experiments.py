"""Experiments in Redis: the definitions (one hash, name -> JSON, with a version counter that every write
bumps: a write is a compare-and-set on the version of the whole hash, so two admins defining experiments on one
route family at once cannot both succeed), the promoted configuration, and each variant's exposed customers (a
set per variant, added to by the serving side's online recorder). Who bought what in a variant is written by
the event script (service.store.events.write)."""

from __future__ import annotations

import orjson
import redis.asyncio as aioredis

from service.store.keys import Keys

# KEYS: the hash, its version counter. Set field ARGV[1] to ARGV[3] only while the version is still ARGV[2] ("0"
# for never written), and bump it.
_COMPARE_AND_SET = """
if (redis.call('GET', KEYS[2]) or '0') ~= ARGV[2] then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('INCR', KEYS[2])
return 1
"""


async def read_all(redis: aioredis.Redis, keys: Keys) -> tuple[dict[str, dict], str]:
    """Every stored experiment record, name -> decoded JSON, and the version they were read at (what
    compare_and_set expects); one transaction."""
    pipe = redis.pipeline(transaction=True)
    pipe.hgetall(keys.experiments)
    pipe.get(keys.experiments_version)
    raw, version = await pipe.execute()
    return ({(k.decode() if isinstance(k, bytes) else k): orjson.loads(v) for k, v in raw.items()},
            _version(version))


async def read_one(redis: aioredis.Redis, keys: Keys, name: str) -> tuple[dict | None, str]:
    """One experiment's stored record (None when absent) and the version it was read at; one transaction."""
    pipe = redis.pipeline(transaction=True)
    pipe.hget(keys.experiments, name)
    pipe.get(keys.experiments_version)
    raw, version = await pipe.execute()
    return (None if raw is None else orjson.loads(raw)), _version(version)


def _version(raw: bytes | None) -> str:
    return "0" if raw is None else raw.decode()


async def compare_and_set(redis: aioredis.Redis, keys: Keys, name: str, version: str, record: dict) -> bool:
    """Store `record` for `name` if no experiment was written since `version` (from read_all or read_one);
    False if one was (the caller reads again and re-checks its rules)."""
    done = await redis.eval(_COMPARE_AND_SET, 2, keys.experiments, keys.experiments_version, name, version,
                            orjson.dumps(record))
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


async def exposed_among(redis: aioredis.Redis, keys: Keys, experiment: str, customers: dict[str, list[str]]
                        ) -> dict[str, set[str]]:
    """Of each variant's `customers` (variant -> user ids), those in its exposed set (one round trip)."""
    asked = [(variant, users) for variant, users in customers.items() if users]
    pipe = redis.pipeline(transaction=False)
    for variant, users in asked:
        pipe.smismember(keys.experiment_exposed(experiment, variant), users)
    found = await pipe.execute() if asked else []
    out = {variant: set() for variant in customers}
    for (variant, users), flags in zip(asked, found):
        out[variant] = {u for u, flag in zip(users, flags) if flag}
    return out


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
