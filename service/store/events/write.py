"""Writing accepted events to Redis: the stream (what training reads) and each user's
since-training events and shown set (what serving reads), with client-id dedupe and
online attribution.

On one Redis the whole request is one Lua script, which Redis runs atomically (like MULTI/EXEC,
but one command instead of three per event, so a batch of 500 costs one round trip and one
reply). With the embedded Redis (appendfsync always) the reply comes only after the AOF is on
disk, so a 202 means durable. The same script appends the users it touched to the change log
(service.store.mirror), which lets replicas mirror that state exactly.

On a Redis Cluster a script may only touch one slot (service.store.keys), so the write is three
steps: one script on the shared slot (dedupe, stream, attribution), then one script per user
on that user's slot (pipelined: one round trip per node), then the change log. The stream is
written first: it is what training folds, so once the first step returned, nothing is lost. If
the service dies before the second step, the users' since-training hashes miss those events
until the next training folds them from the stream (recommendations may, until then, repeat
an item just bought). The change log comes last, so a replica never caches a hash read before
the write it announces.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from recommender.matrix import EventWeights
from recommender.units import SECONDS_PER_DAY
from service.ingest import EventBatch
from service.settings import Settings
from service.store.client import is_cluster
from service.store.events.format import CHANGE_LOG_MAXLEN, change_log_entry, nonce
from service.store.events.rows import SEP, EventRow, event_rows, order_field, order_key_slots, seen_key_slots
from service.store.events.stream import GENERATION_LUA
from service.store.events.write_lua import REUSED_ID_ERROR, SHARED_LUA
from service.store.keys import Keys
from service.store.online import ONLINE_KEEP_SECONDS, utc_day

#: A user's shown set keeps at most this many items (the most recent), whatever the window.
MAX_SHOWN = 500


@dataclass(frozen=True)
class StoreLimits:
    """How long things are kept, from the settings.

    Attributes
    ----------
    since_training_ttl : int
        Seconds a user's since-training hashes live after their last write (RECS_SINCE_TRAINING_TTL).
    event_id_ttl : int
        Seconds a client event id is remembered for dedupe (RECS_EVENT_ID_TTL).
    fatigue_days : float
        Days impressions stay in the shown sets (RECS_FATIGUE_DAYS).
    online_days : float
        Days a recommendation id stays attributable (RECS_ONLINE_DAYS).
    """

    since_training_ttl: int
    event_id_ttl: int
    fatigue_days: float = Settings.fatigue_days
    online_days: float = Settings.online_days
    currency: str = Settings.currency  # of revenue from items whose catalog entry names no currency

    @classmethod
    def from_settings(cls, settings: Settings) -> StoreLimits:
        """The limits a service's settings give."""
        return cls(int(settings.since_training_ttl), int(settings.event_id_ttl), settings.fatigue_days,
                   settings.online_days, settings.currency)

    @property
    def order_ttl(self) -> int:
        """Seconds an attributed order is remembered (so its other lines do not count it again)."""
        return max(int(self.online_days * SECONDS_PER_DAY), 1)

    def shown_args(self, now: float) -> tuple[str, int, int]:
        """The shown sets' script arguments at `now` (epoch seconds): the oldest impression kept
        (epoch seconds, as repr), the sets' TTL in seconds (at least 1) and their most items."""
        return (repr(now - self.fatigue_days * SECONDS_PER_DAY), max(int(self.fatigue_days * SECONDS_PER_DAY), 1),
                MAX_SHOWN)


