"""The machine a benchmark ran on: CPU model, cores, versions and load average, for the report.

The machine is shared (2 cores, other developers' work): a report gives the load average so a reader
can tell a busy run from a quiet one.
"""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

#: The packages a serving report names.
SERVING_PACKAGES = ("aiohttp", "redis", "implicit", "numpy")


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else what `platform` knows."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown"


def load_average() -> float:
    """The 1-minute load average; NaN where the platform has none."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def load_averages() -> str:
    """The 1, 5 and 15-minute load averages as text: `1.93 1.10 0.71`."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def package_versions(names: Sequence[str]) -> str:
    """`name version` of each installed package, comma-separated (missing ones left out)."""
    versions = []
    for name in names:
        with contextlib.suppress(PackageNotFoundError):
            versions.append(f"{name} {version(name)}")
    return ", ".join(versions)


def tool_version(command: str) -> str:
    """The first line `command --version` prints (wrk: `wrk 4.1.0 [epoll]`, redis-server: `Redis server
    v=7.0.15`), without copyright or build hashes; empty when the command is missing."""
    try:
        result = subprocess.run([command, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return ""
    line = (result.stdout or result.stderr).strip().split("\n")[0]
    return line.split(" Copyright")[0].split(" sha=")[0].strip()


def machine(packages: Sequence[str] = SERVING_PACKAGES,
            tools: Sequence[str] = ("wrk", "redis-server")) -> dict[str, str]:
    """CPU, cores, Python, OS, package and tool versions, and the load average now.

    Returns a dict with keys cpu, cores, python, os, packages, load, and one per tool named by the
    tool's first word (`wrk`, `redis`).
    """
    info = {
        "cpu": cpu_model(), "cores": str(os.cpu_count()), "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}", "packages": package_versions(packages),
    }
    for tool in tools:
        info[tool.split("-")[0]] = tool_version(tool)
    info["load"] = load_averages()
    return info
