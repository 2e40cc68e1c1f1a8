"""Markdown tables, run records and the results directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.harness.report import GIB, RESULTS, gib, load_run, md_table, results_dir, run_record, save_run


def test_md_table_aligns_columns() -> None:
    text = md_table(("route", "req/s", "note"), "lrl", [("hello", "1,234", ""), ("get", 17, "x")])
    assert text.splitlines() == [
        "| route | req/s | note |",
        "|---|---:|---|",
        "| hello | 1,234 |  |",
        "| get | 17 | x |",
    ]


def test_md_table_without_rows_is_the_header() -> None:
    assert md_table(("a",), "r", []) == "| a |\n|---:|"


def test_md_table_refuses_ragged_rows_and_bad_alignment() -> None:
    with pytest.raises(ValueError, match="2 cells for 3 columns"):
        md_table(("a", "b", "c"), "lll", [("1", "2")])
    with pytest.raises(ValueError, match="one l or r per column"):
        md_table(("a", "b"), "l", [])
    with pytest.raises(ValueError, match="one l or r per column"):
        md_table(("a", "b"), "lc", [])


def test_gib() -> None:
    assert gib(1.56 * GIB) == "1.56"
    assert gib(0) == "0.00"


def test_run_record_round_trips(tmp_path: Path) -> None:
    run = run_record("python -m benchmarks.scale --sizes 100k", 12.5, [{"interactions": 100_000}], seed=3)
    assert run["seed"] == 3 and run["seconds"] == 12.5 and run["cpus"] >= 1 and run["finished"]
    out = tmp_path / "a" / "b"
    path = save_run(out, "scale", run)
    assert path == out / "scale.json"
    assert load_run(out, "scale") == run


def test_results_dir_is_created_and_the_default_is_the_committed_one(tmp_path: Path) -> None:
    assert results_dir(tmp_path / "x" / "y").is_dir()
    assert RESULTS == Path(__file__).resolve().parents[3] / "benchmarks" / "results"
    assert (RESULTS / "serve.md").exists()
