"""RFM segments (quintile scores on a recency by frequency-and-monetary grid) and churn risk bands.

RFM scoring follows common practice (Hughes, "Strategic Database Marketing"; the R by FM grids of Putler's
and the R package `rfm`'s segment guides): each customer gets 1-5 scores for recency (days since the last
order, fewer is better), frequency (orders) and monetary value (average order value) against the store's
quintiles, and a segment from R and FM = ceil((F + M) / 2) (F alone when spend is unknown):

==========  ===========  ===========  ===========  ===========  ===========
R \\ FM      1            2            3            4            5
==========  ===========  ===========  ===========  ===========  ===========
5, 4        potential    potential    loyal        champions    champions
3           potential    potential    loyal        loyal        loyal
2           hibernating  hibernating  at_risk      at_risk      at_risk
1           lost         lost         at_risk      cant_lose    cant_lose
==========  ===========  ===========  ===========  ===========  ===========

and a customer with a single order and R >= 4 is ``new`` whatever the grid says. The cell assignment is ours.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recommender.errors import InputError
from recommender.lifecycle.summary import CustomerSummary

SEGMENTS: tuple[str, ...] = ("champions", "loyal", "potential", "new", "at_risk", "cant_lose", "hibernating",
                             "lost")
CHURN_BANDS: tuple[str, ...] = ("low", "medium", "high")
QUANTILES = (0.2, 0.4, 0.6, 0.8)
#: SEGMENT_GRID[R - 1][FM - 1]: index into SEGMENTS (the table in the module docstring).
_GRID = np.array([
    [7, 7, 4, 5, 5],  # R = 1
    [6, 6, 4, 4, 4],  # R = 2
    [2, 2, 1, 1, 1],  # R = 3
    [2, 2, 1, 0, 0],  # R = 4
    [2, 2, 1, 0, 0],  # R = 5
], dtype=np.int8)
_NEW = SEGMENTS.index("new")


@dataclass(frozen=True)
class RfmEdges:
    """The store's quintile edges (20/40/60/80%) that turn values into 1-5 scores; kept with a fitted model so
    a customer's segment can be recomputed later without the rest of the store.

    Attributes
    ----------
    recency_days : tuple of 4 float
        Quintiles of days since the last order.
    orders : tuple of 4 float
        Quintiles of orders per customer.
    aov : tuple of 4 float
        Quintiles of average order value, currency units; NaN when no spend was known.
    """

    recency_days: tuple[float, ...]
    orders: tuple[float, ...]
    aov: tuple[float, ...]

    def to_dict(self) -> dict[str, list[float]]:
        return {"recency_days": list(self.recency_days), "orders": list(self.orders), "aov": list(self.aov)}


def fit_rfm_edges(summary: CustomerSummary) -> RfmEdges:
    """The quintile edges of days since the last order, orders and AOV over the summary's customers.

    Raises
    ------
    InputError
        the summary has no customers.
    """
    if len(summary) == 0:
        raise InputError("RFM scores need at least one customer with a purchase")
    aov = summary.aov[np.isfinite(summary.aov)]

    def edges(values: np.ndarray) -> tuple[float, ...]:
        return tuple(float(v) for v in np.quantile(values, QUANTILES)) if len(values) else (float("nan"),) * 4

    return RfmEdges(edges(summary.days_since_last), edges(summary.orders.astype(np.float64)), edges(aov))


def _score(edges: tuple[float, ...], values: np.ndarray) -> np.ndarray:
    """The quintile of each value, 1-5: 1 + the number of edges strictly below it, int8 (a value equal to an
    edge is in the lower quintile, as the q-quantile bounds the values at most it)."""
    return (1 + np.searchsorted(np.asarray(edges), values, side="left")).astype(np.int8)


def rfm_scores(edges: RfmEdges, summary: CustomerSummary) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Recency, frequency and monetary scores 1-5 per customer (5 best); M is 0 where AOV is unknown.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray, numpy.ndarray)
        R, F and M, each shape (n,), int8.
    """
    r = (6 - _score(edges.recency_days, summary.days_since_last)).astype(np.int8)
    f = _score(edges.orders, summary.orders.astype(np.float64))
    aov = summary.aov
    m = np.where(np.isfinite(aov) & np.isfinite(edges.aov[0]), _score(edges.aov, np.nan_to_num(aov)), 0)
    return r, f, m.astype(np.int8)


def rfm_segments(r: np.ndarray, f: np.ndarray, m: np.ndarray, orders: np.ndarray) -> np.ndarray:
    """Segment names from scores (the table in the module docstring).

    Parameters
    ----------
    r, f, m : numpy.ndarray, shape (n,), int
        Scores 1-5; m = 0 means unknown (FM is then F).
    orders : numpy.ndarray, shape (n,), int
        Orders per customer (1 makes a recent customer ``new``).

    Returns
    -------
    numpy.ndarray, shape (n,), dtype object
        Names from SEGMENTS.
    """
    r, f, m = (np.asarray(v, dtype=np.int64) for v in (r, f, m))
    fm = np.where(m > 0, (f + m + 1) // 2, f)
    codes = _GRID[r - 1, fm - 1]
    codes = np.where((np.asarray(orders) == 1) & (r >= 4), _NEW, codes)
    return np.asarray(SEGMENTS, dtype=object)[codes]


def churn_bands(p_alive: np.ndarray, medium: float, high: float) -> np.ndarray:
    """Churn risk band of each customer from 1 - p_alive: low below `medium`, high from `high`, medium between.

    Parameters
    ----------
    p_alive : numpy.ndarray, shape (n,), float in [0, 1]
    medium, high : float
        Thresholds on 1 - p_alive, 0 <= medium <= high <= 1.

    Returns
    -------
    numpy.ndarray, shape (n,), dtype object
        Names from CHURN_BANDS.

    Raises
    ------
    InputError
        the thresholds are out of order or outside [0, 1].
    """
    if not 0 <= medium <= high <= 1:
        raise InputError(f"churn thresholds need 0 <= medium <= high <= 1; got {medium} and {high}")
    risk = 1.0 - np.asarray(p_alive, dtype=np.float64)
    codes = (risk >= medium).astype(np.int8) + (risk >= high)
    return np.asarray(CHURN_BANDS, dtype=object)[codes]
