"""The training's shared state in Redis: the version pointer every replica serves, the training record
(status hash), the lock that lets one replica train at a time, and the retrain request flag."""

from __future__ import annotations

import redis.asyncio as aioredis

from service.store.keys import Keys

# KEYS: the lock. ARGV: the holder's token (and the TTL in ms): only the holder releases or extends it.
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
_EXTEND = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"


async def current_version(redis: aioredis.Redis, keys: Keys) -> str | None:
    """The model version the pointer names; None before the first training.

    Raises
    ------
    redis.exceptions.RedisError, OSError
        Redis could not answer (service.store.client.REDIS_ERRORS).
    """
    version = await redis.get(keys.current_version)
    return version.decode() if version else None


async def point_to(redis: aioredis.Redis, keys: Keys, version: str) -> None:
    """Move the pointer: every replica serves `version` within a poll interval (RECS_POLL_INTERVAL).

    Raises
    ------
    redis.exceptions.RedisError, OSError
        Redis could not answer (service.store.client.REDIS_ERRORS).
    """
    await redis.set(keys.current_version, version)


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
