"""Erasures of customers (GDPR art. 17, CCPA deletion): the durable record, what goes at once, and what a
training completes.

`erase` records the erasure in one script on the shared slot: the user joins `Keys.erasures_pending` with the
event stream's newest entry id at that moment (their `position`) and an order (`Keys.identity_seq`, shared with
merges), and `Keys.erasure_records` gets a record under SHA-256 of the id (the lasting record keeps no id). Then,
at once, their since-training state, shown set, precomputed lists of every stored version, contact-cap entry and
contact-log entries are deleted, and the change log announces them (replicas drop their mirrored copies).

Events stored up to `position` are the erased customer's; events accepted after the erasure are a new customer's
who happens to have the same id (the store reused it, or the person came back), and are kept.

The next training completes it (service.training.job, service.training.rewrite): it drops the user's events up to
`position` from the snapshot and the stream it folds, and when it has folded through `position` moves the user to
`Keys.erasures_folded` (`mark_folded`). Once a model trained on that snapshot serves, `complete` deletes every
older artifact (they hold the id), the user's lists of older versions, and every mention of them left in the
change log, the fold queue and the stream of unreadable events, and marks the record done.
Until then the read path treats the user as unknown to the model (`erased_users`).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import redis.asyncio as aioredis

from service.store.events.format import CHANGE_LOG_MAXLEN, change_log_entry
from service.store.events.rows import SEP
from service.store.keys import Keys

#: Stream entries read per page when scrubbing the change log, the contact log or the unreadable events.
SCRUB_PAGE = 5_000
PENDING, FOLDED, DONE = "pending", "folded", "done"
#: The times an erasure record keeps (epoch seconds).
TIMES = ("requested_at", "folded_at", "done_at")

#: Lua: the stream's newest entry id ('0-0' when empty) and the next order number. KEYS: stream, sequence.
POSITION_LUA = r"""
local function position_and_seq(stream, seq_key)
  local last = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)
  local position = '0-0'
  if last[1] then
    position = last[1][1]
  end
  return position, redis.call('INCR', seq_key)
end
"""

# KEYS: pending, records, sequence, event stream, contacted. ARGV: user, digest, now.
# Returns the position.
_ERASE = POSITION_LUA + r"""
local position, seq = position_and_seq(KEYS[4], KEYS[3])
redis.call('HSET', KEYS[1], ARGV[1], seq .. '\31' .. position .. '\31' .. ARGV[3])
redis.call('HSET', KEYS[2], ARGV[2], cjson.encode({state = 'pending', requested_at = ARGV[3]}))
redis.call('ZREM', KEYS[5], ARGV[1])
return position
"""


@dataclass(frozen=True)
class IdentityChange:
    """An erasure (`to` None) or a merge of `user` into `to`, as training applies it.

    Attributes
    ----------
    seq : int
        Order of the request among erasures and merges.
    user : str
        The erased customer, or the visitor merged.
    position : str
        The event stream's newest entry id ("ms-seq") when the request was recorded: the user's events up to
        it are erased or moved; later ones are not.
    requested_at : float
        Epoch seconds.
    to : str or None
        The customer a merge moves the visitor's events to.
    """

    seq: int
    user: str
    position: str
    requested_at: float
    to: str | None = None


def digest(user_id: str) -> str:
    """SHA-256 hex of the id: the name of its erasure record."""
    return hashlib.sha256(user_id.encode("utf-8")).hexdigest()


def parse_position(position: str) -> tuple[int, int]:
    """A stream id "ms-seq" as a comparable pair."""
    ms, _, seq = position.partition("-")
    return int(ms), int(seq or 0)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _change(user: str, value: bytes | str, to: str | None = None) -> IdentityChange:
    seq, position, at = _text(value).split(SEP)
    return IdentityChange(int(seq), user, position, float(at), to)


async def stored_versions(redis: aioredis.Redis, keys: Keys, models_path: Path) -> list[str]:
    """Every model version whose lists may be in Redis: the pointer's, the training history's and every
    artifact in the model directory."""
    versions = {path.stem for path in models_path.glob("*.npz") if path.name != "snapshot.npz"}
    pipe = redis.pipeline(transaction=False)
    pipe.get(keys.current_version)
    pipe.lrange(keys.training_history, 0, -1)
    pointer, history = await pipe.execute()
    if pointer:
        versions.add(_text(pointer))
    for raw in history:
        try:
            version = json.loads(raw).get("version")
        except (ValueError, AttributeError):
            continue
        if isinstance(version, str) and version:
            versions.add(version)
    return sorted(versions)


async def drop_lists(redis: aioredis.Redis, keys: Keys, version: str, users: Iterable[str]) -> None:
    """Delete the precomputed lists of `users` for model `version` (a command per user: one slot each)."""
    pipe = redis.pipeline(transaction=False)
    for user in users:
        pipe.delete(keys.user_recs(version, user))
    await pipe.execute()


def user_keys(keys: Keys, user_id: str, versions: Iterable[str]) -> list[str]:
    """A user's own keys (one slot): since-training state, shown set, precomputed lists of `versions`."""
    return [keys.since_training(user_id), keys.since_training_ids(user_id), keys.since_training_bought(user_id),
            keys.shown(user_id), *(keys.user_recs(v, user_id) for v in versions)]


