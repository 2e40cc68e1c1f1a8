"""Email campaigns over every customer: win-back for the lapsed, reminders for abandoned carts.

Both select their customers with vectorised passes over the event index and then yield rows a
chunk of customers at a time (one batched model call or one sparse product per chunk), so a
caller can stream a million customers without ever holding them as Python objects.

"now" only places the windows: every event known counts, so a customer with any activity
after `now - min_days` is not lapsed, and a cart bought at any time after it was filled is
not abandoned.

Both take `leave_out`, customers to skip however well they fit (the service's contact cap: customers
mailed recently), and say how many of the customers selected were left out (`CampaignRows.left_out`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from recommender.catalog import ItemAttributes
from recommender.filters import CAP_OVERSAMPLE, ItemFilter
from recommender.models import Recommender
from recommender.retention.complements import Complements, seed_matrix
from recommender.retention.history import History, activity_codes, type_code
from recommender.retention.pairs import LeaveOut, last_by_key, left_out_mask
from recommender.retention.ranking import (
    BlockItem,
    block_items,
    capped_top,
    category_codes,
    item_mask,
    top_ranked,
)
from recommender.sources import FALLBACK, PERSONALIZED
from recommender.units import SECONDS_PER_DAY

CHUNK = 1000
#: Win-back re-ranks the model's top CANDIDATES (at least 4 n) by a rank score 1 - rank / count
#: plus NEW_BOOST for an item created after the customer's last visit: a new item climbs half
#: the candidate list, so what fits the customer still leads and what is new comes next.
CANDIDATES = 100
NEW_BOOST = 0.5
#: Abandoned items listed per customer, newest cart first.
MAX_ABANDONED = 10


@dataclass
class LapsedCustomer:
    """One row of the win-back campaign.

    Attributes
    ----------
    user_id : str
    last_active : float
        Epoch seconds of the customer's newest activity event.
    source : str
        "personalized" (the model knows them) or "fallback" (popular items).
    items : list of BlockItem
        Scores are the re-rank score; `extra` says whether each item is "new" to them.
    """

    user_id: str
    last_active: float
    source: str  # "personalized" (the model knows them) or "fallback" (popular items)
    items: list[BlockItem] = field(default_factory=list)


@dataclass
class AbandonedCart:
    """One row of the abandoned-cart campaign.

    Attributes
    ----------
    user_id : str
    abandoned : list of BlockItem
        The abandoned items, newest cart first, score 1.0, `extra` carted_at (epoch seconds).
    items : list of BlockItem
        Items bought together with them (co-purchase complements).
    """

    user_id: str
    abandoned: list[BlockItem] = field(default_factory=list)  # score: 1.0; extra carted_at
    items: list[BlockItem] = field(default_factory=list)  # complements of the abandoned items


class CampaignRows:
    """A campaign's rows, `chunk` customers per list: iterate over it (once). `left_out` is how many of the
    customers the campaign selected were skipped because they were in `leave_out`."""

    def __init__(self, chunks: Iterator[list], left_out: int) -> None:
        self._chunks, self.left_out = chunks, left_out

    def __iter__(self) -> Iterator[list]:
        return self._chunks


# -- win-back ------------------------------------------------------------------------------
def lapsed_users(history: History, now: float, min_days: float, max_days: float) -> np.ndarray:
    """History user codes whose last activity is min_days..max_days before now (both included).

    Parameters
    ----------
    history : History
    now : float
        Epoch seconds.
    min_days, max_days : float
        Days of inactivity.

    Returns
    -------
    numpy.ndarray
        int64, ascending codes (user id order); users without activity are never lapsed.
    """
    idle_days = (now - history.last_active) / SECONDS_PER_DAY
    return np.flatnonzero(np.isfinite(idle_days) & (idle_days >= min_days) & (idle_days <= max_days))


def win_back(model: Recommender, history: History, now: float, min_days: float, max_days: float, n: int,
             item_filter: ItemFilter | None = None, chunk: int = CHUNK,
             leave_out: LeaveOut = ()) -> CampaignRows:
    """Lists for every lapsed customer not in `leave_out`, `chunk` customers per list, in user id order.

    Items are the model's candidates for the customer (what fits their history) re-ranked so
    items created after their last visit come forward (NEW_BOOST); each item says `"new"`, and
    with a model that serves bought items (`recommends_bought_items`) an item the customer bought
    before also says `"repeat": true`. Customers the model does not know get popular items (minus
    what they had), re-ranked the same way.

    Parameters
    ----------
    model : Recommender
    history : History
        Built with the model's item map or not (`History.model_index` translates).
    now : float
        Epoch seconds placing the window.
    min_days, max_days : float
        Days since the customer's last activity (`lapsed_users`).
    n : int
        Items per customer.
    item_filter : ItemFilter, optional
        Kind, category, stock, exclusions and the per-category cap.
    chunk : int
        Customers per list (one batched model call each).
    leave_out : collection of str, or callable (recommender.retention.pairs.LeaveOut)
        User ids to skip (the contact cap's recently contacted customers).

    Returns
    -------
    CampaignRows
        Iterates over lists of LapsedCustomer; `left_out` counts the lapsed customers in `leave_out`.
    """
    return win_back_customers(model, history, lapsed_users(history, now, min_days, max_days), n, item_filter,
                              chunk, leave_out)


def win_back_customers(model: Recommender, history: History, users: np.ndarray, n: int,
                       item_filter: ItemFilter | None = None, chunk: int = CHUNK,
                       leave_out: LeaveOut = ()) -> CampaignRows:
    """`win_back`'s lists for customers chosen by the caller (e.g. by predicted value at risk), in their order.

    Parameters
    ----------
    users : numpy.ndarray, shape (m,), int
        History user codes, in the order to list them.
    n, item_filter, chunk, leave_out
        As in `win_back`.

    Returns
    -------
    CampaignRows
        Iterates over lists of LapsedCustomer in the order of `users`, without those in `leave_out`.
    """
    users = np.asarray(users, dtype=np.int64)
    skip = left_out_mask(history.users.ids[users], leave_out)
    return CampaignRows(_win_back(model, history, users[~skip], n, item_filter or ItemFilter(), chunk),
                        int(skip.sum()))


def _win_back(model: Recommender, history: History, users: np.ndarray, n: int, item_filter: ItemFilter,
              chunk: int) -> Iterator[list[LapsedCustomer]]:
    base = ItemFilter(kind=item_filter.kind, category=item_filter.category,
                      in_stock_only=item_filter.in_stock_only, exclude=item_filter.exclude)
    ask = max(CANDIDATES, n * CAP_OVERSAMPLE)
    allowed = model.allowed(base)
    created = model.attrs.created_at
    cat_codes = category_codes(model.attrs.category)
    to_model = history.model_index(model.item_ids)
    popular: np.ndarray | None = None
    for start in range(0, len(users), chunk):
        part = users[start:start + chunk]
        user_ids = history.users.ids[part]
        last = history.last_active[part]
        codes = model.user_ids.lookup(user_ids)
        known = codes >= 0
        ids = np.full((len(part), ask), -1, dtype=np.int64)
        if known.any():
            ids[known] = _candidates(model, codes[known], ask, base, allowed, n)
        if not known.all():
            if popular is None:
                popular = model.item_ids.lookup([i.item_id for i in model.popular(ask, base)])
            ids[~known, :len(popular)] = popular
        # leave out what each customer already had: the model filters only what it was trained on, and
        # the index also holds every event since (a purchase an hour ago, a late import of an old one);
        # a model that serves bought items keeps them for the customers it knows
        drop = np.flatnonzero(~known if model.recommends_bought_items else np.ones(len(part), dtype=bool))
        before = (ids[drop] >= 0).sum(axis=1)
        dropped = ids[drop]
        _drop_had(history, part[drop], to_model, dropped, len(model.item_ids))
        ids[drop] = dropped
        after = (dropped >= 0).sum(axis=1)
        for row in drop[(after < n) & (after < before)]:  # the removal left the list short
            ids[row] = _without_had(model, history, int(part[row]), int(codes[row]), ask, base)
        # one re-rank for the whole chunk: rank score, plus the boost for what is new to them
        valid = ids >= 0
        made = np.where(valid, created[np.maximum(ids, 0)], np.nan)
        is_new = np.nan_to_num(made, nan=-np.inf) > last[:, None]
        scores = np.where(valid, 1.0 - np.arange(ask) / ask + NEW_BOOST * is_new, -np.inf).astype(np.float32)
        order = np.argsort(-scores, axis=1, kind="stable")
        ids, scores, is_new = (np.take_along_axis(a, order, axis=1) for a in (ids, scores, is_new))
        keep = capped_top(ids, np.isfinite(scores), cat_codes, item_filter.max_per_category, n)
        rows = []
        for row in range(len(part)):
            cols = np.flatnonzero(keep[row])
            bought = (set(to_model[history.events_of(int(part[row])).of_type("purchase").items].tolist())
                      if known[row] and model.recommends_bought_items else set())
            items = block_items(ids[row, cols], scores[row, cols], model.item_ids.ids, model.attrs,
                                [{"new": bool(x), **({"repeat": True} if i in bought else {})}
                                 for x, i in zip(is_new[row, cols], ids[row, cols].tolist())])
            rows.append(LapsedCustomer(str(user_ids[row]), float(last[row]),
                                       PERSONALIZED if known[row] else FALLBACK, items))
        yield rows


def _drop_had(history: History, part: np.ndarray, to_model: np.ndarray, ids: np.ndarray, width: int) -> None:
    """Set to -1, in place, every candidate (rows x k model item indices, row r for history user
    part[r]; `width` the model's item count) that its customer has an activity event with, for the
    whole chunk at once."""
    lo, hi = history.offsets[part], history.offsets[part + 1]
    counts = hi - lo
    rows = np.repeat(np.arange(len(part)), counts)
    positions = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts) + np.repeat(lo, counts)
    activity = np.isin(history.types[positions], activity_codes())
    rows, items = rows[activity], to_model[history.item_codes[positions[activity]]]
    had = rows[items >= 0].astype(np.int64) * width + items[items >= 0]
    keys = np.arange(len(part), dtype=np.int64)[:, None] * width + ids
    ids[(ids >= 0) & np.isin(keys, had)] = -1


def _without_had(model: Recommender, history: History, user: int, code: int, ask: int,
                 item_filter: ItemFilter) -> np.ndarray:
    """One customer's `ask` candidates asked for again with everything they had excluded (the
    model's or, for a customer it does not know, the popular ones), -1 where short."""
    had = history.items.ids[history.events_of(user).activity().items]
    exclude = ItemFilter(kind=item_filter.kind, category=item_filter.category,
                         in_stock_only=item_filter.in_stock_only, exclude=item_filter.exclude | frozenset(had.tolist()))
    if code >= 0:
        return model.recommend_indices(np.array([code]), ask, exclude)[0][0]
    row = np.full(ask, -1, dtype=np.int64)
    found = model.item_ids.lookup([i.item_id for i in model.popular(ask, exclude)])
    row[:len(found)] = found
    return row


def _candidates(model: Recommender, codes: np.ndarray, ask: int, item_filter: ItemFilter, allowed: np.ndarray,
                n: int) -> np.ndarray:
    """The model's top `ask` allowed, unseen items per user, in one batched call: the exact blocked
    scorer (unfiltered, so twice as many, then masked) for matrix factorisation models, and
    recommend_indices for users whose masked list came out short and for other models.

    Returns
    -------
    numpy.ndarray
        int64, shape (len(codes), ask): item indices, best first, -1 where short.
    """
    ids, _ = model.precompute_indices(codes, 2 * ask)
    ids = np.where((ids >= 0) & allowed[np.maximum(ids, 0)], ids, -1)
    order = np.argsort(ids < 0, axis=1, kind="stable")  # allowed items first, rank order kept
    ids = np.take_along_axis(ids, order, axis=1)[:, :ask]
    short = (ids >= 0).sum(axis=1) < min(ask, int(allowed.sum()))
    if short.any():
        ids[short], _ = model.recommend_indices(codes[short], ask, item_filter)
    return ids


# -- abandoned carts -----------------------------------------------------------------------
def abandoned_pairs(history: History, now: float, older_than_hours: float,
                    within_days: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every abandoned cart item, by user then newest.

    A (user, item) is abandoned when the user's latest add_to_cart of it lies between
    `within_days` and `older_than_hours` before now and no purchase of it came at or after that
    cart. (A fresher cart of the same item means the cart is still live: not yet abandoned.)

    Parameters
    ----------
    history : History
    now : float
        Epoch seconds.
    older_than_hours : float
        The cart is at least this many hours old.
    within_days : float
        ... and at most this many days old.

    Returns
    -------
    (users, items, carted_at) : tuple of numpy.ndarray
        int64 history user codes, int64 history item codes and float64 epoch seconds of the
        latest cart, one entry per abandoned (user, item).
    """
    width = max(history.n_items, 1)
    cart_pos = history.of_type("add_to_cart")
    cart_keys = history.user_codes[cart_pos].astype(np.int64) * width + history.item_codes[cart_pos]
    keys, last = last_by_key(cart_keys, history.timestamps[cart_pos])
    buy_pos = history.of_type("purchase")
    buy_keys = history.user_codes[buy_pos].astype(np.int64) * width + history.item_codes[buy_pos]
    bought_keys, bought_last = last_by_key(buy_keys, history.timestamps[buy_pos])
    where = np.searchsorted(bought_keys, keys)
    where = np.minimum(where, max(len(bought_keys) - 1, 0))
    matched = (bought_keys[where] == keys) if len(bought_keys) else np.zeros(len(keys), dtype=bool)
    bought_after = matched & (bought_last[where] >= last) if len(bought_keys) else matched
    in_window = (last <= now - older_than_hours * 3600.0) & (last >= now - within_days * SECONDS_PER_DAY)
    keep = in_window & ~bought_after
    keys, last = keys[keep], last[keep]
    users, items = keys // width, keys % width
    order = np.lexsort((-last, users))
    return users[order], items[order], last[order]


def abandoned_carts(history: History, complements: Complements, attrs: ItemAttributes, now: float,
                    older_than_hours: float, within_days: float, n: int, item_filter: ItemFilter | None = None,
                    chunk: int = CHUNK, leave_out: LeaveOut = ()) -> CampaignRows:
    """Every customer not in `leave_out` with abandoned cart items that pass the filter, `chunk` customers
    per list: their abandoned items (newest first, at most MAX_ABANDONED) and `n` items bought together
    with them (co-purchase), never an item the customer has bought or carted.

    Parameters
    ----------
    history : History
    complements : Complements
        Built from the same history.
    attrs : ItemAttributes
        Catalog aligned to the history's item codes.
    now, older_than_hours, within_days : float
        The window, as `abandoned_pairs` (epoch seconds, hours, days).
    n : int
        Complements per customer.
    item_filter : ItemFilter, optional
        Applies to the abandoned items and the complements alike.
    chunk : int
        Customers per list (one sparse product each).
    leave_out : collection of str, or callable (recommender.retention.pairs.LeaveOut)
        User ids to skip (the contact cap's recently contacted customers).

    Returns
    -------
    CampaignRows
        Iterates over lists of AbandonedCart; `left_out` counts the customers with such carts in `leave_out`.
    """
    item_filter = item_filter or ItemFilter()
    allowed = item_mask(item_filter, attrs, history)
    users, items, carted = abandoned_pairs(history, now, older_than_hours, within_days)
    show = allowed[items]
    users, items, carted = users[show], items[show], carted[show]
    distinct = np.unique(users)
    skip_users = distinct[left_out_mask(history.users.ids[distinct], leave_out)]
    keep = ~np.isin(users, skip_users)
    return CampaignRows(_abandoned_carts(history, complements, attrs, users[keep], items[keep], carted[keep], n,
                                         item_filter, allowed, chunk), len(skip_users))


def _abandoned_carts(history: History, complements: Complements, attrs: ItemAttributes, users: np.ndarray,
                     items: np.ndarray, carted: np.ndarray, n: int, item_filter: ItemFilter, allowed: np.ndarray,
                     chunk: int) -> Iterator[list[AbandonedCart]]:
    starts = np.concatenate([[0], np.flatnonzero(np.diff(users)) + 1]) if len(users) else np.zeros(0, np.int64)
    ends = np.concatenate([starts[1:], [len(users)]]) if len(users) else starts
    purchase = type_code("purchase")
    for first in range(0, len(starts), chunk):
        spans = list(zip(starts[first:first + chunk].tolist(), ends[first:first + chunk].tolist()))
        seeds = [items[lo:hi][:MAX_ABANDONED] for lo, hi in spans]
        scores = complements.complement_scores(
            seed_matrix(seeds, [np.ones(len(s), dtype=np.float32) for s in seeds], history.n_items))
        rows = []
        for row, (lo, hi) in enumerate(spans):
            code = int(users[lo])
            events = history.events_of(code)
            owned = np.concatenate([events.items[events.types == purchase], items[lo:hi]])
            r_lo, r_hi = scores.indptr[row], scores.indptr[row + 1]
            cand, vals = scores.indices[r_lo:r_hi], scores.data[r_lo:r_hi]
            fresh = ~np.isin(cand, owned)
            top, top_scores = top_ranked(cand[fresh], vals[fresh], allowed, attrs.category,
                                         item_filter.max_per_category, n)
            shown = seeds[row]
            abandoned = block_items(shown, np.ones(len(shown)), history.items.ids, attrs,
                                    [{"carted_at": float(t)} for t in carted[lo:lo + len(shown)]])
            rows.append(AbandonedCart(str(history.users.ids[code]), abandoned,
                                      block_items(top, top_scores, history.items.ids, attrs)))
        yield rows
