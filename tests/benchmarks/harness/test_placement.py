"""Placing a benchmark's processes on CPUs: servers on the upper half, everything else on the rest, all of them
back on every CPU afterwards."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import psutil
import pytest

from benchmarks.harness.placement import Placement, servers_apart, split_cpus

#: A child with a second thread, both sleeping, so that placing it must place every thread.
TWO_THREADS = "import threading, time; threading.Thread(target=time.sleep, args=(60,)).start(); time.sleep(60)"


def test_servers_get_the_upper_half_and_at_least_one_cpu():
    assert split_cpus([3, 0, 2, 1]) == Placement(servers=(2, 3), clients=(0, 1))
    assert split_cpus([0, 1, 2]) == Placement(servers=(1, 2), clients=(0,))
    assert split_cpus([5, 4]) == Placement(servers=(5,), clients=(4,))


def test_one_cpu_leaves_nothing_to_place_apart():
    assert split_cpus([0]) is None


def _threads_cpus(pid: int) -> list[set[int]]:
    return [os.sched_getaffinity(t.id) for t in psutil.Process(pid).threads()]


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="placing apart needs two CPUs")
def test_every_thread_is_placed_within_the_block_and_everything_is_restored_after():
    everywhere = os.sched_getaffinity(0)
    server = subprocess.Popen([sys.executable, "-c", TWO_THREADS])
    client = subprocess.Popen([sys.executable, "-c", TWO_THREADS])
    try:
        deadline = time.monotonic() + 30
        while len(psutil.Process(server.pid).threads()) < 2 or len(psutil.Process(client.pid).threads()) < 2:
            assert time.monotonic() < deadline, "the children did not start their second thread"
            time.sleep(0.01)
        with servers_apart([server.pid], [client.pid]) as placement:
            assert placement is not None
            assert _threads_cpus(server.pid) == [set(placement.servers)] * 2
            assert _threads_cpus(client.pid) == [set(placement.clients)] * 2
            assert os.sched_getaffinity(0) == set(placement.clients)
            started = subprocess.Popen(["sleep", "60"])  # what this process starts inside (wrk) inherits it
            try:
                assert os.sched_getaffinity(started.pid) == set(placement.clients)
            finally:
                started.kill()
                started.wait()
        assert os.sched_getaffinity(0) == everywhere
        assert _threads_cpus(server.pid) == [everywhere] * 2
        assert _threads_cpus(client.pid) == [everywhere] * 2
    finally:
        for child in (server, client):
            child.kill()
            child.wait()


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="placing apart needs two CPUs")
def test_this_process_gets_every_cpu_back_when_the_block_raises():
    everywhere = os.sched_getaffinity(0)
    with pytest.raises(RuntimeError), servers_apart([], []):
        raise RuntimeError("a window failed")
    assert os.sched_getaffinity(0) == everywhere
