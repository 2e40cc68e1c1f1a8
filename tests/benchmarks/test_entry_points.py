"""Every benchmark that trains or scores loads numpy only after recommender/__init__.py has set
OPENBLAS_NUM_THREADS=1 (the variable counts only before OpenBLAS loads), without setting it itself."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

#: Every runnable benchmark script (a module of benchmarks/ with a main), found, not listed: a new one is checked too.
ENTRY_POINTS = tuple(sorted(f"benchmarks.{p.stem}" for p in (Path(__file__).parents[2] / "benchmarks").glob("*.py")
                            if "\ndef main(" in p.read_text()))

#: Import the module named in argv[1] and print OPENBLAS_NUM_THREADS as it was when numpy began to load.
PROBE = """
import importlib, importlib.abc, os, sys

seen = []

class Watch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "numpy" and not seen:
            seen.append(os.environ.get("OPENBLAS_NUM_THREADS"))
        return None

sys.meta_path.insert(0, Watch())
importlib.import_module(sys.argv[1])
print(seen[0] if seen else "numpy not loaded")
"""


def openblas_threads_at_numpy_import(module: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    result = subprocess.run([sys.executable, "-c", PROBE, module], env=env, capture_output=True, text=True,
                            timeout=120, check=True)
    return result.stdout.strip()


def test_the_probe_sees_numpy_load_without_the_variable() -> None:
    assert openblas_threads_at_numpy_import("numpy") == "None"


def test_every_script_is_found() -> None:
    assert len(ENTRY_POINTS) >= 19 and {"benchmarks.lifecycle", "benchmarks.next_basket"} <= set(ENTRY_POINTS)


@pytest.mark.parametrize("module", ENTRY_POINTS)
def test_numpy_loads_after_recommender_set_one_thread(module: str) -> None:
    assert openblas_threads_at_numpy_import(module) in ("1", "numpy not loaded")  # the bare app needs no numpy
