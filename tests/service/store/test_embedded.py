"""The embedded default: with REDIS_URL unset the service runs its own redis-server."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.request

import pytest

from service.http.app_keys import REDIS
from service.store.embedded import EmbeddedRedis, RedisServerError, free_port
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


def test_the_service_stops_when_its_embedded_redis_server_dies(tmp_path):
    """Left running, it would answer /healthz while every write failed, so no process manager restarts it."""
    port = free_port()
    env = {**os.environ, "RECS_DATA_DIR": str(tmp_path), "RECS_PORT": str(port), "RECS_TRAIN_ON_START": "0"}
    env.pop("REDIS_URL", None)
    service = subprocess.Popen([sys.executable, "-m", "service"], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not _answers(f"http://127.0.0.1:{port}/healthz"):
            assert service.poll() is None and time.monotonic() < deadline, "the service did not start"
            time.sleep(0.2)
        server = subprocess.run(["pgrep", "-f", str(tmp_path / "redis" / "redis.sock")], capture_output=True, text=True)
        os.kill(int(server.stdout.split()[0]), signal.SIGKILL)
        _, stderr = service.communicate(timeout=60)
    finally:
        if service.poll() is None:
            service.kill()
            service.wait()
    assert service.returncode == 1 and "the embedded redis-server exited" in stderr and "Traceback" not in stderr
    assert "stopping: no new connections" in stderr and "stopped: in-flight requests answered" in stderr


def test_a_port_in_use_is_reported_as_such_not_as_a_redis_error(redis_url, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        env = {**os.environ, "RECS_DATA_DIR": str(tmp_path), "RECS_PORT": str(taken.getsockname()[1]),
               "REDIS_URL": redis_url, "RECS_TRAIN_ON_START": "0"}
        result = subprocess.run([sys.executable, "-m", "service"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "cannot listen on 127.0.0.1:" in result.stderr
    assert "REDIS_URL" not in result.stderr and "Traceback" not in result.stderr


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False
