"""service.store.client: commands packed by hiredis, byte for byte what redis.asyncio sends, on every URL scheme."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis
from redis.asyncio.connection import Connection, SSLConnection, UnixDomainSocketConnection
from redis.exceptions import DataError

from service.store.client import connect, hiredis_packing

ARGUMENTS = ["x", b"bytes", "ünïcode", 0, -5, 2**70, 0.1, 1 / 3, 1e300, 1e-7, float("inf"), memoryview(b"mv"),
             bytearray(b"ba"), "a" * 10_000]


@pytest.mark.parametrize("value", ARGUMENTS, ids=repr)
def test_hiredis_packs_the_bytes_redis_asyncio_packs(value):
    python, packing = Connection(), hiredis_packing(Connection)()
    assert b"".join(map(bytes, packing.pack_command("SET", "key", value))) == \
        b"".join(map(bytes, python.pack_command("SET", "key", value)))
    assert packing.pack_command("CONFIG GET", "maxmemory") == python.pack_command("CONFIG GET", "maxmemory")


@pytest.mark.parametrize("value", [True, None, object()], ids=repr)
def test_arguments_redis_refuses_are_still_refused(value):
    with pytest.raises(DataError):
        hiredis_packing(Connection)().pack_command("SET", "key", value)


@pytest.mark.parametrize(("url", "base"), [("redis://127.0.0.1:1/0", Connection),
                                           ("rediss://127.0.0.1:1/0", SSLConnection),
                                           ("unix:///tmp/none.sock?db=0", UnixDomainSocketConnection)])
def test_every_scheme_keeps_its_connection_class(url, base):
    client = connect(url)
    assert isinstance(client, aioredis.Redis)
    assert client.connection_pool.connection_class is hiredis_packing(base)
    assert issubclass(client.connection_pool.connection_class, base)


async def test_a_packed_script_call_round_trips(redis_url):
    client = connect(redis_url)
    try:
        keys = [f"k{i}" for i in range(20)]
        await client.mset({key: f"value {i}" for i, key in enumerate(keys)})
        got = await client.eval("return redis.call('MGET', unpack(KEYS))", len(keys), *keys)
        assert got == [f"value {i}".encode() for i in range(20)]
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.get(key)
        assert await pipe.execute() == got
    finally:
        await client.aclose()
