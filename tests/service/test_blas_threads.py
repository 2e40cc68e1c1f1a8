"""OPENBLAS_NUM_THREADS is pinned in one place (recommender/__init__.py) and still reaches every process
that trains: the service's entry points load the library before numpy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROBE = ("import {module}; from threadpoolctl import threadpool_info; import json; "
         "print(json.dumps([i['num_threads'] for i in threadpool_info() if i['internal_api'] == 'openblas']))")


@pytest.mark.parametrize("module", ["service.__main__", "service.demo", "service.training.job", "recommender.cli"])
def test_each_entry_point_runs_openblas_with_one_thread(module):
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    out = subprocess.run([sys.executable, "-c", PROBE.format(module=module)], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=120, check=True).stdout
    threads = json.loads(out.strip().splitlines()[-1])
    assert threads and set(threads) == {1}, threads
