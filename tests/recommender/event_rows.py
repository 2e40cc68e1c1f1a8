"""Small hand-made event tables for the event and matrix tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recommender.events import EventTable
from tests.recommender.conftest import NOW

ISO_NOW = "2023-11-14T22:13:20Z"  # == NOW (1_700_000_000) in epoch seconds


def events(*rows, **columns) -> EventTable:
    """Rows of (user, item, type[, timestamp[, value]]) as an EventTable."""
    frame = pd.DataFrame([
        {"user_id": r[0], "item_id": r[1], "type": r[2],
         "timestamp": r[3] if len(r) > 3 else NOW, "value": r[4] if len(r) > 4 else np.nan}
        for r in rows
    ])
    return EventTable.from_frame(frame)


def cell(matrix, user: str, item: str) -> float:
    return float(matrix.matrix[matrix.users.get(user), matrix.items.get(item)])
