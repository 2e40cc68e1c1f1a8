"""The embedded default: a private redis-server child on a unix socket, with AOF on.

Used when REDIS_URL is unset, so a single `python -m service` is a complete, durable service.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

log = logging.getLogger(__name__)


class RedisServerError(RuntimeError):
    """redis-server is missing or did not start."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on now (for test and benchmark servers)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_answering(port: int, process: subprocess.Popen, timeout: float = 10.0) -> None:
    """Block until a redis-server child on 127.0.0.1:`port` answers PING (or fail if it exits)."""
    import redis

    client = redis.Redis(port=port)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                client.ping()
                return
            except (redis.ConnectionError, redis.exceptions.BusyLoadingError):
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RedisServerError("redis-server did not start") from None
                time.sleep(0.02)
    finally:
        client.close()


class EmbeddedRedis:
    """Start and stop one redis-server process whose files live in `directory`."""

    def __init__(self, directory: Path, binary: str = "redis-server") -> None:
        self.directory = Path(directory).resolve()  # redis-server changes into --dir before opening files
        self.binary = binary
        self.process: subprocess.Popen | None = None

    @property
    def socket_path(self) -> Path:
        return self.directory / "redis.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    def start(self, timeout: float = 10.0) -> str:
        executable = shutil.which(self.binary)
        if executable is None:
            raise RedisServerError(
                "redis-server was not found on PATH. Install it (Debian/Ubuntu: apt-get install -y redis-server) "
                "or point REDIS_URL at a running Redis."
            )
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)  # only this user may reach the socket and the AOF
        if self.socket_path.exists():
            self.socket_path.unlink()
        args = [
            executable, "--port", "0", "--unixsocket", str(self.socket_path), "--unixsocketperm", "700",
            "--dir", str(self.directory), "--appendonly", "yes", "--appendfsync", "always",
            "--save", "", "--daemonize", "no", "--loglevel", "warning",
            "--logfile", str(self.directory / "redis.log"),
        ]
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not self.socket_path.exists():
            if self.process.poll() is not None:
                raise RedisServerError(f"redis-server exited with {self.process.returncode}; "
                                       f"see {self.directory / 'redis.log'}")
            if time.monotonic() > deadline:
                self.stop()
                raise RedisServerError("redis-server did not open its socket in time")
            time.sleep(0.02)
        log.info("embedded redis-server (pid %d) on %s", self.process.pid, self.socket_path)
        return self.url

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM makes redis-server flush its AOF and exit cleanly."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        log.info("embedded redis-server stopped")
