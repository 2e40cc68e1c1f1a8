"""What happened when: events per time bucket and type (a store's, or one item's), and one item's totals.

Read from the per-user event index (`History`, every event accepted so far), so the counts are by
event time (when the customer did it), not by when the event reached the service. One pass of
numpy over the index's arrays: O(events), no Python loop per event.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recommender.events import EVENT_TYPES
from recommender.retention.history import History, activity_codes


@dataclass(frozen=True)
class ItemActivity:
    """One item's events in the index."""

    counts: np.ndarray  # int64, len(EVENT_TYPES): events of each type
    customers: int  # distinct customers with an activity event (no impressions) on the item
    first: float | None  # epoch seconds of its oldest and newest event; None without events
    last: float | None


def event_counts(history: History, start: float, bucket_seconds: float, n_buckets: int,
                 item_code: int | None = None) -> np.ndarray:
    """Events per type and time bucket.

    Parameters
    ----------
    history : History
        The event index.
    start : float
        Epoch seconds where bucket 0 begins.
    bucket_seconds : float
        Width of a bucket in seconds (3600 for hours, 86400 for days); must be positive.
    n_buckets : int
        How many buckets; events at or after `start + n_buckets * bucket_seconds` are not counted.
    item_code : int, optional
        Count only this item's events (a code into `history.items`).

    Returns
    -------
    np.ndarray
        int64, shape (len(EVENT_TYPES), n_buckets): row t counts type EVENT_TYPES[t], column k the
        events with `start + k * bucket_seconds <= timestamp < start + (k + 1) * bucket_seconds`.

    Raises
    ------
    ValueError
        If `bucket_seconds` is not positive or `n_buckets` is negative.
    """
    if bucket_seconds <= 0 or n_buckets < 0:
        raise ValueError("bucket_seconds must be positive and n_buckets not negative")
    timestamps, types = history.timestamps, history.types
    if item_code is not None:
        keep = history.item_codes == item_code
        timestamps, types = timestamps[keep], types[keep]
    bucket = np.floor((timestamps - start) / bucket_seconds)
    inside = (bucket >= 0) & (bucket < n_buckets)
    flat = types[inside].astype(np.int64) * n_buckets + bucket[inside].astype(np.int64)
    counts = np.bincount(flat, minlength=len(EVENT_TYPES) * n_buckets)
    return counts.astype(np.int64).reshape(len(EVENT_TYPES), n_buckets)


def item_activity(history: History, item_code: int) -> ItemActivity:
    """Totals of one item (a code into `history.items`): events per type, customers, first and last event."""
    keep = history.item_codes == item_code
    types = history.types[keep]
    counts = np.bincount(types.astype(np.int64), minlength=len(EVENT_TYPES)).astype(np.int64)
    active = np.isin(types, activity_codes())
    customers = len(np.unique(history.user_codes[keep][active]))
    timestamps = history.timestamps[keep]
    if len(timestamps) == 0:
        return ItemActivity(counts, 0, None, None)
    return ItemActivity(counts, customers, float(timestamps.min()), float(timestamps.max()))
