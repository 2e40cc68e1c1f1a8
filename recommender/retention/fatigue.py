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
    """Item ids whose last impression (epoch seconds) is within `days` of `now`."""
    if not shown or days <= 0:
        return frozenset()
    horizon = now - days * SECONDS_PER_DAY
    return frozenset(item for item, at in shown.items() if at >= horizon)


def demote(ids: np.ndarray, scores: np.ndarray, shown_codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A ranked candidate list with the shown items moved behind the others, both in their order."""
    if len(shown_codes) == 0 or len(ids) == 0:
        return ids, scores
    mask = np.isin(ids, shown_codes)
    if not mask.any():
        return ids, scores
    order = np.concatenate([np.flatnonzero(~mask), np.flatnonzero(mask)])
    return ids[order], scores[order]
