"""The benchmarks' redis-server: durable or not, stopped after a with block, a clear error when missing."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from benchmarks.harness.processes import BenchError
from benchmarks.harness.redis_server import running_redis, start_redis


def test_a_durable_server_keeps_what_was_written_across_a_restart(tmp_path: Path) -> None:
    server = start_redis(tmp_path / "redis")
    try:
        with redis.Redis.from_url(server.url) as client:
            assert client.config_get("appendfsync") == {"appendfsync": "always"}
            client.set("kept", "yes")
    finally:
        server.child.stop()
    again = start_redis(tmp_path / "redis")  # same directory: the AOF is loaded
    try:
        with redis.Redis.from_url(again.url) as client:
            assert client.get("kept") == b"yes"
    finally:
        again.child.stop()


def test_a_server_without_persistence_is_stopped_after_the_block(tmp_path: Path) -> None:
    with running_redis(tmp_path / "redis", durable=False) as server:
        assert server.url == f"redis://127.0.0.1:{server.port}/0"
        with redis.Redis(port=server.port) as client:
            assert client.config_get("appendonly") == {"appendonly": "no"}
    assert server.child.process.returncode is not None


def test_missing_redis_server_says_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BenchError, match="make redis-server"):
        start_redis(tmp_path / "redis")
