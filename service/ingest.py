"""Event ingestion: validate the whole request, then write it in one atomic Redis script.

Nothing partial is ever written: one bad event rejects the request before any write, and
the write itself is one Lua script, which Redis runs atomically (like MULTI/EXEC, but one
command instead of three per event, so a batch of 500 costs one round trip and one reply).
With the embedded Redis (appendfsync always) the reply comes only after the AOF is on disk,
so a 202 means durable. The same script appends the users it touched to the recent-events
change log (service.cache.RecentEvents), which lets replicas cache those hashes exactly.

Two event kinds do more than that, in the same script: an `impression` (the store showed the
item) goes to the user's shown set instead of their since-training events (service.serving
demotes shown items), and a click or purchase carrying the `recommendation_id` of a served
response counts for that response's model version and route (service.online).
"""

from __future__ import annotations

import logging
import math
import re
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import redis.asyncio as aioredis

from recommender.errors import InputError
from recommender.events import (
    EVENT_COLUMNS,
    EVENT_TYPES,
    MAX_REVIEW_VALUE,
    MAX_VALUE,
    SECONDS_PER_DAY,
    EventTable,
    EventWeights,
    event_confidence,
)
from recommender.ids import MAX_ID_BYTES
from service.cache import RECENT_LOG_MAXLEN
from service.errors import bad_request, json_records, located
from service.keys import Keys
from service.online import ONLINE_KEEP_SECONDS, attribution, utc_day
from service.settings import Settings

log = logging.getLogger(__name__)
MAX_EVENTS = 10_000
STREAM_FIELDS = ("u", "i", "t", "ts", "v")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # what recommender.ids.validate_ids refuses
_TYPE_CODES = {name: code for code, name in enumerate(EVENT_TYPES)}
_REVIEW = EVENT_TYPES.index("review")
_IMPRESSION = EVENT_TYPES.index("impression")
#: A user's shown set keeps at most this many items (the most recent), whatever the window.
MAX_SHOWN = 500
_ATTRIBUTED = {"click": "clicks", "purchase": "purchases"}  # event type -> online counter it adds to
_NONE = "\x02"  # "no recommendation_id" in the store script's fields
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


# KEYS: the event stream, the recent-events change log, today's online-feedback hash, one recent
# hash per user followed by its stream-id hash (item -> id of the item's newest event, so training can
# drop what it folded: service.training_job), one shown set per user with impressions, then one
# "seen" key per client event id.
# ARGV: per event ten fields joined by \x1f: user, item, type, timestamp and value (the last two
# as Python's repr, so the stream holds exactly the floats parsed), its confidence weight, the KEYS
# index of its user's recent hash (of their shown set for an impression; 0: none), the KEYS index
# of its seen key (0: no id), its recommendation_id and the `version|route` a click or purchase
# counts for (\x02 for none: the pattern below skips empty fields, and ids never hold control
# characters); then the recent TTL, the change-log length, the users for the change log, the
# event-id TTL, the length of the seen keys' prefix, the oldest impression time kept, the shown
# sets' TTL and size, and the online hash's TTL. Ids never hold control
# characters, so the separators are safe. A handful of arguments instead of thousands: redis-py
# packs every argument in Python, which cost more than everything else in the request.
#
# An event whose seen key already exists was stored by an earlier request (a client retrying
# after a lost 202) and is skipped: SET NX in the same script as the XADD, so "stored" and
# "remembered as stored" can never disagree, even if Redis dies mid-request. An impression goes
# to the shown set (ZADD GT: a late-arriving older impression never moves an item back in time),
# not to the recent hash, so it is never taken for an interaction. A click or purchase answering
# a recommendation_id counts for the version and route the id names (service.online).
_STORE = r"""
local f = {}
for field in string.gmatch(ARGV[1], '[^\031]+') do
  f[#f + 1] = field
end
local touched = {}
local shown = {}
local stored = 0
local attributed = 0
local cut = tonumber(ARGV[6])
for j = 1, #f, 10 do
  local seen = tonumber(f[j + 7])
  local fresh = true
  if seen > 0 then
    fresh = redis.call('SET', KEYS[seen], '1', 'NX', 'EX', ARGV[5])
  end
  if fresh then
    local entry = {'u', f[j], 'i', f[j + 1], 't', f[j + 2], 'ts', f[j + 3], 'v', f[j + 4]}
    if seen > 0 then
      entry[#entry + 1] = 'e'
      entry[#entry + 1] = string.sub(KEYS[seen], cut + 1)
    end
    if f[j + 8] ~= '\002' then
      entry[#entry + 1] = 'r'
      entry[#entry + 1] = f[j + 8]
    end
    local id = redis.call('XADD', KEYS[1], '*', unpack(entry))
    local k = tonumber(f[j + 6])
    if f[j + 2] == 'impression' then
      if k > 0 then
        redis.call('ZADD', KEYS[k], 'GT', f[j + 3], f[j + 1])
        shown[k] = true
      end
    else
      redis.call('HINCRBYFLOAT', KEYS[k], f[j + 1], f[j + 5])
      redis.call('HSET', KEYS[k + 1], f[j + 1], id)
      touched[k] = true
    end
    if f[j + 9] ~= '\002' then
      redis.call('HINCRBY', KEYS[3], f[j + 9], 1)
      attributed = attributed + 1
    end
    stored = stored + 1
  end
end
for k in pairs(touched) do
  redis.call('EXPIRE', KEYS[k], ARGV[2])
  redis.call('EXPIRE', KEYS[k + 1], ARGV[2])
end
for k in pairs(shown) do
  redis.call('ZREMRANGEBYSCORE', KEYS[k], '-inf', '(' .. ARGV[7])
  redis.call('ZREMRANGEBYRANK', KEYS[k], 0, -1 - tonumber(ARGV[9]))
  redis.call('EXPIRE', KEYS[k], ARGV[8])
end
if attributed > 0 then
  redis.call('EXPIRE', KEYS[3], ARGV[10])
end
if stored > 0 then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'u', ARGV[4])
end
return stored
"""


