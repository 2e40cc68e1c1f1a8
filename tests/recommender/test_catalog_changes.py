"""Catalog writes as a file, and the demo's trigger stories built on them."""

from __future__ import annotations

import pytest

from recommender.catalog_changes import read_catalog_changes, write_catalog_changes
from recommender.demo import generate_storefront
from recommender.demo_triggers import with_trigger_stories
from recommender.errors import InputError
from recommender.events import EVENT_TYPES
from tests.recommender.conftest import DAY, NOW


def test_catalog_writes_round_trip_in_order_and_bad_files_name_the_line(tmp_path):
    data = with_trigger_stories(generate_storefront(n_users=300, n_products=120, n_content=20, seed=1, now=NOW))
    path = tmp_path / "changes.jsonl"
    write_catalog_changes(data.catalog_changes, path)
    back = read_catalog_changes(path)
    assert [at for at, _ in back] == [at for at, _ in data.catalog_changes]
    for (_, mine), (_, theirs) in zip(back, data.catalog_changes):
        assert mine.frame[["in_stock", "price"]].equals(theirs.frame[["in_stock", "price"]])
    path.write_text(path.read_text().splitlines()[1] + "\n" + path.read_text().splitlines()[0] + "\n")
    with pytest.raises(InputError, match="line 2"):
        read_catalog_changes(path)
    path.write_text('{"changed_at": 1}\n')
    with pytest.raises(InputError, match="line 1"):
        read_catalog_changes(path)


def test_the_stories_end_in_the_current_catalog_and_add_events_before_now():
    base = generate_storefront(n_users=300, n_products=120, n_content=20, seed=1, now=NOW)
    data = with_trigger_stories(base)
    assert len(data.events) > len(base.events) and data.events.timestamps.max() < NOW
    assert (data.events.types == EVENT_TYPES.index("notify_me")).sum() > 0
    current = base.catalog.frame.set_index("item_id")
    last = {}
    for at, write in data.catalog_changes:
        assert NOW - 91 * DAY < at < NOW
        for row in write.frame.itertuples():
            last[row.item_id] = (bool(row.in_stock), round(float(row.price), 2))
    assert all(last[i] == (bool(current.loc[i, "in_stock"]), round(float(current.loc[i, "price"]), 2)) for i in last)
