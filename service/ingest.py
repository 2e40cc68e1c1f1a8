"""Event ingestion: validate the whole request, then write it in one Redis transaction.

Nothing partial is ever written: one bad event rejects the request before any write, and
the write itself is MULTI/EXEC. With the embedded Redis (appendfsync always) EXEC returns
only after the AOF is on disk, so a 202 means durable.
"""

from __future__ import annotations

import time
from collections import defaultdict

import numpy as np
import pandas as pd
import redis.asyncio as aioredis

from recommender.errors import InputError
from recommender.events import EVENT_COLUMNS, EVENT_TYPES, EventTable, EventWeights, event_confidence
from service.errors import bad_request
from service.keys import Keys

MAX_EVENTS = 10_000
STREAM_FIELDS = ("u", "i", "t", "ts", "v")


def parse_events(payload: object, now: float | None = None) -> EventTable:
    """JSON (one event object or a list) to an EventTable; ApiError 400 naming index and field."""
    events = [payload] if isinstance(payload, dict) else payload
    if not isinstance(events, list):
        raise bad_request("body must be an event object or a list of event objects", "invalid_body")
    if not events:
        raise bad_request("no events in the request", "invalid_body")
    if len(events) > MAX_EVENTS:
        raise bad_request(f"at most {MAX_EVENTS} events per request, got {len(events)}", "too_many_events")
    for index, event in enumerate(events):
        if not isinstance(event, dict):
            raise bad_request(f"events[{index}] must be an object", "invalid_event", index=index)
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
    frame = pd.DataFrame({c: [e.get(c) for e in events] for c in EVENT_COLUMNS}, dtype=object)
    try:
        return EventTable.from_frame(frame, default_timestamp=time.time() if now is None else now)
    except InputError as exc:
        where = f"events[{exc.row}]" + (f".{exc.field}" if exc.field else "") if exc.row is not None else "events"
        raise bad_request(f"{where}: {exc}", "invalid_event", index=exc.row, field=exc.field) from None


async def store_events(redis: aioredis.Redis, keys: Keys, events: EventTable, weights: EventWeights,
                       recent_ttl: int) -> int:
    """Append to the stream and to each user's since-training history, atomically."""
    types = np.asarray(EVENT_TYPES, dtype=object)[events.types]
    confidence = event_confidence(events, EventWeights(**{**weights.to_dict(), "half_life_days": None}), 0.0)
    recent: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    pipe = redis.pipeline(transaction=True)
    for user, item, kind, stamp, value, weight in zip(events.user_ids, events.item_ids, types,
                                                      events.timestamps.tolist(), events.values.tolist(),
                                                      confidence.tolist()):
        pipe.xadd(keys.events, {"u": user, "i": item, "t": kind, "ts": repr(stamp), "v": repr(value)})
        recent[user][item] += weight
    for user, items in recent.items():
        for item, weight in items.items():
            pipe.hincrbyfloat(keys.recent(user), item, weight)
        pipe.expire(keys.recent(user), recent_ttl)
    await pipe.execute()
    return len(events)


def stream_entries_to_table(entries: list[tuple[bytes, dict]]) -> EventTable:
    """Stream entries (as written by store_events) back to an EventTable, vectorised."""
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
