"""Application factory: settings in, a ready aiohttp app out; start-up and shutdown are the
cleanup contexts below, read top to bottom."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator

from aiohttp import web

from service.http.app_keys import (
    FAILURE,
    HISTORY,
    METRICS,
    ONLINE,
    REDIS,
    REDIS_KEYS,
    REDIS_URL,
    REFRESHER,
    SERVING,
    SETTINGS,
)
from service.http.dashboard import setup_dashboard
from service.http.errors import error_middleware, quiet_client_errors
from service.http.limits import MAX_HEADER_BYTES, MAX_REQUEST_LINE_BYTES
from service.http.metrics import metrics_middleware
from service.http.routes import setup_routes
from service.metrics import Metrics
from service.serving.online import OnlineRecorder
from service.serving.read_path import Serving
from service.serving.retention_index import HistoryStore
from service.serving.trending import TrendingFallback
from service.settings import Settings
from service.store.client import connect
from service.store.embedded import EmbeddedRedis
from service.store.keys import Keys
from service.store.server import check_server
from service.training.refresh import Refresher

log = logging.getLogger(__name__)
#: Seconds a stop waits for the requests in flight (service.__main__.serve).
SHUTDOWN_SECONDS = 30
#: Seconds any Redis command may take before the request gets a 503 (list reads give up sooner:
#: RECS_REDIS_READ_TIMEOUT).
REDIS_SOCKET_TIMEOUT = 10.0


async def redis_ctx(app: web.Application) -> AsyncIterator[None]:
    """Connect to REDIS_URL, or start the embedded redis-server and connect to its socket; check that the
    server keeps accepted events (service.store.server)."""
    settings = app[SETTINGS]
    embedded = None
    url = settings.redis_url
    if not url:
        embedded = EmbeddedRedis(settings.data_dir / "redis")
        url = embedded.start()  # in the main thread: the server is told to exit when its starting thread dies
    # a command that timed out is not sent again: a write script may have run (events without an id would be
    # stored twice), and a hung Redis would hold the request twice as long; a lost connection is still retried
    client = connect(url, settings.cluster, health_check_interval=30, socket_timeout=REDIS_SOCKET_TIMEOUT,
                     socket_connect_timeout=5, retry_on_timeout=False)
    app[REDIS] = client
    app[REDIS_URL] = url
    watch = None
    try:
        await client.ping()
        await check_server(client, settings.allow_eviction)  # refuses a server that can evict the event stream
        if embedded is not None:
            watch = asyncio.create_task(_watch_embedded(app, embedded), name="encore-embedded-redis-watch")
        yield
    finally:
        if watch is not None:
            watch.cancel()
        await client.aclose()
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)


#: Seconds between two checks that the embedded redis-server still runs.
EMBEDDED_CHECK_SECONDS = 1.0


async def _watch_embedded(app: web.Application, embedded: EmbeddedRedis) -> None:
    """Stop the service when its embedded redis-server exits: nothing restarts the server in process, and a
    service left running without it answers /healthz while every write fails, so a process manager would never
    restart it. SIGTERM to itself: the usual graceful stop, then `python -m service` exits 1 (FAILURE)."""
    while (code := embedded.exit_code()) is None:
        await asyncio.sleep(EMBEDDED_CHECK_SECONDS)
    app[FAILURE] = f"the embedded redis-server exited with code {code}"
    log.error("%s; stopping the service (a process manager restarts it, and it starts the server again)",
              app[FAILURE])
    signal.raise_signal(signal.SIGTERM)


async def serving_ctx(app: web.Application) -> AsyncIterator[None]:
    """Load the current model (if any), then run the refresh loop in the background."""
    settings, metrics = app[SETTINGS], app[METRICS]
    keys = Keys(settings.key_prefix)
    app[REDIS_KEYS] = keys
    app[SERVING] = Serving(app[REDIS], keys, settings, metrics)
    refresher = Refresher(app[REDIS], keys, settings, app[SERVING], metrics, app[REDIS_URL])
    app[REFRESHER] = refresher
    settings.models_path.mkdir(parents=True, exist_ok=True)
    await refresher.sync()
    stop = asyncio.Event()
    loop_task = asyncio.create_task(refresher.run(stop), name="encore-refresh-loop")
    yield
    stop.set()
    await loop_task
    await app[SERVING].flush_writes()
    if refresher.training is not None and not refresher.training.done():
        refresher.training.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await refresher.training


async def online_ctx(app: web.Application) -> AsyncIterator[None]:
    """The online recorder's task runs while the app serves; what is still tallied at shutdown is
    written (for up to 5 s) before Redis is closed."""
    recorder = OnlineRecorder(app[REDIS], app[REDIS_KEYS], app[METRICS])
    app[ONLINE] = recorder
    recorder.start()
    yield
    await recorder.stop()


async def history_ctx(app: web.Application) -> AsyncIterator[None]:
    """One retention index (every event accepted so far) per app, read by the retention routes."""
    serving = app[SERVING]
    app[HISTORY] = HistoryStore(app[REDIS], app[REDIS_KEYS], app[REFRESHER].snapshot_path, lambda: serving.erased)
    if app[SETTINGS].fallback == "trending":  # unknown customers get trending items (service.serving.trending)
        serving.trending = TrendingFallback(app[HISTORY], app[SETTINGS].trending_hours)
    yield


def create_app(settings: Settings | None = None) -> web.Application:
    settings = settings or Settings.from_env()
    metrics = Metrics()
    quiet_client_errors()
    app = web.Application(client_max_size=max(settings.max_body_bytes, settings.max_batch_body_bytes),
                          middlewares=[metrics_middleware(metrics), error_middleware],
                          handler_args={"max_line_size": MAX_REQUEST_LINE_BYTES, "max_field_size": MAX_HEADER_BYTES})
    app[SETTINGS] = settings
    app[METRICS] = metrics
    setup_routes(app)
    setup_dashboard(app)
    app.cleanup_ctx.append(redis_ctx)
    app.cleanup_ctx.append(serving_ctx)
    app.cleanup_ctx.append(online_ctx)
    app.cleanup_ctx.append(history_ctx)
    app.on_shutdown.append(_stopping)
    app.on_cleanup.append(_stopped)  # after every cleanup context above
    return app


async def _stopping(app: web.Application) -> None:
    log.info("stopping: no new connections; finishing the requests in flight (up to %d s)", SHUTDOWN_SECONDS)


async def _stopped(app: web.Application) -> None:
    log.info("stopped: in-flight requests answered, Redis closed")
