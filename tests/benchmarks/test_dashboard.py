"""benchmarks.dashboard without a browser: the synthetic store's catalog and the report's verdicts."""

from __future__ import annotations

import numpy as np

from benchmarks.dashboard import markdown, synthetic_catalog
from benchmarks.harness.browser import PAGES, page_name
from benchmarks.synthetic import NOW, generate_events


def test_the_synthetic_catalog_covers_every_item_with_a_kind_category_and_creation_before_now():
    events = generate_events(5_000, seed=1)
    catalog = synthetic_catalog(events, NOW)
    items = np.unique(events.item_ids)
    assert len(catalog) == len(items) and all(i in catalog for i in items[:50])
    frame = catalog.frame
    assert set(frame["kind"]) == {"product"} and frame["category"].nunique() > 10
    assert (frame["created_at"] <= NOW).all() and (frame["created_at"] > NOW - 366 * 86_400).all()
    assert 0.8 < frame["in_stock"].mean() < 0.97


def test_the_report_says_met_only_when_every_first_render_is_under_the_target():
    def store(name, ms):
        pages = [{"page": p, "route": p, "first_ms": ms, "first_load_ms": ms, "first_complete_ms": 5 * ms,
                  "warm_ms": ms, "warm_load_ms": ms, "warm_complete_ms": 5 * ms} for p in PAGES]
        return {"store": name, "events": 10, "users": 2, "items": 3, "ready_seconds": 1.0,
                "sign_in_overview_ms": ms, "pages": pages}

    run = {"command": "python -m benchmarks.dashboard", "finished": "2026-12-01 00:00",
           "machine": {"cores": "2", "cpu": "x", "load": "0.1"}, "chromium": "1",
           "results": [store("demo", 900), store("synthetic 1M", 3100)]}
    text = markdown(run)
    assert "target 1000 ms: **met**" in text and "target 3000 ms: **not met**" in text
    assert "Slowest complete page: 15500 ms" in text


def test_a_route_names_its_page():
    assert page_name("customer/u1?now=5") == "customer" and page_name("campaigns?now=1") == "campaigns"
