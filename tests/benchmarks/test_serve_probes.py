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
