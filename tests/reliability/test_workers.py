"""`python -m service` with RECS_WORKERS=2: two processes on one port, one training, clean stop."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from service.store.embedded import free_port
from tests.reliability.conftest import ADMIN, ROOT, ServiceProcess, call
from tests.reliability.test_replicas import _trainings, _wait


def live_processes(field: int, value: int) -> set[int]:
    """Live processes whose /proc stat `field` (after the name: 1 = parent pid, 3 = session) is `value`."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[field]) == value and fields[0] != "Z":
            found.add(int(stat.parent.name))
    return found


def children(pid: int) -> set[int]:
    return live_processes(1, pid)


def in_session(sid: int) -> set[int]:
    """A worker and whatever it started (its training forkserver)."""
    return live_processes(3, sid)


def answering(service: ServiceProcess, version: str | None = None, tries: int = 400) -> dict[int, str | None]:
    """pid -> model version of the workers that answered /healthz, one fresh connection per request,
    until two distinct workers answered (with `version`, when given)."""
    seen: dict[int, str | None] = {}
    for _ in range(tries):
        body = call(service.base, "GET", "/healthz", timeout=5)[1]
        if version is None or body["model_version"] == version:
            seen[body["pid"]] = body["model_version"]
        if len(seen) == 2:
            break
        time.sleep(0.02)
    return seen


def test_two_workers_share_the_port_train_once_and_stop_without_orphans(service_env, services, tmp_path):
    log = tmp_path / "service.log"
    service = ServiceProcess({**service_env, "RECS_WORKERS": "2"}, log).start()
    services.append(service)
    service.wait_ready()
    workers = children(service.process.pid)
    assert len(workers) == 2
    first = _wait(lambda: call(service.base, "GET", "/v1/model")[1].get("version"))

    # the kernel spreads connections over both workers, and both serve the model one of them trained
    seen = _wait(lambda: answering(service, first) if len(answering(service, first)) == 2 else None, timeout=30)
    assert set(seen) == workers and set(seen.values()) == {first}
    assert _trainings(log.read_text()) == 1

    # a retrain is done by exactly one process; both then serve the new version
    assert call(service.base, "POST", "/v1/model/retrain", key=ADMIN)[0] == 202
    _wait(lambda: _trainings(log.read_text()) == 2 and "training (requested) trained" in log.read_text())
    new = re.findall(r"\[(\d+)\]: training \(requested\) trained in .*version (\S+)", log.read_text())
    assert len(new) == 1 and int(new[0][0]) in workers
    version = new[0][1]
    seen = _wait(lambda: answering(service, version) if len(answering(service, version)) == 2 else None,
                 timeout=30)
    assert set(seen) == workers

    # SIGTERM: every worker stops cleanly, and nothing they started is left behind
    sessions = {pid: in_session(pid) for pid in workers}
    assert service.stop(15, timeout=90) == 0
    _wait(lambda: not any(in_session(pid) for pid in sessions), timeout=10)
    text = log.read_text()
    assert "all workers stopped" in text and "not all cleanly" not in text
    assert text.count("Running on") == 2


def test_the_parent_runs_the_embedded_redis_for_its_workers(service_env, services, tmp_path):
    env = {k: v for k, v in service_env.items() if k != "REDIS_URL"}
    service = ServiceProcess({**env, "RECS_WORKERS": "2"}, tmp_path / "service.log").start()
    services.append(service)
    service.wait_ready()
    socket_path = tmp_path / "data" / "redis" / "redis.sock"
    assert socket_path.exists()
    assert len(children(service.process.pid)) == 3  # two workers and one redis-server
    assert len(_wait(lambda: answering(service) if len(answering(service)) == 2 else None, timeout=30)) == 2
    assert service.stop(15, timeout=90) == 0
    assert not socket_path.exists()  # stopped after the workers, cleanly
    assert list((tmp_path / "data" / "redis").glob("appendonly*"))


def test_the_parent_stops_the_workers_when_its_embedded_redis_dies(service_env, services, tmp_path):
    env = {k: v for k, v in service_env.items() if k != "REDIS_URL"}
    service = ServiceProcess({**env, "RECS_WORKERS": "2"}, tmp_path / "service.log").start()
    services.append(service)
    service.wait_ready()
    started = children(service.process.pid)
    redis = [pid for pid in started if b"redis-server" in Path(f"/proc/{pid}/cmdline").read_bytes()]
    os.kill(redis[0], 9)
    assert service.process.wait(90) == 1
    assert "the embedded redis-server exited" in (tmp_path / "service.log").read_text()
    assert len(started) == 3 and not any(Path(f"/proc/{pid}").exists() for pid in started)  # the workers too


def test_a_worker_that_cannot_start_makes_the_parent_fail(service_env, tmp_path):
    env = {**os.environ, **service_env, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
           "RECS_PORT": str(free_port())}
    result = subprocess.run([sys.executable, "-m", "service", "--workers", "2"], env=env, cwd=ROOT, check=False,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "cannot use Redis" in result.stderr and "exited before listening" in result.stderr
