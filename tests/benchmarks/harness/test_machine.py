"""The machine description: versions of tools and packages, CPU, load."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest

from benchmarks.harness.machine import cpu_model, load_average, load_averages, machine, package_versions, tool_version


def test_package_versions_leave_out_what_is_missing() -> None:
    assert package_versions(["numpy", "no-such-package-here"]) == f"numpy {np.__version__}"


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
def test_tool_version_is_the_first_line_without_build_details() -> None:
    text = tool_version("redis-server")
    assert text.startswith("Redis server v=") and "sha=" not in text


def test_a_missing_tool_has_no_version() -> None:
    assert tool_version("no-such-tool-here") == ""


def test_machine_names_cpu_cores_tools_and_load() -> None:
    info = machine(packages=("numpy",), tools=("redis-server",))
    assert info["cpu"] == cpu_model() and info["cpu"]
    assert int(info["cores"]) >= 1
    assert info["packages"] == f"numpy {np.__version__}"
    assert set(info) == {"cpu", "cores", "python", "os", "packages", "redis", "load"}
    assert len(info["load"].split()) == 3 == len(load_averages().split())
    assert load_average() >= 0 or math.isnan(load_average())
