"""Wall time, CPU time and peak RSS of named steps in this process.

The peak is the kernel's high-water mark (VmHWM in /proc/self/status), reset to the current RSS
before each step by writing 5 to /proc/self/clear_refs (Linux 4.0+); where that is not allowed, a
thread samples VmRSS every 10 ms instead.
"""

from __future__ import annotations

import resource
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


def status_bytes(field: str) -> int:
    """A size field of /proc/self/status (`VmRSS`, `VmHWM`, ...) in bytes; 0 if absent."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def _reset_hwm() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


class Steps:
    """Records of named steps: `with steps.step("train") as record:` fills `steps.results["train"]`.

    Each record holds what the caller put in it plus `seconds` (wall), `cpu_seconds` (user + system,
    all threads), `rss_before`, `peak_rss` and `rss_after` (bytes).
    """

    def __init__(self) -> None:
        self.results: dict[str, dict[str, float]] = {}
        self._can_reset = _reset_hwm()
        self._sampled_peak = 0
        self._sampling = False

    def _sample(self) -> None:
        while self._sampling:
            self._sampled_peak = max(self._sampled_peak, status_bytes("VmRSS"))
            time.sleep(0.01)

    @contextmanager
    def step(self, name: str, **extra: float) -> Iterator[dict[str, float]]:
        """Measure the body of the `with` block as step `name`; `extra` starts its record."""
        rss_before = status_bytes("VmRSS")
        if self._can_reset:
            _reset_hwm()
        else:
            self._sampled_peak, self._sampling = rss_before, True
            sampler = threading.Thread(target=self._sample, daemon=True)
            sampler.start()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu = usage.ru_utime + usage.ru_stime
        started = time.perf_counter()
        record: dict[str, float] = dict(extra)
        try:
            yield record
        finally:
            seconds = time.perf_counter() - started
            usage = resource.getrusage(resource.RUSAGE_SELF)
            if self._can_reset:
                peak = status_bytes("VmHWM")
            else:
                self._sampling = False
                sampler.join()
                peak = self._sampled_peak
            record.update(seconds=seconds, cpu_seconds=usage.ru_utime + usage.ru_stime - cpu,
                          rss_before=rss_before, peak_rss=max(peak, rss_before), rss_after=status_bytes("VmRSS"))
            self.results[name] = record
