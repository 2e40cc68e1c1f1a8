"""Browse abandonment: customers who kept looking at an item (or a category) and then left without carting it.

The trigger follows the browse-abandonment flows of email platforms (Klaviyo's "Browse Abandonment" flow,
Shopify's "abandoned product browse"): a customer who viewed an item at least `min_views` times within the
last `within_hours`, whose last of those views is at least `older_than_hours` old (the visit is over), and
who has not carted or bought it at or after the first of those views, hears about it. With `by="category"`
the views of every item of one category add up, and a cart or purchase of any item of the category ends it.

Each line lists the viewed items (most views first, then the newest) and then the model's in-stock
alternatives (similar items), `n` items in all.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from recommender.catalog import ItemAttributes
from recommender.errors import InputError
from recommender.filters import ItemFilter
from recommender.models import Recommender
from recommender.retention.campaigns import CHUNK, CampaignRows
from recommender.retention.history import History, type_code
from recommender.retention.pairs import LeaveOut, alternatives, last_by_key, left_out_mask, newer_than, user_spans
from recommender.retention.ranking import BlockItem, block_items, category_codes, item_mask

#: What a view count adds up over.
BROWSE_GROUPS = ("item", "category")
#: Event types that end a browse (the customer moved on to buying).
ENDS_BROWSE = ("add_to_cart", "purchase")


@dataclass
class AbandonedBrowse:
    user_id: str
    items: list[BlockItem] = field(default_factory=list)  # viewed (extra: views, last_viewed), then similar


@dataclass(frozen=True)
class Browsed:
    """Viewed (customer, item) pairs of abandoned browses, by user then most views, newest first."""

    users: np.ndarray  # int64 history user codes
    items: np.ndarray  # int64 history item codes
    views: np.ndarray  # int64 views of the item in the window
    last_viewed: np.ndarray  # float64 epoch seconds

    def take(self, keep: np.ndarray) -> Browsed:
        return Browsed(self.users[keep], self.items[keep], self.views[keep], self.last_viewed[keep])


def browsed(history: History, attrs: ItemAttributes, now: float, older_than_hours: float, within_hours: float,
            min_views: int, by: str = "item") -> Browsed:
    """Every viewed (customer, item) of an abandoned browse (see the module).

    Parameters
    ----------
    attrs : ItemAttributes
        The catalog aligned to history item codes (its categories group the views with by="category";
        items without a category share none).
    now, older_than_hours, within_hours : float
        Epoch seconds and hours: views from `now - within_hours` to `now` count; the last counted view of the
        item (category) is at least `older_than_hours` before `now`.
    by : {"item", "category"}

    Raises
    ------
    InputError
        `by` is not one of BROWSE_GROUPS.
    """
    if by not in BROWSE_GROUPS:
        raise InputError(f"by must be one of {', '.join(BROWSE_GROUPS)}, got {by!r}")
    groups = (np.arange(history.n_items, dtype=np.int64) if by == "item"
              else np.where(attrs.category != "", category_codes(attrs.category), -1))
    width = int(groups.max(initial=0)) + 1
    views = np.flatnonzero(history.types == type_code("view"))
    times = history.timestamps[views]
    views = views[(times >= now - within_hours * 3600.0) & (times <= now)]
    views = views[groups[history.item_codes[views]] >= 0]
    keys = history.user_codes[views].astype(np.int64) * width + groups[history.item_codes[views]]
    times = history.timestamps[views]
    distinct, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    first = np.full(len(distinct), np.inf)
    np.minimum.at(first, inverse, times)
    last = np.full(len(distinct), -np.inf)
    np.maximum.at(last, inverse, times)
    enders = np.flatnonzero(np.isin(history.types, [type_code(t) for t in ENDS_BROWSE]))
    enders = enders[groups[history.item_codes[enders]] >= 0]
    end_keys = history.user_codes[enders].astype(np.int64) * width + groups[history.item_codes[enders]]
    ended = newer_than(*last_by_key(end_keys, history.timestamps[enders]), distinct, first)
    abandoned = (counts >= min_views) & (last <= now - older_than_hours * 3600.0) & ~ended
    views = views[abandoned[inverse]]
    # the viewed items of each abandoned group: views and newest view per (customer, item)
    width = max(history.n_items, 1)
    pair = history.user_codes[views].astype(np.int64) * width + history.item_codes[views]
    pairs, pair_counts = np.unique(pair, return_counts=True)
    _, newest = last_by_key(pair, history.timestamps[views])
    out = Browsed(pairs // width, pairs % width, pair_counts.astype(np.int64), newest)
    return out.take(np.lexsort((out.items, -out.last_viewed, -out.views, out.users)))


def browse_abandonment(history: History, attrs: ItemAttributes, model: Recommender | None, now: float,
                       older_than_hours: float, within_hours: float, min_views: int, n: int, by: str = "item",
                       item_filter: ItemFilter | None = None, chunk: int = CHUNK,
                       leave_out: LeaveOut = ()) -> CampaignRows:
    """Every customer not in `leave_out` with an abandoned browse of items that pass the filter, `chunk`
    customers per list: `n` items each, the viewed ones (`browsed`) first, then in-stock similar items.

    Returns
    -------
    CampaignRows
        Iterates over lists of AbandonedBrowse, in user id order; `left_out` counts customers in `leave_out`.

    Raises
    ------
    InputError
        `by` is not one of BROWSE_GROUPS.
    """
    item_filter = item_filter or ItemFilter()
    allowed = item_mask(item_filter, attrs, history)
    pairs = browsed(history, attrs, now, older_than_hours, within_hours, min_views, by)
    pairs = pairs.take(allowed[pairs.items])
    distinct = np.unique(pairs.users)
    skip_users = distinct[left_out_mask(history.users.ids[distinct], leave_out)]
    pairs = pairs.take(~np.isin(pairs.users, skip_users))
    return CampaignRows(_rows(history, attrs, model, pairs, n, item_filter, allowed, chunk), len(skip_users))


def _rows(history: History, attrs: ItemAttributes, model: Recommender | None, pairs: Browsed, n: int,
          item_filter: ItemFilter, allowed: np.ndarray, chunk: int) -> Iterator[list[AbandonedBrowse]]:
    starts, ends = user_spans(pairs.users)
    for first in range(0, len(starts), chunk):
        spans = [(lo, min(hi, lo + n)) for lo, hi in zip(starts[first:first + chunk].tolist(),
                                                         ends[first:first + chunk].tolist())]
        seeds = [pairs.items[lo:hi] for lo, hi in spans]
        owned = [history.events_of(int(pairs.users[lo])).of_type("purchase").items for lo, _ in spans]
        alts = alternatives(model, history, attrs, seeds, owned, n, allowed, item_filter)
        rows = []
        for (lo, hi), (alt_ids, alt_scores) in zip(spans, alts):
            viewed = block_items(pairs.items[lo:hi], np.ones(hi - lo), history.items.ids, attrs,
                                 [{"via": "viewed", "views": int(v), "last_viewed": float(t)}
                                  for v, t in zip(pairs.views[lo:hi], pairs.last_viewed[lo:hi])])
            room = n - len(viewed)
            similar = block_items(alt_ids[:room], alt_scores[:room], history.items.ids, attrs,
                                  [{"via": "similar"} for _ in range(min(room, len(alt_ids)))])
            rows.append(AbandonedBrowse(str(history.users.ids[int(pairs.users[lo])]), viewed + similar))
        yield rows
