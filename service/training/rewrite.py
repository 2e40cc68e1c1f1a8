"""Erasures and merges applied to folded events: the rewrite training makes of the snapshot and of the stream
entries it folds (service.training.job.fold_stream), in the order they were requested.

An erasure drops the user's events up to its position; a merge gives the visitor's events up to its position to
the customer. "Up to its position" is by stream entry id for entries read from the stream; events already in the
snapshot came before every pending request's position (a request stays pending until a fold reached it), so all
of the user's snapshot events are affected.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from recommender.events import EventTable
from service.store.erasures import IdentityChange, parse_position


def apply_changes(events: EventTable, entry_ids: Sequence[str] | None, changes: Sequence[IdentityChange]
                  ) -> tuple[EventTable, int]:
    """`events` with `changes` applied in their order.

    Parameters
    ----------
    events : EventTable
        n events.
    entry_ids : sequence of str, length n, or None
        Each event's stream entry id ("ms-seq"); None: events of the snapshot, before every position.
    changes : sequence of IdentityChange
        Sorted by `seq`. An erasure has `to` None.

    Returns
    -------
    events : EventTable
        The events kept, user ids rewritten by merges.
    changed : int
        How many events were dropped or given to another user.
    """
    if not changes or not len(events):
        return events, 0
    users = events.user_ids
    keep = np.ones(len(events), dtype=bool)
    copied = False
    changed = 0
    for change in changes:
        rows = np.flatnonzero((users == change.user) & keep)
        if entry_ids is not None and len(rows):
            bound = parse_position(change.position)
            rows = rows[[parse_position(entry_ids[r]) <= bound for r in rows]]
        if not len(rows):
            continue
        changed += len(rows)
        if change.to is None:
            keep[rows] = False
        else:
            if not copied:
                users, copied = users.copy(), True
            users[rows] = change.to
    if not changed:
        return events, 0
    out = dataclasses.replace(events, user_ids=users) if copied else events
    return (out if keep.all() else out.take(np.flatnonzero(keep))), changed
