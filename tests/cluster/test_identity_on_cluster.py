"""Erasure and merge against a real six-node Redis Cluster: the shared-slot records, the per-user steps on the
users' own slots, and after the next training nothing of the erased id on any master nor in the model directory."""

from __future__ import annotations

from pathlib import Path

import redis
from redis.cluster import RedisCluster

from service.store.keys import Keys
from tests.cluster.conftest import ClusterProcesses
from tests.redis_values import key_values
from tests.cluster.test_service_on_cluster import _env
from tests.reliability.conftest import ADMIN, WRITE, ServiceProcess, call, storefront  # noqa: F401
from tests.reliability.test_replicas import _wait

KEYS = Keys()
ERASED, CUSTOMER, VISITOR = "u000007", "u000011", "anon-cluster-1"


def _mentions(cluster: ClusterProcesses, user: str) -> list[bytes]:
    """Keys on any master whose name or value holds `user`."""
    needle, found = user.encode(), []
    for port, _ in cluster.masters():
        r = redis.Redis(port=port)
        for key in r.scan_iter(count=1000):
            if needle in key or any(needle in v for v in key_values(r, key)):
                found.append(key)
    return found


def test_erasure_and_merge_on_a_cluster(redis_cluster, storefront, tmp_path):  # noqa: F811
    service = ServiceProcess(_env(redis_cluster, tmp_path, storefront), tmp_path / "service.log").start()
    try:
        service.wait_ready()
        first = _wait(lambda: call(service.base, "GET", "/v1/model")[1].get("version"), timeout=120)
        client = RedisCluster.from_url(redis_cluster.startup_url)
        assert len({client.keyslot(k) for k in (KEYS.since_training(ERASED), KEYS.since_training(VISITOR),
                                                 KEYS.since_training(CUSTOMER))}) == 3
        events = [{"user_id": ERASED, "item_id": "p00002", "type": "purchase"},
                  {"user_id": VISITOR, "item_id": "p00010", "type": "view"},
                  {"user_id": VISITOR, "item_id": "p00011", "type": "purchase"}]
        assert call(service.base, "POST", "/v1/events", events, key=WRITE)[0] == 202
        assert call(service.base, "POST", f"/v1/users/{ERASED}/shown", {"item_ids": ["p00003"]}, key=WRITE)[0] == 202
        assert call(service.base, "POST", f"/v1/users/{VISITOR}/contacted", {"campaign": "welcome"},
                    key=WRITE)[0] == 202

        assert call(service.base, "DELETE", f"/v1/users/{ERASED}", key=ADMIN)[0] == 202
        assert not client.exists(KEYS.since_training(ERASED)) and not client.exists(KEYS.shown(ERASED))
        assert not client.exists(KEYS.user_recs(first, ERASED))
        status, body = call(service.base, "POST", f"/v1/users/{CUSTOMER}/merge", {"from": VISITOR}, key=WRITE)
        assert status == 202 and body["from"] == VISITOR
        assert not client.exists(KEYS.since_training(VISITOR))
        assert set(client.hkeys(KEYS.since_training(CUSTOMER))) >= {b"p00010", b"p00011"}
        assert client.zscore(KEYS.contacted, CUSTOMER) is not None and client.zscore(KEYS.contacted, VISITOR) is None
        assert call(service.base, "GET", f"/v1/users/{ERASED}/erasure", key=ADMIN)[1]["state"] == "pending"

        assert call(service.base, "POST", "/v1/model/retrain", key=ADMIN)[0] == 202
        _wait(lambda: call(service.base, "GET", f"/v1/users/{ERASED}/erasure", key=ADMIN)[1]["state"] == "done",
              timeout=120)
        assert _mentions(redis_cluster, ERASED) == []
        # the visitor's events are the customer's now (the change log still says who sent events, as for anyone)
        assert _mentions(redis_cluster, VISITOR) == [KEYS.change_log.encode()]
        models = Path(tmp_path / "models")
        assert [p for p in models.rglob("*") if p.is_file() and ERASED.encode() in p.read_bytes()] == []
        assert VISITOR.encode() not in (models / "snapshot.npz").read_bytes()
        assert client.hlen(KEYS.merges_pending) == 0
        client.close()
    finally:
        service.stop(15)
