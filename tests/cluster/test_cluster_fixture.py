"""The cluster fixture really is a cluster: keys spread over three masters and survive losing one."""

from __future__ import annotations

import asyncio
import time

import redis
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster

from tests.cluster.conftest import ClusterProcesses

KEYS = {f"key:{i}": f"value:{i}" for i in range(200)}


def _replicate_everything(cluster: ClusterProcesses) -> list[tuple[int, str]]:
    """Check the keys are on all three masters, and make each master's replica confirm it has them.

    Without WAIT, a write acknowledged just before the kill may not have reached the replica yet and is
    lost in the failover. WAIT on a new connection counts: redis-server records the replication offset
    after every command a client runs, including redis-py's handshake, so it covers the earlier writes.
    """
    masters = cluster.masters()
    assert len(masters) == 3
    total = 0
    for port, node_id in masters:
        with redis.Redis(port=port) as master, redis.Redis(port=cluster.replica_of(node_id)) as replica:
            size = master.dbsize()
            assert size > 0, f"no key landed on the master at {port}"
            assert master.execute_command("WAIT", 1, 2000) == 1, f"the replica of {port} did not acknowledge"
            assert replica.dbsize() == size
            total += size
    assert total == len(KEYS)
    return masters


def test_keys_spread_over_the_masters_survive_a_master_being_killed(redis_cluster: ClusterProcesses):
    client = RedisCluster.from_url(redis_cluster.startup_url)
    for key, value in KEYS.items():
        client.set(key, value)
    client.close()
    masters = _replicate_everything(redis_cluster)
    victim, victim_id = masters[0]
    promoted = redis_cluster.replica_of(victim_id)

    redis_cluster.kill(victim)
    redis_cluster.wait_for_failover(victim)

    assert promoted in [port for port, _ in redis_cluster.masters()]
    assert victim not in [port for port, _ in redis_cluster.masters()]
    fresh = RedisCluster.from_url(redis_cluster.startup_url, decode_responses=True)
    try:
        assert {key: fresh.get(key) for key in KEYS} == KEYS
    finally:
        fresh.close()


async def test_an_async_client_made_before_the_kill_reads_again_after_failover(redis_cluster: ClusterProcesses):
    url = redis_cluster.startup_url
    client = AsyncRedisCluster.from_url(url, decode_responses=True)
    try:
        for key, value in KEYS.items():
            await client.set(key, value)
        masters = _replicate_everything(redis_cluster)
        # the hardest case: the node the client was bootstrapped from, if it is a master
        victim = next((port for port, _ in masters if url.endswith(f":{port}")), masters[0][0])

        redis_cluster.kill(victim)
        killed_at = time.monotonic()
        errors: list[str] = []
        while True:
            try:
                values = {key: await client.get(key) for key in KEYS}
                break
            except redis.RedisError as exc:  # ConnectionError, ClusterDownError... while the replica takes over
                errors.append(f"{time.monotonic() - killed_at:.2f}s {type(exc).__name__}: {exc}")
                assert time.monotonic() - killed_at < 30, "the client did not recover:\n" + "\n".join(errors)
                await asyncio.sleep(0.1)
        recovered = time.monotonic() - killed_at
        print(f"\nsame async client read all keys {recovered:.2f}s after the kill, "
              f"after {len(errors)} error(s):\n" + "\n".join(errors))
        assert values == KEYS
        redis_cluster.wait_for_failover(victim)  # the reads were served by a promoted replica
    finally:
        await client.aclose()