async def store_events(redis: aioredis.Redis, keys: Keys, batch: EventBatch, weights: EventWeights,
                       limits: StoreLimits, now: float | None = None, sharded: bool | None = None) -> int:
    """Append a validated batch to the stream and to each user's since-training state (impressions: to
    their shown set), attribute clicks and purchases to the response they came from, and announce the
    users in the change log; events whose client id was stored before are skipped.

    Parameters
    ----------
    batch : EventBatch
        Validated by service.ingest.
    weights : EventWeights
        Confidence weights of the since-training hashes (no time decay there).
    limits : StoreLimits
        TTLs, fatigue window, attribution window.
    now : float, optional
        Epoch seconds of the write (default: the clock).
    sharded : bool, optional
        The cluster write path (shared slot first, then each user's, then the change log) or the one
        atomic script; default: the cluster path exactly when `redis` is a cluster client. The cluster
        path works on a single Redis too (tests compare the two).

    Returns
    -------
    int
        How many events were stored (the rest were retried copies).

    Raises
    ------
    EventIdReused
        An event's id was stored by an earlier request for a different event; nothing was written.
    redis.exceptions.RedisError, OSError
        Redis refused or could not be reached; on a single Redis nothing was written then.
    """
    now = time.time() if now is None else now
    rows = event_rows(batch, weights, now, limits.online_days, keys)
    try:
        if is_cluster(redis) if sharded is None else sharded:
            return await _store_sharded(redis, keys, rows, limits, now)
        return await _store_atomic(redis, keys, rows, limits, now)
    except ResponseError as exc:
        reused = str(exc).split(" ")
        if reused[0] != REUSED_ID_ERROR:
            raise
        index = int(reused[1])
        raise EventIdReused(index, rows[index].event_id) from None


class EventIdReused(Exception):
    """An event whose client id an earlier request stored for a different event (another customer, item or
    type); nothing of its request was written."""

    def __init__(self, index: int, event_id: str | None) -> None:
        super().__init__(f"event {index}'s id {event_id!r} was stored for a different event")
        self.index, self.event_id = index, event_id


# -- one Redis: one atomic script ---------------------------------------------------------------
# KEYS: the event stream, the change log, today's online hash, the catalog's offers (service.store.prices),
# the experiments' buyers hash, per user their since-training hash, its stream-id hash and their since-training purchases, one shown set per user with impressions, one seen
# key per client event id, one order key per attributed purchase with an order id, then the stream's
# generation key. ARGV: per event eleven fields joined by \x1f: user, item, type, timestamp, value,
# confidence weight, the KEYS index of its user's since-training hash (of their shown set for an impression; 0:
# none), the KEYS index of its seen key (0: no id), its recommendation_id, the `version|route` it counts for,
# and its order data (rows.order_field: \x02, or unit price, quantity, order id and the KEYS index of its order
# key joined by \x18; one field, so events without order data cost the script one more field); then the since-training
# TTL, the change-log length, the users for the change log, the event-id TTL, the length of the seen keys'
# prefix, the oldest impression kept, the shown sets' TTL and size, the online hash's TTL, the change-log
# entry's nonce, a new stream generation (format.nonce; stream.GENERATION_LUA), used if the stream is created,
# the default currency and the order keys' TTL. A handful of arguments instead of thousands: redis-py packs
# every argument in Python, which cost more than everything else in the request.
_STORE = SHARED_LUA + GENERATION_LUA + r"""
local f = fields(ARGV[1])
local prints, reused = fingerprints(f, 11, 7)
if reused then
  return reused
end
ensure_generation(KEYS[1], KEYS[#KEYS], ARGV[12])
local touched, shown = {}, {}
local stored, attributed = 0, 0
for j = 1, #f, 11 do
  local s = tonumber(f[j + 7])
  local seen_key = s > 0 and KEYS[s] or nil
  if is_new(seen_key, ARGV[5], prints[j]) then
    local p, q, order, o = order_data(f[j + 10])
    local price, currency = nil, nil
    if p ~= '\002' or f[j + 2] == 'purchase' then
      price, currency = priced(KEYS[4], f[j + 2], f[j + 1], p, f[j + 9])
    end
    local id = append(KEYS[1], seen_key, tonumber(ARGV[6]), f[j], f[j + 1], f[j + 2], f[j + 3], f[j + 4], f[j + 8],
                      price, q, order)
    local k = tonumber(f[j + 6])
    if f[j + 2] ~= 'impression' then
      add_to_user(f[j + 2], KEYS[k], KEYS[k + 1], KEYS[k + 2], nil, f[j + 1], f[j + 3], f[j + 5], id)
      touched[k] = true
    elseif k > 0 then
      add_to_user(f[j + 2], nil, nil, nil, KEYS[k], f[j + 1], f[j + 3], f[j + 5], id)
      shown[k] = true
    end
    attributed = attributed + attribute(KEYS[3], f[j + 9], f[j + 2], price, q, currency or ARGV[13],
                                        o > 0 and KEYS[o] or nil, ARGV[14], KEYS[5], f[j])
    stored = stored + 1
  end
end
for k in pairs(touched) do
  expire_since_training(KEYS[k], KEYS[k + 1], KEYS[k + 2], ARGV[2])
end
for k in pairs(shown) do
  trim_shown(KEYS[k], ARGV[7], ARGV[8], ARGV[9])
end
if attributed > 0 then
  redis.call('EXPIRE', KEYS[3], ARGV[10])
end
if stored > 0 then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'u', ARGV[4], 'n', ARGV[11])
end
return stored
"""

