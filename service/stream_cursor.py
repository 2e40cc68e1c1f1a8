"""Following the event stream by position, and noticing when it is no longer the stream followed.

A reader that remembers only the last entry id it read cannot tell a stream that was deleted and
written again (Redis lost its data, or the key was removed) from the one it read: after `DEL` and a
new `XADD` within the same millisecond, or after the clock stepped back, the new stream's entries get
ids at or before the remembered one, and a reader asking for "entries after it" skips them for good.

So the stream has a generation: a random nonce in its own key, which the event writers
(service.event_store) set in the same script whenever they create the stream (`GENERATION_LUA`).
Trimming never deletes a stream key, so the generation changes exactly when the stream is new. A
position is a `StreamCursor` (last id read, generation), and each read returns the generation and the
page in one atomic script: a generation other than the cursor's means every entry is unseen
(`StreamReset`), however the ids compare.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

START = "0-0"

#: Lua for the event writers: a stream about to be created gets a new generation. KEYS[s] is the
#: stream, KEYS[g] its generation key, ARGV[n] a fresh `new_generation()`.
GENERATION_LUA = r"""
local function ensure_generation(stream, generation_key, nonce)
  if redis.call('EXISTS', stream) == 0 then
    redis.call('SET', generation_key, nonce)
  end
end
"""

# KEYS: the stream, its generation key. ARGV: the id to read after (exclusive), the most entries to
# return. Returns {generation or false, entries}.
_READ_AFTER = r"""
return {redis.call('GET', KEYS[2]), redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', ARGV[2])}
"""
_READ_AFTER_SHA = hashlib.sha1(_READ_AFTER.encode()).hexdigest()


def new_generation() -> str:
    """A fresh stream generation (64 random bits, hex)."""
    return secrets.token_hex(8)


class StreamReset(Exception):
    """The stream is not the one the cursor was taken on: it was deleted and written again."""


@dataclass(frozen=True)
class StreamCursor:
    """A position in a stream.

    Attributes
    ----------
    last_id : str
        The last entry id read (``"0-0"``: before the first).
    generation : str or None
        The stream's generation when `last_id` was read. None: not known (a position saved by an older
        version, or a stream written by something other than the event writers), so the next read
        cannot check it and only adopts the stream's.
    """

    last_id: str = START
    generation: str | None = None


Entry = tuple[bytes, dict[bytes, bytes]]


async def read_after(redis: aioredis.Redis, stream: str, generation_key: str, cursor: StreamCursor,
                     count: int) -> tuple[list[Entry], StreamCursor]:
    """The stream's entries after `cursor` (at most `count`, oldest first) and the cursor after them.

    Parameters
    ----------
    redis : redis.asyncio.Redis or RedisCluster
    stream, generation_key : str
        The stream's key and its generation's (one cluster slot).
    cursor : StreamCursor
        Where the caller is.
    count : int
        Page size, at least 1.

    Returns
    -------
    entries : list of (bytes, dict[bytes, bytes])
        Entry ids and fields, as redis-py's XRANGE gives them.
    cursor : StreamCursor
        After the last entry returned, with the stream's generation.

    Raises
    ------
    StreamReset
        The stream's generation is not the cursor's: the stream was deleted and written again, and
        the caller reads it from the start (``StreamCursor()``).
    redis.exceptions.RedisError, OSError
        Redis could not be read.
    """
    args = (2, stream, generation_key, cursor.last_id, count)
    try:  # by its digest: the script is sent once per connection pool's server, not with every page
        generation, raw = await redis.evalsha(_READ_AFTER_SHA, *args)
    except NoScriptError:
        generation, raw = await redis.eval(_READ_AFTER, *args)
    generation = _text(generation) if generation else None
    if cursor.generation is not None and generation != cursor.generation:
        raise StreamReset(f"{stream} is generation {generation}, not {cursor.generation} as when "
                          f"{cursor.last_id} was read")
    entries = [(entry_id, dict(zip(fields[::2], fields[1::2]))) for entry_id, fields in raw]
    return entries, StreamCursor(_text(entries[-1][0]) if entries else cursor.last_id, generation)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
