"""The EASE size benchmark and the model-choice cost benchmark, end to end on tiny stores."""

from __future__ import annotations

import argparse

from benchmarks import ease_size, selection
from benchmarks.scale import Steps

INFO = {"cpu": "test", "cores": "2", "python": "3", "implicit": "0.7", "numpy": "2", "openblas_threads": "1"}


def test_ease_size_measures_fit_and_precompute(tmp_path):
    rows = [ease_size.measure(items, 20_000, Steps()) for items in (100, 300)]
    for row, items in zip(rows, (100, 300)):
        assert 0 < row["items_seen"] <= items and row["matrix_bytes"] == 4 * row["items_seen"] ** 2
        assert row["fit_seconds"] > 0 and row["precompute_users_per_second"] > 0
    report = ease_size.report(rows, INFO, 1.0)
    assert report.count("\n| ") == 3  # header and two sizes
    ease_size.plot(rows, tmp_path / "ease.png")
    assert (tmp_path / "ease.png").stat().st_size > 0


def test_refresh_with_model_choice_measures_every_step_and_reports_both_cases(redis_server):
    results = []
    for case in selection.CASES:
        args = argparse.Namespace(events=30_000, case=case, seed=0, redis_port=redis_server.port)
        results.append(selection.run_worker(args))
    chosen, forced = results
    assert forced["served"] == "repeat"
    assert chosen["served"] == (chosen["report"]["chosen"] if chosen["report"]["chosen_candidate"] else "personal")
    for result in results:
        assert set(selection.REFRESH_STEPS) <= set(result["steps"])
        assert result["steps"]["precompute"]["users"] > 0 and result["steps"]["redis write"]["keys"] > 0
        assert result["refresh_seconds"] > 0 and result["refresh_peak_rss"] > 0
        names = {entry["name"] for entry in result["report"]["results"]}
        assert {"repeat", "personal", "als"} <= names
    run = {"command": "test", "finished": "now", "cpus": 2, "seed": 0, "seconds": 1.0, "results": results}
    text = selection.report_text(run)
    assert "| **refresh** s (CPU s) |" in text and "serves repeat (forced)" in text
    assert f"**{chosen['report']['chosen']}**" in text
