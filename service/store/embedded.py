"""The embedded default: a private redis-server child on a unix socket, with AOF on.

Used when REDIS_URL is unset, so a single `python -m service` is a complete, durable service.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import redis

from service.parent_death import signal_on_parent_death

log = logging.getLogger(__name__)


class RedisServerError(RuntimeError):
    """redis-server is missing or did not start."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on now (for test and benchmark servers)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_answering(port: int, process: subprocess.Popen, timeout: float = 10.0) -> None:
    """Block until a redis-server child on 127.0.0.1:`port` answers PING.

    Parameters
    ----------
    port : int
    process : subprocess.Popen
        The redis-server child (its exit ends the wait).
    timeout : float
        Seconds.

    Raises
    ------
    RedisServerError
        The child exited, or did not answer (or was still loading its data) within `timeout`.
    """
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
    """Start and stop one redis-server process whose files live in `directory`.

    Parameters
    ----------
    directory : Path
        The server's directory (created, mode 0700): its unix socket, AOF and log.
    binary : str
        The redis-server executable, looked up on PATH.
    """

    def __init__(self, directory: Path, binary: str = "redis-server") -> None:
        self.directory = Path(directory).resolve()  # redis-server changes into --dir before opening files
        self.binary = binary
        self.process: subprocess.Popen | None = None

    @property
    def socket_path(self) -> Path:
        """The unix socket the server listens on (it listens on no TCP port)."""
        return self.directory / "redis.sock"

    @property
    def url(self) -> str:
        """unix:// URL of the socket, for `service.store.client.connect`."""
        return f"unix://{self.socket_path}"

    def start(self, timeout: float = 10.0) -> str:
        """Start redis-server (AOF on, fsync on every write) and wait until its socket exists.

        Call it from the main thread: the server gets SIGTERM when the starting thread dies, so a
        SIGKILLed service does not leave it behind. A server still running on the directory from
        a killed service is waited for first (two servers must never share one AOF directory).

        Parameters
        ----------
        timeout : float
            Seconds to wait for an old server to go and for the new socket to appear.

        Returns
        -------
        str
            The server's URL (`url`).

        Raises
        ------
        RedisServerError
            redis-server is not on PATH, another server keeps answering on the socket, or the new
            one exited or did not open its socket in time.
        """
        executable = shutil.which(self.binary)
        if executable is None:
            raise RedisServerError(
                "redis-server was not found on PATH. Install it (Debian/Ubuntu: apt-get install -y redis-server) "
                "or point REDIS_URL at a running Redis."
            )
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)  # only this user may reach the socket and the AOF
        if self.socket_path.exists():
            # a server left by a service that was SIGKILLed gets SIGTERM from the kernel (below) and
            # exits within moments; two servers appending to one AOF directory would corrupt it
            self._wait_until_gone(timeout)
            self.socket_path.unlink(missing_ok=True)
        args = [
            executable, "--port", "0", "--unixsocket", str(self.socket_path), "--unixsocketperm", "700",
            "--dir", str(self.directory), "--appendonly", "yes", "--appendfsync", "always",
            "--save", "", "--daemonize", "no", "--loglevel", "warning",
            "--logfile", str(self.directory / "redis.log"),
        ]
        # SIGTERM (flush the AOF, exit) when the thread that starts it dies: a SIGKILLed service must not
        # leave a server behind holding its data directory. Start it from the main thread.
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                        preexec_fn=lambda: signal_on_parent_death(signal.SIGTERM))
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

    def _wait_until_gone(self, timeout: float) -> None:
        """Return once nothing answers on the socket; RedisServerError if a server still does."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                with redis.Redis(unix_socket_path=str(self.socket_path), socket_timeout=1) as client:
                    client.ping()
            except (redis.RedisError, OSError):
                return  # a stale socket file: nobody listens on it
            if time.monotonic() > deadline:
                raise RedisServerError(f"another redis-server is running on {self.socket_path}; stop it before "
                                       "starting the service (two servers must not share one AOF directory)")
            time.sleep(0.05)

    def exit_code(self) -> int | None:
        """The server's exit code once it has exited (killed, crashed), None while it runs or before `start`."""
        return None if self.process is None else self.process.poll()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server: SIGTERM makes it flush its AOF and exit; SIGKILL after `timeout` seconds.
        Does nothing when it is not running."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        log.info("embedded redis-server stopped")
