"""Per-customer retention blocks: post-purchase follow-up, new for you, buy again.

Each function takes the event index (recommender.retention.history), the catalog attributes aligned
to its item codes, and whatever statistics it needs, and returns plain records; the service
only serialises them. `source` always says what the list is based on, so a caller can tell
a personal block from an empty or generic one.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from recommender.algorithms import scale_confidence
from recommender.catalog import ItemAttributes
from recommender.filters import CAP_OVERSAMPLE, ItemFilter
from recommender.models import Recommender
from recommender.repurchase import expected_interval, item_medians, order_gaps
from recommender.retention.complements import Complements, seed_matrix
from recommender.retention.history import History, UserEvents
from recommender.retention.ranking import (
    BlockItem,
    block_items,
    category_share,
    item_mask,
    top_ranked,
)
from recommender.sources import (
    CATEGORY_AFFINITY,
    FALLBACK,
    NO_PURCHASES,
    NO_REPEAT_PURCHASES,
    PERSONALIZED,
    PURCHASES,
    UNKNOWN_USER,
)
from recommender.units import SECONDS_PER_DAY

#: Follow-up expands the customer's last few distinct purchases, newest weighing most (1, 1/2, 1/3).
FOLLOW_UP_SEEDS = 3
#: New for you: an item too new for the model has no vector; it scores (share of the user's
#: events in its category) x COLD_PRIOR on the 0..1 scale of the vector-scored items'
#: rank score (1 - rank / count), so a cold item in a category the user lives in sits among the
#: lower half of the vector-scored items, and one in a category they never touch sits last.
COLD_PRIOR = 0.5
#: Ties (same category, same share) go to the newer item.
RECENCY_TIEBREAK = 1e-3


@dataclass
class Block:
    """A block's answer.

    Attributes
    ----------
    source : str
        What the list is based on, a value of recommender.sources (PERSONALIZED, CATEGORY_AFFINITY,
        FALLBACK, PURCHASES, UNKNOWN_USER, NO_REPEAT_PURCHASES).
    items : list of BlockItem
    """

    source: str
    items: list[BlockItem] = field(default_factory=list)


@dataclass
class FollowUp:
    """The follow-up block's answer.

    Attributes
    ----------
    source : str
        PURCHASES, or UNKNOWN_USER / NO_PURCHASES with empty lists (recommender.sources).
    purchased : list of BlockItem
        The purchases followed up (score 1.0, `extra` purchased_at in epoch seconds).
    items : list of BlockItem
        Their complements; `extra` "via": "co_purchase" or "similar".
    content : list of BlockItem
        Content items (guides) read by buyers of those purchases.
    """

    source: str
    purchased: list[BlockItem] = field(default_factory=list)  # the purchases the block follows up
    items: list[BlockItem] = field(default_factory=list)  # complements
    content: list[BlockItem] = field(default_factory=list)  # guides read by buyers of those items


# -- post-purchase follow-up ---------------------------------------------------------------
def follow_up(history: History, complements: Complements, attrs: ItemAttributes, user_id: str, n: int,
              content_n: int, item_filter: ItemFilter | None = None, model: Recommender | None = None,
              seeds: int = FOLLOW_UP_SEEDS) -> FollowUp:
    """Complements of the user's most recent purchases (co-purchase; topped up with the model's
    similar items when co-purchases run short, marked "via": "similar") and the content items
    buyers of those items read. Never anything the user already bought or read.

    Parameters
    ----------
    history : History
    complements : Complements
        Built from the same history.
    attrs : ItemAttributes
        Catalog aligned to the history's item codes.
    user_id : str
    n, content_n : int
        Complements and content items wanted.
    item_filter : ItemFilter, optional
        Category, stock, exclusions and the cap apply to both lists (kind is fixed per list).
    model : Recommender, optional
        For the similar-items top-up; without it a short list stays short.
    seeds : int
        The last this many distinct purchases are followed up, newest weighing most (1, 1/2, 1/3, ...).

    Returns
    -------
    FollowUp
    """
    item_filter = item_filter or ItemFilter()
    events = history.for_user(user_id)
    if history.user_code(user_id) is None:
        return FollowUp(UNKNOWN_USER)
    bought = events.of_type("purchase")
    if len(bought) == 0:
        return FollowUp(NO_PURCHASES)
    recent_first = bought.items[::-1]
    _, first = np.unique(recent_first, return_index=True)
    seed_codes = recent_first[np.sort(first)][:seeds].astype(np.int64)
    weights = 1.0 / np.arange(1, len(seed_codes) + 1)
    seed_times = [float(bought.timestamps[bought.items == c].max()) for c in seed_codes]
    allowed = item_mask(ItemFilter(category=item_filter.category, in_stock_only=item_filter.in_stock_only,
                                   exclude=item_filter.exclude), attrs, history)
    products = allowed & (attrs.kind != "content")
    products[np.unique(bought.items)] = False
    content = allowed & (attrs.kind == "content")
    content[np.unique(events.activity().items)] = False  # read (or even opened) before: not news

    seeds_csr = seed_matrix([seed_codes], [weights], history.n_items)
    scores = complements.complement_scores(seeds_csr)
    ids, vals = top_ranked(scores.indices, scores.data, products, attrs.category, item_filter.max_per_category, n)
    extras = [{"via": "co_purchase"}] * len(ids)
    if len(ids) < n and model is not None:
        ids, vals, extras = _top_up_with_similar(history, model, seed_codes, products, attrs, item_filter, n,
                                                 ids, vals, extras)
    read = complements.read_scores(seeds_csr)
    c_ids, c_vals = top_ranked(read.indices, read.data, content, attrs.category, item_filter.max_per_category,
                               content_n)
    purchased = block_items(seed_codes, np.ones(len(seed_codes)), history.items.ids, attrs,
                            [{"purchased_at": t} for t in seed_times])
    return FollowUp(PURCHASES, purchased, block_items(ids, vals, history.items.ids, attrs, extras),
                    block_items(c_ids, c_vals, history.items.ids, attrs))


def _top_up_with_similar(history: History, model: Recommender, seed_codes: np.ndarray, allowed: np.ndarray,
                         attrs: ItemAttributes, item_filter: ItemFilter, n: int, ids: np.ndarray,
                         vals: np.ndarray, extras: list[dict]) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """Fill a short complement list with the model's similar items of the seeds, after (and
    scored below) every co-purchase complement."""
    in_model = history.model_index(model.item_ids)[seed_codes]
    in_model = in_model[in_model >= 0]
    if not len(in_model):
        return ids, vals, extras
    ask = n + len(ids)
    sim_ids, _ = model.similar_indices(in_model, ask * CAP_OVERSAMPLE if item_filter.max_per_category else ask)
    flat = sim_ids[:, :].T.ravel()  # interleave the seeds' lists, best first
    flat = flat[flat >= 0]
    codes = history.items.lookup(model.item_ids.ids[flat]) if len(flat) else np.zeros(0, dtype=np.int64)
    _, first = np.unique(codes, return_index=True)
    codes = codes[np.sort(first)]
    codes = codes[(codes >= 0) & ~np.isin(codes, ids)]
    floor = float(vals.min()) if len(vals) else 0.0
    more = floor * 0.5 * (1.0 - np.arange(len(codes)) / max(len(codes), 1)) if floor > 0 else \
        -np.arange(len(codes), dtype=np.float32) / max(len(codes), 1)
    merged_ids = np.concatenate([ids, codes]).astype(np.int64)
    merged_vals = np.concatenate([vals, more]).astype(np.float32)
    kept_ids, kept_vals = top_ranked(merged_ids, merged_vals, allowed, attrs.category,
                                     item_filter.max_per_category, n)
    via = {int(i): "co_purchase" for i in ids}
    return kept_ids, kept_vals, [{"via": via.get(int(i), "similar")} for i in kept_ids]


# -- new for you ---------------------------------------------------------------------------
def new_for_you(model: Recommender, history: History, attrs: ItemAttributes, user_id: str, now: float,
                days: int, n: int, item_filter: ItemFilter | None = None, use_vector: bool = True) -> Block:
    """Catalog items created in the last `days` before `now` (epoch seconds), ranked by the user's taste.

    * a user the model knows: items with a vector get the model's score, as a rank score
      1 - rank / count in (0, 1]; items too new for a vector get their category's share of the
      user's events times COLD_PRIOR (source "personalized");
    * a user with events but no vector (arrived since training): every item by category share
      (source "category_affinity");
    * a user with no events: newest first (source "fallback").
    Items the user has already had any event with are left out; a tiny recency term
    (RECENCY_TIEBREAK) breaks ties towards the newer item.

    Parameters
    ----------
    model : Recommender
        Its catalog lists the candidates (created_at in epoch seconds).
    history : History
    attrs : ItemAttributes
        Catalog aligned to the history's item codes (the user's category shares).
    user_id : str
    now : float
        Epoch seconds.
    days : int
        The window, in days.
    n : int
    item_filter : ItemFilter, optional
    use_vector : bool
        False: the model's vector for the user is not used (an erased customer the model still holds), as
        for a user who arrived after training.

    Returns
    -------
    Block
        `extra` of each item: created_at (epoch seconds) and scored_by ("model", "category" or
        "recency").
    """
    item_filter = item_filter or ItemFilter()
    frame = model.catalog.frame
    if not len(frame):
        return Block(FALLBACK)
    created = frame["created_at"].to_numpy(dtype=np.float64)
    horizon = now - days * SECONDS_PER_DAY
    keep = (created >= horizon) & (created <= now)
    if item_filter.kind:
        keep &= (frame["kind"] == item_filter.kind).to_numpy()
    if item_filter.category:
        keep &= (frame["category"] == item_filter.category).to_numpy()
    if item_filter.in_stock_only:
        keep &= frame["in_stock"].to_numpy(dtype=bool)
    events = history.for_user(user_id).activity()
    ids = frame["item_id"].to_numpy(dtype=object)
    drop = set(item_filter.exclude) | set(history.items.ids[np.unique(events.items)].tolist())
    if drop:  # pandas hashes the ids; np.isin on object arrays compares every pair (seconds for a busy customer)
        keep &= ~frame["item_id"].isin(drop).to_numpy(dtype=bool)
    cand = np.flatnonzero(keep)
    if not len(cand):
        return Block(FALLBACK if not len(events) else PERSONALIZED)
    cand_ids, cand_cat, cand_created = ids[cand], frame["category"].to_numpy(dtype=object)[cand], created[cand]
    recency = (cand_created - horizon) / max(days * SECONDS_PER_DAY, 1.0)  # 0 oldest .. 1 newest
    share = category_share(events.items, attrs.category)
    affinity = np.array([share.get(str(c), 0.0) for c in cand_cat], dtype=np.float64)
    user_code = model.user_ids.get(user_id) if use_vector else None
    vector = np.zeros(len(cand), dtype=bool)
    if user_code is not None:
        source = PERSONALIZED
        codes = model.item_ids.lookup(cand_ids)
        vector = codes >= 0
        scores = affinity * COLD_PRIOR
        if vector.any():
            rank = _model_rank(model, user_code, codes[vector])
            scores[vector] = 1.0 - rank / vector.sum()
    elif len(events):
        source, scores = CATEGORY_AFFINITY, affinity
    else:
        source, scores = FALLBACK, recency.copy()
    scores = scores + RECENCY_TIEBREAK * recency
    local_attrs = ItemAttributes(kind=frame["kind"].to_numpy(dtype=object)[cand], category=cand_cat,
                                 in_stock=frame["in_stock"].to_numpy(dtype=bool)[cand], created_at=cand_created,
                                 known=np.ones(len(cand), dtype=bool))
    top, top_scores = top_ranked(np.arange(len(cand)), scores.astype(np.float32), np.ones(len(cand), dtype=bool),
                                 cand_cat, item_filter.max_per_category, n)
    extras = [{"created_at": float(cand_created[i]), "scored_by": "model" if vector[i] else
               ("category" if source != FALLBACK else "recency")} for i in top.tolist()]
    return Block(source, block_items(top, top_scores, cand_ids, local_attrs, extras))


def _model_rank(model: Recommender, user_code: int, item_codes: np.ndarray) -> np.ndarray:
    """Rank (0 = best) of each of `item_codes` for the user by the model's own score."""
    row = scale_confidence(model.user_items[[user_code]], model.params)
    ids, _ = model.algorithm.recommend(user_code, row, N=len(item_codes), filter_already_liked_items=False,
                                       items=item_codes)
    ids = np.asarray(ids, dtype=np.int64).ravel()
    rank = np.full(len(item_codes), len(item_codes) - 1, dtype=np.float64)
    position = {int(i): r for r, i in enumerate(ids.tolist())}
    for k, code in enumerate(item_codes.tolist()):
        if code in position:
            rank[k] = position[code]
    return rank


