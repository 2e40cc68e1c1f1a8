"""Redis stops and restarts under a running service: reads keep answering, nothing accepted is lost."""

from __future__ import annotations

import time

import redis

from service.store.keys import Keys
from tests.reliability.conftest import WRITE, ServiceProcess, call

KEYS = Keys()


def _events(prefix: str, n: int) -> list[dict]:
    return [{"user_id": f"{prefix}-{i % 7}", "item_id": f"p{i % 150:05d}", "type": "view"} for i in range(n)]


def test_reads_survive_redis_going_away_and_events_get_503_not_500(service_env, services, tmp_path, redis_server):
    service = ServiceProcess(service_env, tmp_path / "svc.log").start()
    services.append(service)
    service.wait_ready()
    assert call(service.base, "POST", "/v1/events", _events("before", 50), key=WRITE) == (202, {"accepted": 50, "duplicates": 0})

    redis_server.stop()
    try:
        for user in ("u000001", "u000002", "someone-unknown"):
            status, body = call(service.base, "GET", f"/v1/users/{user}/recommendations?n=5")
            assert status == 200 and len(body["items"]) == 5 and body["source"] == "in_memory_model"
        status, body = call(service.base, "GET", "/v1/items/p00001/similar?n=5")
        assert status == 200 and len(body["items"]) == 5 and body["source"] == "in_memory_model"
        status, body = call(service.base, "POST", "/v1/recommendations/batch", {"user_ids": ["u000001", "x"]})
        assert status == 200 and [r["source"] for r in body["results"]] == ["in_memory_model"] * 2
        assert call(service.base, "GET", "/v1/model")[0] == 200
        status, body = call(service.base, "POST", "/v1/events", _events("during", 10), key=WRITE)
        assert status == 503 and body["error"]["code"] == "unavailable"
        assert call(service.base, "GET", "/readyz")[0] == 503
    finally:
        redis_server.start()  # same directory: it reloads its AOF

    deadline = time.monotonic() + 30
    while call(service.base, "GET", "/readyz")[0] != 200:  # reconnects by itself
        assert time.monotonic() < deadline, "service did not reconnect"
        time.sleep(0.2)
    assert call(service.base, "POST", "/v1/events", _events("after", 30), key=WRITE) == (202, {"accepted": 30, "duplicates": 0})
    with redis.Redis.from_url(redis_server.url) as client:
        users = [fields[b"u"].decode() for _, fields in client.xrange(KEYS.events)]
    # every accepted event survived the restart; the refused ones were never written
    assert sum(u.startswith("before-") for u in users) == 50
    assert sum(u.startswith("after-") for u in users) == 30
    assert not any(u.startswith("during-") for u in users)
    assert "unhandled error" not in (tmp_path / "svc.log").read_text()


def test_redis_killed_mid_load_keeps_every_event_exactly_once_when_clients_retry(
        service_env, services, tmp_path, redis_server):
    """Clients resend a batch until it gets a 202, as a client should when a reply is lost or
    refused. With event ids, every event ends up in the stream exactly once: none lost, none
    doubled by a retry of a batch whose first attempt was stored but whose reply never came."""
    import threading

    service = ServiceProcess(service_env, tmp_path / "svc.log").start()
    services.append(service)
    service.wait_ready()
    attempts: dict[str, list[int]] = {}
    stop = threading.Event()

    def writer(worker: int) -> None:
        n = 0
        while not stop.is_set():
            batch = f"w{worker}-b{n}"  # every event of a batch carries the batch's user id
            events = [{"user_id": batch, "item_id": f"p{i:05d}", "type": "view", "event_id": f"{batch}-e{i}"}
                      for i in range(40)]
            tries = attempts.setdefault(batch, [])
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    status, _ = call(service.base, "POST", "/v1/events", events, key=WRITE, timeout=10)
                except OSError:
                    status = 0
                tries.append(status)
                if status == 202:
                    break
                time.sleep(0.05)
            n += 1

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    redis_server.stop(kill=True)  # SIGKILL in the middle of the writes
    time.sleep(1.0)
    redis_server.start()  # reloads its AOF
    time.sleep(2.0)
    stop.set()
    for thread in threads:
        thread.join(90)

    with redis.Redis.from_url(redis_server.url) as client:
        stored: dict[str, int] = {}
        for _, fields in client.xrange(KEYS.events):
            event_id = fields[b"e"].decode()
            stored[event_id] = stored.get(event_id, 0) + 1
    assert any(202 not in tries[:1] for tries in attempts.values()), attempts  # the outage hit some requests
    assert all(tries[-1] == 202 for tries in attempts.values()), attempts  # each batch got through in the end
    expected = {f"{batch}-e{i}" for batch in attempts for i in range(40)}
    assert set(stored) == expected  # nothing lost, nothing foreign
    assert set(stored.values()) == {1}  # and nothing stored twice, however often it was sent
    assert "unhandled error" not in (tmp_path / "svc.log").read_text()
