"""Erasures and merges applied to folded events: in request order, bounded by stream position."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recommender.events import EventTable
from service.store.erasures import IdentityChange
from service.training.rewrite import apply_changes


def _table(users: list[str]) -> EventTable:
    n = len(users)
    return EventTable.from_frame(pd.DataFrame({"user_id": users, "item_id": [f"p{k}" for k in range(n)],
                                               "type": ["view"] * n, "timestamp": 1.7e9 + np.arange(n),
                                               "value": [1.0] * n}))


def test_an_erasure_drops_the_users_snapshot_events_and_stream_entries_up_to_its_position_only():
    events = _table(["a", "b", "a", "a"])
    ids = ["5-0", "6-0", "7-0", "7-1"]
    erase_a = IdentityChange(1, "a", "7-0", 0.0)
    kept, changed = apply_changes(events, ids, [erase_a])
    assert changed == 2 and kept.user_ids.tolist() == ["b", "a"] and kept.item_ids.tolist() == ["p1", "p3"]
    kept, changed = apply_changes(events, None, [erase_a])  # the snapshot: before every position
    assert changed == 3 and kept.user_ids.tolist() == ["b"]
    assert events.user_ids.tolist() == ["a", "b", "a", "a"]  # the input is left alone


def test_merges_and_erasures_apply_in_request_order():
    events = _table(["anon", "c", "anon"])
    merge = IdentityChange(1, "anon", "9-0", 0.0, to="c")
    erase_c = IdentityChange(2, "c", "9-0", 0.0)
    out, changed = apply_changes(events, None, [merge])
    assert changed == 2 and out.user_ids.tolist() == ["c", "c", "c"]
    out, _ = apply_changes(events, None, [merge, erase_c])  # the merged events were the customer's when erased
    assert len(out) == 0
    out, _ = apply_changes(events, None, [IdentityChange(1, "c", "9-0", 0.0), IdentityChange(2, "anon", "9-0", 0.0,
                                                                                               to="c")])
    assert out.user_ids.tolist() == ["c", "c"] and out.item_ids.tolist() == ["p0", "p2"]


def test_nothing_to_change_returns_the_same_table():
    events = _table(["a"])
    assert apply_changes(events, ["1-0"], [IdentityChange(1, "z", "9-0", 0.0)]) == (events, 0)
    assert apply_changes(events, None, []) == (events, 0)
