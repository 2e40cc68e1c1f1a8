"""The training's shared state in Redis: the version pointer every replica serves, the training record
(status hash), the lock that lets one replica train at a time, and the retrain request flag."""

from __future__ import annotations

import redis.asyncio as aioredis

from service.store.keys import Keys

# KEYS: the lock. ARGV: the holder's token (and the TTL in ms): only the holder releases or extends it.
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
_EXTEND = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"


# KEYS: the pointer, the training record. ARGV: the version, then the record's fields and values.
_POINT = """
redis.call('SET', KEYS[1], ARGV[1])
if #ARGV > 1 then
  redis.call('HSET', KEYS[2], unpack(ARGV, 2))
end
return 1
"""
# KEYS: the pointer, the training record. Returns {version or false, flat field/value list}.
_READ = "return {redis.call('GET', KEYS[1]), redis.call('HGETALL', KEYS[2])}"


async def current_version(redis: aioredis.Redis, keys: Keys) -> str | None:
    """The model version the pointer names; None before the first training.

    Raises
    ------
    redis.exceptions.RedisError, OSError
        Redis could not answer (service.store.client.REDIS_ERRORS).
    """
    version = await redis.get(keys.current_version)
    return version.decode() if version else None


async def point_to(redis: aioredis.Redis, keys: Keys, version: str, **record: object) -> None:
    """Move the pointer (every replica serves `version` within a poll interval) and set fields of the
    training record in the same step: one script, so no reader sees the one without the other (both
    keys are in one cluster slot)."""
    fields = [str(x) for pair in record.items() for x in pair]
    await redis.eval(_POINT, 2, keys.current_version, keys.training_status, version, *fields)


async def read_pointer_and_record(redis: aioredis.Redis, keys: Keys) -> tuple[str | None, dict[str, str]]:
    """The version the pointer names (None before the first training) and the training record, as one
    consistent snapshot (one script)."""
    version, flat = await redis.eval(_READ, 2, keys.current_version, keys.training_status)
    record = {_text(flat[j]): _text(flat[j + 1]) for j in range(0, len(flat), 2)}
    return (_text(version) if version else None), record


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def acquire_lock(redis: aioredis.Redis, keys: Keys, token: str, ttl_ms: int) -> bool:
    """Take the training lock for `ttl_ms` milliseconds under `token`; False if another holds it.

    Raises
    ------
    redis.exceptions.RedisError, OSError
        Redis could not answer (service.store.client.REDIS_ERRORS).
    """
    return bool(await redis.set(keys.train_lock, token, nx=True, px=ttl_ms))


async def extend_lock(redis: aioredis.Redis, keys: Keys, token: str, ttl_ms: int) -> None:
    """Give the lock `ttl_ms` more milliseconds from now, if `token` still holds it (else nothing).

    Raises
    ------
    redis.exceptions.RedisError, OSError
        Redis could not answer (service.store.client.REDIS_ERRORS).
    """
    await redis.eval(_EXTEND, 1, keys.train_lock, token, ttl_ms)


async def release_lock(redis: aioredis.Redis, keys: Keys, token: str) -> None:
    """Free the lock if `token` holds it (a lock that expired and was taken by another stays theirs).

    Raises
    ------
    redis.exceptions.RedisError, OSError
        Redis could not answer (service.store.client.REDIS_ERRORS).
    """
    await redis.eval(_RELEASE, 1, keys.train_lock, token)


async def record_status(redis: aioredis.Redis, keys: Keys, **fields: object) -> None:
    """Set fields of the training record (values stored as their str(); times in epoch seconds).

    Raises
    ------
    redis.exceptions.RedisError, OSError
        Redis could not answer (service.store.client.REDIS_ERRORS).
    """
    await redis.hset(keys.training_status, mapping={k: str(v) for k, v in fields.items()})


async def read_status(redis: aioredis.Redis, keys: Keys) -> dict[str, str]:
    """The training record: field -> value (running, last_outcome, last_message, last_*_at, ...).

    Raises
    ------
    redis.exceptions.RedisError, OSError
        Redis could not answer (service.store.client.REDIS_ERRORS).
    """
    raw = await redis.hgetall(keys.training_status)
    return {k.decode(): v.decode() for k, v in raw.items()}


async def request_retrain(redis: aioredis.Redis, keys: Keys, at: float) -> None:
    """Ask for a training now (`at`: epoch seconds); whichever replica's loop sees it first trains.

    Raises
    ------
    redis.exceptions.RedisError, OSError
        Redis could not answer (service.store.client.REDIS_ERRORS).
    """
    await redis.set(keys.retrain_requested, str(at))


async def retrain_requested(redis: aioredis.Redis, keys: Keys) -> bool:
    """Whether a training was asked for and not yet taken up (`clear_retrain_request`).

    Raises
    ------
    redis.exceptions.RedisError, OSError
        Redis could not answer (service.store.client.REDIS_ERRORS).
    """
    return bool(await redis.get(keys.retrain_requested))


async def clear_retrain_request(redis: aioredis.Redis, keys: Keys) -> None:
    """Forget the retrain request (the training that answers it has started).

    Raises
    ------
    redis.exceptions.RedisError, OSError
        Redis could not answer (service.store.client.REDIS_ERRORS).
    """
    await redis.delete(keys.retrain_requested)
