"""The interaction snapshot keeps order data, and snapshots written before it existed still load."""

from __future__ import annotations

import numpy as np

from recommender.events import Event, EventTable
from service.store.events.stream import StreamCursor
from service.store.snapshot import Snapshot, load_snapshot, save_snapshot


def test_order_data_survives_a_snapshot_round_trip(tmp_path):
    events = EventTable.from_events([Event("u1", "a", "view", 1.0),
                                     Event("u1", "b", "purchase", 2.0, price=3.5, quantity=2, order_id="o1"),
                                     Event("u2", "b", "purchase", 3.0, price=3.5)])
    path = tmp_path / "snapshot.npz"
    save_snapshot(Snapshot(events, StreamCursor("5-0", "g")), path)
    loaded = load_snapshot(path).events
    np.testing.assert_array_equal(loaded.prices, [np.nan, 3.5, 3.5])
    np.testing.assert_array_equal(loaded.quantities, [1, 2, 1])
    assert loaded.order_ids.tolist() == [None, "o1", None]


def test_a_snapshot_without_order_columns_loads_with_none(tmp_path):
    events = EventTable.from_events([Event("u1", "a", "view", 1.0)])
    path = tmp_path / "snapshot.npz"
    save_snapshot(Snapshot(events), path)  # no order data: nothing stored, as in snapshots before it existed
    with np.load(path) as data:
        assert not {"prices", "quantities", "order_ids"} & set(data.files)
    loaded = load_snapshot(path)
    assert loaded.events.prices is None and loaded.events.order_ids is None
    assert loaded.events.user_ids.tolist() == ["u1"]
