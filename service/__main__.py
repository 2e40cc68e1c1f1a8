"""`python -m service`: serve on RECS_HOST:RECS_PORT (see service.settings for every variable);
`--workers N` serves it from N processes (service.workers)."""

from __future__ import annotations

import argparse
import errno
import logging
import socket
import sys

from aiohttp import web

from service.http.app import SHUTDOWN_SECONDS, create_app
from service.http.app_keys import FAILURE
from service.serving.model_state import tune_collector
from service.settings import Settings, SettingsError
from service.store.client import REDIS_ERRORS
from service.store.embedded import RedisServerError
from service.store.server import UnsafeRedisError
from service.workers import WorkerLink, run_workers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service", description="Encore recommendation service")
    parser.add_argument("--host", help="overrides RECS_HOST")
    parser.add_argument("--port", type=int, help="overrides RECS_PORT")
    parser.add_argument("--workers", type=int, help="processes serving the port; overrides RECS_WORKERS")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    workers = settings.workers if args.workers is None else args.workers
    if workers < 1:
        print("error: --workers must be at least 1", file=sys.stderr)
        return 2
    host = args.host or settings.host
    port = settings.port if args.port is None else args.port
    if not 0 <= port <= 65535:
        print("error: --port must be from 0 (any free port) to 65535", file=sys.stderr)
        return 2
    link = WorkerLink.from_env()
    configure_logging(settings, with_pid=workers > 1 or link is not None)
    if workers > 1:
        return run_workers(settings, host, port, workers)
    if link is not None and not link.attach():
        return 1  # the parent is gone already
    return serve(create_app(settings), host, port, link)


def configure_logging(settings: Settings, with_pid: bool = False) -> None:
    name = "%(name)s[%(process)d]" if with_pid else "%(name)s"
    logging.basicConfig(level=settings.log_level.upper(), format=f"%(asctime)s %(levelname)s {name}: %(message)s")
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def serve(app: web.Application, host: str, port: int, link: WorkerLink | None = None) -> int:
    """Run until SIGINT/SIGTERM: stop accepting, let in-flight requests finish (up to SHUTDOWN_SECONDS), clean up.

    A worker of `--workers N` (`link`) listens with SO_REUSEPORT and tells its parent once it does.
    """
    def listening(message: str) -> None:
        logging.getLogger("service").info(message)
        if link is not None:
            link.listening()

    tune_collector()
    try:
        web.run_app(app, host=host, port=port, shutdown_timeout=SHUTDOWN_SECONDS, reuse_port=True if link else None,
                    print=listening)
    except (RedisServerError, UnsafeRedisError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except REDIS_ERRORS as exc:  # at start-up: wrong password, nothing listening, ... or the HTTP port (OSError)
        if isinstance(exc, OSError) and _cannot_listen(exc):
            print(f"error: cannot listen on {host}:{port} (RECS_HOST, RECS_PORT): {exc}", file=sys.stderr)
        else:
            print(f"error: cannot use Redis (REDIS_URL): {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    if FAILURE in app:  # it stopped itself: its embedded redis-server died
        print(f"error: {app[FAILURE]}", file=sys.stderr)
        return 1
    return 0


def _cannot_listen(exc: OSError) -> bool:
    """The HTTP site could not bind (address in use or not this machine's, a privileged port) or its host
    name does not resolve; Redis's own connection errors reach here as redis-py's."""
    return isinstance(exc, socket.gaierror) or exc.errno in (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES)


if __name__ == "__main__":
    sys.exit(main())
