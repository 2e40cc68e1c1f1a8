"""Order data on events: price, quantity and order_id columns, in tables and in event files."""

import json

import numpy as np
import pandas as pd
import pytest

from recommender.errors import InputError
from recommender.events import MAX_QUANTITY, Event, EventTable, read_events, write_events

HEADER = "user_id,item_id,type,timestamp,value,price,quantity,order_id\n"
T0 = 1_700_000_000.0  # 2023-11-14: a plausible time (recommender.times)


def frame(**columns) -> pd.DataFrame:
    base = {"user_id": ["u1", "u1", "u2"], "item_id": ["a", "b", "c"], "type": ["view", "purchase", "add_to_cart"],
            "timestamp": [1.0, 2.0, 3.0]}
    return pd.DataFrame({**base, **columns})


def test_a_table_without_order_data_holds_no_order_columns():
    table = EventTable.from_frame(frame())
    assert table.prices is None and table.quantities is None and table.order_ids is None
    np.testing.assert_array_equal(table.order_column("quantities"), [1, 1, 1])
    assert np.isnan(table.spend()).all()


def test_prices_quantities_and_order_ids_are_read_with_their_defaults():
    table = EventTable.from_frame(frame(price=[None, "2.5", 9], quantity=[None, 4, None], order_id=[None, "o1", ""]))
    np.testing.assert_array_equal(table.prices, [np.nan, 2.5, 9.0])
    assert table.prices.dtype == np.float64 and table.quantities.dtype == np.int32
    np.testing.assert_array_equal(table.quantities, [1, 4, 1])
    assert table.order_ids.tolist() == [None, "o1", None]
    np.testing.assert_array_equal(table.spend(), [np.nan, 10.0, 9.0])


@pytest.mark.parametrize(("columns", "row", "field", "words"), [
    ({"price": [None, "cheap", None]}, 1, "price", "not a number"),
    ({"price": [None, -0.01, None]}, 1, "price", "at least 0"),
    ({"price": [None, 1e13, None]}, 1, "price", "at most"),
    ({"quantity": [None, 0, None]}, 1, "quantity", "positive integer"),
    ({"quantity": [None, 1.5, None]}, 1, "quantity", "positive integer"),
    ({"quantity": [None, None, MAX_QUANTITY + 1]}, 2, "quantity", "positive integer"),
    ({"order_id": [None, "o\n1", None]}, 1, "order_id", "control characters"),
    ({"order_id": [None, None, "x" * 300]}, 2, "order_id", "longer than"),
    ({"price": [5, None, None]}, 0, "price", "only for add_to_cart and purchase"),
    ({"order_id": ["o1", None, None]}, 0, "order_id", "only for add_to_cart and purchase"),
])
def test_bad_order_data_names_its_row_and_field(columns, row, field, words):
    with pytest.raises(InputError, match=words) as caught:
        EventTable.from_frame(frame(**columns))
    assert (caught.value.row, caught.value.field) == (row, field)


def test_take_and_concat_keep_order_columns_and_fill_tables_without_them():
    priced = EventTable.from_frame(frame(price=[None, 3.0, None], order_id=[None, "o1", None]))
    plain = EventTable.from_frame(frame())
    both = EventTable.concat([plain, priced])
    np.testing.assert_array_equal(both.prices, [np.nan] * 4 + [3.0, np.nan])
    assert both.quantities is None
    assert both.order_ids.tolist() == [None] * 4 + ["o1", None]
    assert both.take(np.array([4])).order_ids.tolist() == ["o1"]
    assert EventTable.concat([plain, plain]).prices is None


def test_csv_and_json_lines_files_round_trip_order_data(tmp_path):
    table = EventTable.from_events([Event("u1", "a", "view", T0), Event("u1", "b", "purchase", T0 + 1, price=4.25,
                                                                         quantity=2, order_id="o-7"),
                                    Event("u2", "c", "add_to_cart", T0 + 2, price=0.0)])
    path = tmp_path / "events.csv"
    write_events(table, path)
    assert path.read_text().splitlines()[1].endswith(",,,")  # a view carries no order data
    again = read_events(path)
    np.testing.assert_array_equal(again.prices, table.prices)
    np.testing.assert_array_equal(again.quantities, [1, 2, 1])
    assert again.order_ids.tolist() == [None, "o-7", None]
    lines = tmp_path / "events.jsonl"
    lines.write_text(json.dumps({"user_id": "u", "item_id": "i", "type": "purchase", "timestamp": T0,
                                 "price": 1.5, "quantity": 3, "order_id": "o"}) + "\n")
    from_lines = read_events(lines)
    assert (from_lines.spend()[0], from_lines.order_ids[0]) == (4.5, "o")


def test_a_bad_price_in_a_file_names_the_data_row(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text(HEADER + "u,i,view,1,,,,\nu,i,purchase,2,,-1,,\n")
    with pytest.raises(InputError, match="at least 0") as caught:
        read_events(path)
    assert (caught.value.row, caught.value.field) == (1, "price")
