"""SIGTERM: stop accepting, finish what is in flight, stop the embedded redis-server cleanly."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
import urllib.request

from tests.reliability.conftest import WRITE, ServiceProcess, call
from tests.reliability.test_replicas import _wait


def test_sigterm_finishes_in_flight_requests_and_stops_embedded_redis(service_env, services, tmp_path):
    env = {k: v for k, v in service_env.items() if k != "REDIS_URL"}  # the embedded default
    service = ServiceProcess(env, tmp_path / "svc.log").start()
    services.append(service)
    service.wait_ready()
    socket_path = tmp_path / "data" / "redis" / "redis.sock"
    assert socket_path.exists()

    users = [f"u{i:06d}" for i in range(600)] * 100  # 60,000 lines of NDJSON: takes a while
    result: dict = {}

    def slow_batch() -> None:
        request = urllib.request.Request(service.base + "/v1/recommendations/batch", method="POST",
                                         data=json.dumps({"user_ids": users, "n": 10}).encode(),
                                         headers={"Accept": "application/x-ndjson"})
        with urllib.request.urlopen(request, timeout=120) as response:
            result["status"] = response.status
            result["lines"] = response.read().decode().splitlines()
        result["done_at"] = time.monotonic()

    worker = threading.Thread(target=slow_batch)
    worker.start()
    time.sleep(0.5)  # the batch is streaming
    sent_at = time.monotonic()
    assert service.stop(15, timeout=90) == 0
    worker.join(60)
    assert result["status"] == 200 and len(result["lines"]) == len(users)
    assert result["done_at"] > sent_at  # it really was in flight when SIGTERM arrived
    assert json.loads(result["lines"][-1])["user_id"] == users[-1]
    # the embedded redis-server is gone with its socket, and the AOF is on disk
    assert not socket_path.exists()
    leftover = subprocess.run(["pgrep", "-f", str(socket_path)], capture_output=True, text=True).stdout
    assert leftover.strip() == ""
    assert list((tmp_path / "data" / "redis").glob("appendonly*"))
    # new connections are refused once it has stopped
    try:
        call(service.base, "GET", "/healthz", timeout=2)
        raise AssertionError("service still answering after SIGTERM")
    except OSError:
        pass


def test_a_killed_service_takes_its_redis_server_along_and_restarts_on_its_data(service_env, services, tmp_path):
    """SIGKILL (the OOM killer, kill -9): the embedded redis-server gets SIGTERM from the kernel, flushes and
    exits, so the restarted service starts a fresh one on the same AOF instead of sharing it with an orphan."""
    env = {k: v for k, v in service_env.items() if k != "REDIS_URL"}
    first = ServiceProcess(env, tmp_path / "first.log").start()
    services.append(first)
    first.wait_ready()
    socket_path = tmp_path / "data" / "redis" / "redis.sock"
    event = [{"user_id": "kill-user", "item_id": "p00001", "type": "purchase", "event_id": "kill-1"}]
    assert call(first.base, "POST", "/v1/events", event, key=WRITE) == (202, {"accepted": 1, "duplicates": 0})

    first.stop(signal.SIGKILL)
    _wait(lambda: not _servers_on(socket_path), timeout=10)
    second = ServiceProcess(env, tmp_path / "second.log").start()
    services.append(second)
    second.wait_ready()
    assert call(second.base, "POST", "/v1/events", event, key=WRITE)[1] == {"accepted": 1, "duplicates": 1}
    assert second.stop(15, timeout=90) == 0
    assert not _servers_on(socket_path)


def _servers_on(socket_path) -> str:
    return subprocess.run(["pgrep", "-f", str(socket_path)], capture_output=True, text=True).stdout.strip()
