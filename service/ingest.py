"""Event ingestion: validate the whole request before anything is written (service.event_store
writes it), and read the stream back for training.

Nothing partial is ever written: one bad event rejects the request before any write.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import redis.asyncio as aioredis

from recommender.errors import InputError
from recommender.events import EVENT_COLUMNS, EVENT_TYPES, MAX_REVIEW_VALUE, MAX_VALUE, EventTable
from recommender.ids import MAX_ID_BYTES
from service.errors import bad_request, json_records, located
from service.keys import Keys
from service.stream_cursor import StreamCursor, read_after

log = logging.getLogger(__name__)
MAX_EVENTS = 10_000
STREAM_PAGE = 10_000  # stream entries read per XRANGE
STREAM_FIELDS = ("u", "i", "t", "ts", "v")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # what recommender.ids.validate_ids refuses
_TYPE_CODES = {name: code for code, name in enumerate(EVENT_TYPES)}
_REVIEW = EVENT_TYPES.index("review")
_EXACT = 2 ** 53  # integers beyond this do not convert to float64 the same way everywhere


@dataclass
class EventBatch:
    """A validated request: the events, and the client's event_id and the recommendation_id they
    answer for each (None: not given)."""

    events: EventTable
    event_ids: list[str | None] | None = None  # None when no event in the request carries one
    recommendation_ids: list[str | None] | None = None  # likewise


def parse_batch(payload: object, now: float | None = None) -> EventBatch:
    """JSON (one event object or a list) to an EventBatch; ApiError 400 naming index and field."""
    events = json_records(payload, "event", MAX_EVENTS)
    for index, event in enumerate(events):
        for name in ("user_id", "item_id", "type"):
            if not isinstance(event.get(name), str):
                raise bad_request(f"events[{index}].{name} is required and must be a string", "invalid_event",
                                  index=index, field=name)
        stamp = event.get("timestamp")
        if stamp is not None and (isinstance(stamp, bool) or not isinstance(stamp, (int, float, str))):
            raise bad_request(f"events[{index}].timestamp must be ISO 8601 or epoch seconds", "invalid_event",
                              index=index, field="timestamp")
        value = event.get("value")
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise bad_request(f"events[{index}].value must be a number", "invalid_event", index=index,
                              field="value")
    event_ids = _optional_ids(events, "event_id")
    recommendation_ids = _optional_ids(events, "recommendation_id")
    default_timestamp = time.time() if now is None else now
    table = _plain_table(events, default_timestamp)
    if table is not None:
        return EventBatch(table, event_ids, recommendation_ids)
    frame = pd.DataFrame({c: [e.get(c) for e in events] for c in EVENT_COLUMNS}, dtype=object)
    try:
        return EventBatch(EventTable.from_frame(frame, default_timestamp=default_timestamp), event_ids,
                          recommendation_ids)
    except InputError as exc:
        raise located(exc, "event") from None


def _optional_ids(events: list[dict], field: str) -> list[str | None] | None:
    """An optional id field of every event (the client's `event_id` that makes a retried request
    safe, the `recommendation_id` a click answers); 400 for one that is not an id."""
    ids = [event.get(field) for event in events]
    if ids.count(None) == len(ids):
        return None
    for index, value in enumerate(ids):
        if value is not None and not (isinstance(value, str) and _valid_id(value)):
            raise bad_request(f"events[{index}].{field} must be a non-empty string of at most {MAX_ID_BYTES} "
                              "bytes without control characters", "invalid_event", index=index, field=field)
    return ids


def _valid_id(value: str) -> bool:
    if not value or _CONTROL.search(value):
        return False
    if value.isascii():
        return len(value) <= MAX_ID_BYTES
    try:
        return len(value.encode("utf-8")) <= MAX_ID_BYTES
    except UnicodeEncodeError:
        return False


def _number(value: object) -> float | None:
    """A JSON int or float as float64, None when it is not one or would not convert exactly."""
    kind = type(value)
    if kind is float:
        return value if math.isfinite(value) else None  # type: ignore[return-value]
    if kind is int and -_EXACT <= value <= _EXACT:  # type: ignore[operator]
        return float(value)  # type: ignore[arg-type]
    return None


def _plain_table(events: list[dict], default_timestamp: float) -> EventTable | None:
    """What EventTable.from_frame builds from these events, without pandas, when every event is
    plainly valid: ids fine, a known type, the timestamp absent or epoch seconds, the value
    absent or a number. None otherwise: the pandas path then parses ISO 8601 dates and names
    the first bad event exactly as before. (For 500 events this is ten times faster.)
    """
    n = len(events)
    users: list[str] = [""] * n
    items: list[str] = [""] * n
    types = np.empty(n, dtype=np.int8)
    stamps = np.empty(n, dtype=np.float64)
    values = np.empty(n, dtype=np.float64)
    for k, event in enumerate(events):
        user, item, code = event["user_id"], event["item_id"], _TYPE_CODES.get(event["type"])
        if code is None or not _valid_id(user) or not _valid_id(item):
            return None
        stamp, value = event.get("timestamp"), event.get("value")
        stamp = default_timestamp if stamp is None else _number(stamp)
        value = 1.0 if value is None else _number(value)
        if stamp is None or value is None:
            return None
        users[k], items[k], types[k], stamps[k], values[k] = user, item, code, stamp, value
    if not (np.abs(values) <= MAX_VALUE).all():  # would overflow float32: the pandas path names the event
        return None
    single = values.astype(np.float32)
    if ((types == _REVIEW) & ((single < 0) | (single > MAX_REVIEW_VALUE))).any():
        return None
    return EventTable(np.array(users, dtype=object), np.array(items, dtype=object), types, stamps, single)


class StreamPages:
    """The event stream's entries after a cursor, a page at a time: iterate for (events, entries that
    do not parse); `cursor` is then where the reading ended. Training folds them; the retention index
    reads the same pages. Raises service.stream_cursor.StreamReset when the stream is not the one the
    cursor was taken on."""

    def __init__(self, redis: aioredis.Redis, keys: Keys, cursor: StreamCursor) -> None:
        self.redis, self.keys, self.cursor = redis, keys, cursor

    async def __aiter__(self) -> AsyncIterator[tuple[EventTable, list[tuple[bytes, dict]]]]:
        while True:
            entries, self.cursor = await read_after(self.redis, self.keys.events, self.keys.events_generation,
                                                    self.cursor, STREAM_PAGE)
            if entries:
                yield stream_entries_to_table(entries)
            if len(entries) < STREAM_PAGE:
                return


def stream_entries_to_table(entries: list[tuple[bytes, dict]]) -> tuple[EventTable, list[tuple[bytes, dict]]]:
    """Stream entries (as written by store_events) back to an EventTable, vectorised, and the
    entries that do not parse. Ingestion validates every event, so there should be none; but one
    bad entry (written by an older version, or by hand) must not fail every training after it."""
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
    return EventTable.from_frame(frame)
