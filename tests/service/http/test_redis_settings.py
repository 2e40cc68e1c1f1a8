"""Redis set to lose data, and Redis refusing writes, against real redis-servers started for each test:
an eviction policy that can drop the event stream stops the start, no AOF shows in /readyz, and a server
out of memory or with a full AOF disk makes every write route answer 503 with Retry-After, writing
nothing, while reads go on."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from service.http import app as app_module
from service.store.embedded import free_port
from service.store.keys import Keys
from service.store.server import UnsafeRedisError
from tests.conftest import RedisProcess
from tests.service.conftest import AUTH_ADMIN, AUTH_WRITE, wait_for

KEYS = Keys()
ROOT = Path(__file__).parents[3]


@pytest.fixture
def start_redis(tmp_path):
    """start_redis(*options, directory=None): a redis-server of this test's own, stopped at the end."""
    started: list[RedisProcess] = []

    def start(*args: str, directory: Path | None = None) -> RedisProcess:
        server = RedisProcess(free_port(), directory or tmp_path / f"redis-{len(started)}", args=args)
        server.directory.mkdir(parents=True, exist_ok=True)
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop(kill=True)


@pytest.fixture
def small_disk(tmp_path):
    """A 16 MiB tmpfs to fill up (the test runs as root in the dev container; elsewhere it is skipped)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True,
                            text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill up (needs root): {result.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path, leave: int) -> Path:
    """A file taking all of `disk` but `leave` bytes."""
    stat = os.statvfs(disk)
    filler = disk / "filler"
    with open(filler, "wb") as handle:
        handle.truncate(max(stat.f_bavail * stat.f_frsize - leave, 0))
        handle.seek(0)
    with open(filler, "r+b") as handle:  # tmpfs allocates a page when it is written, not when truncated
        for _ in range(0, filler.stat().st_size, 1 << 20):
            handle.write(b"\1" * min(1 << 20, filler.stat().st_size - handle.tell()))
    return filler


def state(url: str) -> dict[bytes, bytes]:
    """Every key and its serialised value: what a refused write must leave exactly as it was (but the rate
    limiter's token buckets, which every request takes from before its handler runs, if Redis lets it)."""
    with redis.Redis.from_url(url) as r:
        keys = sorted(k for k in r.scan_iter(count=1000) if not k.startswith(b"encore:ratelimit:"))
        pipe = r.pipeline(transaction=False)
        for key in keys:
            pipe.dump(key)
        return dict(zip(keys, pipe.execute()))


WRITES = [  # every write route, with a body that is valid
    ("POST", "/v1/events", [{"user_id": "w-user", "item_id": "p00003", "type": "purchase"}], AUTH_WRITE),
    ("POST", "/v1/users/w-user/shown", {"item_ids": ["p00004", "p00005"]}, AUTH_WRITE),
    ("PUT", "/v1/items", [{"item_id": "w-item", "kind": "product", "category": "new"}], AUTH_WRITE),
    ("DELETE", "/v1/items/p00006", None, AUTH_WRITE),
    ("POST", "/v1/model/retrain", None, AUTH_ADMIN),
]


async def assert_every_write_is_refused(client, url: str, reason: str) -> None:
    for method, path, body, auth in WRITES:
        before = state(url)
        response = await client.request(method, path, json=body, headers=auth)
        assert response.status == 503, (path, await response.text())
        assert int(response.headers["Retry-After"]) >= 1
        error = (await response.json())["error"]
        assert error["code"] == "write_refused" and error["reason"] == reason and error["message"], path
        assert state(url) == before, path  # nothing partial was written
    assert (await client.get("/v1/users/u000001/recommendations?n=5")).status == 200  # reads go on
    assert (await client.get("/v1/users/u000001/buy-again")).status == 200


async def fill_until_refused(client, url: str) -> tuple[object, dict, dict]:
    """Post batches of events until one is not accepted; (that response, Redis before it, Redis after it)."""
    for k in range(2000):
        batch = [{"user_id": f"fill-{k}-{j}", "item_id": "p00001", "type": "view"} for j in range(500)]
        before = state(url) if k % 5 == 0 else None
        response = await client.post("/v1/events", json=batch, headers=AUTH_WRITE)
        if response.status != 202:
            if before is None:  # the state before this very request, to compare with
                return await fill_until_refused(client, url)
            return response, before, state(url)
    raise AssertionError("Redis never refused a write")


# -- at start ---------------------------------------------------------------------------------
async def test_a_server_that_can_evict_the_event_stream_stops_the_start(make_client, settings, start_redis, caplog):
    server = start_redis("--maxmemory", "512mb", "--maxmemory-policy", "allkeys-lru")
    with pytest.raises(UnsafeRedisError, match="allkeys-lru.*RECS_ALLOW_EVICTION=1"):
        await make_client(settings, redis_url=server.url, ready=False)
    with caplog.at_level(logging.WARNING, logger="service.store.server"):
        client = await make_client(settings, redis_url=server.url, allow_eviction=True)
    assert any("allkeys-lru may evict the event stream" in r.getMessage() for r in caplog.records)
    assert sum("RECS_ALLOW_EVICTION=1" in r.getMessage() for r in caplog.records) == 1  # said once, on its own line
    ready = await (await client.get("/readyz")).json()
    assert ready["ready"] and ready["redis_settings"]["maxmemory_policy"] == "allkeys-lru"
    assert any("allkeys-lru" in w for w in ready["warnings"])


def test_python_m_service_says_why_it_will_not_start(start_redis, tmp_path):
    server = start_redis("--maxmemory-policy", "allkeys-random")
    env = {**os.environ, "REDIS_URL": server.url, "RECS_DATA_DIR": str(tmp_path / "data"),
           "RECS_PORT": str(free_port()), "RECS_TRAIN_ON_START": "0"}
    result = subprocess.run([sys.executable, "-m", "service"], env=env, cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2
    assert "error: Redis runs with maxmemory-policy allkeys-random" in result.stderr
    assert "Traceback" not in result.stderr


async def test_readyz_says_events_are_not_durable_without_the_aof(make_client, settings, start_redis):
    server = start_redis("--appendonly", "no")
    client = await make_client(settings, redis_url=server.url)
    response = await client.get("/readyz")
    body = await response.json()
    assert response.status == 200 and body["ready"]  # reads work: not durable is not unready
    assert body["events_durable"] is False and body["redis_settings"]["appendonly"] is False
    assert any("not durable" in w for w in body["warnings"])
    with redis.Redis.from_url(server.url) as r:
        r.config_set("appendonly", "yes")
        r.config_set("appendfsync", "everysec")
    await wait_for(lambda: _ready_durable(client))
    body = await (await client.get("/readyz")).json()
    assert body["redis_settings"]["appendfsync"] == "everysec" and any("last second" in w for w in body["warnings"])


async def _ready_durable(client) -> bool:
    return (await (await client.get("/readyz")).json())["events_durable"] is True


async def test_readyz_on_a_safe_server_has_no_warnings(client):
    body = await (await client.get("/readyz")).json()
    assert body["events_durable"] is True and body["warnings"] == []
    assert body["redis_settings"] == {"maxmemory_policy": "noeviction", "appendonly": True, "appendfsync": "always",
                                      "aof_write_failing": False}


# -- write refusals ---------------------------------------------------------------------------
async def test_out_of_memory_under_noeviction_refuses_every_write_with_503(make_client, settings, start_redis):
    server = start_redis("--maxmemory-policy", "noeviction")
    client = await make_client(settings, redis_url=server.url)
    with redis.Redis.from_url(server.url) as r:
        r.config_set("maxmemory", int(r.info("memory")["used_memory"]) + 2 * 1024 * 1024)
    response, before, after = await fill_until_refused(client, server.url)
    assert response.status == 503 and response.headers["Retry-After"] == "5"
    assert (await response.json())["error"]["reason"] == "out_of_memory"
    assert after == before  # the whole batch refused: not one event of it
    with redis.Redis.from_url(server.url) as r:  # well past the limit, so even the smallest write is refused
        r.config_set("maxmemory", int(r.info("memory")["used_memory"]) - 1024 * 1024)
    await assert_every_write_is_refused(client, server.url, "out_of_memory")
    ready = await client.get("/readyz")  # PING still answers: the memory figures say writes are refused
    assert ready.status == 200 and (await ready.json())["writes_refused"] == "out_of_memory"
    with redis.Redis.from_url(server.url) as r:
        r.config_set("maxmemory", 0)
    assert (await (await client.get("/readyz")).json())["writes_refused"] is None
    retried = await client.post("/v1/events", json={"user_id": "w-user", "item_id": "p00003", "type": "view"},
                                headers=AUTH_WRITE)
    assert retried.status == 202


async def test_a_full_disk_under_the_aof_refuses_every_write_with_503(make_client, settings, start_redis, small_disk):
    server = start_redis("--appendfsync", "everysec", directory=small_disk)
    client = await make_client(settings, redis_url=server.url)
    filler = fill(small_disk, leave=1024 * 1024)  # a few batches still fit
    response, before, after = await fill_until_refused(client, server.url)
    # under everysec Redis answers the command whose write failed, then refuses writes (MISCONF) until
    # it can write again: the first refused request wrote nothing
    assert response.status == 503 and response.headers["Retry-After"] == "5"
    assert (await response.json())["error"]["reason"] == "persistence_error"
    assert after == before
    await assert_every_write_is_refused(client, server.url, "persistence_error")
    response = await client.get("/readyz")  # Redis answers PING with MISCONF now; reads work, so still ready
    ready = await response.json()
    assert response.status == 200 and ready["writes_refused"] == "persistence_error"
    assert ready["redis_settings"]["aof_write_failing"] and any("disk full" in w for w in ready["warnings"])
    filler.unlink()  # room again: Redis writes the AOF again and accepts writes

    async def accepted() -> bool:
        sent = await client.post("/v1/events", json={"user_id": "w-user", "item_id": "p00003", "type": "view"},
                                 headers=AUTH_WRITE)
        return sent.status == 202

    await wait_for(accepted, timeout=30, interval=0.5)


async def test_a_full_disk_under_appendfsync_always_stops_redis_and_writes_answer_503(
        make_client, settings, start_redis, small_disk):
    server = start_redis(directory=small_disk)  # appendfsync always, as the embedded server runs
    client = await make_client(settings, redis_url=server.url)
    fill(small_disk, leave=1024 * 1024)
    for k in range(200):
        batch = [{"user_id": f"fill-{k}-{j}", "item_id": "p00001", "type": "view"} for j in range(500)]
        response = await client.post("/v1/events", json=batch, headers=AUTH_WRITE)
        if response.status != 202:
            break
    # Redis cannot keep "on disk before the reply" and exits rather than answer: the service sees it away
    assert response.status == 503 and response.headers["Retry-After"] == "1"
    assert (await response.json())["error"]["code"] == "unavailable"
    assert server.process.wait(10) != 0
    assert (await client.get("/readyz")).status == 503
    assert (await client.get("/v1/users/u000001/recommendations?n=5")).status == 200  # from the in-memory model


async def test_a_hung_redis_holds_readiness_and_the_model_record_up_only_for_the_read_timeout(
        make_client, settings, start_redis):
    """A stopped Redis (SIGSTOP: connected, never answering): /readyz says 503 and /v1/model answers from memory
    after RECS_REDIS_READ_TIMEOUT, the rate limiter letting the keyed request through after as long; each of the
    three waited for the socket timeout, twice (10 s, retried), before."""
    server = start_redis()
    client = await make_client(settings, redis_url=server.url, read_keys=("read-key",))
    os.kill(server.process.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        ready = await client.get("/readyz")
        model = await client.get("/v1/model", headers={"Authorization": "Bearer read-key"})
        elapsed = time.monotonic() - started
    finally:
        os.kill(server.process.pid, signal.SIGCONT)
    assert ready.status == 503 and model.status == 200
    assert "redis is not answering" in (await model.json())["training"]["last_message"]
    assert elapsed < 12, elapsed  # three waits of 1 s here, against 20 s or more each before


async def test_a_write_to_a_hung_redis_is_a_503_after_one_socket_timeout(make_client, settings, start_redis,
                                                                         monkeypatch):
    """Not sent again after the timeout: the script may have run (events without an id stored twice), and the
    client would wait twice as long."""
    monkeypatch.setattr(app_module, "REDIS_SOCKET_TIMEOUT", 2.0)
    server = start_redis()
    client = await make_client(settings, redis_url=server.url)
    os.kill(server.process.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        response = await client.post("/v1/events", json={"user_id": "h", "item_id": "p00001", "type": "view"},
                                     headers=AUTH_WRITE)
        elapsed = time.monotonic() - started
    finally:
        os.kill(server.process.pid, signal.SIGCONT)
    assert response.status == 503 and (await response.json())["error"]["code"] == "unavailable"
    assert elapsed < 4.5, elapsed  # the rate limiter's 1 s, then one socket timeout of 2 s (5 s with a retry)

