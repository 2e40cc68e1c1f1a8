"""One place that turns REDIS_URL into a client: a plain Redis, or a Redis Cluster.

A cluster is named by `redis+cluster://host:port` (or `rediss+cluster://`), or by any URL with
RECS_REDIS_CLUSTER=1; the address is one node, and redis-py finds the rest. Code that must
act differently on a cluster (a script may touch only one slot there) asks `is_cluster`.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import AbstractConnection, Connection, ConnectionPool, parse_url
from redis.connection import HiredisRespSerializer
from redis.exceptions import NoScriptError, RedisClusterException, RedisError

#: What "Redis could not answer" looks like: redis-py's errors, the cluster client's own (a slot no
#: live node serves yet, in a failover, is not a RedisError) and the socket's.
REDIS_ERRORS: tuple[type[Exception], ...] = (RedisError, RedisClusterException, OSError)
CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}


_PACKER = HiredisRespSerializer()


@functools.cache
def hiredis_packing(base: type[AbstractConnection]) -> type[AbstractConnection]:
    """`base` (redis.asyncio's TCP, TLS or Unix socket connection) with commands packed by hiredis's C
    packer, as redis-py's synchronous client already does (`HiredisRespSerializer`); redis.asyncio packs in
    Python, one bytes join per argument. The bytes sent are the same; a script call with a few users'
    keys packs about eight times faster. Invalid arguments raise redis.exceptions.DataError, as before. One class
    per `base`, made once."""

    def pack_command(self: AbstractConnection, *args: Any) -> list[bytes]:
        return _PACKER.pack(*args)

    return type(f"HiredisPacking{base.__name__}", (base,), {"pack_command": pack_command})


def names_cluster(url: str) -> bool:
    """Whether `url`'s scheme is one of CLUSTER_SCHEMES (redis+cluster, rediss+cluster)."""
    return url.split("://", 1)[0] in CLUSTER_SCHEMES


def plain_url(url: str) -> str:
    """The URL redis-py understands: `redis+cluster://` becomes `redis://`."""
    scheme, sep, rest = url.partition("://")
    return CLUSTER_SCHEMES.get(scheme, scheme) + sep + rest


def connect(url: str, cluster: bool = False, **options: Any) -> aioredis.Redis | RedisCluster:
    """A client for `url`.

    Parameters
    ----------
    url : str
        redis://, rediss://, unix:// (plain), or redis+cluster:// / rediss+cluster:// (one node of
        a cluster).
    cluster : bool
        Treat any URL as a cluster node (RECS_REDIS_CLUSTER=1).
    **options
        redis-py's connection options (timeouts in seconds, health check interval, ...);
        `retry_on_timeout` is dropped for a cluster, whose client retries by itself.

    Returns
    -------
    redis.asyncio.Redis or redis.asyncio.cluster.RedisCluster
        Not connected yet: the first command connects.

    Raises
    ------
    ValueError
        redis-py cannot parse the URL.
    """
    if cluster or names_cluster(url):
        options.pop("retry_on_timeout", None)  # not an option there: it retries moved or failed nodes itself
        return RedisCluster.from_url(plain_url(url), **options)
    url_options = parse_url(url)  # as redis.asyncio.from_url: the URL's own options win over `options`
    base = url_options.pop("connection_class", Connection)  # unix:// and rediss:// name their own
    pool = ConnectionPool(**{**options, **url_options}, connection_class=hiredis_packing(base))
    return aioredis.Redis.from_pool(pool)  # the client owns the pool: closing it disconnects


def is_cluster(client: object) -> bool:
    """Whether `client` is a cluster client (scripts may then touch one slot only)."""
    return isinstance(client, RedisCluster)


class Script:
    """A Lua script run by its SHA-1 digest (EVALSHA), sent whole only when the server does not know it yet
    (a restarted or flushed server): one round trip per call, the source over the wire about once per server.

    Parameters
    ----------
    source : str
        The Lua source.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    async def __call__(self, redis: aioredis.Redis, keys: Sequence[str], args: Sequence[Any] = ()) -> Any:
        """The script's reply for `keys` and `args`.

        Raises
        ------
        redis.exceptions.RedisError, OSError
            Redis could not run it.
        """
        try:
            return await redis.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await redis.eval(self.source, len(keys), *keys, *args)


def script_entries(raw: Sequence[Sequence[Any]]) -> list[tuple[bytes, dict]]:
    """Stream entries as a script returns them (`XRANGE` inside Lua: [id, [field, value, ...]] each) in the
    shape redis-py gives `xrange`: (id, {field: value})."""
    return [(entry_id, dict(zip(fields[::2], fields[1::2]))) for entry_id, fields in raw]
