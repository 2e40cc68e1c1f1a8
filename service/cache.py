"""Precomputed lists in Redis: packed model indices and scores under version-scoped keys.

A list is 4-byte item indices then 4-byte scores; indices are only meaningful with the
model version that is part of the key, which every replica loads from the model directory.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import redis.asyncio as aioredis

WRITE_CHUNK = 2000


def pack(ids: np.ndarray, scores: np.ndarray) -> bytes:
    keep = ids >= 0
    return ids[keep].astype("<i4").tobytes() + scores[keep].astype("<f4").tobytes()


def unpack(blob: bytes) -> tuple[np.ndarray, np.ndarray]:
    n = len(blob) // 8
    return (np.frombuffer(blob, dtype="<i4", count=n).astype(np.int64),
            np.frombuffer(blob, dtype="<f4", count=n, offset=4 * n))


async def write_lists(redis: aioredis.Redis, keys: Sequence[str], ids: np.ndarray, scores: np.ndarray,
                      ttl: int) -> None:
    """SET every key with its row, pipelined in chunks (one round trip per chunk)."""
    for start in range(0, len(keys), WRITE_CHUNK):
        pipe = redis.pipeline(transaction=False)
        for row in range(start, min(start + WRITE_CHUNK, len(keys))):
            pipe.set(keys[row], pack(ids[row], scores[row]), ex=ttl)
        await pipe.execute()
