"""The benchmarks' redis-server: a private child on a free loopback port, its files in one directory.

One way for every benchmark. `durable=True` is the setting the README asks of an external Redis
(AOF on, `appendfsync always`: a 202 from the events route means on disk); `durable=False` keeps
nothing on disk, for a benchmark that only times writes into memory. The port helpers are the
service's own (service.store.embedded).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from benchmarks.harness.processes import BenchError, Child, start
from service.store.embedded import RedisServerError, free_port, wait_until_answering

HOST = "127.0.0.1"


@dataclass
class RedisServer:
    """A running redis-server child."""

    child: Child
    port: int

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"


def start_redis(directory: Path, port: int | None = None, durable: bool = True, timeout: float = 120) -> RedisServer:
    """Start redis-server on 127.0.0.1 with its files in `directory` and its log in `directory`/redis.log.

    Parameters
    ----------
    directory : Path
        Created if missing; an AOF already there is loaded (a kept work directory).
    port : int, optional
        Default: a free one.
    durable : bool
        AOF with fsync on every write (True), or no persistence at all (False).
    timeout : float
        Seconds to wait for the first PING answer (loading a large AOF takes a while).

    Raises
    ------
    BenchError
        If redis-server is not installed or does not answer in time.
    """
    binary = shutil.which("redis-server")
    if binary is None:
        raise BenchError("redis-server is not installed: `make redis-server` installs it "
                         "(apt-get install -y redis-server)")
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port() if port is None else port
    persistence = ["--appendonly", "yes", "--appendfsync", "always"] if durable else ["--appendonly", "no"]
    child = start("redis-server", [binary, "--bind", HOST, "--port", str(port), "--dir", str(directory),
                                   "--save", "", *persistence, "--protected-mode", "yes", "--daemonize", "no"],
                  directory / "redis.log")
    try:
        wait_until_answering(port, child.process, timeout=timeout)
    except RedisServerError:
        child.stop()
        raise BenchError(f"redis-server did not answer on port {port} (log: {child.log})") from None
    return RedisServer(child, port)


@contextmanager
def running_redis(directory: Path, durable: bool = True) -> Iterator[RedisServer]:
    """`start_redis` for the length of a `with` block; stopped (SIGTERM: the AOF is flushed) after it."""
    server = start_redis(directory, durable=durable)
    try:
        yield server
    finally:
        server.child.stop()
