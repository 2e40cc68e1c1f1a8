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
    """One list's bytes from item indices (int, -1 where short: dropped) and scores (float32)."""
    keep = ids >= 0
    return ids[keep].astype("<i4").tobytes() + scores[keep].astype("<f4").tobytes()


def unpack(blob: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Read-only int32 indices and float32 scores viewing `blob` (no copy)."""
    n = len(blob) // 8
    return (np.frombuffer(blob, dtype="<i4", count=n),
            np.frombuffer(blob, dtype="<f4", count=n, offset=4 * n))


async def write_lists(redis: aioredis.Redis, keys: Sequence[str], ids: np.ndarray, scores: np.ndarray,
                      ttl: int) -> None:
    """SET every key with its row, pipelined in chunks (one round trip per chunk)."""
    for start in range(0, len(keys), WRITE_CHUNK):
        stop = min(start + WRITE_CHUNK, len(keys))
        await write_blobs(redis, keys[start:stop], [pack(ids[row], scores[row]) for row in range(start, stop)], ttl)


async def write_blobs(redis: aioredis.Redis, keys: Sequence[str], blobs: Sequence[bytes], ttl: int) -> None:
    """SET packed lists, one round trip per WRITE_CHUNK keys."""
    for start in range(0, len(keys), WRITE_CHUNK):
        pipe = redis.pipeline(transaction=False)
        for key, blob in zip(keys[start:start + WRITE_CHUNK], blobs[start:start + WRITE_CHUNK]):
            pipe.set(key, blob, ex=ttl)
        await pipe.execute()
