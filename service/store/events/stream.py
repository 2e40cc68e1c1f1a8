"""Reading the event stream after a position, noticing when it is no longer the stream followed, and
trimming what the snapshot now holds. Training's fold and the retention index read it here.

A reader that remembers only the last entry id it read cannot tell a stream that was deleted and
written again (Redis lost its data, or the key was removed) from the one it read: after `DEL` and a
new `XADD` within the same millisecond, or after the clock stepped back, the new stream's entries get
ids at or before the remembered one, and a reader asking for "entries after it" skips them for good.

So the stream has a generation: a random nonce in its own key, which the event writers
(write.py) set in the same script whenever they create the stream (`GENERATION_LUA`).
Trimming never deletes a stream key, so the generation changes exactly when the stream is new. A
position is a `StreamCursor` (last id read, generation), and each read returns the generation and the
page in one atomic script: a generation other than the cursor's means every entry is unseen
(`StreamReset`), however the ids compare.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import redis.asyncio as aioredis

from recommender.errors import InputError
from recommender.events import ORDER_COLUMNS, EventTable
from service.store.client import Script, script_entries
from service.store.events.format import ORDER_STREAM_FIELDS, STREAM_FIELDS
from service.store.keys import Keys

log = logging.getLogger(__name__)
START = "0-0"
STREAM_PAGE = 10_000  # stream entries read per XRANGE

#: Lua for the event writers: a stream about to be created gets a new generation. KEYS[s] is the
#: stream, KEYS[g] its generation key, ARGV[n] a fresh format.nonce().
GENERATION_LUA = r"""
local function ensure_generation(stream, generation_key, nonce)
  if redis.call('EXISTS', stream) == 0 then
    redis.call('SET', generation_key, nonce)
  end
end
"""

# KEYS: the stream, its generation key. ARGV: the id to read after (exclusive), the most entries to
# return. Returns {generation or false, entries}.
_READ_AFTER = Script(r"""
return {redis.call('GET', KEYS[2]), redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', ARGV[2])}
""")


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
    generation, raw = await _READ_AFTER(redis, (stream, generation_key), (cursor.last_id, count))
    generation = _text(generation) if generation else None
    if cursor.generation is not None and generation != cursor.generation:
        raise StreamReset(f"{stream} is generation {generation}, not {cursor.generation} as when "
                          f"{cursor.last_id} was read")
    entries = script_entries(raw)
    return entries, StreamCursor(_text(entries[-1][0]) if entries else cursor.last_id, generation)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class StreamPages:
    """The event stream's entries after a cursor, a page at a time: iterate for (events, entries that
    do not parse); `cursor` is then where the reading ended. Training folds them; the retention index
    reads the same pages.

    Parameters
    ----------
    redis : redis.asyncio.Redis or RedisCluster
    keys : Keys
    cursor : StreamCursor
        Where to start (exclusive).

    Yields
    ------
    (EventTable, list of entries)
        Per page of at most STREAM_PAGE entries: the events that parse, and the entries that do not
        (`stream_entries_to_table`).

    Raises
    ------
    StreamReset
        The stream is not the one the cursor was taken on (`read_after`).
    redis.exceptions.RedisError, OSError
        Redis could not be read.
    """

    def __init__(self, redis: aioredis.Redis, keys: Keys, cursor: StreamCursor) -> None:
        self.redis, self.keys, self.cursor = redis, keys, cursor
        self.entry_ids: list[str] = []  # the stream ids of the last page's events, row for row

    async def __aiter__(self) -> AsyncIterator[tuple[EventTable, list[tuple[bytes, dict]]]]:
        while True:
            entries, self.cursor = await read_after(self.redis, self.keys.events, self.keys.events_generation,
                                                    self.cursor, STREAM_PAGE)
            if entries:
                table, bad = stream_entries_to_table(entries)
                unread = {id(entry) for entry in bad}
                self.entry_ids = [_text(entry[0]) for entry in entries if id(entry) not in unread]
                yield table, bad
            if len(entries) < STREAM_PAGE:
                return


def stream_entries_to_table(entries: list[tuple[bytes, dict]]) -> tuple[EventTable, list[tuple[bytes, dict]]]:
    """Stream entries (as write.store_events writes them) back to an EventTable, vectorised, and the
    entries that do not parse. Ingestion validates every event, so there should be none; but one
    bad entry (written by an older version, or by hand) must not fail every training after it.

    Parameters
    ----------
    entries : list of (bytes, dict of bytes to bytes)
        Entry ids and fields (format.py: u, i, t, ts in epoch seconds, v).

    Returns
    -------
    (EventTable, list of entries)
        The events of the entries that parse, in order, and the entries that do not (each logged).
    """
    try:
        return _entries_table(entries), []
    except (InputError, KeyError, ValueError, UnicodeDecodeError):
        pass
    good, bad = [], []
    for entry in entries:
        try:
            _entries_table([entry])
            good.append(entry)
        except (InputError, KeyError, ValueError, UnicodeDecodeError) as exc:
            log.warning("stream entry %s cannot be read and is set aside: %s", entry[0].decode(), exc)
            bad.append(entry)
    return _entries_table(good), bad


def _entries_table(entries: list[tuple[bytes, dict]]) -> EventTable:
    if not entries:
        return EventTable.empty()
    columns = {name: [fields[name.encode()] for _, fields in entries] for name in STREAM_FIELDS}
    frame = pd.DataFrame({
        "user_id": [b.decode() for b in columns["u"]],
        "item_id": [b.decode() for b in columns["i"]],
        "type": [b.decode() for b in columns["t"]],
        "timestamp": np.array(columns["ts"], dtype=np.float64),
        "value": np.array(columns["v"], dtype=np.float64),
    })
    for name, column in zip(ORDER_STREAM_FIELDS, ORDER_COLUMNS):  # only the pages that have any
        key = name.encode()
        if any(key in fields for _, fields in entries):
            frame[column] = [_text(fields[key]) if key in fields else None for _, fields in entries]
    return EventTable.from_frame(frame)


# Trims the stream up to and including the given id, exactly (not "~"). KEYS: the stream.
_TRIM = r"""
redis.call('XTRIM', KEYS[1], 'MINID', ARGV[1])
return redis.call('XDEL', KEYS[1], ARGV[1])
"""


async def trim_folded(redis: aioredis.Redis, keys: Keys, last_id: str) -> None:
    """Drop the stream's entries up to and including `last_id`: the snapshot holds them now.

    Parameters
    ----------
    last_id : str
        A stream id, "ms-seq".

    Raises
    ------
    redis.exceptions.RedisError, OSError
        Redis could not answer (service.store.client.REDIS_ERRORS).
    """
    await redis.eval(_TRIM, 1, keys.events, last_id)


async def set_aside(redis: aioredis.Redis, keys: Keys, unreadable: list[Entry]) -> None:
    """Copy entries training could not parse to their own stream (`Keys.unreadable_events`, each
    with its original id in field `id`), for a person to look at, out of the way of every later
    training.

    Raises
    ------
    redis.exceptions.RedisError, OSError
        Redis could not answer (service.store.client.REDIS_ERRORS).
    """
    pipe = redis.pipeline(transaction=False)
    for entry_id, fields in unreadable:
        pipe.xadd(keys.unreadable_events, {**fields, b"id": entry_id})
    await pipe.execute()