#: Shared-slot keys before the users' in the atomic script: stream, change log, online hash, offers, buyers.
_FIRST_USER_KEY = 6


async def _store_atomic(redis: aioredis.Redis, keys: Keys, rows: list[EventRow], limits: StoreLimits,
                        now: float) -> int:
    user_slot: dict[str, int] = {}
    for row in rows:
        if row.user not in user_slot:
            user_slot[row.user] = _FIRST_USER_KEY + 3 * len(user_slot)  # 1-based, after the shared keys
    shown_slot: dict[str, int] = {}
    if limits.fatigue_days > 0:
        for row in rows:
            if row.kind == "impression" and row.user not in shown_slot:
                shown_slot[row.user] = _FIRST_USER_KEY + 3 * len(user_slot) + len(shown_slot)
    seen_keys, seen_index = seen_key_slots(keys, rows, _FIRST_USER_KEY + 3 * len(user_slot) + len(shown_slot))
    order_keys, order_index = order_key_slots(rows, _FIRST_USER_KEY + 3 * len(user_slot) + len(shown_slot)
                                          + len(seen_keys))
    fields: list[str] = []
    for row, seen, order in zip(rows, seen_index, order_index):
        slot = shown_slot.get(row.user, 0) if row.kind == "impression" else user_slot[row.user]
        fields += (row.user, row.item, row.kind, row.stamp, row.value, row.weight, str(slot), str(seen),
                   row.recommendation_id, row.counts_for, order_field(row, order))
    script_keys = [keys.events, keys.change_log, keys.online(utc_day(now)), keys.catalog_offers, keys.experiment_buyers,
                   *(key for u in user_slot for key in (keys.since_training(u), keys.since_training_ids(u),
                                                        keys.since_training_bought(u))),
                   *(keys.shown(u) for u in shown_slot), *seen_keys, *order_keys, keys.events_generation]
    return int(await redis.eval(
        _STORE, len(script_keys), *script_keys, SEP.join(fields), limits.since_training_ttl, CHANGE_LOG_MAXLEN,
        "\n".join(user_slot), limits.event_id_ttl, len(keys.event_seen("")), *limits.shown_args(now),
        ONLINE_KEEP_SECONDS, nonce(), nonce(), limits.currency, limits.order_ttl))


# -- a Redis Cluster: the shared slot, then each user's, then the change log ----------------------
# KEYS: the stream, today's online hash, the catalog's offers, the experiments' buyers, the seen keys, the order
# keys, the stream's
# generation key. ARGV: per event nine fields (user, item, type, timestamp, value, seen key's KEYS index or
# 0, recommendation_id, what it counts for, order data as in the atomic script), the
# event-id TTL, the seen keys' prefix length, the online hash's TTL, a new stream generation, the default
# currency, the order keys' TTL. Returns each event's stream id, or "" when it was a retried copy.
_STORE_STREAM = SHARED_LUA + GENERATION_LUA + r"""
local f = fields(ARGV[1])
local prints, reused = fingerprints(f, 9, 5)
if reused then
  return reused
end
ensure_generation(KEYS[1], KEYS[#KEYS], ARGV[5])
local ids = {}
local attributed = 0
for j = 1, #f, 9 do
  local s = tonumber(f[j + 5])
  local seen_key = s > 0 and KEYS[s] or nil
  if is_new(seen_key, ARGV[2], prints[j]) then
    local p, q, order, o = order_data(f[j + 8])
    local price, currency = nil, nil
    if p ~= '\002' or f[j + 2] == 'purchase' then
      price, currency = priced(KEYS[3], f[j + 2], f[j + 1], p, f[j + 7])
    end
    ids[#ids + 1] = append(KEYS[1], seen_key, tonumber(ARGV[3]), f[j], f[j + 1], f[j + 2], f[j + 3], f[j + 4],
                           f[j + 6], price, q, order)
    attributed = attributed + attribute(KEYS[2], f[j + 7], f[j + 2], price, q, currency or ARGV[6],
                                        o > 0 and KEYS[o] or nil, ARGV[7], KEYS[4], f[j])
  else
    ids[#ids + 1] = ''
  end
end
if attributed > 0 then
  redis.call('EXPIRE', KEYS[2], ARGV[4])
end
return ids
"""

