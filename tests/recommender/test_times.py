"""The plausible range of times: 1990-01-01 to the clock plus a day, refused with the row and field."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.catalog import read_catalog
from recommender.errors import InputError
from recommender.events import read_events
from recommender.times import EARLIEST_TIMESTAMP, MAX_CLOCK_AHEAD, check_timestamps, latest_timestamp

NOW = 1_790_000_000.0


def test_the_range_runs_from_1990_to_a_day_after_now():
    assert EARLIEST_TIMESTAMP == 631_152_000.0  # 1990-01-01T00:00:00Z
    assert latest_timestamp(NOW) == NOW + 86_400.0 == NOW + MAX_CLOCK_AHEAD
    check_timestamps(np.array([EARLIEST_TIMESTAMP, NOW, NOW + MAX_CLOCK_AHEAD, np.nan]), now=NOW)


@pytest.mark.parametrize("bad", [NOW * 1000, 253_402_214_400.0, 20_240_101.0, 0.0, -1.0, EARLIEST_TIMESTAMP - 1,
                                 NOW + MAX_CLOCK_AHEAD + 1])
def test_milliseconds_far_futures_and_small_numbers_are_refused_naming_the_row(bad):
    with pytest.raises(InputError, match="not a plausible time") as caught:
        check_timestamps(np.array([NOW, NOW, bad, bad]), "created_at", now=NOW)
    assert (caught.value.row, caught.value.field) == (2, "created_at")
    assert "1990-01-01T00:00:00Z to 2026-09-22T" in str(caught.value)
    # the hint about milliseconds only where the value could be milliseconds
    assert ("milliseconds are 1,000 times too large" in str(caught.value)) == (bad > 1e12)


def test_event_files_with_a_timestamp_in_milliseconds_are_refused(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text(f"user_id,item_id,type,timestamp\nu1,a,view,{NOW:.0f}\nu2,b,view,{NOW * 1000:.0f}\n")
    with pytest.raises(InputError, match="1790000000000.0 at row 1 is not a plausible time") as caught:
        read_events(path)
    assert caught.value.field == "timestamp"
    jsonl = tmp_path / "events.jsonl"
    jsonl.write_text('{"user_id": "u1", "item_id": "a", "type": "view", "timestamp": "1989-12-31T23:59:59Z"}\n')
    with pytest.raises(InputError, match="at row 0 is not a plausible time"):
        read_events(jsonl)


def test_catalog_files_with_an_implausible_created_at_name_the_row(tmp_path):
    path = tmp_path / "catalog.csv"
    path.write_text(f"item_id,kind,category,in_stock,created_at,title\na,product,x,true,{NOW:.0f},A\n"
                    f"b,product,x,true,,B\nc,product,x,true,{NOW * 1000:.0f},C\n")
    with pytest.raises(InputError, match="created_at") as caught:
        read_catalog(path)
    assert (caught.value.row, caught.value.field) == (2, "created_at")
