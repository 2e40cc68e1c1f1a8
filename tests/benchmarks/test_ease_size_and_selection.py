"""The EASE size benchmark and the model-choice cost benchmark, end to end on tiny stores."""

from __future__ import annotations

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


def test_selection_cost_report():
    run, report = selection.measure(30_000)
    assert set(run["steps"]) == {"training", "model choice"}
    text = selection.markdown(run, report, INFO)
    assert "| model choice |" in text and f"Chosen: **{report.chosen}**" in text
    assert all(f"| {r.name} |" in text for r in report.results)
