"""`python -m service --workers N`: N processes serving one port, started and stopped together.

Why processes: a request's Python work (routing, filtering, JSON) holds the GIL, so one process
uses one core. Each worker is a plain `python -m service` that listens with SO_REUSEPORT on the
same host:port (Linux spreads connections over the listening sockets; only processes of the same
user may join). Each worker runs its own refresh loop: the Redis training lock already lets one
process train per interval, and every worker follows the version pointer. Model arrays are
memory-mapped (recommender.npz), so the workers share the factor pages.

The parent process:

* starts the embedded redis-server once when REDIS_URL is unset, gives the workers its URL, and
  stops it after the last worker has exited;
* starts the workers and waits until each listens; if one exits first, it stops the others and
  exits 2, as a single process that cannot start does;
* forwards SIGTERM or SIGINT once to every worker, each of which stops accepting and finishes its
  in-flight requests (up to 30 s, see service.__main__.serve), and exits 0 if all exited 0;
* restarts nothing: a worker that dies takes the service down (the others shut down gracefully)
  and the parent exits 1, so the process manager (systemd, Kubernetes) restarts it whole instead
  of leaving it serving at reduced capacity without anyone noticing.

Workers run in their own session, so a Ctrl-C in a terminal reaches the parent only and each
worker is signalled exactly once (a second signal would cut its graceful shutdown short); they
get SIGTERM if the parent dies, so none outlives it.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from types import FrameType

from service.parent_death import signal_on_parent_death
from service.settings import Settings
from service.store.embedded import EmbeddedRedis, RedisServerError

log = logging.getLogger(__name__)

#: Internal, set by the parent: the pipe a worker writes one byte to once it listens, and the
#: parent's pid (a worker whose parent is already gone exits at once).
READY_FD_ENV = "ENCORE_WORKER_READY_FD"
PARENT_ENV = "ENCORE_WORKER_PARENT"
#: How long a signalled worker may take: 30 s of in-flight requests plus the cleanup contexts.
STOP_TIMEOUT = 45.0


# -- the worker's side ----------------------------------------------------------------------------
@dataclass
class WorkerLink:
    """What a worker process knows about its parent; None outside `--workers N`."""

    ready_fd: int
    parent: int

    @classmethod
    def from_env(cls) -> WorkerLink | None:
        if READY_FD_ENV not in os.environ:
            return None
        return cls(int(os.environ[READY_FD_ENV]), int(os.environ[PARENT_ENV]))

    def attach(self) -> bool:
        """Get SIGTERM when the parent dies; False if it already has (then do not start)."""
        signal_on_parent_death(signal.SIGTERM)
        return os.getppid() == self.parent

    def listening(self) -> None:
        """Tell the parent this worker accepts connections now."""
        os.write(self.ready_fd, b"1")
        os.close(self.ready_fd)


# -- the parent's side ----------------------------------------------------------------------------
@dataclass
class Worker:
    process: subprocess.Popen
    ready_fd: int  # read end of the pipe; one byte arrives when the worker listens
    ready: bool = False

    def read_ready(self) -> None:
        try:
            self.ready = self.ready or os.read(self.ready_fd, 1) == b"1"
        except BlockingIOError:
            pass

    def close(self) -> None:
        os.close(self.ready_fd)


class Signals:
    """SIGTERM and SIGINT set a flag the supervision loop reads (nothing else runs in a handler)."""

    def __init__(self) -> None:
        self.received: int | None = None
        for number in (signal.SIGTERM, signal.SIGINT):
            signal.signal(number, self._handle)

    def _handle(self, number: int, frame: FrameType | None) -> None:
        if self.received is None:
            log.info("%s: stopping the workers", signal.Signals(number).name)
        self.received = number


def run_workers(settings: Settings, host: str, port: int, count: int) -> int:
    """Serve host:port from `count` worker processes until a signal or a worker's death."""
    signals = Signals()
    env = {**os.environ, "RECS_WORKERS": "1", PARENT_ENV: str(os.getpid())}
    embedded = None
    if not settings.redis_url:
        embedded = EmbeddedRedis(settings.data_dir / "redis")
        try:
            env["REDIS_URL"] = embedded.start()
        except RedisServerError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    workers: list[Worker] = []
    code = 2
    try:
        workers = [start_worker(host, port, env) for _ in range(count)]
        code = supervise(workers, signals, host, port, embedded)
    finally:
        clean = stop_workers(workers)
        if embedded is not None:
            embedded.stop()
        log.info("all workers stopped%s", "" if clean else ", not all cleanly")
    return code if code or clean else 1


def start_worker(host: str, port: int, env: dict[str, str]) -> Worker:
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    command = [sys.executable, "-m", "service", "--host", host, "--port", str(port), "--workers", "1"]
    process = subprocess.Popen(command, env={**env, READY_FD_ENV: str(write_fd)}, pass_fds=(write_fd,),
                               stdin=subprocess.DEVNULL, start_new_session=True)
    os.close(write_fd)  # the worker holds the only write end now
    return Worker(process, read_fd)


def supervise(workers: list[Worker], signals: Signals, host: str, port: int,
              embedded: EmbeddedRedis | None = None) -> int:
    """Wait for a signal (0), a worker exiting (before all listen: 2, after: 1) or the embedded redis-server
    exiting (1: nothing restarts it here, a process manager restarts the service)."""
    all_ready = False
    while signals.received is None:
        waiting = [w.ready_fd for w in workers if not w.ready]
        select.select(waiting, [], [], 0.2)  # a signal ends the wait early enough, too
        for worker in workers:
            worker.read_ready()
        if not all_ready and all(w.ready for w in workers):
            all_ready = True
            log.info("%d workers listening on %s:%d (pids %s)", len(workers), host, port,
                     ", ".join(str(w.process.pid) for w in workers))
        if embedded is not None and (code := embedded.exit_code()) is not None:
            log.error("the embedded redis-server exited with code %s; stopping the workers", code)
            return 1
        exited = [w for w in workers if w.process.poll() is not None]
        if exited:
            worker = exited[0]
            when = "while serving" if all_ready else "before listening"
            log.error("worker %d exited %s with code %s; stopping the others", worker.process.pid, when,
                      worker.process.returncode)
            return 1 if all_ready else 2
    return 0


def stop_workers(workers: list[Worker], timeout: float = STOP_TIMEOUT) -> bool:
    """SIGTERM every live worker once, wait for all (SIGKILL after `timeout`); True if all exited 0."""
    for worker in workers:
        if worker.process.poll() is None:
            worker.process.terminate()
    deadline = time.monotonic() + timeout
    clean = True
    for worker in workers:
        try:
            worker.process.wait(max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            log.error("worker %d did not stop in %.0fs: killed", worker.process.pid, timeout)
            worker.process.kill()
            worker.process.wait()
        clean = clean and worker.process.returncode == 0
        worker.close()
    return clean
