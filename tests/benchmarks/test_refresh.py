"""The refresh benchmark with model choice, end to end on a tiny store against a real redis-server."""

from __future__ import annotations

import argparse

from benchmarks import refresh


def test_refresh_with_model_choice_measures_every_step_and_reports_both_cases(redis_server):
    results = []
    for case in ("chosen", "repeat"):
        args = argparse.Namespace(events=30_000, case=case, seed=0, redis_port=redis_server.port)
        results.append(refresh.run_worker(args))
    chosen, forced = results
    assert forced["served"] == "repeat"
    assert chosen["served"] == (chosen["report"]["chosen"] if chosen["report"]["chosen_candidate"] else "personal")
    for result in results:
        assert set(refresh.REFRESH_STEPS) <= set(result["steps"])
        assert result["steps"]["precompute"]["users"] > 0 and result["steps"]["redis write"]["keys"] > 0
        assert result["refresh_seconds"] > 0 and result["refresh_peak_rss"] > 0
        names = {entry["name"] for entry in result["report"]["results"]}
        assert {"repeat", "personal", "als"} <= names
    sample = refresh.sample_check(argparse.Namespace(events=30_000, seed=0))
    assert sample["sampled"]["users_scored"] == sample["all events"]["users_scored"] > 0
    run = {"command": "test", "finished": "now", "cpus": 2, "seed": 0, "seconds": 1.0, "results": [*results, sample]}
    text = refresh.report_text(run)
    assert "| **refresh** s (CPU s) |" in text and "serves repeat (forced)" in text
    assert f"**{chosen['report']['chosen']}**" in text and "| als | " in text
