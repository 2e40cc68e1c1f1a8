"""The in-process mirror of users' since-training state, kept exact by following the change log."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Sequence

import redis.asyncio as aioredis

from service.store.client import REDIS_ERRORS, Script, script_entries
from service.outage_log import OutageLog

log = logging.getLogger(__name__)
outage = OutageLog(log)
CHANGE_LOG_PAGE = 1000

# KEYS: the change log. ARGV: the id and nonce ("" for none) of the last entry applied, the most entries to
# return. While that entry is still in the log, {1, the entries after it}: in the steady state an empty list,
# not the last entry's users again. Otherwise (trimmed away, or the log reset: a new entry may even have its
# id, but not its nonce) {0, the log's newest entry, or none}.
_FOLLOW = Script(r"""
local got = redis.call('XRANGE', KEYS[1], ARGV[1], '+', 'COUNT', tonumber(ARGV[3]) + 1)
local first = got[1]
if first ~= nil and first[1] == ARGV[1] then
  local nonce = ''
  local fields = first[2]
  for i = 1, #fields, 2 do
    if fields[i] == 'n' then nonce = fields[i + 1] end
  end
  if nonce == ARGV[2] then
    table.remove(got, 1)
    return {1, got}
  end
end
return {0, redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)}
""")


class SinceTrainingMirror:
    """Users' since-training state (service.store.events.since_training), mirrored in process and kept
    exact. The value mirrored is the caller's (the read path keeps a UserState: the since-training
    hash and the shown set, whose writes go through the same change log).

    Every write of that state (service.store.events) appends the users it touched to a change
    log: in the same atomic script on one Redis, after the hash writes on a cluster. Before a
    cached entry is used, `fresh()` makes sure a read of that log which started after the caller
    arrived has been applied, so a request never sees less than a direct HGETALL at that moment
    would show, on any replica. Concurrent requests share one log read, so under load it costs a
    fraction of a round trip each.

    Entries also expire after `max_age` seconds (the hashes' own TTL runs out unannounced) and
    the cache holds at most `max_entries` users, least recently used out first.

    Parameters
    ----------
    redis : redis.asyncio.Redis
    log_key : str
        The change log's key (`Keys.change_log`).
    max_entries : int
        Users mirrored at most.
    max_age : float
        Seconds an entry may be used after it was read.
    timeout : float
        Seconds a change-log read may take before callers give up on the mirror (RECS_REDIS_READ_TIMEOUT).
    """

    def __init__(self, redis: aioredis.Redis, log_key: str, max_entries: int, max_age: float,
                 timeout: float = 1.0) -> None:
        self.redis, self.log_key, self.timeout = redis, log_key, timeout
        self.max_entries, self.max_age = max_entries, max_age
        self._entries: OrderedDict[str, tuple[dict[str, float], float]] = OrderedDict()
        self._reading: dict[str, int] = {}  # users with a Redis read in flight
        self._stale: set[str] = set()  # of those, users changed since their read began
        self._epoch = 0  # bumped whenever changes may have been missed: reads begun before may not be cached
        self._position: tuple[bytes, bytes | None] | None = None  # last change-log entry applied: id, nonce
        self._started = False  # a position has been established
        # callers waiting for a read not issued yet: their shared future, and the loop time the first of them gives
        # up at (the read is cut off then)
        self._pending: tuple[asyncio.Future, float] | None = None
        self._reader: asyncio.Task | None = None  # the change-log read in flight (at most one)

    def __len__(self) -> int:
        return len(self._entries)

    # -- reading the cache ------------------------------------------------------------------
    def worth_checking(self, users: Sequence[str]) -> bool:
        """Whether `fresh()` is worth a wait: some user is cached, or the log position is not known
        yet (until it is, nothing read can be cached)."""
        return not self._started or any(u in self._entries for u in users)

    def get(self, user: str, now: float) -> dict[str, float] | None:
        """The cached entry, or None; call only right after `fresh()` returned True.

        Parameters
        ----------
        user : str
        now : float
            `time.monotonic()` seconds, to expire entries older than `max_age`.
        """
        entry = self._entries.get(user)
        if entry is None:
            return None
        if now - entry[1] > self.max_age:
            del self._entries[user]
            return None
        self._entries.move_to_end(user)
        return entry[0]

    # -- filling it from Redis --------------------------------------------------------------
    def begin(self, users: Sequence[str]) -> int:
        """Mark reads of `users` as started, before the read is sent.

        Returns
        -------
        int
            The token to hand to `finish` (-1 while no change-log position is known: nothing read
            then is cached).
        """
        for user in users:
            self._reading[user] = self._reading.get(user, 0) + 1
        return self._epoch if self._started else -1

    def finish(self, token: int, users: Sequence[str], values: Sequence[dict[str, float]] | None,
               now: float) -> None:
        """Cache what the reads returned, unless a change to a user may have raced with its read.

        Parameters
        ----------
        token : int
            What `begin` returned for these reads.
        users : sequence of str
            The users passed to `begin`, in the same order.
        values : sequence or None
            One value per user; None when the read failed (nothing is cached, the marks are cleared).
        now : float
            `time.monotonic()` seconds.
        """
        cacheable = values is not None and token == self._epoch and token >= 0
        for k, user in enumerate(users):
            if cacheable and user not in self._stale:
                self._entries[user] = (values[k], now)  # type: ignore[index]
                self._entries.move_to_end(user)
            left = self._reading[user] - 1
            if left:
                self._reading[user] = left
            else:
                del self._reading[user]
                self._stale.discard(user)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def invalidate(self, users: Sequence[str]) -> None:
        """Drop `users`' entries, and keep any read of them now in flight from being cached."""
        for user in users:
            self._entries.pop(user, None)
            if user in self._reading:
                self._stale.add(user)

    def clear(self) -> None:
        """Drop every entry; reads in flight are not cached (changes may have been missed)."""
        self._entries.clear()
        self._stale.update(self._reading)
        self._epoch += 1

    # -- following the change log -----------------------------------------------------------
    async def fresh(self) -> bool:
        """Return once a change-log read that began after this call has been applied.

        At most one read is in flight: callers that arrive while none is share one, issued on the
        next event-loop pass; callers that arrive during a read share the next, issued as soon as it
        is done. Under load one round trip then serves every request of a loop cycle, not of one
        pass, and no caller waits longer than the timeout from its group's first arrival.

        Returns
        -------
        bool
            True when the entries may be used; False when Redis could not be read within the
            timeout (the cache is then empty) or the shared read was cancelled.

        Raises
        ------
        asyncio.CancelledError
            This caller was cancelled.
        """
        pending = self._pending
        if pending is None:
            loop = asyncio.get_running_loop()
            pending = self._pending = (loop.create_future(), loop.time() + self.timeout)
            if self._reader is None:
                self._start()
        try:
            return await pending[0]  # shared by the group: no asyncio.shield per caller, it costs
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # this caller was cancelled
            return False  # another caller's cancellation cancelled the group's future: go to Redis

    def _start(self) -> None:
        self._reader = asyncio.create_task(self._read_for(self._pending), name="encore-change-log")  # type: ignore

    async def _read_for(self, pending: tuple[asyncio.Future, float]) -> None:
        group, deadline = pending
        if self._pending is pending:
            self._pending = None  # later callers need a read that starts after them
        ok = False
        try:
            async with asyncio.timeout_at(deadline):  # the group's first caller gives up then
                await self._apply()
            ok = True
        except REDIS_ERRORS as exc:  # TimeoutError is an OSError
            outage.warning("could not read the change log, dropping the since-training mirror: %s", exc)
            self._started = False
            self._position = None
            self.clear()
        finally:
            if not group.done():
                group.set_result(ok)
            self._reader = None
            if self._pending is not None:  # callers arrived during this read: theirs starts now ...
                task = asyncio.current_task()
                if task is None or not task.cancelling():
                    self._start()
                else:  # ... unless the service is shutting down: they go to Redis, or are cancelled too
                    waiting, self._pending = self._pending[0], None
                    waiting.set_result(False)

    async def _apply(self) -> None:
        if not self._started:
            last = await self.redis.xrevrange(self.log_key, count=1)
            if not self._started:
                self.clear()  # nothing read before a position was known can be trusted
                self._position = _mark(last[0]) if last else None
                self._started = True
            return
        epoch = self._epoch
        while True:
            start = self._position
            if start is None:
                ok, entries = True, await self.redis.xrange(self.log_key, min="-", count=CHANGE_LOG_PAGE)
            else:
                ok, raw = await _FOLLOW(self.redis, (self.log_key,), (start[0], start[1] or b"", CHANGE_LOG_PAGE))
                entries = script_entries(raw)
            if epoch != self._epoch:  # the cache was dropped meanwhile and the position re-established
                return
            if not ok:  # our last entry was trimmed away, or the log was reset: changes may be lost
                self.clear()
                self._position = _mark(entries[-1]) if entries else None
                return
            for _, fields in entries:
                users = fields.get(b"u") or fields.get("u") or b""
                self.invalidate((users.decode() if isinstance(users, bytes) else users).split("\n"))
            if entries and (self._position is None
                            or _stream_id(entries[-1][0]) > _stream_id(self._position[0])):
                self._position = _mark(entries[-1])
            if len(entries) < CHANGE_LOG_PAGE:
                return


def _mark(entry: tuple[bytes, dict]) -> tuple[bytes, bytes | None]:
    """A change-log entry's id and nonce: together they name it in this log and no other."""
    entry_id, fields = entry
    return entry_id, fields.get(b"n") or fields.get("n")


def _stream_id(entry_id: bytes | str) -> tuple[int, int]:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)
