"""Precomputed lists in Redis: packed model indices and scores under version-scoped keys
(service.store.keys: `user_recs`, `similar`).

A list is 4-byte item indices then 4-byte scores, little-endian; indices are only meaningful with the
model version that is part of the key, which every replica loads from the model directory.

A user's list written by a training may also carry its rendered default answer (service.serving.rendered):
the response items of the default request as JSON, with the number of items and the digest of the catalog
view they were rendered against. Such a value starts with RENDERED, an item index of -1 that a list never
holds (`pack` drops negative indices), then the list's length, the item count and the digest, then the list,
then the JSON; a value without it is the plain list, so both kinds can sit under the same keys.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import redis.asyncio as aioredis

WRITE_CHUNK = 2000
#: The first 4 bytes of a list with a rendered answer (int32 -1, little-endian).
RENDERED = b"\xff\xff\xff\xff"
#: Bytes of a catalog digest (service.serving.rendered).
DIGEST_BYTES = 16
#: RENDERED, the list's length, the rendered item count, the digest.
_HEADER = struct.Struct(f"<4sII{DIGEST_BYTES}s")


@dataclass(frozen=True)
class Rendered:
    """A list's rendered default answer.

    Attributes
    ----------
    digest : bytes
        DIGEST_BYTES long: the catalog view it was rendered against.
    count : int
        Items in it.
    items : bytes
        The response's items as a JSON array.
    """

    digest: bytes
    count: int
    items: bytes


def pack(ids: np.ndarray, scores: np.ndarray, rendered: Rendered | None = None) -> bytes:
    """One list's bytes.

    Parameters
    ----------
    ids : numpy.ndarray
        int, shape (k,): item indices, best first; negative entries (padding of a short list) are dropped.
    scores : numpy.ndarray
        float, shape (k,): their scores (stored as float32).
    rendered : Rendered, optional
        The list's rendered default answer, kept with it.

    Returns
    -------
    bytes
        The kept indices as little-endian int32, then their scores as little-endian float32
        (8 bytes per item); with `rendered`, behind its header and followed by its JSON.

    Raises
    ------
    ValueError
        `rendered.digest` is not DIGEST_BYTES long.
    """
    keep = ids >= 0
    packed = ids[keep].astype("<i4").tobytes() + scores[keep].astype("<f4").tobytes()
    if rendered is None:
        return packed
    if len(rendered.digest) != DIGEST_BYTES:
        raise ValueError(f"a digest is {DIGEST_BYTES} bytes")
    return _HEADER.pack(RENDERED, int(keep.sum()), rendered.count, rendered.digest) + packed + rendered.items


def unpack(blob: bytes) -> tuple[np.ndarray, np.ndarray]:
    """The arrays `pack` wrote, as read-only views of `blob` (no copy).

    Returns
    -------
    (ids, scores) : tuple of numpy.ndarray
        int32 and float32 (little-endian), shape (k,) each.
    """
    if blob[:4] == RENDERED:
        _, n, _, _ = _HEADER.unpack_from(blob)
        offset = _HEADER.size
    else:
        n, offset = len(blob) // 8, 0
    return (np.frombuffer(blob, dtype="<i4", count=n, offset=offset),
            np.frombuffer(blob, dtype="<f4", count=n, offset=offset + 4 * n))


def rendered_of(blob: bytes) -> Rendered | None:
    """The rendered default answer `pack` kept with the list, or None."""
    if blob[:4] != RENDERED:
        return None
    _, n, count, digest = _HEADER.unpack_from(blob)
    return Rendered(digest, count, blob[_HEADER.size + 8 * n:])


async def write_lists(redis: aioredis.Redis, keys: Sequence[str], ids: np.ndarray, scores: np.ndarray,
                      ttl: int, rendered: Sequence[Rendered | None] | None = None) -> None:
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
    rendered : sequence of Rendered or None, optional
        One per row: its rendered default answer, kept with the list (`pack`).

    Raises
    ------
    redis.exceptions.RedisError, OSError
        Redis could not answer (service.store.client.REDIS_ERRORS).
    """
    for start in range(0, len(keys), WRITE_CHUNK):
        stop = min(start + WRITE_CHUNK, len(keys))
        await write_blobs(redis, keys[start:stop], [pack(ids[row], scores[row], rendered[row] if rendered else None)
                                                     for row in range(start, stop)], ttl)


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
