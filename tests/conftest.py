"""Shared fixtures: a real redis-server on a free loopback port (never a fake), flushed per test."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from service.store.embedded import free_port, wait_until_answering


@dataclass
class RedisProcess:
    """A redis-server child; tests may stop and start it to simulate outages."""

    port: int
    directory: Path
    process: subprocess.Popen | None = None
    args: tuple[str, ...] = ()  # more redis-server options, after the defaults below (later ones win)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed: run `make test`, which installs it")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
             "--appendfsync", "always", "--dir", str(self.directory), "--daemonize", "no", "--loglevel", "warning",
             *self.args],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_until_answering(self.port, self.process)

    def stop(self, kill: bool = False) -> None:
        """SIGTERM (redis-server flushes and exits) or, with `kill`, SIGKILL (nothing flushed)."""
        if self.process and self.process.poll() is None:
            self.process.kill() if kill else self.process.terminate()
            self.process.wait(10)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    server = RedisProcess(free_port(), tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisProcess) -> str:
    """A clean database for each test."""
    if redis_server.process is None or redis_server.process.poll() is not None:
        redis_server.start()
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    return redis_server.url
