"""A warning that repeats while Redis is away is logged once per interval, saying how many were left out."""

from __future__ import annotations

import logging

from service.outage_log import OutageLog


def test_a_repeating_warning_is_logged_once_per_interval_with_the_count_left_out(caplog, monkeypatch):
    clock = [100.0]
    monkeypatch.setattr("service.outage_log.time.monotonic", lambda: clock[0])
    log = OutageLog(logging.getLogger("outage-test"), every=10.0)
    with caplog.at_level(logging.WARNING, logger="outage-test"):
        for k in range(5):
            log.warning("redis unavailable on %s: %s", "POST /v1/events", f"error {k}")
        log.warning("rate limiter unavailable: %s", "TimeoutError")  # another message has its own interval
        clock[0] += 10.0
        log.warning("redis unavailable on %s: %s", "POST /v1/events", "error 5")
        log.warning("redis unavailable on %s: %s", "POST /v1/events", "error 6")
    assert [r.getMessage() for r in caplog.records] == [
        "redis unavailable on POST /v1/events: error 0",
        "rate limiter unavailable: TimeoutError",
        "redis unavailable on POST /v1/events: error 5 (4 more like it in the last 10 s not logged)"]
    assert all(r.levelno == logging.WARNING and r.name == "outage-test" for r in caplog.records)
