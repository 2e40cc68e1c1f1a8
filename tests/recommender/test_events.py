"""The event table: validation, timestamps, files."""

import json

import numpy as np
import pandas as pd
import pytest

from recommender.errors import InputError
from recommender.events import (
    EVENT_TYPES,
    Event,
    EventTable,
    active_users,
    read_events,
    write_events,
)
from recommender.matrix import build_matrix
from tests.recommender.conftest import DAY, NOW
from tests.recommender.event_rows import ISO_NOW, cell, events

# -- timestamps -------------------------------------------------------------------------------

@pytest.mark.parametrize("stamp", [
    ISO_NOW, "2023-11-14T22:13:20+00:00", "2023-11-14T23:13:20+01:00", "2023-11-14T22:13:20",
    "2023-11-14 22:13:20Z", 1_700_000_000, 1_700_000_000.0, "1700000000",
    "2023-11-14t22:13:20z", " 2023-11-14T22:13:20Z ",  # RFC 3339 allows lower case; spaces around are dropped
])
def test_iso_8601_and_epoch_timestamps(stamp):
    table = EventTable.from_frame(pd.DataFrame({"user_id": ["u"], "item_id": ["i"], "type": ["view"],
                                                "timestamp": [stamp]}))
    assert table.timestamps.dtype == np.float64
    assert table.timestamps[0] == pytest.approx(NOW)


def test_mixed_epoch_and_iso_column():
    frame = pd.DataFrame({"user_id": ["u", "u"], "item_id": ["a", "b"], "type": ["view", "view"],
                          "timestamp": [ISO_NOW, NOW + 10]})
    np.testing.assert_allclose(EventTable.from_frame(frame).timestamps, [NOW, NOW + 10])


def test_iso_fractional_seconds():
    frame = pd.DataFrame({"user_id": ["u"], "item_id": ["a"], "type": ["view"],
                          "timestamp": ["2023-11-14T22:13:20.250Z"]})
    assert EventTable.from_frame(frame).timestamps[0] == pytest.approx(NOW + 0.25)


def test_default_timestamp_fills_missing_column_and_values():
    frame = pd.DataFrame({"user_id": ["u", "v"], "item_id": ["a", "b"], "type": ["view", "click"]})
    assert EventTable.from_frame(frame, default_timestamp=NOW).timestamps.tolist() == [NOW, NOW]
    frame["timestamp"] = [None, NOW - 5]
    assert EventTable.from_frame(frame, default_timestamp=NOW).timestamps.tolist() == [NOW, NOW - 5]


# -- files ------------------------------------------------------------------------------------

def test_read_csv(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text(
        "user_id,item_id,type,timestamp,value\n"
        "u1,007,view,1700000000,\n"
        "u1,i2,review,2023-11-14T22:13:20Z,4\n"
        "u2,007,purchase,1700000100.5,\n"
    )
    table = read_events(path)
    assert table.user_ids.tolist() == ["u1", "u1", "u2"]
    assert table.item_ids.tolist() == ["007", "i2", "007"]  # ids stay strings: no leading zero lost
    assert [EVENT_TYPES[t] for t in table.types] == ["view", "review", "purchase"]
    np.testing.assert_allclose(table.timestamps, [NOW, NOW, NOW + 100.5])
    np.testing.assert_allclose(table.values, [1.0, 4.0, 1.0])


def test_read_csv_without_value_column(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("user_id,item_id,type,timestamp\nu1,a,add_to_cart,1700000000\n")
    m = build_matrix(read_events(path))
    assert cell(m, "u1", "a") == 3.0


def write_jsonl(path, rows) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def test_read_json_lines_with_epoch_timestamps(tmp_path):
    # every timestamp is a number: pandas must not turn the "timestamp" column into datetimes
    path = tmp_path / "events.jsonl"
    write_jsonl(path, [
        {"user_id": "u1", "item_id": "a", "type": "view", "timestamp": 1_700_000_000},
        {"user_id": 42, "item_id": "b", "type": "review", "timestamp": 1_700_000_060.5, "value": 5},
    ])
    table = read_events(path)
    assert table.user_ids.tolist() == ["u1", "42"]
    np.testing.assert_allclose(table.timestamps, [NOW, NOW + 60.5])
    np.testing.assert_allclose(table.values, [1.0, 5.0])


def test_read_json_lines_with_iso_timestamps(tmp_path):
    path = tmp_path / "events.ndjson"
    write_jsonl(path, [
        {"user_id": "u1", "item_id": "a", "type": "click", "timestamp": ISO_NOW},
        {"user_id": "u2", "item_id": "a", "type": "purchase", "timestamp": "2023-11-15T22:13:20Z"},
    ])
    np.testing.assert_allclose(read_events(path).timestamps, [NOW, NOW + DAY])


def test_write_and_read_round_trip(tmp_path, tiny_events):
    path = tmp_path / "out.csv"
    write_events(tiny_events, path)
    back = read_events(path)
    assert back.user_ids.tolist() == tiny_events.user_ids.tolist()
    assert back.item_ids.tolist() == tiny_events.item_ids.tolist()
    np.testing.assert_array_equal(back.types, tiny_events.types)
    np.testing.assert_allclose(back.timestamps, tiny_events.timestamps)
    np.testing.assert_allclose(back.values, tiny_events.values)


def test_from_events_take_concat_and_empty():
    table = EventTable.from_events([Event("u", "a", "view", NOW), Event("u", "b", "review", NOW + 1, 5.0)])
    assert len(table) == 2
    assert table.values.tolist() == [1.0, 5.0]
    assert table.take(np.array([1])).item_ids.tolist() == ["b"]
    both = EventTable.concat([table, table.take(np.array([0]))])
    assert both.item_ids.tolist() == ["a", "b", "a"]
    assert len(EventTable.empty()) == 0
    assert len(EventTable.concat([])) == 0
    frame = table.to_frame()
    assert frame["type"].tolist() == ["view", "review"]


# -- bad input --------------------------------------------------------------------------------

def good_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "user_id": ["u1", "u2", "u3"],
        "item_id": ["a", "b", "c"],
        "type": ["view", "purchase", "review"],
        "timestamp": [NOW, NOW, NOW],
        "value": [np.nan, np.nan, 5.0],
    })


