import json

import numpy as np
import pandas as pd
import pytest

from recommender.errors import InputError
from recommender.lifecycle import Purchases, read_purchases

HEADER = "user_id,item_id,type,timestamp,value,price,quantity\n"


def write(tmp_path, text: str, name: str = "events.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_purchases_validate_lengths_timestamps_and_spend():
    with pytest.raises(InputError, match="one length"):
        Purchases(np.array(["a", "b"], dtype=object), np.array([1.0]), np.array([1.0, 2.0]))
    with pytest.raises(InputError, match="timestamp") as caught:
        Purchases(np.array(["a", "b"], dtype=object), np.array([1.0, np.inf]), np.array([1.0, 2.0]))
    assert (caught.value.row, caught.value.field) == (1, "timestamp")
    with pytest.raises(InputError, match="spend") as caught:
        Purchases(np.array(["a", "b"], dtype=object), np.array([1.0, 2.0]), np.array([-1.0, 2.0]))
    assert (caught.value.row, caught.value.field) == (0, "spend")
    unknown = Purchases(np.array(["a"], dtype=object), np.array([1.0]), np.array([np.nan]))
    assert len(unknown) == 1 and not unknown.has_spend


def test_from_frame_without_spend_leaves_it_unknown():
    purchases = Purchases.from_frame(pd.DataFrame({"customer_id": [1, 2], "timestamp": [10.0, 20.0]}))
    assert list(purchases.customer_ids) == ["1", "2"]
    assert np.isnan(purchases.spend).all() and not purchases.has_spend
    with pytest.raises(InputError, match="timestamp"):
        Purchases.from_frame(pd.DataFrame({"customer_id": [1]}))


def test_reads_purchase_rows_with_price_times_quantity(tmp_path):
    path = write(tmp_path, HEADER + "u1,i1,view,1700000100,,,\n"
                 "u1,i1,purchase,1700000200,,2.50,4\n"
                 "u2,i2,purchase,2023-11-14T22:18:20Z,,10,\n"
                 "u2,i3,purchase,1700000400,,,3\n"
                 "u3,i1,add_to_cart,1700000500,,9,1\n")
    purchases = read_purchases(path)
    assert list(purchases.customer_ids) == ["u1", "u2", "u2"]
    np.testing.assert_array_equal(purchases.timestamps, [1700000200, 1700000300, 1700000400])
    np.testing.assert_array_equal(purchases.spend, [10.0, 10.0, np.nan])  # no price: unknown, quantity or not


def test_reads_json_lines_and_files_without_prices(tmp_path):
    rows = [{"user_id": "u1", "item_id": "i1", "type": "purchase", "timestamp": 1700000100, "price": 3.5, "quantity": 2},
            {"user_id": "u1", "item_id": "i2", "type": "purchase", "timestamp": 1700000200, "price": None}]
    purchases = read_purchases(write(tmp_path, "\n".join(json.dumps(r) for r in rows), "events.jsonl"))
    np.testing.assert_array_equal(purchases.spend, [7.0, np.nan])
    plain = read_purchases(write(tmp_path, "user_id,item_id,type,timestamp\nu1,i1,purchase,1700000005\n"))
    assert len(plain) == 1 and not plain.has_spend


@pytest.mark.parametrize(("line", "field", "words"), [
    ("u1,i1,purchase,1700000100,,abc,1\n", "price", "not a number"),
    ("u1,i1,purchase,1700000100,,-2,1\n", "price", "at least 0"),
    ("u1,i1,purchase,1700000100,,2,0\n", "quantity", "positive"),
    ("u1,i1,purchase,1700000100,,2,lots\n", "quantity", "not a number"),
])
def test_bad_prices_and_quantities_name_their_row(tmp_path, line, field, words):
    with pytest.raises(InputError, match=words) as caught:
        read_purchases(write(tmp_path, HEADER + "u0,i0,view,1700000050,,,\n" + line))
    assert (caught.value.row, caught.value.field) == (1, field)


def test_bad_events_and_missing_files_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="unknown event type"):
        read_purchases(write(tmp_path, HEADER + "u1,i1,bought,1700000100,,2,1\n"))
    with pytest.raises(InputError, match="not found"):
        read_purchases(tmp_path / "missing.csv")


def test_timestamps_outside_the_plausible_range_name_their_row(tmp_path):
    for stamp in ("1700000100000", "9999-12-31T00:00:00Z", "100"):
        with pytest.raises(InputError, match="timestamp") as caught:
            read_purchases(write(tmp_path, HEADER + "u0,i0,purchase,1700000050,,,\n" + f"u1,i1,purchase,{stamp},,,\n"))
        assert (caught.value.row, caught.value.field) == (1, "timestamp")