async def store_events(redis: aioredis.Redis, keys: Keys, batch: EventBatch, weights: EventWeights,
                       recent_ttl: int, event_id_ttl: int, fatigue_days: float = Settings.fatigue_days,
                       online_days: float = Settings.online_days, now: float | None = None) -> int:
    """Append to the stream and to each user's since-training history (impressions: to their shown
    set), attribute clicks and purchases to the response they came from, atomically; events whose
    client id was stored before are skipped. Returns how many were stored."""
    events = batch.events
    now = time.time() if now is None else now
    types = np.asarray(EVENT_TYPES, dtype=object)[events.types]
    confidence = event_confidence(events, EventWeights(**{**weights.to_dict(), "half_life_days": None}), 0.0)
    users = events.user_ids.tolist()
    user_slot: dict[str, int] = {}
    for user in users:
        if user not in user_slot:
            user_slot[user] = 4 + 2 * len(user_slot)  # 1-based; stream, change log, online hash first
    shown_slot: dict[str, int] = {}
    if fatigue_days > 0:
        for user in events.user_ids[events.types == _IMPRESSION].tolist():
            if user not in shown_slot:
                shown_slot[user] = 4 + 2 * len(user_slot) + len(shown_slot)
    first_id = 4 + 2 * len(user_slot) + len(shown_slot)  # where the seen keys start
    id_keys: dict[str, int] = {}
    fields: list[str] = []
    event_ids = batch.event_ids or [None] * len(events)
    recommendation_ids = batch.recommendation_ids or [None] * len(events)
    for user, item, kind, stamp, value, weight, event_id, recommendation_id in zip(
            users, events.item_ids.tolist(), types.tolist(), events.timestamps.tolist(), events.values.tolist(),
            confidence.tolist(), event_ids, recommendation_ids):
        seen = 0
        if event_id is not None:
            seen = id_keys.setdefault(keys.event_seen(event_id), first_id + len(id_keys))
        counts_for = _NONE
        if recommendation_id is not None and kind in _ATTRIBUTED:
            counts_for = attribution(recommendation_id, now, online_days)
            counts_for = _NONE if counts_for is None else f"{counts_for}|{_ATTRIBUTED[kind]}"
        slot = shown_slot.get(user, 0) if kind == "impression" else user_slot[user]
        fields += (user, item, kind, repr(stamp), repr(value), repr(weight), str(slot), str(seen),
                   _NONE if recommendation_id is None else recommendation_id, counts_for)
    script_keys = [keys.events, keys.recent_log, keys.online(utc_day(now)),
                   *(key for u in user_slot for key in (keys.recent(u), keys.recent_ids(u))),
                   *(keys.shown(u) for u in shown_slot), *id_keys]
    return int(await redis.eval(
        _STORE, len(script_keys), *script_keys, "\x1f".join(fields), int(recent_ttl), RECENT_LOG_MAXLEN,
        "\n".join(user_slot), int(event_id_ttl), len(keys.event_seen("")),
        repr(now - fatigue_days * SECONDS_PER_DAY), max(int(fatigue_days * SECONDS_PER_DAY), 1), MAX_SHOWN,
        ONLINE_KEEP_SECONDS))


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
