"""Every string a Redis value holds, whatever its type: the erasure tests grep them for an id."""

from __future__ import annotations

import redis


def key_values(r: redis.Redis, key: bytes) -> list[bytes]:
    """The strings `key`'s value holds: a string, a hash's fields and values, a list's, set's or sorted set's
    members, a stream's field names and values; none for a key that expired since it was listed (a rate-limit
    window, a cache entry's TTL). Raises AssertionError for any other type."""
    kind = r.type(key).decode()
    if kind == "none":
        return []
    if kind == "string":
        return [r.get(key) or b""]
    if kind == "hash":
        return [v for pair in r.hgetall(key).items() for v in pair]
    if kind == "list":
        return r.lrange(key, 0, -1)
    if kind == "set":
        return list(r.smembers(key))
    if kind == "zset":
        return r.zrange(key, 0, -1)
    if kind == "stream":
        return [v for _, fields in r.xrange(key) for pair in fields.items() for v in pair]
    raise AssertionError(f"{key!r} is a {kind}")
