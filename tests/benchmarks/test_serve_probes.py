"""Reading the service's Prometheus counters."""

from __future__ import annotations

from benchmarks.serve_probes import metric_value

METRICS = """\
# HELP encore_cache_hits_total Lists read from a cache
# TYPE encore_cache_hits_total counter
encore_cache_hits_total{kind="user"} 1234.0
encore_cache_hits_total{kind="similar"} 5.0
encore_hot_cache_hits_total{kind="user"} 1e+03
encore_uptime_seconds 12.5
"""


def test_metric_value_by_name_and_labels() -> None:
    assert metric_value(METRICS, "encore_cache_hits_total", 'kind="user"') == 1234.0
    assert metric_value(METRICS, "encore_cache_hits_total", 'kind="similar"') == 5.0
    assert metric_value(METRICS, "encore_hot_cache_hits_total", 'kind="user"') == 1000.0
    assert metric_value(METRICS, "encore_uptime_seconds") == 12.5


def test_an_absent_metric_counts_zero() -> None:
    assert metric_value(METRICS, "encore_cache_misses_total", 'kind="user"') == 0.0


def test_a_read_routes_note_says_how_many_answers_were_rendered_at_training() -> None:
    from benchmarks.serve import cache_note

    before = {"user_hits": 0, "user_misses": 0, "user_hot": 0, "user_rendered": 0}
    after = {"user_hits": 100, "user_misses": 0, "user_hot": 0, "user_rendered": 80}
    assert cache_note("first_read", 1, 5, before, after) == (
        "Round 1: 5 s, 0% of lists from the in-process cache, 100% from Redis (80% answered as rendered at "
        "training), 0% computed.")
    assert "rendered" not in cache_note("first_read", 1, 5, before, {**after, "user_rendered": 0})