# KEYS: one user's since-training hash, its stream-id hash, their shown set, their since-training purchases.
# ARGV: per event five fields (item, type, timestamp, weight, stream id), the since-training TTL, whether
# impressions are kept ("1"), the oldest impression kept, the shown set's TTL and size.
_STORE_USER = SHARED_LUA + r"""
local f = fields(ARGV[1])
local touched, shown = false, false
local keep_shown = ARGV[3] == '1'
for j = 1, #f, 5 do
  if f[j + 1] ~= 'impression' then
    add_to_user(f[j + 1], KEYS[1], KEYS[2], KEYS[4], nil, f[j], f[j + 2], f[j + 3], f[j + 4])
    touched = true
  elseif keep_shown then
    add_to_user(f[j + 1], nil, nil, nil, KEYS[3], f[j], f[j + 2], f[j + 3], f[j + 4])
    shown = true
  end
end
if touched then
  expire_since_training(KEYS[1], KEYS[2], KEYS[4], ARGV[2])
end
if shown then
  trim_shown(KEYS[3], ARGV[4], ARGV[5], ARGV[6])
end
return 1
"""


async def _store_sharded(redis: aioredis.Redis, keys: Keys, rows: list[EventRow], limits: StoreLimits,
                         now: float) -> int:
    seen_keys, seen_index = seen_key_slots(keys, rows, 5)
    order_keys, order_index = order_key_slots(rows, 5 + len(seen_keys))
    fields: list[str] = []
    for row, seen, order in zip(rows, seen_index, order_index):
        fields += (row.user, row.item, row.kind, row.stamp, row.value, str(seen), row.recommendation_id,
                   row.counts_for, order_field(row, order))
    script_keys = [keys.events, keys.online(utc_day(now)), keys.catalog_offers, keys.experiment_buyers, *seen_keys,
                   *order_keys, keys.events_generation]
    ids = await redis.eval(_STORE_STREAM, len(script_keys), *script_keys, SEP.join(fields), limits.event_id_ttl,
                           len(keys.event_seen("")), ONLINE_KEEP_SECONDS, nonce(), limits.currency, limits.order_ttl)
    per_user: dict[str, list[str]] = {}
    for row, stream_id in zip(rows, ids):
        if stream_id:
            per_user.setdefault(row.user, []).extend(
                (row.item, row.kind, row.stamp, row.weight, stream_id.decode()))
    if not per_user:
        return 0
    keep_shown = "1" if limits.fatigue_days > 0 else "0"
    pipe = redis.pipeline(transaction=False)  # grouped by node by redis-py: one round trip each
    for user, user_fields in per_user.items():
        pipe.eval(_STORE_USER, 4, keys.since_training(user), keys.since_training_ids(user), keys.shown(user),
                  keys.since_training_bought(user), SEP.join(user_fields),
                  limits.since_training_ttl, keep_shown, *limits.shown_args(now))
    await pipe.execute()
    await redis.xadd(keys.change_log, change_log_entry(list(per_user)), maxlen=CHANGE_LOG_MAXLEN, approximate=True)
    return sum(1 for stream_id in ids if stream_id)
