"""CPU time and memory of the processes a benchmark measures, read with psutil; py-spy profiles of them.

A process tree is a process and all its live descendants: the service's workers and their training
processes, a Spark driver's JVM. Processes that exit between listing and reading are skipped.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

from benchmarks.harness.processes import BenchError

#: 1 MiB in bytes.
MIB = 2 ** 20


def process_tree(pid: int) -> list[int]:
    """`pid` and the pids of its live descendants; [] when `pid` has exited."""
    try:
        root = psutil.Process(pid)
        return [pid, *(child.pid for child in root.children(recursive=True))]
    except psutil.Error:
        return []


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds a process has used so far (not its children's); 0 once it exited."""
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return 0.0
    return times.user + times.system


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of `pid` and its live descendants, summed."""
    return sum(cpu_seconds(p) for p in process_tree(pid))


def rss_bytes(pid: int) -> int:
    """Resident set size of one process, in bytes; psutil.NoSuchProcess if it exited."""
    return psutil.Process(pid).memory_info().rss


def tree_rss_bytes(pid: int) -> int:
    """Resident set sizes of `pid` and its live descendants, summed, in bytes."""
    total = 0
    for p in process_tree(pid):
        with contextlib.suppress(psutil.Error):
            total += rss_bytes(p)
    return total


class PeakTreeRss:
    """The highest `tree_rss_bytes(pid)` seen, sampled by a thread every `interval` seconds until `stop`."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self._running = True
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while self._running:
            self.peak = max(self.peak, tree_rss_bytes(self.pid))
            time.sleep(self.interval)

    def stop(self) -> int:
        """Stop sampling; the peak in bytes."""
        self._running = False
        self._thread.join()
        return self.peak


@dataclass
class ProcessMemory:
    """One process's memory in MiB: RSS and PSS overall, and of its mappings of files whose names end
    with a suffix (the model's .npz artifacts), where PSS well under RSS means the pages are shared."""

    pid: int
    role: str
    rss_mib: float
    pss_mib: float
    artifact_rss_mib: float
    artifact_pss_mib: float


def process_memory(pid: int, role: str, artifact_suffix: str = ".npz") -> ProcessMemory:
    """RSS and PSS of process `pid` (Linux: /proc/PID/smaps_rollup and smaps, through psutil).

    Raises
    ------
    psutil.Error
        If the process exited or its memory maps may not be read.
    """
    process = psutil.Process(pid)
    full = process.memory_full_info()
    mapped = [m for m in process.memory_maps(grouped=True) if m.path.endswith(artifact_suffix)]
    return ProcessMemory(pid, role, full.rss / MIB, full.pss / MIB,
                         sum(m.rss for m in mapped) / MIB, sum(m.pss for m in mapped) / MIB)


@contextlib.contextmanager
def profiling(directory: Path | None, pid: int, name: str, seconds: float, fmt: str = "flamegraph") -> Iterator[None]:
    """py-spy record the service while a route runs, when --profile is given: a flame graph to look
    at, or (raw) collapsed stacks to add up per function."""
    if directory is None:
        yield
        return
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        raise BenchError("--profile needs py-spy: pip install py-spy")
    directory.mkdir(parents=True, exist_ok=True)
    out = directory / f"{name}.{'svg' if fmt == 'flamegraph' else 'txt'}"
    child = subprocess.Popen([spy, "record", "--pid", str(pid), "--duration", f"{max(1, int(seconds))}",
                              "--rate", "250", "--nonblocking", "--format", fmt, "--output", str(out)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield
    finally:
        try:
            child.wait(seconds + 60)
        except subprocess.TimeoutExpired:
            child.terminate()
            child.wait()
