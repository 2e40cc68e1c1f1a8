"""What the Redis server is set to, where that decides whether accepted events survive: its eviction
policy and its persistence; and what Redis refusing a write looks like.

* `maxmemory-policy` `allkeys-*` lets Redis evict any key when memory runs out, the event stream
  included: accepted events (202) would vanish before training folds them. The service refuses to
  start on such a server unless told to (RECS_ALLOW_EVICTION=1), and then says so in the log.
  `volatile-*` evicts only keys with a TTL: precomputed lists (recomputed on demand), but also users'
  since-training state and client event ids, so it is run with a warning.
* Without the AOF (`appendonly no`) an accepted event lives only in memory until the next snapshot
  (if any): /readyz says events are not durable. `appendfsync everysec` may lose the last second of
  events on a crash; `always` (the embedded server's) loses none.
* A server out of memory under `noeviction` (OOM) or unable to write its AOF (MISCONF, a full disk
  under `appendfsync everysec`), or a read-only replica, refuses writes: `write_refusal` names the
  reason, and the HTTP layer answers 503 with Retry-After, never 202. (Under `appendfsync always` a
  full disk makes Redis exit, as it cannot keep its promise: the service then sees Redis away.)

Settings are read with INFO (which managed services allow) and `CONFIG GET appendfsync` when CONFIG is
allowed; on a cluster, every primary is read and the least safe setting counts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from redis.exceptions import OutOfMemoryError, ReadOnlyError, ResponseError

from service.store.client import REDIS_ERRORS, is_cluster

log = logging.getLogger(__name__)

#: What Redis says when it refuses a write, as the start of its error, and the reason we give.
_REFUSALS = {
    "OOM": "out_of_memory",  # maxmemory reached under noeviction
    "MISCONF": "persistence_error",  # the AOF (or an RDB save with stop-writes-on-bgsave-error) failed: a full disk
    "READONLY": "read_only",  # a replica, or a master demoted in a failover
    "NOREPLICAS": "too_few_replicas",  # min-replicas-to-write not met
}
_REFUSAL_TEXT = {
    "out_of_memory": "Redis is out of memory (maxmemory under noeviction)",
    "persistence_error": "Redis cannot write its append-only file (is its disk full?)",
    "read_only": "Redis is a read-only replica",
    "too_few_replicas": "Redis has too few replicas to accept writes (min-replicas-to-write)",
}


class UnsafeRedisError(RuntimeError):
    """The Redis server is set to lose accepted events (an allkeys-* eviction policy)."""


@dataclass(frozen=True)
class ServerSettings:
    """What decides whether accepted events survive; None where the server did not say."""

    maxmemory_policy: str | None = None
    appendonly: bool | None = None
    appendfsync: str | None = None
    aof_write_failing: bool = False  # the last AOF write failed: writes are refused (MISCONF)
    nodes: int = 1
    memory_full: bool = False  # a node under noeviction holds more than its maxmemory: writes are refused (OOM)

    @property
    def writes_refused(self) -> str | None:
        """Why the server refuses writes now, as write_refusal names it (PING still answers then), or None."""
        if self.memory_full:
            return "out_of_memory"
        return "persistence_error" if self.aof_write_failing else None

    @property
    def evicts_any_key(self) -> bool:
        return (self.maxmemory_policy or "").startswith("allkeys-")

    @property
    def events_durable(self) -> bool | None:
        """True with the AOF on, False without it, None when unknown."""
        return self.appendonly

    def warnings(self) -> list[str]:
        """Sentences for the log and /readyz about what may be lost."""
        out = []
        if self.evicts_any_key:
            out.append(f"maxmemory-policy {self.maxmemory_policy} may evict the event stream: accepted events can "
                       "be lost before training reads them; use noeviction")
        elif (self.maxmemory_policy or "").startswith("volatile-"):
            out.append(f"maxmemory-policy {self.maxmemory_policy} may evict keys with a TTL: users' since-training "
                       "events and client event ids (lists may repeat an item just bought, a retried event may be "
                       "stored twice); noeviction keeps them")
        if self.appendonly is False:
            out.append("appendonly is off: accepted events are not durable (they live in memory until a snapshot, "
                       "if any); set appendonly yes and appendfsync always")
        elif self.appendonly and self.appendfsync not in (None, "always"):
            out.append(f"appendfsync {self.appendfsync}: a crash may lose the last second of accepted events; "
                       "appendfsync always loses none")
        if self.aof_write_failing:
            out.append("the last write to the append-only file failed (is the disk full?): Redis refuses writes")
        return out

    def as_dict(self) -> dict[str, object]:
        return {"maxmemory_policy": self.maxmemory_policy, "appendonly": self.appendonly,
                "appendfsync": self.appendfsync, "aof_write_failing": self.aof_write_failing}


@dataclass
class _Merged:
    policies: list[str] = field(default_factory=list)
    appendonly: list[bool] = field(default_factory=list)
    failing: bool = False
    full: bool = False


async def read_server_settings(redis: aioredis.Redis) -> ServerSettings:
    """The server's eviction policy and persistence (every primary of a cluster; the least safe wins).

    Raises
    ------
    redis.exceptions.RedisError, OSError
        Redis could not be read.
    """
    merged = _Merged()
    for info in await _infos(redis):
        if "maxmemory_policy" in info:
            merged.policies.append(str(info["maxmemory_policy"]))
        if "aof_enabled" in info:
            merged.appendonly.append(bool(int(info["aof_enabled"])))
        merged.failing |= str(info.get("aof_last_write_status", "ok")) == "err"
        limit = int(info.get("maxmemory", 0) or 0)
        merged.full |= (str(info.get("maxmemory_policy")) == "noeviction" and limit > 0
                        and int(info.get("used_memory", 0) or 0) > limit)
    policy = next((p for p in merged.policies if p.startswith("allkeys-")), None) or \
        next((p for p in merged.policies if p.startswith("volatile-")), None) or \
        (merged.policies[0] if merged.policies else None)
    return ServerSettings(policy, all(merged.appendonly) if merged.appendonly else None,
                          await _appendfsync(redis), merged.failing, max(len(merged.policies), 1), merged.full)


async def _infos(redis: aioredis.Redis) -> list[dict]:
    """INFO persistence and memory, merged per node."""
    if is_cluster(redis):
        nodes = redis.get_primaries()
        persistence = await redis.info("persistence", target_nodes=nodes)
        memory = await redis.info("memory", target_nodes=nodes)
        if isinstance(persistence, dict) and all(isinstance(v, dict) for v in persistence.values()):
            return [{**persistence[name], **memory.get(name, {})} for name in persistence]
        return [{**persistence, **memory}]
    pipe = redis.pipeline(transaction=False)
    pipe.info("persistence")
    pipe.info("memory")
    persistence, memory = await pipe.execute()
    return [{**persistence, **memory}]


async def _appendfsync(redis: aioredis.Redis) -> str | None:
    """`appendfsync`, which INFO does not show; None where CONFIG is not allowed (managed services)."""
    try:
        reply = await redis.config_get("appendfsync")
    except REDIS_ERRORS:
        return None
    if isinstance(reply, dict) and reply and all(isinstance(v, dict) for v in reply.values()):  # per node
        values = {str(v.get("appendfsync")) for v in reply.values() if v.get("appendfsync")}
        return None if not values else ("always" if values == {"always"} else sorted(values - {"always"})[0])
    value = reply.get("appendfsync") if isinstance(reply, dict) else None
    return value.decode() if isinstance(value, bytes) else value


async def check_server(redis: aioredis.Redis, allow_eviction: bool) -> ServerSettings:
    """Read the server's settings at start: refuse an eviction policy that can drop the event stream
    (unless `allow_eviction`, RECS_ALLOW_EVICTION=1), and log a warning for everything else that may
    lose events.

    Raises
    ------
    UnsafeRedisError
        allkeys-* eviction without `allow_eviction`.
    redis.exceptions.RedisError, OSError
        Redis could not be read.
    """
    server = await read_server_settings(redis)
    if server.evicts_any_key and not allow_eviction:
        raise UnsafeRedisError(
            f"Redis runs with maxmemory-policy {server.maxmemory_policy}, which can evict the event stream and "
            "lose accepted events. Set maxmemory-policy noeviction (Encore answers 503 when memory is full), "
            "or set RECS_ALLOW_EVICTION=1 to run anyway.")
    for warning in server.warnings():
        log.warning("redis: %s", warning)
    if server.evicts_any_key:
        log.warning("redis: running on a server that can evict the event stream, as RECS_ALLOW_EVICTION=1 allows")
    return server


def write_refusal(exc: BaseException) -> str | None:
    """Why Redis refused a write (`out_of_memory`, `persistence_error`, `read_only`, `too_few_replicas`), or
    None when `exc` is something else. redis-py turns OOM and READONLY into their own classes and strips
    the code; MISCONF and NOREPLICAS come as plain ResponseErrors that start with it, also from a script."""
    if isinstance(exc, OutOfMemoryError):
        return "out_of_memory"
    if isinstance(exc, ReadOnlyError):
        return "read_only"
    if not isinstance(exc, ResponseError):
        return None
    code = str(exc).split(" ", 1)[0]
    return _REFUSALS.get(code)


def refusal_message(reason: str) -> str:
    """A sentence for the client about a write refusal (`write_refusal`'s reason)."""
    return _REFUSAL_TEXT.get(reason, "Redis refuses writes") + "; nothing was written, retry later"
