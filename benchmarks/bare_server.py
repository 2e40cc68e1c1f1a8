"""The floor the serving benchmark measures against: two tiny aiohttp apps, nothing else.

* `hello`: `GET /` answers a fixed JSON body; what aiohttp itself costs per request.
* `redis-get`: `GET /` does one redis.asyncio GET of a fixed key and returns the bytes; what one
  Redis round trip through redis-py costs on top. The client is configured like the service's.
  `GET /get/{key}` does the same for the key its path names (a precomputed list's key, a different
  one per request, under a path with a variable part like the service's routes): what a first read
  costs before the service does anything of its own.

    python -m benchmarks.bare_server hello --port 8001
    python -m benchmarks.bare_server redis-get --port 8002 --redis-url redis://127.0.0.1:6379/0 --key k

`benchmarks.serve` starts both as subprocesses and drives them with the same wrk settings as the service.
"""

from __future__ import annotations

import argparse
import sys

import redis.asyncio as aioredis
from aiohttp import web


def hello_app() -> web.Application:
    body = b'{"hello": "world"}'

    async def hello(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/", hello)
    return app


REDIS = web.AppKey("redis", aioredis.Redis)


def redis_get_app(url: str, key: str) -> web.Application:
    async def client_ctx(app: web.Application):
        app[REDIS] = aioredis.from_url(url, health_check_interval=30, socket_timeout=10,
                                         socket_connect_timeout=5, retry_on_timeout=False)
        await app[REDIS].ping()
        yield
        await app[REDIS].aclose()

    async def get(request: web.Request) -> web.Response:
        value = await request.app[REDIS].get(request.match_info.get("key", key))
        if value is None:
            raise web.HTTPNotFound()
        return web.Response(body=value, content_type="application/octet-stream")

    app = web.Application()
    app.cleanup_ctx.append(client_ctx)
    app.router.add_get("/", get)
    app.router.add_get("/get/{key:.+}", get)  # keys hold braces (hash tags)
    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bare_server", description=__doc__.splitlines()[0])
    parser.add_argument("app", choices=("hello", "redis-get"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis-url", help="redis-get: the Redis to read")
    parser.add_argument("--key", default="bench:blob", help="redis-get: the key to GET")
    args = parser.parse_args(argv)
    if args.app == "hello":
        app = hello_app()
    else:
        if not args.redis_url:
            parser.error("redis-get needs --redis-url")
        app = redis_get_app(args.redis_url, args.key)
    web.run_app(app, host=args.host, port=args.port, access_log=None, print=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
