"""The serving process's heap policy (service.serving.model_state): the collector's thresholds."""

from __future__ import annotations

import gc

from aiohttp import web

import service.__main__ as entry
from service.serving.model_state import SERVING_GC_THRESHOLDS


def test_the_service_runs_with_the_serving_collector_thresholds(monkeypatch):
    seen = []
    monkeypatch.setattr(entry.web, "run_app", lambda *args, **kwargs: seen.append(gc.get_threshold()))
    before = gc.get_threshold()
    assert before != SERVING_GC_THRESHOLDS
    try:
        assert entry.serve(web.Application(), "127.0.0.1", 0) == 0
    finally:
        gc.set_threshold(*before)
    assert seen == [SERVING_GC_THRESHOLDS]
