"""`python -m recommender lifecycle`: parameters as JSON, one CSV row per customer, bad input exits 2."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.recommender.lifecycle.conftest import DAY, simulate
from tests.recommender.test_cli import assert_input_error, run

AS_OF = "2024-11-13"  # conftest.simulate observes 365 days from 2023-11-14: the last day


@pytest.fixture(scope="module")
def events_csv(tmp_path_factory) -> Path:
    """A simulated store's purchases as events with price (unit) and quantity, plus views and a late order."""
    data = simulate(n=600, seed=7)
    p = data.purchases
    quantity = np.where(np.arange(len(p)) % 3 == 0, 2, 1)
    frame = pd.DataFrame({"user_id": p.customer_ids, "item_id": "i1", "type": "purchase", "timestamp": p.timestamps,
                          "value": "", "price": (p.spend / quantity).round(4), "quantity": quantity})
    extra = pd.DataFrame({"user_id": ["viewer", "late"], "item_id": "i2", "type": ["view", "purchase"],
                          "timestamp": [p.timestamps[0], data.as_of + 2 * DAY], "value": "", "price": [None, 5.0],
                          "quantity": [None, 1]})
    path = tmp_path_factory.mktemp("lifecycle") / "events.csv"
    pd.concat([frame, extra]).to_csv(path, index=False)
    return path


def test_lifecycle_prints_parameters_and_writes_customers(events_csv, tmp_path, capsys):
    out = tmp_path / "customers.csv"
    code, stdout, stderr = run(capsys, "lifecycle", "--events", str(events_csv), "--as-of", AS_OF, "--out", str(out))
    assert code == 0, stderr
    result = json.loads(stdout)
    assert result["as_of"] == AS_OF and result["customers"] == 600 and 0 < result["repeat_buyers"] < 600
    assert set(result["bgnbd"]) >= {"r", "alpha_days", "a", "b", "log_likelihood"}
    assert result["bgnbd"]["alpha_days"] == pytest.approx(20.0, rel=0.4)  # simulate: alpha = 20 days
    assert set(result["gamma_gamma"]) >= {"p", "q", "gamma"} and result["spend_unavailable"] is None
    table = pd.read_csv(out, dtype={"customer_id": str})
    assert len(table) == 600 and not {"viewer", "late"} & set(table["customer_id"])
    assert table["value_365d"].notna().all() and table["revenue"].gt(0).all()
    assert "600 customers" in stderr


def test_lifecycle_without_prices_still_fits_bgnbd(events_csv, tmp_path, capsys):
    plain = tmp_path / "plain.csv"
    pd.read_csv(events_csv).drop(columns=["price", "quantity"]).to_csv(plain, index=False)
    out = tmp_path / "customers.csv"
    code, stdout, stderr = run(capsys, "lifecycle", "--events", str(plain), "--as-of", AS_OF, "--out", str(out))
    assert code == 0, stderr
    result = json.loads(stdout)
    assert result["gamma_gamma"] is None and "no prices" in result["spend_unavailable"]
    assert "spend figures unavailable" in stderr
    table = pd.read_csv(out)
    assert table["value_365d"].isna().all() and table["p_alive"].notna().all()


def test_the_as_of_day_counts_whole_and_later_purchases_do_not(events_csv, tmp_path, capsys):
    code, stdout, _ = run(capsys, "lifecycle", "--events", str(events_csv), "--as-of", "2024-11-15",
                          "--out", str(tmp_path / "c.csv"))
    assert code == 0 and json.loads(stdout)["customers"] == 601  # the late purchase is on 2024-11-15


@pytest.mark.parametrize(("argv", "words"), [
    (["--as-of", "13/11/2024"], ("--as-of", "YYYY-MM-DD")),
    (["--as-of", "2023-01-01"], ("no customers",)),
])
def test_bad_dates_and_empty_calibration_exit_2(events_csv, tmp_path, capsys, argv, words):
    code, _, err = run(capsys, "lifecycle", "--events", str(events_csv), "--out", str(tmp_path / "c.csv"), *argv)
    assert_input_error(code, err, *words)


def test_a_store_where_nobody_bought_twice_exits_2(tmp_path, capsys):
    path = tmp_path / "events.csv"
    path.write_text("user_id,item_id,type,timestamp,price\n" + "".join(
        f"u{i},i1,purchase,{1_700_000_000 + i * 86_400},9.5\n" for i in range(30)))
    code, _, err = run(capsys, "lifecycle", "--events", str(path), "--as-of", "2024-01-01",
                       "--out", str(tmp_path / "c.csv"))
    assert_input_error(code, err, "two different days")


def test_bad_rows_and_missing_files_exit_2(tmp_path, capsys):
    path = tmp_path / "events.csv"
    path.write_text("user_id,item_id,type,timestamp,price\nu1,i1,purchase,1700000000,cheap\n")
    code, _, err = run(capsys, "lifecycle", "--events", str(path), "--as-of", "2024-01-01",
                       "--out", str(tmp_path / "c.csv"))
    assert_input_error(code, err, "price", "row 0")
    code, _, err = run(capsys, "lifecycle", "--events", str(tmp_path / "none.csv"), "--as-of", "2024-01-01")
    assert_input_error(code, err, "not found")


def test_an_unwritable_output_exits_2(events_csv, tmp_path, capsys):
    code, _, err = run(capsys, "lifecycle", "--events", str(events_csv), "--as-of", AS_OF,
                       "--out", str(tmp_path / "no-such-dir" / "c.csv"))
    assert_input_error(code, err, "cannot write")
