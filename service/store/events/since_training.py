"""Users' since-training state in Redis: each user's events since the last training (a hash item ->
summed confidence weight, with a companion hash item -> stream id of its newest event, and one item ->
the times of their purchases of it) and their shown set (item -> epoch seconds last shown). Written
with the events (write.py); here are its reads for serving, in the one round trip a request makes
together with its precomputed lists, and the training's forget of what the snapshot now holds. Every
change is announced in the change log (format.py), so the replicas' mirrors (service.store.mirror)
stay exact.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import NamedTuple

import numpy as np
import redis.asyncio as aioredis

from recommender.units import SECONDS_PER_DAY
from service.store.client import is_cluster
from service.store.events.format import CHANGE_LOG_MAXLEN, change_log_entry, nonce
from service.store.keys import Keys

FORGET_CHUNK = 1000
NO_EVENTS: Mapping[str, float] = MappingProxyType({})
NO_PURCHASES: Mapping[str, tuple[float, ...]] = MappingProxyType({})

# Every user whose since-training hash or shown set is not empty, as (position, flat field/value list,
# flat member/score list, flat purchases field/value list) quadruples: one command for a whole chunk
# instead of three per user, and most users send nothing back. KEYS: the since-training hashes, the
# since-training purchases, then (when ARGV[2] is not empty) the shown sets; ARGV: the number of users,
# the oldest impression time that still counts.
_STATES_MANY = """
local out = {}
local n = tonumber(ARGV[1])
for k = 1, n do
  local h = redis.call('HGETALL', KEYS[k])
  local s = {}
  if ARGV[2] ~= '' then
    s = redis.call('ZRANGEBYSCORE', KEYS[2 * n + k], ARGV[2], '+inf', 'WITHSCORES')
  end
  if #h > 0 or #s > 0 then
    out[#out + 1] = k
    out[#out + 1] = h
    out[#out + 1] = s
    out[#out + 1] = #h > 0 and redis.call('HGETALL', KEYS[n + k]) or {}
  end
end
return out
"""


class UserState(NamedTuple):
    """What Redis holds about a user besides their list: events since training (item -> weight),
    impressions (item -> epoch seconds last shown) and purchases since training (item -> their
    epoch seconds, at most write.MAX_BOUGHT_TIMES). Mirrored per user by service.store.mirror."""

    since_training: Mapping[str, float]
    shown: Mapping[str, float]
    bought: Mapping[str, tuple[float, ...]] = NO_PURCHASES


NO_STATE = UserState(NO_EVENTS, NO_EVENTS)


async def read_lists_and_states(redis: aioredis.Redis, keys: Keys, list_keys: Sequence[str], users: Sequence[str],
                                fatigue_days: float) -> tuple[list[bytes | None], list[UserState]]:
    """The packed lists under `list_keys` (service.store.lists) and the since-training state of
    `users`, in one round trip: MGET, and HGETALL plus ZRANGEBYSCORE (one user) or a script (several).
    On a cluster, where those keys live on many nodes, a GET per list and the one-user reads per user
    (redis-py sends one round trip per node).

    Parameters
    ----------
    list_keys : sequence of str
        Keys of precomputed lists (`Keys.user_recs`, `Keys.similar`).
    users : sequence of str
        User ids whose state to read.
    fatigue_days : float
        Impressions older than this many days are not read (0: no shown sets read).

    Returns
    -------
    blobs : list of bytes or None
        One per list key, None where the key does not exist.
    states : list of UserState
        One per user.

    Raises
    ------
    redis.exceptions.RedisError, OSError
        Redis could not be read (the caller's timeout included).
    """
    cluster = is_cluster(redis)
    since_keys = [keys.since_training(u) for u in users]
    horizon = repr(time.time() - fatigue_days * SECONDS_PER_DAY) if fatigue_days > 0 else ""
    pipe = redis.pipeline(transaction=False)
    if list_keys and cluster:
        for key in list_keys:
            pipe.get(key)
    elif list_keys:
        pipe.mget(list_keys)
    bought_keys = [keys.since_training_bought(u) for u in users]
    if len(users) == 1 or cluster:
        for user, since_key, bought_key in zip(users, since_keys, bought_keys):
            pipe.hgetall(since_key)
            pipe.hgetall(bought_key)
            if horizon:
                pipe.zrangebyscore(keys.shown(user), horizon, "+inf", withscores=True)
    elif users:
        shown_keys = [keys.shown(u) for u in users] if horizon else []
        pipe.eval(_STATES_MANY, 2 * len(since_keys) + len(shown_keys), *since_keys, *bought_keys, *shown_keys,
                  len(users), horizon)
    replies = await pipe.execute()
    it = iter(replies)
    if cluster:
        blobs = [next(it) for _ in list_keys]
    else:
        blobs = list(next(it)) if list_keys else []
    states: list[UserState] = []
    if len(users) == 1 or cluster:
        for _ in users:
            raw = next(it)
            since = {_text(k): float(v) for k, v in raw.items()} if raw else NO_EVENTS
            bought = _purchases(raw_bought.items()) if (raw_bought := next(it)) and since else NO_PURCHASES
            pairs = next(it) if horizon else None
            shown = {_text(m): float(at) for m, at in pairs} if pairs else NO_EVENTS
            states.append(UserState(since, shown, bought) if since or shown else NO_STATE)
    elif users:
        states = [NO_STATE] * len(users)
        flat = next(it) or []
        for k in range(0, len(flat) - 3, 4):
            fields, members, bought = flat[k + 1], flat[k + 2], flat[k + 3]
            states[int(flat[k]) - 1] = UserState(
                {_text(fields[j]): float(fields[j + 1]) for j in range(0, len(fields), 2)} or NO_EVENTS,
                {_text(members[j]): float(members[j + 1]) for j in range(0, len(members), 2)} or NO_EVENTS,
                _purchases((bought[j], bought[j + 1]) for j in range(0, len(bought), 2)))
    return blobs, states


def _purchases(pairs: Iterable[tuple[bytes | str, bytes | str]]) -> Mapping[str, tuple[float, ...]]:
    """item -> purchase times from the since-training purchases hash (times space-separated)."""
    out = {_text(item): tuple(float(t) for t in _text(times).split()) for item, times in pairs}
    return out or NO_PURCHASES


# Drops a user's since-training entries (and their purchase times) whose newest event is at or before
# the newest folded stream id (ARGV[1], ARGV[2]: its milliseconds and sequence): the snapshot holds them
# now. Ingestion gives every later event a larger stream id, so nothing newer can be dropped,
# whatever the timing.
_FORGET_FUNCTION = r"""
local function forget(since, since_ids, bought, ms, seq)
  local ids = redis.call('HGETALL', since_ids)
  for j = 1, #ids, 2 do
    local m, s = string.match(ids[j + 1], '(%d+)-(%d+)')
    m, s = tonumber(m), tonumber(s)
    if m < ms or (m == ms and s <= seq) then
      redis.call('HDEL', since, ids[j])
      redis.call('HDEL', since_ids, ids[j])
      redis.call('HDEL', bought, ids[j])
    end
  end
end
local ms, seq = tonumber(ARGV[1]), tonumber(ARGV[2])
"""
# One Redis: KEYS are the change log, then per user their since-training hash, its stream-id hash and
# their since-training purchases;
# ARGV[3], ARGV[4], ARGV[5]: the change-log length, the users announced in the same script and the
# entry's nonce (format.nonce).
_FORGET = _FORGET_FUNCTION + r"""
for k = 2, #KEYS, 3 do
  forget(KEYS[k], KEYS[k + 1], KEYS[k + 2], ms, seq)
end
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 'u', ARGV[4], 'n', ARGV[5])
return 1
"""
# A Redis Cluster: one user's three hashes (one slot), the change log written afterwards.
_FORGET_USER = _FORGET_FUNCTION + r"""
forget(KEYS[1], KEYS[2], KEYS[3], ms, seq)
return 1
"""


async def forget_folded(redis: aioredis.Redis, keys: Keys, users: np.ndarray, last_id: str) -> None:
    """Drop from users' since-training events what the snapshot now holds, so those hashes (and the
    replicas' caches of them, told through the change log) stay as small as the events since the
    last training, not a month of them."""
    ms, seq = last_id.split("-")
    for start in range(0, len(users), FORGET_CHUNK):
        chunk = users[start:start + FORGET_CHUNK].tolist()
        if is_cluster(redis):
            pipe = redis.pipeline(transaction=False)  # redis-py groups it by node
            for user in chunk:
                pipe.eval(_FORGET_USER, 3, keys.since_training(user), keys.since_training_ids(user),
                          keys.since_training_bought(user), ms, seq)
            await pipe.execute()
            await redis.xadd(keys.change_log, change_log_entry(chunk), maxlen=CHANGE_LOG_MAXLEN, approximate=True)
            continue
        script_keys = [keys.change_log, *(k for u in chunk for k in (keys.since_training(u), keys.since_training_ids(u),
                                                                   keys.since_training_bought(u)))]
        await redis.eval(_FORGET, len(script_keys), *script_keys, ms, seq, CHANGE_LOG_MAXLEN, "\n".join(chunk),
                         nonce())


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
