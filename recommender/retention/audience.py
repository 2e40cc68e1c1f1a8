"""Item audiences: the customers most likely to want one item, for a new collection or a restock mailing.

This is the item-to-users direction of a recommender (Amazon Personalize's item-affinity segments, Recombee's
"recommend users to item"): for an item the model has a vector for, every customer the model knows, ranked by
the model's user-item score; for an item it has none for (too new, or the model is the popularity
baseline), every customer with events, ranked by their share of activity events in the item's category
(the same taste measure new-for-you uses: recommender.retention.ranking.category_share).

Customers who bought the item within `exclude_bought_days` are left out, unless the item is a repeat
purchase that is due for them: the item's median repurchase interval across customers
(RepurchaseIntervals) has passed since their last purchase of it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass

import numpy as np

from recommender.catalog import ItemAttributes
from recommender.models import Recommender
from recommender.retention.blocks import RepurchaseIntervals
from recommender.retention.campaigns import CHUNK, CampaignRows
from recommender.retention.history import History, activity_codes
from recommender.retention.pairs import LeaveOut, left_out_mask
from recommender.units import SECONDS_PER_DAY

#: How an audience was ranked.
MODEL, CATEGORY = "model", "category"


@dataclass(frozen=True)
class AudienceMember:
    user_id: str
    score: float


def recent_buyers(history: History, item: int | None, now: float, exclude_bought_days: float,
                  intervals: RepurchaseIntervals) -> np.ndarray:
    """History user codes (int64) who bought the item (history code) at or after `now - exclude_bought_days`
    and for whom it is not due again (see the module)."""
    if item is None or exclude_bought_days <= 0:
        return np.zeros(0, dtype=np.int64)
    buys = history.of_type("purchase")
    buys = buys[history.item_codes[buys] == item]
    users = history.user_codes[buys].astype(np.int64)
    last = np.full(history.n_users, -np.inf)
    np.maximum.at(last, users, history.timestamps[buys])
    buyers = np.flatnonzero(last >= now - exclude_bought_days * SECONDS_PER_DAY)
    interval = intervals.median_days[item] if item < len(intervals.median_days) else np.nan
    if np.isfinite(interval):
        buyers = buyers[(now - last[buyers]) / SECONDS_PER_DAY < interval]
    return buyers


def category_scores(history: History, attrs: ItemAttributes, category: str) -> np.ndarray:
    """float64 shape (history users,): each customer's share of activity events on items of `category`."""
    active = np.isin(history.types, activity_codes())
    in_category = active & (attrs.category[history.item_codes] == category)
    total = np.bincount(history.user_codes[active], minlength=history.n_users)
    hits = np.bincount(history.user_codes[in_category], minlength=history.n_users)
    return np.where(total > 0, hits / np.maximum(total, 1), 0.0)


def item_audience(model: Recommender, history: History, attrs: ItemAttributes, intervals: RepurchaseIntervals,
                  item_id: str, category: str | None, now: float, exclude_bought_days: float, n: int,
                  chunk: int = CHUNK, leave_out: LeaveOut = (), unknown: Collection[str] = ()
                  ) -> tuple[str, CampaignRows]:
    """The `n` customers most likely to want `item_id`, best first (equal scores in user id order, whatever
    `n`), `chunk` per list.

    Parameters
    ----------
    category : str or None
        The item's catalog category (the ranking for an item without a model vector; None or "": nobody).
    now, exclude_bought_days : float
        Epoch seconds and days: buyers since `now - exclude_bought_days` are left out unless it is due.
    leave_out : collection of str or callable
        Customers not to list (the contact cap); counted in `left_out` when they would have ranked.
    unknown : collection of str
        Customers the model still holds but must not serve (erased): never listed, not counted.

    Returns
    -------
    (ranking, rows)
        "model" or "category", and CampaignRows over lists of AudienceMember (score: the model's user-item
        score, or the category share); `left_out` counts customers in `leave_out` who would have ranked.
    """
    code = model.item_ids.get(item_id) if len(model.item_ids) else None
    history_item = history.items.get(item_id) if history.n_items else None
    buyers = recent_buyers(history, history_item, now, exclude_bought_days, intervals)
    if code is not None and not model.is_popularity:
        ranking = MODEL
        scores = model.item_user_scores(code).astype(np.float64)
        users = model.user_ids
        drop = users.lookup(history.users.ids[buyers]) if len(buyers) else np.zeros(0, np.int64)
        scores[drop[drop >= 0]] = -np.inf
    else:
        ranking = CATEGORY
        scores = (category_scores(history, attrs, category) if category
                  else np.zeros(history.n_users))
        scores[scores <= 0] = -np.inf
        scores[buyers] = -np.inf
        users = history.users
    if unknown:  # a few ids: looked up, not every customer compared with them
        codes = users.lookup(list(unknown))
        scores[codes[codes >= 0]] = -np.inf
    names = users.ids
    candidates = np.flatnonzero(np.isfinite(scores))
    skip = left_out_mask(names[candidates], leave_out)
    candidates = candidates[~skip]
    if len(candidates) > n:
        candidates = _top(candidates, scores[candidates], names, n)
    candidates = candidates[np.argsort(names[candidates], kind="stable")]  # ties: user id order
    candidates = candidates[np.argsort(-scores[candidates], kind="stable")]
    return ranking, CampaignRows(_rows(names, scores, candidates, chunk), int(skip.sum()))


def _top(candidates: np.ndarray, values: np.ndarray, names: np.ndarray, n: int) -> np.ndarray:
    """The `n` of `candidates` (int64, shape (m,), m > n) with the highest `values`; among those tied with the
    n-th, the first by user id (`names[candidate]`), so a longer list always starts with a shorter one."""
    kth = -np.partition(-values, n - 1)[n - 1]
    above = candidates[values > kth]
    tied = candidates[values == kth]
    tied = tied[np.argsort(names[tied], kind="stable")][:n - len(above)]
    return np.concatenate([above, tied])


def _rows(names: np.ndarray, scores: np.ndarray, order: np.ndarray, chunk: int) -> Iterator[list[AudienceMember]]:
    for start in range(0, len(order), chunk):
        part = order[start:start + chunk]
        yield [AudienceMember(str(u), float(s)) for u, s in zip(names[part], scores[part])]

