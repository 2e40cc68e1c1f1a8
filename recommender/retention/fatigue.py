"""Do not repeat yourself: items a customer was recently shown go to the back of their list.

Demoted, not removed: shown items keep their order (and scores) behind every unshown item, so a
customer whose allowed items are nearly all shown still gets a full list, and consecutive
emails lead with different items whenever there are unshown ones to lead with.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from recommender.units import SECONDS_PER_DAY


def recently_shown(shown: Mapping[str, float], now: float, days: float) -> frozenset[str]:
    """Item ids whose last impression is within `days` of `now`.

    Parameters
    ----------
    shown : mapping of str to float
        Item id -> epoch seconds it was last shown to the customer.
    now : float
        Epoch seconds.
    days : float
        The fatigue window in days; 0 or less turns fatigue off (nothing is recent).

    Returns
    -------
    frozenset of str
        Items shown at or after ``now - days * SECONDS_PER_DAY`` (later times included).
    """
    if not shown or days <= 0:
        return frozenset()
    horizon = now - days * SECONDS_PER_DAY
    return frozenset(item for item, at in shown.items() if at >= horizon)


def demote(ids: np.ndarray, scores: np.ndarray, shown_codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A ranked candidate list with the shown items moved behind the others, both in their order.

    Parameters
    ----------
    ids : numpy.ndarray
        int, shape (k,): item indices, best first.
    scores : numpy.ndarray
        shape (k,): their scores (kept with their items).
    shown_codes : numpy.ndarray
        int: indices of the recently shown items.

    Returns
    -------
    (ids, scores) : tuple of numpy.ndarray
        The same entries, reordered (the inputs themselves when nothing moves).
    """
    if len(shown_codes) == 0 or len(ids) == 0:
        return ids, scores
    mask = np.isin(ids, shown_codes)
    if not mask.any():
        return ids, scores
    order = np.concatenate([np.flatnonzero(~mask), np.flatnonzero(mask)])
    return ids[order], scores[order]
