"""The service under test: `python -m service` as a child process (which users it precomputes is
recommender.events.active_users, the rule the training job follows)."""

from __future__ import annotations

import os
import sys
from pathlib import Path


from benchmarks.harness.processes import Child, start, wait_http
from benchmarks.harness.redis_server import HOST
from service.store.embedded import free_port


def start_service(workdir: Path, data_dir: Path, redis_url: str, settings: dict[str, str], ready_timeout: float,
                  desc: str) -> tuple[Child, str]:
    """Start the service on a free loopback port and wait until /readyz answers 200 (a model is served).

    Parameters
    ----------
    workdir : Path
        Its log goes to `workdir`/service.log.
    data_dir : Path
        RECS_DATA_DIR: models and the snapshot.
    redis_url : str
        REDIS_URL.
    settings : dict
        More RECS_* variables (service.settings names them all).
    ready_timeout : float
        Seconds to wait for the first model (the service trains it at start).
    desc : str
        The progress bar's label while waiting.

    Returns
    -------
    (Child, str)
        The process and its base URL, `http://127.0.0.1:PORT`.

    Raises
    ------
    BenchError
        If the service exits or is not ready in time (it is stopped then).
    """
    port = free_port()
    env = {**os.environ, "REDIS_URL": redis_url, "RECS_HOST": HOST, "RECS_PORT": str(port),
           "RECS_DATA_DIR": str(data_dir), **settings}
    child = start("service", [sys.executable, "-m", "service"], workdir / "service.log", env)
    base = f"http://{HOST}:{port}"
    try:
        wait_http(child, f"{base}/readyz", ready_timeout, desc)
    except BaseException:
        child.stop()
        raise
    return child, base
