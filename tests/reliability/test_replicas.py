"""Two replicas sharing one Redis and one model directory."""

from __future__ import annotations

import signal
import time

import redis

from service.store.keys import Keys
from tests.reliability.conftest import ADMIN, ServiceProcess, call

KEYS = Keys()


def _version(service: ServiceProcess) -> str | None:
    return call(service.base, "GET", "/v1/model")[1].get("version")


def _wait(predicate, timeout: float = 120, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError("condition not met in time")


def _trainings(log_text: str) -> int:
    return log_text.count("training (")


def test_one_replica_trains_and_both_serve_the_new_version(service_env, services, tmp_path):
    a = ServiceProcess(service_env, tmp_path / "a.log").start()
    b = ServiceProcess(service_env, tmp_path / "b.log").start()
    services += [a, b]
    a.wait_ready()
    b.wait_ready()
    first = _version(a)
    assert _version(b) == first
    # exactly one of the two trained the first model
    assert _trainings((tmp_path / "a.log").read_text()) + _trainings((tmp_path / "b.log").read_text()) == 1

    call(a.base, "POST", "/v1/events", [{"user_id": "replica-user", "item_id": "p00001", "type": "purchase"}],
         key="write-key")
    assert call(b.base, "POST", "/v1/model/retrain", key=ADMIN)[0] == 202
    _wait(lambda: _version(b) != first)
    new = _version(b)
    _wait(lambda: _version(a) == new, timeout=10)  # by polling (0.2 s); no timed bound on a shared machine
    # the replica that did not train loaded the artifact the other one wrote
    status, body = call(a.base, "GET", "/v1/users/replica-user/recommendations?n=3")
    assert status == 200 and body["model_version"] == new and body["source"] == "personalized"


def test_a_trainer_killed_mid_training_leaves_the_lock_to_expire(service_env, services, tmp_path, redis_url):
    env = {**service_env, "RECS_LOCK_TTL": "2", "RECS_REFRESH_INTERVAL": "3"}
    a = ServiceProcess(env, tmp_path / "a.log").start()
    services.append(a)
    a.wait_ready()
    client = redis.Redis.from_url(redis_url)
    first = _version(a)
    call(a.base, "POST", "/v1/events", [{"user_id": "after-kill", "item_id": "p00002", "type": "purchase"}],
         key="write-key")
    call(a.base, "POST", "/v1/model/retrain", key=ADMIN)
    _wait(lambda: client.get(KEYS.train_lock), timeout=30, interval=0.005)
    a.stop(signal.SIGKILL)  # killed while it holds the lock
    assert client.get(KEYS.train_lock) is not None
    b = ServiceProcess(env, tmp_path / "b.log").start()
    services.append(b)
    b.wait_ready()
    _wait(lambda: client.get(KEYS.train_lock) is None or "trained in" in (tmp_path / "b.log").read_text(),
          timeout=10)
    # on its own schedule, with no help, b trains once the dead trainer's lock has expired
    _wait(lambda: "trained in" in (tmp_path / "b.log").read_text(), timeout=120)
    assert _version(b) != first
