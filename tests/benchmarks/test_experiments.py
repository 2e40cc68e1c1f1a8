"""The experiments benchmark: its customer model (each customer's two most frequent categories) and how the hot
path's windows are ordered and compared."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from benchmarks.experiments import (DEFINE_AHEAD, OPEN_CONNECTIONS, RATE, REFRESH_INTERVAL, TRAINED, Load, favourites,
                                    _placement_text, main, paired_change, require_trained,
                                    target_met)
from benchmarks.harness.processes import BenchError
from service.training.job import VARIANT_HORIZON_TRAININGS


def test_favourites_are_each_customers_two_most_frequent_categories():
    catalog = pd.DataFrame({"item_id": ["a", "b", "c", "d"], "category": ["x", "y", "z", "x"]})
    events = pd.DataFrame({"user_id": ["u", "u", "u", "u", "u", "v"], "item_id": ["a", "d", "b", "b", "c", "c"]})
    assert favourites(events, catalog) == {"u": {"x", "y"}, "v": {"z"}}


def test_the_paired_change_averages_each_window_pair_so_a_difference_between_the_services_cancels():
    """Window k runs the experiment on service k % 2; service b costs 10% more than a whatever it runs. The
    pairs' log ratios are then log(1.10 * r / 1.0) and log(1.0 * r' / 1.10) averaged: the 10% cancels."""
    overhead = [1.02, 1.05, 1.00, 1.03, 1.04, 1.01]  # the experiment's true cost in each window
    windows = []
    for k, cost in enumerate(overhead):
        a, b = 100.0, 110.0  # service b is 10% dearer
        with_, without = (a * cost, b) if k % 2 == 0 else (b * cost, a)
        windows.append({"with": {"cpu": with_}, "without": {"cpu": without}})
    pairs = np.log(overhead).reshape(-1, 2).mean(axis=1)
    half = stats.t.ppf(0.975, len(pairs) - 1) * pairs.std(ddof=1) / np.sqrt(len(pairs))
    estimate, low, high = paired_change({"windows": windows}, "cpu")
    assert estimate == pytest.approx(np.expm1(pairs.mean()))
    assert (low, high) == pytest.approx((np.expm1(pairs.mean() - half), np.expm1(pairs.mean() + half)))
    assert 0 < low < estimate < high < 0.06  # without the pairing, b's 10% would swamp a 2-3% cost
    one = {"windows": windows[:2]}
    assert paired_change(one, "cpu")[0] == pytest.approx(np.expm1(pairs[0])) and np.isnan(paired_change(one, "cpu")[1])


@pytest.mark.parametrize(("argv", "message"), [(["--connections", "0"], "--connections must be at least 1"),
                                               (["--rate", "-1"], "--rate must be at least 0")])
def test_the_hot_path_needs_a_connection_and_a_rate_of_at_least_0(capsys, argv, message):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_a_rate_is_spread_over_the_connections_as_think_time_and_0_is_a_closed_loop():
    assert Load().think_ms == pytest.approx(1000 * OPEN_CONNECTIONS / RATE)
    assert Load(connections=10, rate=500).think_ms == pytest.approx(20.0)  # 10 connections x 50 requests/s each
    assert "500 requests/s offered" in Load(connections=10, rate=500).describe()
    closed = Load(connections=1, rate=0)
    assert closed.think_ms == 0 and closed.describe().startswith("closed loop: 1 connection each")


def _windows(ratios: list[tuple[float, float]]) -> dict:
    """A/B windows whose with/without ratios of CPU per request and requests/s are `ratios`."""
    return {"windows": [{"with": {"cpu_us": 100 * cpu, "rps": 1000 * rps}, "without": {"cpu_us": 100, "rps": 1000}}
                        for cpu, rps in ratios]}


def test_the_target_is_met_only_when_both_intervals_stay_inside_5_percent():
    assert target_met(_windows([(1.01, 0.99), (1.02, 0.98), (1.00, 1.00), (1.01, 0.99)] * 2))
    assert not target_met(_windows([(1.06, 0.99), (1.07, 0.98), (1.05, 1.00), (1.06, 0.99)]))  # CPU past +5%
    assert not target_met(_windows([(1.00, 0.93), (1.01, 0.94), (1.00, 0.95), (1.00, 0.94)]))  # requests/s lost
    assert not target_met(_windows([(1.0, 1.0), (1.0, 1.0)]))  # one pair: no interval, so not shown


def test_the_hot_path_refuses_a_model_without_every_windows_trained_variant():
    model = {"version": "v2", "variants": {"versions": {"bench-0-0/als_16": "v3", "bench-0-2/als_16": "v4"}}}
    require_trained(model, ["bench-0-0", "bench-0-2"])
    with pytest.raises(BenchError, match="no trained variant bench-0-4/als_16 \\(2 trained\\)"):
        require_trained(model, ["bench-0-0", "bench-0-4"])
    with pytest.raises(BenchError, match="bench-0-0/als_16 \\(0 trained\\)"):
        require_trained({"version": "v1", "variants": None}, ["bench-0-0"])


def test_the_hot_path_windows_are_defined_within_the_horizon_their_variants_are_trained_for():
    assert TRAINED == ("als_16",)
    assert 0 < DEFINE_AHEAD < VARIANT_HORIZON_TRAININGS * REFRESH_INTERVAL


def test_only_a_closed_loop_runs_the_services_apart_and_its_results_say_where():
    assert Load(8, 0.0).apart and not Load(OPEN_CONNECTIONS, RATE).apart
    assert _placement_text({"servers": [1], "clients": [0]}) == (
        "The services ran on CPU 1, wrk, the redis-servers and this script on CPU 0. ")
    assert _placement_text({"servers": [2, 3], "clients": [0, 1]}).startswith("The services ran on CPUs 2, 3,")
    assert _placement_text(None) == ""
