"""`python -m service` against a real six-node Redis Cluster: it ingests, trains, precomputes and
serves across the three masters, and keeps answering reads when one master is killed."""

from __future__ import annotations

import time
from pathlib import Path

import redis
from redis.cluster import RedisCluster

from service.store.keys import Keys
from tests.cluster.conftest import ClusterProcesses
from tests.reliability.conftest import ADMIN, WRITE, ServiceProcess, call, storefront  # noqa: F401
from tests.reliability.test_replicas import _wait

KEYS = Keys()


def _env(cluster: ClusterProcesses, tmp_path: Path, store: tuple[Path, Path]) -> dict[str, str]:
    events, catalog = store
    url = cluster.startup_url.replace("redis://", "redis+cluster://")
    return {"REDIS_URL": url, "RECS_DATA_DIR": str(tmp_path / "data"), "RECS_MODEL_DIR": str(tmp_path / "models"),
            "RECS_BOOTSTRAP_EVENTS": str(events), "RECS_BOOTSTRAP_CATALOG": str(catalog),
            "RECS_WRITE_KEYS": WRITE, "RECS_ADMIN_KEYS": ADMIN, "RECS_POLL_INTERVAL": "0.2",
            "RECS_ACTIVE_DAYS": "3650", "RECS_LOG_LEVEL": "INFO", "RECS_REDIS_READ_TIMEOUT": "0.5",
            "RECS_REPEAT": "off"}  # the test checks bought items leave the list once the model holds them


def _keys_per_master(cluster: ClusterProcesses) -> dict[int, int]:
    return {port: redis.Redis(port=port).dbsize() for port, _ in cluster.masters()}


def _replicate(cluster: ClusterProcesses) -> None:
    """Wait until every master's replica has what was written (replication is asynchronous)."""
    for port, _ in cluster.masters():
        assert redis.Redis(port=port).execute_command("WAIT", 1, 5000) == 1


def test_the_service_runs_on_a_cluster_and_reads_survive_a_master_failover(redis_cluster, storefront, tmp_path):  # noqa: F811
    service = ServiceProcess(_env(redis_cluster, tmp_path, storefront), tmp_path / "service.log").start()
    try:
        service.wait_ready()
        first = _wait(lambda: call(service.base, "GET", "/v1/model")[1].get("version"), timeout=120)
        client = RedisCluster.from_url(redis_cluster.startup_url)

        # precompute spread the lists over every master; shared keys sit together in the {encore} slot
        assert all(count > 0 for count in _keys_per_master(redis_cluster).values())
        assert client.get(KEYS.current_version).decode() == first
        assert len({client.keyslot(k) for k in (KEYS.events, KEYS.current_version, KEYS.change_log)}) == 1

        # ingestion: the stream on the shared slot, each user's events on their own slot, ids dedupe
        users = [f"cluster-user-{k}" for k in range(40)]
        assert len({client.keyslot(KEYS.since_training(u)) for u in users}) > 1
        batch = [{"user_id": u, "item_id": "p00001", "type": "purchase", "event_id": f"order-{u}"} for u in users]
        batch.append({"user_id": users[0], "item_id": "p00002", "type": "impression"})
        assert call(service.base, "POST", "/v1/events", batch, key=WRITE) == (202, {"accepted": 41, "duplicates": 0})
        assert call(service.base, "POST", "/v1/events", batch[:40], key=WRITE)[1] == {"accepted": 40,
                                                                                       "duplicates": 40}
        assert client.xlen(KEYS.events) == 41
        assert all(client.hget(KEYS.since_training(u), "p00001") is not None for u in users)
        assert client.zscore(KEYS.shown(users[0]), "p00002") is not None

        # reads see those events: one user, and a batch whose keys live on several nodes
        status, body = call(service.base, "GET", f"/v1/users/{users[0]}/recommendations?n=10")
        assert status == 200 and body["source"] == "personalized" and len(body["items"]) == 10
        assert "p00001" not in {i["item_id"] for i in body["items"]}
        known = [f"u{k:06d}" for k in range(0, 600, 7)]
        status, body = call(service.base, "POST", "/v1/recommendations/batch", {"user_ids": known + users, "n": 5})
        assert status == 200 and len(body["results"]) == len(known) + len(users)
        assert all(len(r["items"]) == 5 and r["source"] != "in_memory_model" for r in body["results"])
        assert call(service.base, "GET", "/v1/items/p00003/similar?n=5")[0] == 200
        # the catalog's MULTI/EXEC transactions run on the shared slot
        new_item = [{"item_id": "p-new", "kind": "product", "category": "new"}]
        assert call(service.base, "PUT", "/v1/items", new_item, key=WRITE) == (200, {"upserted": 1})
        assert call(service.base, "DELETE", "/v1/items/p00004", key=WRITE)[0] == 200

        # retraining takes the lock, folds the stream, moves the pointer; users' since-training events stay
        # until no replica serves a model without them, and are forgotten after the next swap
        assert call(service.base, "POST", "/v1/model/retrain", key=ADMIN)[0] == 202
        second = _wait(lambda: (v := call(service.base, "GET", "/v1/model")[1].get("version")) != first and v,
                       timeout=120)
        assert client.get(KEYS.current_version).decode() == second
        assert client.xlen(KEYS.events) == 0 and client.exists(KEYS.since_training(users[0]))
        assert call(service.base, "POST", "/v1/events", [{"user_id": "next", "item_id": "p00003", "type": "view"}],
                    key=WRITE)[0] == 202  # new data, so a new version
        assert call(service.base, "POST", "/v1/model/retrain", key=ADMIN)[0] == 202
        second = _wait(lambda: (v := call(service.base, "GET", "/v1/model")[1].get("version")) != first and v
                       and v != second and v, timeout=120)
        _wait(lambda: not client.exists(KEYS.since_training(users[0])), timeout=30)
        status, body = call(service.base, "GET", f"/v1/users/{users[0]}/recommendations?n=10")
        assert status == 200 and "p00001" not in {i["item_id"] for i in body["items"]}  # the model holds it

        # kill the master of a user's list; reads keep answering 200 throughout (from the model while
        # Redis does not answer within RECS_REDIS_READ_TIMEOUT), then from Redis again
        _replicate(redis_cluster)
        victim_key = KEYS.user_recs(second, "u000007")
        victim = client.get_node_from_key(victim_key).port
        assert victim in dict(redis_cluster.masters())
        client.close()
        redis_cluster.kill(victim)
        statuses, sources, slowest = [], [], 0.0
        deadline = time.monotonic() + 60
        k = 0
        while time.monotonic() < deadline and not (
                sources and sources[-1] != "in_memory_model" and redis_cluster.failed_over(victim)):
            started = time.monotonic()
            status, body = call(service.base, "GET", f"/v1/users/u{7 * (k % 80):06d}/recommendations?n=5", timeout=30)
            slowest = max(slowest, time.monotonic() - started)
            statuses.append(status)
            sources.append(body.get("source"))
            k += 1
        assert set(statuses) == {200}, (statuses, slowest)
        assert slowest < 5, slowest  # the read deadline, not redis-py's retries or the socket timeout
        assert sources[-1] != "in_memory_model" and redis_cluster.failed_over(victim)
        assert call(service.base, "POST", "/v1/events", [{"user_id": "after", "item_id": "p00003", "type": "view"}],
                    key=WRITE)[0] == 202
        assert RedisCluster.from_url(redis_cluster.startup_url).get(victim_key) is not None  # the replica had it
    finally:
        service.stop(15)

