"""Which CPUs a benchmark's processes run on: the services measured on CPUs of their own, apart from what drives
them (wrk, redis-server, the benchmark itself), as load tests place a server apart from its load generator.

On a machine whose CPUs everything shares, a saturated service is preempted by its own wrk and redis-server about
once per request, so its CPU per request measures how the scheduler interleaves them as much as the service.
Linux only (sched_setaffinity); a process's threads are placed one by one, and what it starts later inherits it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import psutil

from benchmarks.harness.proc import process_tree


@dataclass(frozen=True)
class Placement:
    """CPU ids of the measured services (`servers`) and of everything else (`clients`)."""

    servers: tuple[int, ...]
    clients: tuple[int, ...]


def split_cpus(cpus: Sequence[int]) -> Placement | None:
    """The upper half of `cpus` (at least one) for the servers, the rest for the clients; None with fewer than
    two CPUs (nothing to keep apart)."""
    ordered = sorted(cpus)
    if len(ordered) < 2:
        return None
    half = len(ordered) // 2
    return Placement(tuple(ordered[half:]), tuple(ordered[:half]))


def place_tree(pid: int, cpus: Sequence[int]) -> None:
    """Run every thread of `pid` and of its live descendants on `cpus` only (threads that exit meanwhile are
    skipped)."""
    for process in process_tree(pid):
        with contextlib.suppress(psutil.Error):
            for thread in psutil.Process(process).threads():
                with contextlib.suppress(ProcessLookupError):
                    os.sched_setaffinity(thread.id, cpus)


@contextlib.contextmanager
def servers_apart(servers: Sequence[int], clients: Sequence[int]) -> Iterator[Placement | None]:
    """Within the block, the process trees `servers` (pids) run on the upper half of the calling thread's CPUs,
    and the trees `clients`, the calling thread and the threads and processes it starts meanwhile (those that run
    wrk) on the rest; the process's other threads stay where they were. On exit all of them run on every CPU
    again. Yields the Placement, or None (and places nothing) with fewer than two CPUs."""
    everywhere = sorted(os.sched_getaffinity(0))
    placement = split_cpus(everywhere)
    if placement is None:
        yield None
        return
    try:
        for pid in servers:
            place_tree(pid, placement.servers)
        for pid in clients:
            place_tree(pid, placement.clients)
        os.sched_setaffinity(0, placement.clients)
        yield placement
    finally:
        os.sched_setaffinity(0, everywhere)
        for pid in (*servers, *clients):
            place_tree(pid, everywhere)
