"""The serving benchmark's floor apps (benchmarks.bare_server), against a real Redis."""

from __future__ import annotations

from urllib.parse import quote

import redis

from benchmarks.bare_server import redis_get_app
from benchmarks.serve_routes import BARE_KEY, KEYS


async def test_redis_get_answers_the_fixed_key_and_the_key_its_path_names(aiohttp_client, redis_url):
    key = KEYS.user_recs("20261202T000000Z-abc", "u0040024")  # colons and braces: quoted in the path
    with redis.Redis.from_url(redis_url) as sync:
        sync.set(BARE_KEY, b"fixed")
        sync.set(key, b"\x00list")
    client = await aiohttp_client(redis_get_app(redis_url, BARE_KEY))

    fixed = await client.get("/")
    assert fixed.status == 200 and await fixed.read() == b"fixed"
    mine = await client.get(f"/get/{quote(key, safe='')}")
    assert mine.status == 200 and await mine.read() == b"\x00list"
    assert (await client.get("/get/nothing-here")).status == 404
