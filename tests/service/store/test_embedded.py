"""The embedded default: with REDIS_URL unset the service runs its own redis-server."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from service.http.app_keys import REDIS
from service.store.embedded import EmbeddedRedis, RedisServerError
from service.settings import Settings
from tests.service.conftest import wait_ready


async def test_embedded_redis_starts_with_aof_and_stops_on_exit(make_client, settings, tmp_path):
    embedded = Settings(**{**settings.__dict__, "redis_url": None, "data_dir": tmp_path / "svc"})
    client = await make_client(embedded, ready=False)
    await wait_ready(client)
    redis_dir = tmp_path / "svc" / "redis"
    assert (redis_dir / "redis.sock").exists()
    assert stat.S_IMODE(os.stat(redis_dir).st_mode) == 0o700
    config = await client.app[REDIS].config_get("appendonly")
    assert config["appendonly"] in ("yes", b"yes")
    assert (await client.app[REDIS].config_get("port"))["port"] in ("0", b"0")  # no TCP listener
    pid_line = subprocess.run(["pgrep", "-f", str(redis_dir / "redis.sock")], capture_output=True, text=True)
    assert pid_line.stdout.strip()
    await client.close()
    gone = subprocess.run(["pgrep", "-f", str(redis_dir / "redis.sock")], capture_output=True, text=True)
    assert gone.stdout.strip() == ""


def test_missing_redis_binary_says_how_to_install(tmp_path):
    with pytest.raises(RedisServerError, match="apt-get install -y redis-server"):
        EmbeddedRedis(tmp_path, binary="no-such-redis-server").start()


def test_service_exits_with_a_message_when_redis_server_is_missing(tmp_path):
    env = {**os.environ, "PATH": "/nonexistent", "RECS_DATA_DIR": str(tmp_path), "RECS_PORT": "0"}
    env.pop("REDIS_URL", None)
    result = subprocess.run([sys.executable, "-m", "service"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "redis-server was not found" in result.stderr and "Traceback" not in result.stderr


def test_bad_setting_exits_2(tmp_path):
    env = {**os.environ, "RECS_PORT": "eighty", "RECS_DATA_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "service"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "RECS_PORT" in result.stderr


def test_a_second_server_is_refused_a_directory_a_live_one_still_uses(tmp_path):
    """Two redis-servers appending to one AOF directory would corrupt it."""
    first = EmbeddedRedis(tmp_path)
    first.start()
    try:
        with pytest.raises(RedisServerError, match="another redis-server is running"):
            EmbeddedRedis(tmp_path).start(timeout=0.5)
        assert first.process.poll() is None  # untouched, and still reachable on its socket
        assert (tmp_path / "redis.sock").exists()
    finally:
        first.stop()
    second = EmbeddedRedis(tmp_path)  # a stale socket file alone is no obstacle
    (tmp_path / "redis.sock").touch()
    second.start()
    second.stop()
