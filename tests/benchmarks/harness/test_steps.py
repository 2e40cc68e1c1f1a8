"""Named steps: wall and CPU time, and a peak RSS that each step measures afresh."""

from __future__ import annotations

import numpy as np

from benchmarks.harness.steps import Steps, status_bytes

MIB = 2 ** 20


def test_each_step_has_its_own_peak() -> None:
    steps = Steps()
    with steps.step("allocate", users=3) as record:
        block = np.ones(160 * MIB // 8)  # 160 MiB, touched
        record["sum"] = float(block.sum())
        del block
    with steps.step("idle"):
        pass
    big, idle = steps.results["allocate"], steps.results["idle"]
    assert big["users"] == 3 and big["sum"] == 160 * MIB // 8
    assert big["peak_rss"] - big["rss_before"] >= 120 * MIB
    assert big["rss_after"] < big["peak_rss"]
    # the high-water mark was reset (or sampled afresh) before the second step
    assert idle["peak_rss"] < big["peak_rss"] - 100 * MIB
    assert big["cpu_seconds"] >= 0 and big["seconds"] > 0


def test_status_bytes_reads_kib_as_bytes() -> None:
    assert status_bytes("VmRSS") > MIB
    assert status_bytes("NoSuchField") == 0
