"""Service fixtures: demo data on disk, settings pointing at the real test Redis, a client
whose app has finished its first training."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from recommender.demo import generate_storefront, write_storefront
from service.http import errors as http_errors
from service.http.app import create_app
from service.http.app_keys import ONLINE, REFRESHER
from service.outage_log import OutageLog
from service.serving import online, shared_work
from service.settings import Settings
from service.store import mirror, ratelimit

WRITE, ADMIN = "write-key", "admin-key"
AUTH_WRITE = {"Authorization": f"Bearer {WRITE}"}
AUTH_ADMIN = {"Authorization": f"Bearer {ADMIN}"}
NOW = 1_790_000_000.0


@pytest.fixture(autouse=True)
def fresh_outage_logs(monkeypatch):
    """Each test's Redis warnings are logged from scratch: service.outage_log's throttle is per process."""
    for module in (shared_work, http_errors, ratelimit, mirror, online):
        monkeypatch.setattr(module, "outage", OutageLog(module.log))


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory):
    data = generate_storefront(n_users=400, n_products=150, n_content=20, seed=3, now=NOW)
    events, catalog = write_storefront(data, tmp_path_factory.mktemp("demo"))
    return data, events, catalog


@pytest.fixture
def settings(tmp_path: Path, redis_url: str, demo) -> Settings:
    _, events, catalog = demo
    return Settings(redis_url=redis_url, data_dir=tmp_path, bootstrap_events=events, bootstrap_catalog=catalog,
                    write_keys=(WRITE,), admin_keys=(ADMIN,), poll_interval=0.1, refresh_interval=3600,
                    active_days=3650)


async def wait_ready(client: TestClient, timeout: float = 60) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        response = await client.get("/readyz")
        training = client.app[REFRESHER].training
        if response.status == 200 and (training is None or training.done()):  # the first run has let go of the lock
            return
        await asyncio.sleep(0.05)
    raise AssertionError("service did not become ready")


async def wait_for(predicate, timeout: float = 60, interval: float = 0.05):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        result = await predicate()
        if result:
            return result
        await asyncio.sleep(interval)
    raise AssertionError("condition not met in time")


@pytest.fixture
def make_client(aiohttp_client):
    async def make(settings: Settings, ready: bool = True, **overrides) -> TestClient:
        client = await aiohttp_client(create_app(dataclasses.replace(settings, **overrides)))
        if ready:
            await wait_ready(client)
        return client

    return make


@pytest.fixture
async def client(make_client, settings: Settings) -> TestClient:
    return await make_client(settings)


@contextlib.asynccontextmanager
async def recorder_paused(client: TestClient) -> AsyncIterator[None]:
    """The online recorder's flush loop stopped (what it tallied written first) and started again after: Redis
    command counts taken inside are the requests' own, never a flush (a script, every second) that fell between."""
    recorder = client.app[ONLINE]
    await recorder.stop()
    try:
        yield
    finally:
        recorder.start()
