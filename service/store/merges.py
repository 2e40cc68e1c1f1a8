"""Merging an anonymous visitor into a signed-in customer: the durable record and what moves at once.

`merge` records the merge on the shared slot (`Keys.merges_pending`, field "from\x1fto", with the event stream's
newest entry id at that moment, its `position`, and an order shared with erasures), moves the visitor's contact-cap
entry to the customer, then moves their since-training state (events, stream ids, purchase times) and shown set to
the customer: a script on the visitor's slot takes them (read and delete, atomically), a script on the customer's
slot adds them (weights summed, the newer stream id and shown time kept, purchase times joined). Their contact-log
entries are written again under the customer. The change log then names both.

The next training that folds through `position` moves the visitor's folded events up to it to the customer in the
snapshot (service.training.rewrite) and drops the record (`mark_folded`). Events the visitor sends after the merge
stay theirs.

A repeated merge changes nothing: the visitor has nothing left to move, and the record keeps its order (only its
position moves on, to cover events the visitor sent in between). On one Redis and on a cluster alike the steps
run in this order; if the process dies between the take and the add, the visitor's since-training events are not
in the customer's state until the training folds them from the stream into the customer's history.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import redis.asyncio as aioredis

from service.store.erasures import POSITION_LUA, SEP, IdentityChange, scrub_stream
from service.store.events.format import CHANGE_LOG_MAXLEN, change_log_entry
from service.store.events.write import StoreLimits
from service.store.events.write_lua import MAX_BOUGHT_TIMES
from service.store.keys import Keys

#: Contact-log entries read per page when moving a visitor's.
MOVE_PAGE = 5_000

# KEYS: merges pending, sequence, event stream, contacted. ARGV: from, to, now. Returns the position.
_RECORD = POSITION_LUA + r"""
local field = ARGV[1] .. '\31' .. ARGV[2]
local old = redis.call('HGET', KEYS[1], field)
local position, seq
if old then
  local last = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
  position = last[1] and last[1][1] or '0-0'
  local s, p, at = string.match(old, '([^\31]*)\31([^\31]*)\31([^\31]*)')
  if p ~= position then
    redis.call('HSET', KEYS[1], field, s .. '\31' .. position .. '\31' .. at)
  end
else
  position, seq = position_and_seq(KEYS[3], KEYS[2])
  redis.call('HSET', KEYS[1], field, seq .. '\31' .. position .. '\31' .. ARGV[3])
end
local contacted = redis.call('ZSCORE', KEYS[4], ARGV[1])
if contacted then
  redis.call('ZADD', KEYS[4], 'GT', contacted, ARGV[2])
  redis.call('ZREM', KEYS[4], ARGV[1])
end
return position
"""

# KEYS: the visitor's since-training hash, its stream ids, purchases, shown set. Returns their contents (flat
# lists) and deletes them.
_TAKE = r"""
local out = {redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2]), redis.call('HGETALL', KEYS[3]),
             redis.call('ZRANGE', KEYS[4], 0, -1, 'WITHSCORES')}
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
return out
"""

# KEYS: the customer's since-training hash, its stream ids, purchases, shown set. ARGV: the since-training TTL,
# MAX_BOUGHT_TIMES, the oldest shown time kept, the shown sets' TTL and size, then four counts (fields of each
# taken list) and the flat lists themselves.
_GIVE = r"""
local ttl, max_bought = ARGV[1], tonumber(ARGV[2])
local counts = {tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])}
local at = 10
local function later(a, b)
  local am, as = string.match(a, '(%d+)-(%d+)')
  local bm, bs = string.match(b, '(%d+)-(%d+)')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  return am > bm or (am == bm and as > bs)
end
for j = at, at + counts[1] - 1, 2 do
  redis.call('HINCRBYFLOAT', KEYS[1], ARGV[j], ARGV[j + 1])
end
at = at + counts[1]
for j = at, at + counts[2] - 1, 2 do
  local old = redis.call('HGET', KEYS[2], ARGV[j])
  if not old or later(ARGV[j + 1], old) then
    redis.call('HSET', KEYS[2], ARGV[j], ARGV[j + 1])
  end