def test_good_frame_is_accepted():
    assert len(EventTable.from_frame(good_frame())) == 3


@pytest.mark.parametrize("column, value, words", [
    ("type", "like", "unknown event type 'like' at row 1"),
    ("type", "Purchase", "unknown event type"),
    ("user_id", "", "user_id is empty or only whitespace at row 1"),
    ("user_id", None, "user_id is empty or only whitespace at row 1"),
    ("item_id", "x" * 257, "item_id at row 1 is longer than 256 bytes"),
    ("item_id", "bad\nid", "item_id at row 1 contains control characters"),
    ("user_id", "bad\x01id", "user_id at row 1 contains control characters"),
    ("value", "lots", "value 'lots' at row 1 is not a finite number"),
    ("value", 1e300, "at row 1 is not a finite number within +/-3.4e+38"),  # float32 would make it inf
    ("timestamp", "yesterday", "timestamp 'yesterday' at row 1"),
    ("timestamp", "2023-13-45T99:00:00Z", "at row 1"),
])
def test_bad_values_raise_input_error_naming_the_row(column, value, words):
    frame = good_frame().astype(object)
    frame.loc[1, column] = value
    with pytest.raises(InputError) as info:
        EventTable.from_frame(frame)
    assert words in str(info.value)


def test_a_review_without_its_rating_names_the_row():
    frame = good_frame().astype(object)
    review = int(np.flatnonzero(frame["type"].to_numpy() == "review")[0])
    frame.loc[review, "value"] = None
    with pytest.raises(InputError, match=f"review at row {review} has no rating"):
        EventTable.from_frame(frame)


@pytest.mark.parametrize("stars", [5.5, -1, 100])
def test_review_value_out_of_range(stars):
    frame = good_frame()
    frame.loc[2, "value"] = stars
    with pytest.raises(InputError, match="review value at row 2 must be a rating from 0 to 5"):
        EventTable.from_frame(frame)


def test_review_value_at_the_limits_is_accepted():
    frame = good_frame()
    frame["type"] = "review"
    frame["value"] = [0.0, 2.5, 5.0]
    assert EventTable.from_frame(frame).values.tolist() == [0.0, 2.5, 5.0]


def test_missing_timestamp_value_without_default():
    frame = good_frame()
    frame.loc[0, "timestamp"] = np.nan
    with pytest.raises(InputError, match="timestamp.*row 0"):
        EventTable.from_frame(frame)


@pytest.mark.parametrize("column", ["user_id", "item_id", "type", "timestamp"])
def test_missing_column(column):
    with pytest.raises(InputError, match=f"missing column.*{column}"):
        EventTable.from_frame(good_frame().drop(columns=[column]))


def test_input_error_is_a_value_error():
    assert issubclass(InputError, ValueError)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_events(tmp_path / "nope.csv")


def test_bad_rows_in_csv_file(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("user_id,item_id,type,timestamp\nu1,a,view,1700000000\nu2,b,wishlist,1700000000\n")
    with pytest.raises(InputError, match="unknown event type 'wishlist' at row 1"):
        read_events(path)


def test_csv_missing_column(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("user,item_id,type,timestamp\nu1,a,view,1700000000\n")
    with pytest.raises(InputError, match="missing column.*user_id"):
        read_events(path)


def test_unparsable_json_lines(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text('{"user_id": "u1", "item_id": \n')
    with pytest.raises(InputError, match="cannot parse"):
        read_events(path)


def test_active_users_are_those_with_an_event_in_the_window_before_the_newest():
    table = events(("old", "i1", "view", NOW - 10 * DAY), ("new", "i1", "view", NOW - DAY),
                   ("both", "i1", "view", NOW - 20 * DAY), ("both", "i2", "purchase", NOW))
    assert sorted(active_users(table, days=5)) == ["both", "new"]
    assert sorted(active_users(table, days=15)) == ["both", "new", "old"]
    assert list(active_users(table, days=5, now=NOW - 9 * DAY)) == ["old"]
    assert len(active_users(EventTable.empty(), days=5)) == 0
