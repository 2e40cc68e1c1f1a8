"""Child processes for the benchmarks: start with a log file, check, stop; poll HTTP until ready.

Only loopback is ever a target. Every child gets its own session (`start_new_session`), so a
Ctrl-C in the terminal reaches the benchmark, which then stops its children in order.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm


class BenchError(RuntimeError):
    """Something the benchmark needs is missing or broke; the message says what."""


@dataclass
class Child:
    """A subprocess whose output goes to a log file, stopped with SIGTERM (then SIGKILL)."""

    name: str
    process: subprocess.Popen
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def check_alive(self) -> None:
        """Raise BenchError with the last lines of the log if the process has exited."""
        if self.process.poll() is not None:
            tail = self.log.read_text(errors="replace").strip().splitlines()[-15:]
            raise BenchError(f"{self.name} exited with {self.process.returncode}; last lines of {self.log}:\n"
                             + "\n".join(f"  {line}" for line in tail))

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM, and SIGKILL if the process has not exited within `timeout` seconds."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start(name: str, command: Sequence[str], log: Path, env: dict[str, str] | None = None,
          cwd: Path | None = None) -> Child:
    """Start `command` with stdout and stderr appended to `log`.

    Parameters
    ----------
    name : str
        What error messages call the process.
    command : sequence of str
        Program and arguments.
    log : Path
        File the output is appended to (created if missing).
    env : dict, optional
        The child's whole environment (default: this process's).
    cwd : Path, optional
        The child's working directory.
    """
    handle = open(log, "ab")
    process = subprocess.Popen(list(command), stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                               start_new_session=True)
    handle.close()
    return Child(name, process, log)


def http(method: str, url: str, body: object | None = None, headers: dict[str, str] | None = None,
         timeout: float = 60) -> tuple[int, bytes]:
    """One HTTP request with urllib; `body` is sent as JSON. Returns (status, response body), error
    statuses included; raises OSError when nothing answers."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_http(child: Child, url: str, timeout: float, desc: str) -> None:
    """Poll `url` until it answers 200, with a progress bar in seconds.

    Raises
    ------
    BenchError
        If `child` exits first, or after `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    with tqdm(total=int(timeout), desc=desc, unit="s", leave=False, mininterval=5) as bar:
        began = time.monotonic()
        while time.monotonic() < deadline:
            child.check_alive()
            with contextlib.suppress(OSError):
                status, _ = http("GET", url, timeout=5)
                if status == 200:
                    return
            time.sleep(0.5)
            bar.update(int(time.monotonic() - began) - bar.n)
    raise BenchError(f"{child.name} was not ready at {url} after {timeout:.0f}s (log: {child.log})")


def run_worker_process(module: str, args: Sequence[str], result: Path) -> dict:
    """Run `python -m module *args --result result` to the end and return the JSON it wrote there.

    A benchmark measures each case in its own process this way, so peak RSS is that case's alone.

    Raises
    ------
    subprocess.CalledProcessError
        If the worker exits with a non-zero status.
    """
    subprocess.run([sys.executable, "-m", module, *args, "--result", str(result)], check=True)
    return json.loads(result.read_text())
