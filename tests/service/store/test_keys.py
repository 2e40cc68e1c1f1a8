"""The key layout keeps every multi-key operation on one Redis Cluster slot, whatever the ids hold."""

from __future__ import annotations

import pytest
from redis.crc import key_slot

from service.store.keys import Keys
from service.store.client import connect, is_cluster, plain_url

KEYS = Keys()
ODD_IDS = ["u1", "}starts-with-a-brace", "has{braces}inside", "{", "}", "a}b{c", "ünïcode", "x" * 256]


def slot(key: str) -> int:
    return key_slot(key.encode())


def test_shared_keys_and_client_event_ids_are_in_one_slot():
    shared = [KEYS.events, KEYS.events_generation, KEYS.unreadable_events, KEYS.catalog, KEYS.removed, KEYS.catalog_revision,
              KEYS.current_version, KEYS.training_status, KEYS.training_history, KEYS.train_lock, KEYS.retrain_requested, KEYS.change_log,
              KEYS.online("2026-11-23"), *(KEYS.event_seen(i) for i in ODD_IDS), KEYS.catalog_offers,
              KEYS.price_changes, *(KEYS.price_history(i) for i in ODD_IDS), KEYS.contacted, KEYS.contact_log,
              *(KEYS.order_seen("20261123T000000Z-0000abcd|recommendations", i) for i in ODD_IDS)]
    assert {slot(k) for k in shared} == {slot("{encore}")}


@pytest.mark.parametrize("user", ODD_IDS)
def test_each_users_keys_share_a_slot(user):
    assert len({slot(KEYS.since_training(user)), slot(KEYS.since_training_ids(user)), slot(KEYS.shown(user)),
                slot(KEYS.since_training_bought(user)),
                slot(KEYS.user_recs("20261123T000000Z-0000abcd", user))}) == 1


def test_users_and_lists_spread_over_the_cluster():
    users = [f"user-{k}" for k in range(1000)]
    assert len({slot(KEYS.since_training(u)) for u in users}) > 900
    assert len({slot(KEYS.similar("v1", f"item-{k}")) for k in range(1000)}) > 900


def test_braces_in_the_prefix_are_refused():
    with pytest.raises(ValueError):
        Keys("shop{1}")


def test_the_cluster_url_scheme_picks_the_cluster_client():
    assert plain_url("redis+cluster://h:1/0") == "redis://h:1/0"
    assert plain_url("rediss+cluster://:pw@h:1") == "rediss://:pw@h:1"
    assert not is_cluster(connect("redis://127.0.0.1:1/0"))
    assert is_cluster(connect("redis+cluster://127.0.0.1:1/0"))
    assert is_cluster(connect("redis://127.0.0.1:1", cluster=True, retry_on_timeout=True))


def test_a_slot_without_a_live_master_counts_as_redis_being_away():
    from redis.exceptions import ClusterDownError, SlotNotCoveredError

    from service.store.client import REDIS_ERRORS

    assert issubclass(SlotNotCoveredError, REDIS_ERRORS) and issubclass(ClusterDownError, REDIS_ERRORS)