end
at = at + counts[2]
for j = at, at + counts[3] - 1, 2 do
  local times = {}
  local old = redis.call('HGET', KEYS[3], ARGV[j]) or ''
  for t in string.gmatch(old .. ' ' .. ARGV[j + 1], '%S+') do
    times[#times + 1] = t
  end
  table.sort(times, function(a, b) return tonumber(a) < tonumber(b) end)
  local first = math.max(1, #times - max_bought + 1)
  redis.call('HSET', KEYS[3], ARGV[j], table.concat(times, ' ', first, #times))
end
at = at + counts[3]
for j = at, at + counts[4] - 1, 2 do
  redis.call('ZADD', KEYS[4], 'GT', ARGV[j + 1], ARGV[j])
end
if counts[1] + counts[2] + counts[3] > 0 then
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[2], ttl)
  redis.call('EXPIRE', KEYS[3], ttl)
end
if counts[4] > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', '(' .. ARGV[3])
  redis.call('ZREMRANGEBYRANK', KEYS[4], 0, -1 - tonumber(ARGV[5]))
  redis.call('EXPIRE', KEYS[4], ARGV[4])
end
return 1
"""


def _state_keys(keys: Keys, user: str) -> list[str]:
    return [keys.since_training(user), keys.since_training_ids(user), keys.since_training_bought(user),
            keys.shown(user)]


async def merge(redis: aioredis.Redis, keys: Keys, visitor: str, customer: str, limits: StoreLimits,
                now: float | None = None) -> str:
    """Merge `visitor` into `customer`: record it durably, then move the visitor's since-training state, shown
    set and contact records to the customer at once (module docstring).

    Parameters
    ----------
    visitor, customer : str
        Valid, different user ids (service.http.params.check_id).
    limits : StoreLimits
        The since-training TTL and the shown sets' window.
    now : float, optional
        Epoch seconds; default the clock.

    Returns
    -------
    str
        The position: the stream id up to which the visitor's events move at the next training.

    Raises
    ------
    redis.exceptions.RedisError, OSError
        Redis refused or could not be reached.
    """
    now = time.time() if now is None else now
    position = await redis.eval(_RECORD, 4, keys.merges_pending, keys.identity_seq, keys.events, keys.contacted,
                                visitor, customer, repr(now))
    taken = await redis.eval(_TAKE, 4, *_state_keys(keys, visitor))
    if any(taken):
        flat = [v for part in taken for v in part]
        await redis.eval(_GIVE, 4, *_state_keys(keys, customer), limits.since_training_ttl, MAX_BOUGHT_TIMES,
                         *limits.shown_args(now), *(len(part) for part in taken), *flat)
    await move_contacts(redis, keys, visitor, customer)
    if any(taken):  # a repeated merge moves nothing and announces nothing
        await redis.xadd(keys.change_log, change_log_entry([visitor, customer]), maxlen=CHANGE_LOG_MAXLEN,
                         approximate=True)
    return position.decode() if isinstance(position, bytes) else position


async def move_contacts(redis: aioredis.Redis, keys: Keys, visitor: str, customer: str) -> None:
    """Write the visitor's contact-log entries again under the customer, and delete theirs."""
    start, entries = "-", []
    wanted = visitor.encode()
    while True:
        page = await redis.xrange(keys.contact_log, min=start, count=MOVE_PAGE)
        entries.extend((entry_id, fields) for entry_id, fields in page if fields.get(b"u") == wanted)
        if len(page) < MOVE_PAGE:
            break
        start = "(" + page[-1][0].decode()
    if not entries:
        return
    pipe = redis.pipeline(transaction=False)
    for _, fields in entries:
        pipe.xadd(keys.contact_log, {**fields, b"u": customer.encode()})
    await pipe.execute()
    await scrub_stream(redis, keys.contact_log, {visitor}, field=b"u")


async def pending_merges(redis: aioredis.Redis, keys: Keys) -> list[IdentityChange]:
    """Merges whose folded events no training has moved yet."""
    out = []
    for field, value in (await redis.hgetall(keys.merges_pending)).items():
        visitor, customer = (field.decode() if isinstance(field, bytes) else field).split(SEP)
        seq, position, at = (value.decode() if isinstance(value, bytes) else value).split(SEP)
        out.append(IdentityChange(int(seq), visitor, position, float(at), customer))
    return out


# KEYS: merges pending. ARGV: field, value pairs; each is dropped only if unchanged since it was read.
_MARK_FOLDED = r"""
for j = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[j]) == ARGV[j + 1] then
    redis.call('HDEL', KEYS[1], ARGV[j])
  end
end
return 1
"""


async def mark_folded(redis: aioredis.Redis, keys: Keys, changes: Sequence[IdentityChange]) -> None:
    """The snapshot (saved) holds these merges' visitors' events up to their position under the customer."""
    if not changes:
        return
    args = [v for c in changes for v in (SEP.join((c.user, c.to or "")),
                                          SEP.join((str(c.seq), c.position, repr(c.requested_at))))]
    await redis.eval(_MARK_FOLDED, 1, keys.merges_pending, *args)