async def erase(redis: aioredis.Redis, keys: Keys, user_id: str, versions: Sequence[str],
                now: float | None = None) -> str:
    """Record the erasure of `user_id` durably, then delete at once what Redis holds of them but the events
    (training removes those): since-training state, shown set, lists of `versions`, contact records.

    The record comes first (one script on the shared slot), so a process that dies part-way leaves an erasure
    that training still completes. On a cluster the user's keys are one more command on their slot.

    Returns
    -------
    str
        The position: the stream id up to which the user's events are erased.

    Raises
    ------
    redis.exceptions.RedisError, OSError
        Redis refused or could not be reached (the record is then absent or complete, never partial).
    """
    now = time.time() if now is None else now
    position = _text(await redis.eval(_ERASE, 5, keys.erasures_pending, keys.erasure_records, keys.identity_seq,
                                      keys.events, keys.contacted, user_id, digest(user_id), repr(now)))
    await redis.delete(*user_keys(keys, user_id, versions))
    await redis.xadd(keys.change_log, change_log_entry([user_id]), maxlen=CHANGE_LOG_MAXLEN, approximate=True)
    await scrub_stream(redis, keys.contact_log, {user_id}, field=b"u")
    return position


async def erasure_record(redis: aioredis.Redis, keys: Keys, user_id: str) -> dict | None:
    """The erasure record of `user_id` ({state, requested_at, folded_at, done_at}), None if never erased."""
    raw = await redis.hget(keys.erasure_records, digest(user_id))
    if raw is None:
        return None
    record = json.loads(raw)  # times are kept as Python's repr (cjson would round them to 14 digits)
    return {"state": record.get("state"),
            **{k: float(record[k]) if record.get(k) is not None else None for k in TIMES}}


async def erased_users(redis: aioredis.Redis, keys: Keys) -> frozenset[str]:
    """Users erased whose events a serving model may still hold (pending or folded): the read path treats them
    as unknown to the model. Two commands in one round trip."""
    pipe = redis.pipeline(transaction=False)
    pipe.hkeys(keys.erasures_pending)
    pipe.hkeys(keys.erasures_folded)
    pending, folded = await pipe.execute()
    return frozenset(_text(u) for u in (*pending, *folded))


async def pending_erasures(redis: aioredis.Redis, keys: Keys) -> list[IdentityChange]:
    """Erasures no training has folded yet."""
    return [_change(_text(u), v) for u, v in (await redis.hgetall(keys.erasures_pending)).items()]


# KEYS: pending, folded, records. ARGV: now, then user, value read pairs. Moves each user whose pending value is
# still the one read (a new DELETE meanwhile keeps its entry pending).
_MARK_FOLDED = r"""
for j = 2, #ARGV, 3 do
  local user, value, digest = ARGV[j], ARGV[j + 1], ARGV[j + 2]
  if redis.call('HGET', KEYS[1], user) == value then
    redis.call('HDEL', KEYS[1], user)
    redis.call('HSET', KEYS[2], user, value)
    local raw = redis.call('HGET', KEYS[3], digest)
    local record = raw and cjson.decode(raw) or {}
    record.state = 'folded'
    record.folded_at = ARGV[1]
    redis.call('HSET', KEYS[3], digest, cjson.encode(record))
  end
end
return 1
"""


