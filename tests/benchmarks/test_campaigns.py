"""The campaigns benchmark's store: trigger material added to a synthetic store, and its report."""

from __future__ import annotations

import numpy as np

from benchmarks.campaigns import markdown, routes, store_triggers
from benchmarks.dashboard import synthetic_catalog
from benchmarks.synthetic import NOW, SyntheticSpec, generate
from recommender.events import EVENT_TYPES

DAY = 86_400.0


def test_the_trigger_material_ends_in_the_catalog_and_lies_before_the_stores_clock():
    table = generate(SyntheticSpec.for_interactions(20_000, seed=0))
    events, catalog, changes = store_triggers(table, synthetic_catalog(table, NOW), NOW)
    assert len(events) > len(table) and events.timestamps.max() <= NOW
    assert (events.types == EVENT_TYPES.index("notify_me")).sum() > 0
    assert [at for at, _ in changes] == sorted(at for at, _ in changes)
    current = catalog.frame.set_index("item_id")
    out = changes[2][1].frame
    assert not out["in_stock"].any() and current.loc[out["item_id"], "in_stock"].all()  # out then, back now
    raised = changes[1][1].frame.set_index("item_id")["price"]
    assert np.allclose(raised, np.round(current.loc[raised.index, "price"] * 1.25, 2))


def test_the_report_says_the_targets_apply_at_20m_events():
    row = {"first_line_s": 0.01, "total_s": 2.0, "lines": 1000, "bytes": 1, "rss_before": 0, "rss_peak": 2 ** 20}
    store = {"events": 1_000_000, "users": 1, "items": 1, "ready_seconds": 1.0, "index_build": row,
             "routes": {name: row for name in routes("i1")}, "paths": routes("i1")}
    run = {"machine": {"cores": "2", "cpu": "x", "load": "1"}, "command": "c", "finished": "f", "results": [store]}
    text = markdown(run)
    assert "| back-in-stock |" in text and "500 lines per s" not in text and "the targets are set at 20M" in text
    store["events"] = 20_000_000
    assert "**met**" in markdown(run)
    row["total_s"] = 61.0
    assert "**not met**" in markdown(run)
