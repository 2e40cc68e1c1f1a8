"""Users' since-training state in Redis: each user's events since the last training (a hash item ->
summed confidence weight, with a companion hash item -> stream id of its newest event) and their shown
set (item -> epoch seconds last shown). Written with the events (write.py); here are its reads for
serving, in the one round trip a request makes together with its precomputed lists, and the training's
forget of what the snapshot now holds. Every change is announced in the change log (format.py), so the
replicas' mirrors (service.store.mirror) stay exact.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import NamedTuple

import numpy as np
import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

from recommender.units import SECONDS_PER_DAY
from service.store.client import is_cluster
from service.store.events.format import CHANGE_LOG_MAXLEN, change_log_entry, nonce
from service.store.keys import Keys

FORGET_CHUNK = 1000
NO_EVENTS: Mapping[str, float] = MappingProxyType({})

# One Redis: the lists and the users' states in one command. Returns each list (nil where missing),
# then one more element: every user whose since-training hash or shown set is not empty, as
# (position, flat field/value list, flat member/score list) triples, so most users send nothing back.
# KEYS: the list keys, the since-training hashes, then (when ARGV[3] is not empty) the shown sets;
# ARGV: the number of lists, the number of users, the oldest impression time that still counts.
_READ = """
local lists, n = tonumber(ARGV[1]), tonumber(ARGV[2])
local out = {}
for k = 1, lists do
  out[k] = redis.call('GET', KEYS[k])
