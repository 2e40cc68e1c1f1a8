"""Users' since-training state in Redis: each user's events since the last training (a hash item ->
summed confidence weight, with a companion hash item -> stream id of its newest event, and one item ->
the times of their purchases of it) and their shown set (item -> epoch seconds last shown). Written
with the events (write.py); here are its reads for serving, in the one round trip a request makes
together with its precomputed lists, and the forget of what the models now hold. Every change is
announced in the change log (format.py), so the replicas' mirrors (service.store.mirror) stay exact.

A read takes the stream position the serving model was folded through (`folded_through`, recorded with
the model by the training) and returns only the entries whose newest event came after it (and the
purchase times of those items): a replica stops counting an event exactly when it serves a model that
contains it, not when a training folds it (a training may then run for an hour, fail, or be refused by
the quality gate). The hashes therefore keep what a training folded until no replica can still serve a
model without it: each fold queues its users (`record_fold`), and after the version pointer moves, the
trainer forgets what the model it replaced already held (`forget_through`), so what any replica serving
the old or the new model reads never changes under it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import NamedTuple

import numpy as np
import redis.asyncio as aioredis

from recommender.units import SECONDS_PER_DAY
from service.store.client import Script, is_cluster
from service.store.events.format import CHANGE_LOG_MAXLEN, change_log_entry, nonce
from service.store.keys import Keys

FORGET_CHUNK = 1000
NO_EVENTS: Mapping[str, float] = MappingProxyType({})
NO_PURCHASES: Mapping[str, tuple[float, ...]] = MappingProxyType({})

# A user's since-training entries (flat field/value list) whose newest event's stream id is after the
# position (ms, seq) the serving model was folded through; ms < 0: every entry (nothing folded yet). And
# the purchase times (flat item/times list) of the items among those entries.
_NEWER = r"""
local function newer(since, since_ids, ms, seq)
  local h = redis.call('HGETALL', since)
  if #h == 0 or ms < 0 then
    return h
  end
  local at = {}
  local ids = redis.call('HGETALL', since_ids)
  for j = 1, #ids, 2 do
    at[ids[j]] = ids[j + 1]
  end
  local out = {}
  for j = 1, #h, 2 do
    local id = at[h[j]]
    local keep = true
    if id then
      local m, s = string.match(id, '(%d+)-(%d+)')
      m, s = tonumber(m), tonumber(s)
      keep = m > ms or (m == ms and s > seq)
    end
    if keep then
      out[#out + 1] = h[j]
      out[#out + 1] = h[j + 1]
    end
  end
  return out
end
local function bought_of(bought, entries)
  if #entries == 0 then
    return {}
  end
  local b = redis.call('HGETALL', bought)
  if #b == 0 then
    return b
  end
  local kept = {}
  for j = 1, #entries, 2 do
    kept[entries[j]] = true
  end
  local out = {}
  for j = 1, #b, 2 do
    if kept[b[j]] then
      out[#out + 1] = b[j]
      out[#out + 1] = b[j + 1]
    end
  end
  return out
end
"""
# One user: {entries, shown set (flat member/score list), purchases}. KEYS: their since-training hash, its
# stream-id hash, their shown set, their since-training purchases (one slot). ARGV: the folded position's
# ms and seq, the oldest impression time that still counts ('': no shown set read).
_STATE_ONE = _NEWER + r"""
local s = {}
if ARGV[3] ~= '' then
  s = redis.call('ZRANGEBYSCORE', KEYS[3], ARGV[3], '+inf', 'WITHSCORES')
end
local h = newer(KEYS[1], KEYS[2], tonumber(ARGV[1]), tonumber(ARGV[2]))
return {h, s, bought_of(KEYS[4], h)}
"""
# One Redis: the lists and the users' states in one command. Returns each list (nil where missing), then
# one more element: every user whose entries or shown set is not empty, as (position, entries, shown,
# purchases) quadruples, so most users send nothing back. KEYS: the list keys, the since-training hashes,
# their stream-id hashes, their since-training purchases, then (when ARGV[3] is not empty) the shown sets;
# ARGV: the number of lists, the number of users, the oldest impression time that still counts, the folded
# position's ms and seq.
_READ = _NEWER + r"""
local lists, n = tonumber(ARGV[1]), tonumber(ARGV[2])
local ms, seq = tonumber(ARGV[4]), tonumber(ARGV[5])
local out = {}
for k = 1, lists do
  out[k] = redis.call('GET', KEYS[k])
end
local states = {}
for k = 1, n do
  local h = newer(KEYS[lists + k], KEYS[lists + n + k], ms, seq)
  local s = {}
  if ARGV[3] ~= '' then
    s = redis.call('ZRANGEBYSCORE', KEYS[lists + 3 * n + k], ARGV[3], '+inf', 'WITHSCORES')
  end
  if #h > 0 or #s > 0 then
    states[#states + 1] = k
    states[#states + 1] = h
    states[#states + 1] = s
    states[#states + 1] = bought_of(KEYS[lists + 2 * n + k], h)
  end
end
out[lists + 1] = states
return out
"""
_READ_SCRIPT = Script(_READ)


class UserState(NamedTuple):
    """What Redis holds about a user besides their list. Mirrored per user by service.store.mirror.

    Attributes
    ----------
    since_training : mapping of str to float
        Item id -> summed confidence weight of the user's events since the model that serves.
    shown : mapping of str to float
        Item id -> epoch seconds it was last shown, inside the fatigue window.
    bought : mapping of str to tuple of float
        Item id -> epoch seconds of the user's purchases of it since that model (at most
        write_lua.MAX_BOUGHT_TIMES).
    """

    since_training: Mapping[str, float]
    shown: Mapping[str, float]
    bought: Mapping[str, tuple[float, ...]] = NO_PURCHASES


NO_STATE = UserState(NO_EVENTS, NO_EVENTS)


async def read_lists_and_states(redis: aioredis.Redis, keys: Keys, list_keys: Sequence[str], users: Sequence[str],
                                fatigue_days: float, folded_through: str | None = None
                                ) -> tuple[list[bytes | None], list[UserState]]:
    """The packed lists under `list_keys` (service.store.lists) and the since-training state of
    `users`, in one round trip: one script on a single Redis (run by its SHA-1, sent whole only when
    the server does not know it yet). On a cluster, where those keys live on many nodes, a GET per
    list and the one-user script per user (redis-py sends one round trip per node).

    Parameters
    ----------
    list_keys : sequence of str
        Keys of precomputed lists (`Keys.user_recs`, `Keys.similar`).
    users : sequence of str
        User ids whose state to read.
    fatigue_days : float
        Impressions older than this many days are not read (0: no shown sets read).
    folded_through : str, optional
        The stream id ("ms-seq") the serving model was folded through: entries whose newest event is
        at or before it are in the model and left out. None: every entry counts.

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
    ms, seq = _position(folded_through)
    horizon = repr(time.time() - fatigue_days * SECONDS_PER_DAY) if fatigue_days > 0 else ""
    if not is_cluster(redis):
        script_keys = [*list_keys, *(keys.since_training(u) for u in users),
                       *(keys.since_training_ids(u) for u in users),
                       *(keys.since_training_bought(u) for u in users),
                       *((keys.shown(u) for u in users) if horizon else ())]
        args = (len(list_keys), len(users), horizon, ms, seq)
        reply = await _READ_SCRIPT(redis, script_keys, args)
        states = [NO_STATE] * len(users)
        flat = reply[len(list_keys)] or []
        for k in range(0, len(flat) - 3, 4):
            states[int(flat[k]) - 1] = _state(flat[k + 1], flat[k + 2], flat[k + 3])
        return list(reply[:len(list_keys)]), states
    pipe = redis.pipeline(transaction=False)
    for key in list_keys:
        pipe.get(key)
    for user in users:
        pipe.eval(_STATE_ONE, 4, keys.since_training(user), keys.since_training_ids(user), keys.shown(user),
                  keys.since_training_bought(user), ms, seq, horizon)
    replies = await pipe.execute()
    it = iter(replies)
    blobs = [next(it) for _ in list_keys]
    states = [_state(*next(it)) for _ in users]
    return blobs, states


def _state(fields: list, members: list, bought: list) -> UserState:
    """A user's state from the scripts' flat field/value, member/score and item/times lists."""
    if not fields and not members:
        return NO_STATE
    return UserState({_text(fields[j]): float(fields[j + 1]) for j in range(0, len(fields), 2)} or NO_EVENTS,
                     {_text(members[j]): float(members[j + 1]) for j in range(0, len(members), 2)} or NO_EVENTS,
                     _purchases((bought[j], bought[j + 1]) for j in range(0, len(bought), 2)))


def _purchases(pairs: Iterable[tuple[bytes | str, bytes | str]]) -> Mapping[str, tuple[float, ...]]:
    """item -> purchase times from the since-training purchases hash (times space-separated)."""
    out = {_text(item): tuple(float(t) for t in _text(times).split()) for item, times in pairs}
    return out or NO_PURCHASES


def _position(folded_through: str | None) -> tuple[int, int]:
    """A stream id as the scripts take it; (-1, -1) for none."""
    if not folded_through:
        return -1, -1
    ms, _, seq = folded_through.partition("-")
    return int(ms), int(seq or 0)


# Drops a user's since-training entries (and their purchase times) whose newest event is at or before
# the given stream id (ARGV[1], ARGV[2]: its milliseconds and sequence): the models hold them now.
# Ingestion gives every later event a larger stream id, so nothing newer can be dropped,
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


async def record_fold(redis: aioredis.Redis, keys: Keys, users: np.ndarray, last_id: str) -> None:
    """Queue the users whose events a training just folded into the snapshot, up to stream id `last_id`,
    for `forget_through` (one list entry per FORGET_CHUNK users: the id, then the users, newline-separated).
    A training that dies, fails or is refused leaves them queued for the next model that serves."""
    if not len(users):
        return
    pipe = redis.pipeline(transaction=False)
    for start in range(0, len(users), FORGET_CHUNK):
        pipe.rpush(keys.folds, "\n".join([last_id, *users[start:start + FORGET_CHUNK].tolist()]))
    await pipe.execute()


async def forget_through(redis: aioredis.Redis, keys: Keys, last_id: str) -> int:
    """Drop the since-training entries every model that may still serve holds: those of the queued folds
    at or before stream id `last_id` (the position of the model the pointer just moved away from), whose
    newest event is at or before it. Replicas serving that model or the new one read none of them
    (`folded_through`), so forgetting them changes no list; it keeps the hashes to about the events of the
    last two trainings, not a month of them. Run by the trainer, under the training lock, after the
    pointer moved; an entry leaves the queue only once its users are done, so a crash repeats work
    rather than skipping it.

    Returns
    -------
    int
        How many users were handled.
    """
    bound = _position(last_id)
    done = 0
    while True:
        head = await redis.lindex(keys.folds, 0)
        if head is None:
            return done
        fold_id, _, users = _text(head).partition("\n")
        if _position(fold_id) > bound:
            return done
        chunk = np.array(users.split("\n"), dtype=object) if users else np.zeros(0, dtype=object)
        await forget_folded(redis, keys, chunk, last_id)
        await redis.lpop(keys.folds)
        done += len(chunk)


async def forget_folded(redis: aioredis.Redis, keys: Keys, users: np.ndarray, last_id: str) -> None:
    """Drop from users' since-training events (and their purchase times) what the snapshot now
    holds, so those hashes (and the replicas' caches of them, told through the change log) stay as
    small as the events since the last training, not a month of them.

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
    if not len(users):
        return
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
