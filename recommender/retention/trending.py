"""Trending items: what is rising now against its own recent past, from every event accepted so far.

Popularity counts all time, so a new store favourite takes months to show; trending compares each item with
itself. Over the event index (History: the snapshot plus the stream, so no training is waited for), each
item's weighted event count is taken in the last window (`hours` before `now`) and in each of the
BASELINE_WINDOWS windows of the same length before it, and scored with the z-score of the current window
against those seven, the trending-topics score of the Stack Overflow answer
https://stackoverflow.com/a/826509 (the score the fazscore gem implements, here without its floating
average: the seven windows weigh the same):

    x      the item's customers in (now - hours, now], each weighted by their strongest event with it there
           (type weights: EventWeights), so one customer's burst of views counts as one view
    x_k    the same in (now - (k+1) hours, now - k hours], k = 1..7
    mu     mean of x_1..x_7;   sigma  their (population) standard deviation
    score  (x - mu) / max(sigma, 1)

The floor of 1 on sigma (one view's weight) keeps an item with a flat or empty past from dividing by zero: from
nothing to 20 views scores 20, from a steady 10 a window to 30 scores 20 as well, and an item that has always
sold 30 a window scores 0. Only items whose score is above 0 (the rate rose) are trending.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recommender.catalog import ItemAttributes
from recommender.errors import InputError
from recommender.filters import ItemFilter
from recommender.matrix import EventWeights
from recommender.retention.history import History
from recommender.retention.ranking import BlockItem, block_items, item_mask, top_ranked

#: Windows of the past each item's current window is compared with.
BASELINE_WINDOWS = 7
#: The smallest standard deviation the score divides by (one event of weight 1).
MIN_SIGMA = 1.0


@dataclass(frozen=True)
class TrendScores:
    """Per history item code (arrays of length history items): the score, and what it rests on."""

    scores: np.ndarray  # float64; -inf for items with no rise
    current: np.ndarray  # float64 customers in the last window, each at their strongest event's weight
    baseline: np.ndarray  # float64 the same, averaged over the BASELINE_WINDOWS before it


def trend_scores(history: History, now: float, hours: float, weights: EventWeights | None = None) -> TrendScores:
    """Every item's trending score (see the module) at `now` (epoch seconds) over windows of `hours`.

    Raises
    ------
    InputError
        `hours` is not positive.
    """
    if not hours > 0:
        raise InputError(f"hours must be positive, got {hours!r}")
    weights = weights or EventWeights()
    width = hours * 3600.0
    stamps = history.timestamps
    # the eight windows' events first (one boolean pass), so the arithmetic below is over those only
    keep = np.flatnonzero((stamps <= now) & (stamps > now - (BASELINE_WINDOWS + 1) * width))
    window = np.minimum(((now - stamps[keep]) // width).astype(np.int64), BASELINE_WINDOWS)  # 0: the current one
    weight = weights.by_type_code().astype(np.float64)[history.types[keep]]
    cell = history.item_codes[keep].astype(np.int64) * (BASELINE_WINDOWS + 1) + window  # (item, window)
    # each customer counts once per cell, at their strongest event's weight: the first of each (customer, cell)
    # once sorted by customer, cell and weight, strongest first
    order = np.lexsort((-weight, cell, history.user_codes[keep]))
    customer, cell, weight = history.user_codes[keep][order], cell[order], weight[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = (customer[1:] != customer[:-1]) | (cell[1:] != cell[:-1])
    counts = np.bincount(cell[first], weights=weight[first], minlength=history.n_items * (BASELINE_WINDOWS + 1))
    counts = counts.reshape(history.n_items, BASELINE_WINDOWS + 1)
    current, past = counts[:, 0], counts[:, 1:]
    mu, sigma = past.mean(axis=1), past.std(axis=1)
    scores = (current - mu) / np.maximum(sigma, MIN_SIGMA)
    return TrendScores(np.where(scores > 0, scores, -np.inf), current, mu)


def trending(history: History, attrs: ItemAttributes, now: float, hours: float, n: int,
             item_filter: ItemFilter | None = None, weights: EventWeights | None = None) -> list[BlockItem]:
    """The `n` items whose score (`trend_scores`) is highest, best first, through the filter (and its category
    cap); each says `current` (customers in the last window, each at their strongest event's weight) and
    `baseline` (the windows' mean).

    Raises
    ------
    InputError
        `hours` is not positive.
    """
    item_filter = item_filter or ItemFilter()
    trend = trend_scores(history, now, hours, weights)
    rising = np.flatnonzero(np.isfinite(trend.scores))
    ids, scores = top_ranked(rising, trend.scores[rising].astype(np.float32), item_mask(item_filter, attrs, history),
                             attrs.category, item_filter.max_per_category, n)
    return block_items(ids, scores, history.items.ids, attrs,
                       [{"current": round(float(trend.current[i]), 3), "baseline": round(float(trend.baseline[i]), 3)}
                        for i in ids.tolist()])
