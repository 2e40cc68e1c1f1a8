"""The service's active-user rule as the benchmarks follow it."""

from __future__ import annotations

import numpy as np

from benchmarks.harness.service_child import active_mask, active_users
from recommender.events import EventTable

DAY = 86_400.0


def events(rows: list[tuple[str, float]]) -> EventTable:
    users = np.array([u for u, _ in rows], dtype=object)
    return EventTable(users, np.array(["i1"] * len(rows), dtype=object), np.zeros(len(rows), dtype=np.int8),
                      np.array([t for _, t in rows], dtype=np.float64), np.ones(len(rows), dtype=np.float32))


def test_active_users_are_those_with_an_event_in_the_window_before_the_newest() -> None:
    newest = 1_700_000_000.0
    table = events([("old", newest - 91 * DAY), ("edge", newest - 90 * DAY), ("b", newest - DAY), ("a", newest),
                    ("b", newest - 200 * DAY), ("old", newest - 300 * DAY)])
    assert active_mask(table, 90).tolist() == [False, True, True, True, False, False]
    assert active_users(table, 90).tolist() == ["a", "b", "edge"]  # sorted, each once, the edge included
    assert active_users(table, 0.5).tolist() == ["a"]