# -- buy again -----------------------------------------------------------------------------
@dataclass
class RepurchaseIntervals:
    """Per history item: the median days between one customer's repeat purchases, and how
    many such intervals there are.

    Attributes
    ----------
    median_days : numpy.ndarray
        float64, shape (history.n_items,): days; NaN with fewer than
        recommender.repurchase.MIN_ITEM_INTERVALS intervals.
    count : numpy.ndarray
        int64, shape (history.n_items,): intervals of at least MIN_GAP_DAYS between consecutive
        purchases of the item by the same customer.
    """

    median_days: np.ndarray
    count: np.ndarray

    @classmethod
    def build(cls, history: History) -> RepurchaseIntervals:
        """Count every customer's intervals between repeat purchases (purchase events only)."""
        positions = history.of_type("purchase")
        return cls(*item_medians(history.user_codes[positions].astype(np.int64),
                                 history.item_codes[positions].astype(np.int64), history.timestamps[positions],
                                 history.n_items))


def buy_again(history: History, intervals: RepurchaseIntervals, attrs: ItemAttributes, user_id: str,
              now: float, n: int, item_filter: ItemFilter | None = None) -> Block:
    """Items the user bought at least twice (orders a day or more apart), most overdue first.

    overdue = days since the last purchase / the expected interval (recommender.repurchase's rule:
    the user's own median interval with 2 or more intervals, else the item's median across
    customers when it rests on enough intervals, else the user's one interval). 1.0 means due today.

    Parameters
    ----------
    history : History
    intervals : RepurchaseIntervals
        Built from the same history.
    attrs : ItemAttributes
        Catalog aligned to the history's item codes.
    user_id : str
    now : float
        Epoch seconds.
    n : int
    item_filter : ItemFilter, optional

    Returns
    -------
    Block
        Scores are `overdue`; `extra`: purchases (orders), last_purchase (epoch seconds),
        interval_days and interval_source ("own" or "item").
    """
    item_filter = item_filter or ItemFilter()
    if history.user_code(user_id) is None:
        return Block(UNKNOWN_USER)
    bought = history.for_user(user_id).of_type("purchase")
    rows = _repeat_purchases(bought)
    if not rows:
        return Block(NO_REPEAT_PURCHASES)
    codes = np.array([r[0] for r in rows], dtype=np.int64)
    expected, basis = [], []
    for code, own in ((r[0], r[3]) for r in rows):
        days, source = expected_interval(own, intervals.median_days[code])  # own has a gap: never None
        expected.append(days)
        basis.append(source)
    last = np.array([r[2] for r in rows])
    expected_arr = np.array(expected)
    overdue = np.maximum(now - last, 0.0) / SECONDS_PER_DAY / expected_arr
    allowed = item_mask(item_filter, attrs, history)
    top, top_scores = top_ranked(codes, overdue.astype(np.float32), allowed, attrs.category,
                                 item_filter.max_per_category, n)
    where = {int(c): k for k, c in enumerate(codes.tolist())}
    extras = [{"purchases": rows[where[c]][1], "last_purchase": float(last[where[c]]),
               "interval_days": round(float(expected_arr[where[c]]), 3), "interval_source": basis[where[c]]}
              for c in top.tolist()]
    return Block(PURCHASES, block_items(top, top_scores, history.items.ids, attrs, extras))


def _repeat_purchases(bought: UserEvents) -> list[tuple[int, int, float, np.ndarray]]:
    """(item code, orders, last purchase time, interval days) for items ordered twice or more."""
    if len(bought) < 2:
        return []
    order = np.lexsort((bought.timestamps, bought.items))
    items, times = bought.items[order], bought.timestamps[order]
    out = []
    starts = np.concatenate([[0], np.flatnonzero(np.diff(items)) + 1, [len(items)]])
    for lo, hi in itertools.pairwise(starts.tolist()):
        gaps = order_gaps(times[lo:hi])
        if len(gaps):
            out.append((int(items[lo]), len(gaps) + 1, float(times[hi - 1]), gaps))
    return out
