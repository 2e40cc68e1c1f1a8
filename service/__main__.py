"""`python -m service`: serve on RECS_HOST:RECS_PORT (see service.settings for every variable)."""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy loads: implicit trains in this process

import argparse  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402

from aiohttp import web  # noqa: E402
from redis.exceptions import RedisError  # noqa: E402

from service.app import create_app  # noqa: E402
from service.redis_server import RedisServerError  # noqa: E402
from service.settings import Settings, SettingsError  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service", description="Encore recommendation service")
    parser.add_argument("--host", help="overrides RECS_HOST")
    parser.add_argument("--port", type=int, help="overrides RECS_PORT")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings)
    return serve(create_app(settings), args.host or settings.host, args.port or settings.port)


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def serve(app: web.Application, host: str, port: int) -> int:
    """Run until SIGINT/SIGTERM: stop accepting, let in-flight requests finish (up to 30 s), clean up."""
    try:
        web.run_app(app, host=host, port=port, shutdown_timeout=30,
                    print=lambda msg: logging.getLogger("service").info(msg))
    except RedisServerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (RedisError, OSError) as exc:  # at start-up: wrong password, nothing listening, ...
        print(f"error: cannot use Redis (REDIS_URL): {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
