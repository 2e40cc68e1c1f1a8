"""Precomputed lists in Redis: packed model indices and scores under version-scoped keys
(service.store.keys: `user_recs`, `similar`).

A list is 4-byte item indices then 4-byte scores, little-endian; indices are only meaningful with the
model version that is part of the key, which every replica loads from the model directory.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import redis.asyncio as aioredis

WRITE_CHUNK = 2000


def pack(ids: np.ndarray, scores: np.ndarray) -> bytes:
    """One list's bytes.

    Parameters
    ----------
    ids : numpy.ndarray
        int, shape (k,): item indices, best first; negative entries (padding of a short list) are dropped.
    scores : numpy.ndarray
        float, shape (k,): their scores (stored as float32).

    Returns
    -------
    bytes
        The kept indices as little-endian int32, then their scores as little-endian float32
        (8 bytes per item).
    """
    keep = ids >= 0
    return ids[keep].astype("<i4").tobytes() + scores[keep].astype("<f4").tobytes()


def unpack(blob: bytes) -> tuple[np.ndarray, np.ndarray]:
    """The arrays `pack` wrote, as read-only views of `blob` (no copy).

    Returns
    -------
    (ids, scores) : tuple of numpy.ndarray
        int32 and float32 (little-endian), shape (len(blob) // 8,) each.
    """
    n = len(blob) // 8
    return (np.frombuffer(blob, dtype="<i4", count=n),
            np.frombuffer(blob, dtype="<f4", count=n, offset=4 * n))


async def write_lists(redis: aioredis.Redis, keys: Sequence[str], ids: np.ndarray, scores: np.ndarray,
                      ttl: int) -> None:
    """SET every key with its row, pipelined (one round trip per WRITE_CHUNK keys).

    Parameters
    ----------
    redis : redis.asyncio.Redis
    keys : sequence of str
        One per row (`Keys.user_recs`, `Keys.similar`).
    ids, scores : numpy.ndarray
        Shape (len(keys), k): each key's list, as `pack` takes it.
    ttl : int
        Seconds each key lives.

    Raises
    ------
    redis.exceptions.RedisError, OSError
        Redis could not answer (service.store.client.REDIS_ERRORS).
    """
    for start in range(0, len(keys), WRITE_CHUNK):
        stop = min(start + WRITE_CHUNK, len(keys))
        await write_blobs(redis, keys[start:stop], [pack(ids[row], scores[row]) for row in range(start, stop)], ttl)


async def write_blobs(redis: aioredis.Redis, keys: Sequence[str], blobs: Sequence[bytes], ttl: int) -> None:
    """SET packed lists (`pack`), one round trip per WRITE_CHUNK keys, each living `ttl` seconds.

    Raises
    ------
    redis.exceptions.RedisError, OSError
        Redis could not answer (service.store.client.REDIS_ERRORS).
    """
    for start in range(0, len(keys), WRITE_CHUNK):
        pipe = redis.pipeline(transaction=False)
        for key, blob in zip(keys[start:start + WRITE_CHUNK], blobs[start:start + WRITE_CHUNK]):
            pipe.set(key, blob, ex=ttl)
        await pipe.execute()