async def mark_folded(redis: aioredis.Redis, keys: Keys, changes: Sequence[IdentityChange],
                      now: float | None = None) -> None:
    """The snapshot (saved) and the stream hold none of these erased users' events up to their position."""
    if not changes:
        return
    now = time.time() if now is None else now
    args = [v for c in changes for v in (c.user, SEP.join((str(c.seq), c.position, repr(c.requested_at))),
                                          digest(c.user))]
    await redis.eval(_MARK_FOLDED, 3, keys.erasures_pending, keys.erasures_folded, keys.erasure_records,
                     repr(now), *args)


# KEYS: folded, records. ARGV: now, then user, digest pairs.
_DONE = r"""
for j = 2, #ARGV, 2 do
  redis.call('HDEL', KEYS[1], ARGV[j])
  local raw = redis.call('HGET', KEYS[2], ARGV[j + 1])
  local record = raw and cjson.decode(raw) or {}
  record.state = 'done'
  record.done_at = ARGV[1]
  redis.call('HSET', KEYS[2], ARGV[j + 1], cjson.encode(record))
end
return 1
"""


async def complete(redis: aioredis.Redis, keys: Keys, serving_version: str, models_path: Path,
                   now: float | None = None) -> list[str]:
    """Finish every folded erasure once `serving_version` (trained without them) is what the pointer names:
    delete the older artifacts, the users' lists of older versions, every mention left in the change log, the
    fold queue and the unreadable events, and mark the records done. Run by the trainer after
    the pointer moved, under the training lock; a crash part-way repeats it at the next training.

    Returns
    -------
    list of str
        The users whose erasure is done.
    """
    folded = [_change(_text(u), v) for u, v in (await redis.hgetall(keys.erasures_folded)).items()]
    if not folded:
        return []
    older = [v for v in await stored_versions(redis, keys, models_path) if v != serving_version]
    for path in models_path.glob("*.npz"):  # every artifact but the serving one holds the erased ids
        if path.name not in ("snapshot.npz", f"{serving_version}.npz"):
            path.unlink(missing_ok=True)
    for path in models_path.glob(".candidate-*"):
        path.unlink(missing_ok=True)
    users = {c.user for c in folded}
    for version in older:
        await drop_lists(redis, keys, version, users)
    await scrub_stream(redis, keys.change_log, users, field=b"u")
    await scrub_stream(redis, keys.unreadable_events, users, field=b"u")
    await scrub_folds(redis, keys, users)
    now = time.time() if now is None else now
    await redis.eval(_DONE, 2, keys.erasures_folded, keys.erasure_records, repr(now),
                     *(v for c in folded for v in (c.user, digest(c.user))))
    return sorted(users)


async def scrub_stream(redis: aioredis.Redis, stream: str, users: set[str], field: bytes) -> int:
    """Delete a stream's entries whose `field` (one id, or ids newline-separated) names one of `users`; a page
    at a time. Readers that follow the stream by id (the mirror) notice an entry gone and start over."""
    wanted = {u.encode() for u in users}
    start, removed = "-", 0
    while True:
        page = await redis.xrange(stream, min=start, count=SCRUB_PAGE)
        doomed = [entry_id for entry_id, fields in page
                  if wanted.intersection((fields.get(field) or b"").split(b"\n"))]
        if doomed:
            removed += await redis.xdel(stream, *doomed)
        if len(page) < SCRUB_PAGE:
            return removed
        start = "(" + _text(page[-1][0])


# KEYS: the fold queue. ARGV: the users, newline-separated. Rewrites each element without them.
_SCRUB_FOLDS = r"""
local drop = {}
for user in string.gmatch(ARGV[1], '[^\n]+') do
  drop[user] = true
end
local folds = redis.call('LRANGE', KEYS[1], 0, -1)
for k = 1, #folds do
  local kept, changed, first = {}, false, true
  for line in string.gmatch(folds[k], '[^\n]+') do
    if first or not drop[line] then
      kept[#kept + 1] = line
    else
      changed = true
    end
    first = false
  end
  if changed then
    redis.call('LSET', KEYS[1], k - 1, table.concat(kept, '\n'))
  end
end
return 1
"""


async def scrub_folds(redis: aioredis.Redis, keys: Keys, users: set[str]) -> None:
    """Take `users` out of the fold queue (service.store.events.since_training.record_fold)."""
    await redis.eval(_SCRUB_FOLDS, 1, keys.folds, "\n".join(sorted(users)))