end
local states = {}
for k = 1, n do
  local h = redis.call('HGETALL', KEYS[lists + k])
  local s = {}
  if ARGV[3] ~= '' then
    s = redis.call('ZRANGEBYSCORE', KEYS[lists + n + k], ARGV[3], '+inf', 'WITHSCORES')
  end
  if #h > 0 or #s > 0 then
    states[#states + 1] = k
    states[#states + 1] = h
    states[#states + 1] = s
  end
end
out[lists + 1] = states
return out
"""
_READ_SHA = hashlib.sha1(_READ.encode()).hexdigest()


class UserState(NamedTuple):
    """What Redis holds about a user besides their list. Mirrored per user by service.store.mirror.

    Attributes
    ----------
    since_training : mapping of str to float
        Item id -> summed confidence weight of the user's events since the last training.
    shown : mapping of str to float
        Item id -> epoch seconds it was last shown, inside the fatigue window.
    """

    since_training: Mapping[str, float]
    shown: Mapping[str, float]


NO_STATE = UserState(NO_EVENTS, NO_EVENTS)


async def read_lists_and_states(redis: aioredis.Redis, keys: Keys, list_keys: Sequence[str], users: Sequence[str],
                                fatigue_days: float) -> tuple[list[bytes | None], list[UserState]]:
    """The packed lists under `list_keys` (service.store.lists) and the since-training state of
    `users`, in one round trip: one script on a single Redis (run by its SHA-1, sent whole only when
    the server does not know it yet). On a cluster, where those keys live on many nodes, a GET per
    list and HGETALL plus ZRANGEBYSCORE per user (redis-py sends one round trip per node).

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
    since_keys = [keys.since_training(u) for u in users]
    horizon = repr(time.time() - fatigue_days * SECONDS_PER_DAY) if fatigue_days > 0 else ""
    if not is_cluster(redis):
        shown_keys = [keys.shown(u) for u in users] if horizon else []
        script_keys = [*list_keys, *since_keys, *shown_keys]
        args = (len(list_keys), len(users), horizon)
        try:
            reply = await redis.evalsha(_READ_SHA, len(script_keys), *script_keys, *args)
        except NoScriptError:  # a restarted or flushed server: send the script itself once
            reply = await redis.eval(_READ, len(script_keys), *script_keys, *args)
        states = [NO_STATE] * len(users)
        flat = reply[len(list_keys)] or []
        for k in range(0, len(flat) - 2, 3):
            fields, members = flat[k + 1], flat[k + 2]
            states[int(flat[k]) - 1] = UserState(
                {_text(fields[j]): float(fields[j + 1]) for j in range(0, len(fields), 2)} or NO_EVENTS,
                {_text(members[j]): float(members[j + 1]) for j in range(0, len(members), 2)} or NO_EVENTS)
        return list(reply[:len(list_keys)]), states
    pipe = redis.pipeline(transaction=False)
    for key in list_keys:
        pipe.get(key)
    for user, since_key in zip(users, since_keys):
        pipe.hgetall(since_key)
        if horizon:
            pipe.zrangebyscore(keys.shown(user), horizon, "+inf", withscores=True)
    replies = await pipe.execute()
    it = iter(replies)
    blobs = [next(it) for _ in list_keys]
    states = []
    for _ in users:
        raw = next(it)
        since = {_text(k): float(v) for k, v in raw.items()} if raw else NO_EVENTS
        pairs = next(it) if horizon else None
        shown = {_text(m): float(at) for m, at in pairs} if pairs else NO_EVENTS
        states.append(UserState(since, shown) if since or shown else NO_STATE)
    return blobs, states


# Drops a user's since-training entries whose newest event is at or before the newest folded
# stream id (ARGV[1], ARGV[2]: its milliseconds and sequence): the snapshot holds them now.
# Ingestion gives every later event a larger stream id, so nothing newer can be dropped,
# whatever the timing.
_FORGET_FUNCTION = r"""
local function forget(since, since_ids, ms, seq)
  local ids = redis.call('HGETALL', since_ids)
  for j = 1, #ids, 2 do
    local m, s = string.match(ids[j + 1], '(%d+)-(%d+)')
    m, s = tonumber(m), tonumber(s)
    if m < ms or (m == ms and s <= seq) then
      redis.call('HDEL', since, ids[j])
      redis.call('HDEL', since_ids, ids[j])
    end
  end
end
local ms, seq = tonumber(ARGV[1]), tonumber(ARGV[2])
"""
# One Redis: KEYS are the change log, then per user their since-training hash and its stream-id hash;
# ARGV[3], ARGV[4], ARGV[5]: the change-log length, the users announced in the same script and the
# entry's nonce (format.nonce).
_FORGET = _FORGET_FUNCTION + r"""
for k = 2, #KEYS, 2 do
  forget(KEYS[k], KEYS[k + 1], ms, seq)
end
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 'u', ARGV[4], 'n', ARGV[5])
return 1
"""
# A Redis Cluster: one user's two hashes (one slot), the change log written afterwards.
_FORGET_USER = _FORGET_FUNCTION + r"""
forget(KEYS[1], KEYS[2], ms, seq)
return 1
"""


async def forget_folded(redis: aioredis.Redis, keys: Keys, users: np.ndarray, last_id: str) -> None:
    """Drop from users' since-training events what the snapshot now holds, so those hashes (and the
    replicas' caches of them, told through the change log) stay as small as the events since the
    last training, not a month of them.

    An entry goes when the newest event behind it has a stream id at or before `last_id`; later
    events always get larger ids, so nothing newer is dropped, whatever the timing.

    Parameters
    ----------
    redis : redis.asyncio.Redis or RedisCluster
    keys : Keys
    users : numpy.ndarray
        object array of str: the users whose events were folded.
    last_id : str
        The newest stream id folded, "ms-seq".

    Raises
    ------
    redis.exceptions.RedisError, OSError
        Redis could not answer (service.store.client.REDIS_ERRORS).
    """
    ms, seq = last_id.split("-")
    for start in range(0, len(users), FORGET_CHUNK):
        chunk = users[start:start + FORGET_CHUNK].tolist()
        if is_cluster(redis):
            pipe = redis.pipeline(transaction=False)  # redis-py groups it by node
            for user in chunk:
                pipe.eval(_FORGET_USER, 2, keys.since_training(user), keys.since_training_ids(user), ms, seq)
            await pipe.execute()
            await redis.xadd(keys.change_log, change_log_entry(chunk), maxlen=CHANGE_LOG_MAXLEN, approximate=True)
            continue
        script_keys = [keys.change_log, *(k for u in chunk for k in (keys.since_training(u), keys.since_training_ids(u)))]
        await redis.eval(_FORGET, len(script_keys), *script_keys, ms, seq, CHANGE_LOG_MAXLEN, "\n".join(chunk),
                         nonce())


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
