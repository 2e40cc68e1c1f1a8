"""CPU time and memory of real processes and process trees."""

from __future__ import annotations

import mmap
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from benchmarks.harness.proc import (MIB, PeakTreeRss, cpu_seconds, process_memory, process_tree, rss_bytes,
                                     tree_cpu_seconds, tree_rss_bytes)

#: A parent that starts one child, both sleeping.
PARENT = ("import subprocess, sys, time; "
          "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)")


def wait_for(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture
def family() -> Iterator[subprocess.Popen]:
    parent = subprocess.Popen([sys.executable, "-c", PARENT], start_new_session=True)
    yield parent
    os.killpg(parent.pid, 9)
    parent.wait()


def test_process_tree_finds_children_and_grandchildren(family: subprocess.Popen) -> None:
    wait_for(lambda: len(process_tree(family.pid)) == 2)  # not this process's tree: other tests' servers live there
    mine = process_tree(os.getpid())
    assert mine[0] == os.getpid() and family.pid in mine
    theirs = process_tree(family.pid)
    assert len(theirs) == 2 and theirs[0] == family.pid and set(theirs) < set(mine)
    assert tree_rss_bytes(family.pid) > rss_bytes(family.pid) > MIB


def test_an_exited_process_has_no_tree_and_no_cpu() -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert process_tree(gone.pid) == [] and cpu_seconds(gone.pid) == 0.0 and tree_cpu_seconds(gone.pid) == 0.0


def test_cpu_seconds_agree_with_the_process_clock() -> None:
    before, clock = cpu_seconds(os.getpid()), time.process_time()
    deadline = clock + 0.3
    while time.process_time() < deadline:
        pass
    spent = time.process_time() - clock
    assert cpu_seconds(os.getpid()) - before == pytest.approx(spent, abs=0.05)
    own = cpu_seconds(os.getpid())  # read first: CPU time only grows, so the tree's later reading includes it
    assert tree_cpu_seconds(os.getpid()) >= own


def test_peak_tree_rss_sees_a_child_that_came_and_went() -> None:
    sampler = PeakTreeRss(os.getpid(), interval=0.02)
    baseline = tree_rss_bytes(os.getpid())
    subprocess.run([sys.executable, "-c", "import time; b = bytearray(150 * 2**20); time.sleep(1)"], check=True)
    assert sampler.stop() - baseline >= 120 * MIB


def test_artifact_pages_shared_by_two_processes_count_half_in_pss(tmp_path: Path) -> None:
    path = tmp_path / "model.npz"
    np.random.default_rng(0).integers(0, 255, 16 * MIB, dtype=np.uint8).tofile(path)
    touch = "import mmap, sys, time; f = open(sys.argv[1], 'rb'); m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ); " \
            "sum(m[i] for i in range(0, len(m), 4096)); print('ready', flush=True); time.sleep(60)"
    other = subprocess.Popen([sys.executable, "-c", touch, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline().strip() == "ready"
        with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, prot=mmap.PROT_READ) as mapped:
            sum(mapped[i] for i in range(0, len(mapped), 4096))  # every page resident
            memory = process_memory(os.getpid(), "test")
        assert memory.role == "test" and memory.pid == os.getpid()
        assert memory.artifact_rss_mib == pytest.approx(16, abs=0.5)
        assert memory.artifact_pss_mib == pytest.approx(8, abs=1.0)  # two processes map those pages
        assert memory.rss_mib > memory.artifact_rss_mib and memory.pss_mib > 0
        assert process_memory(os.getpid(), "test", artifact_suffix=".nothing").artifact_rss_mib == 0
    finally:
        other.kill()
        other.wait()
