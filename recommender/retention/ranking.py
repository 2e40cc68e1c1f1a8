"""Small shared pieces of the retention blocks: the item record they return and the one way
they turn scores into a filtered, capped top n."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from recommender.catalog import ItemAttributes
from recommender.filters import ItemFilter, allowed_mask, filter_ranked
from recommender.retention.history import History

#: Decimals of a score in an API response (RankedItem.to_dict; the read path rounds the same way).
SCORE_DECIMALS = 6


@dataclass(frozen=True)
class BlockItem:
    """One item of a block.

    Attributes
    ----------
    item_id : str
    score : float
        The block's own score (its meaning is the block's: see recommender.retention.blocks).
    kind, category : str or None
        From the catalog; None when it lacks them.
    extra : dict
        Block-specific, JSON-serialisable fields (carted_at in epoch seconds, overdue, new, ...).
    """

    item_id: str
    score: float
    kind: str | None = None
    category: str | None = None
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """The JSON object of an API response: the fields, score rounded to SCORE_DECIMALS, `extra` merged in."""
        return {"item_id": self.item_id, "score": round(float(self.score), SCORE_DECIMALS), "kind": self.kind,
                "category": self.category, **self.extra}


def top_ranked(ids: np.ndarray, scores: np.ndarray, allowed: np.ndarray, categories: np.ndarray,
               cap: int | None, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Best `n` of unordered candidates: sort by score (ties: lower index first), drop what
    `allowed` refuses, apply the per-category cap.

    Parameters
    ----------
    ids : numpy.ndarray
        int, shape (k,): item indices, any order.
    scores : numpy.ndarray
        float, shape (k,).
    allowed : numpy.ndarray
        bool, shape (items,).
    categories : numpy.ndarray
        shape (items,): each item index's category.
    cap : int or None
        At most this many per category.
    n : int

    Returns
    -------
    (ids, scores) : tuple of numpy.ndarray
        int64 and float32, at most n each, best first.
    """
    if len(ids) == 0:
        return ids.astype(np.int64), scores.astype(np.float32)
    order = np.lexsort((ids, -scores))
    return filter_ranked(np.asarray(ids, dtype=np.int64)[order], np.asarray(scores, dtype=np.float32)[order],
                         allowed, categories, ItemFilter(max_per_category=cap), n)


def block_items(ids: np.ndarray, scores: np.ndarray, item_ids: np.ndarray, attrs: ItemAttributes,
                extras: list[dict] | None = None) -> list[BlockItem]:
    """Index/score arrays to BlockItems (kind and category None when the catalog lacks them).

    Parameters
    ----------
    ids : numpy.ndarray
        int, shape (k,): item indices into `item_ids` and `attrs`.
    scores : numpy.ndarray
        shape (k,).
    item_ids : numpy.ndarray
        object array of str, shape (items,).
    attrs : ItemAttributes
        Catalog aligned to the same item indices.
    extras : list of dict, optional
        One per item, its `BlockItem.extra`.

    Returns
    -------
    list of BlockItem
    """
    out = []
    for k, (i, s) in enumerate(zip(ids.tolist(), scores.tolist())):
        out.append(BlockItem(str(item_ids[i]), float(s), attrs.kind[i] or None, attrs.category[i] or None,
                             extras[k] if extras else {}))
    return out


def category_share(item_codes: np.ndarray, categories: np.ndarray) -> dict[str, float]:
    """Share of a user's events per category (items without a category ignored): their taste
    when nothing better is known.

    Parameters
    ----------
    item_codes : numpy.ndarray
        int, shape (events,): the items of the user's events (repeats count again).
    categories : numpy.ndarray
        shape (items,): each item code's category ("" for none).

    Returns
    -------
    dict of str to float
        Category -> share of the counted events, summing to 1 (empty when nothing counts).
    """
    if len(item_codes) == 0:
        return {}
    cats = categories[item_codes].astype(str)
    cats = cats[cats != ""]
    if len(cats) == 0:
        return {}
    names, counts = np.unique(cats, return_counts=True)
    return dict(zip(names.tolist(), (counts / counts.sum()).tolist()))


def item_mask(item_filter: ItemFilter, attrs: ItemAttributes, history: History) -> np.ndarray:
    """`allowed_mask` over history item codes (the filter's kind, category, stock, exclusions).

    Returns
    -------
    numpy.ndarray
        bool, shape (history items,); `attrs` must be aligned to `history.items`.
    """
    return allowed_mask(item_filter, attrs, history.items.ids)


def category_codes(categories: np.ndarray) -> np.ndarray:
    """Small integer codes for a category column ("" is a category too), for vectorised caps.

    Parameters
    ----------
    categories : numpy.ndarray
        shape (items,): str, "" or missing (missing counts as "").

    Returns
    -------
    numpy.ndarray
        int64, shape (items,): codes from 0, one per distinct category.
    """
    codes, _ = pd.factorize(pd.Series(categories, dtype=object).fillna("").astype(str))
    return codes.astype(np.int64)


def capped_top(ids: np.ndarray, valid: np.ndarray, cat_codes: np.ndarray, cap: int | None, n: int) -> np.ndarray:
    """For ranked rows of item indices, a mask of the first `n` valid items of each row with at
    most `cap` per category: the per-category cap for a whole chunk of lists at once.

    Parameters
    ----------
    ids : numpy.ndarray
        int, shape (rows, k): item indices, best first (negative entries must be invalid).
    valid : numpy.ndarray
        bool, shape (rows, k): which entries may be kept at all.
    cat_codes : numpy.ndarray
        int64, shape (items,): `category_codes`.
    cap : int or None
        At most this many per category in a row; None: no cap.
    n : int
        At most this many kept per row.

    Returns
    -------
    numpy.ndarray
        bool, shape (rows, k).
    """
    keep = valid.copy()
    rows, width = ids.shape
    if cap is not None and ids.size:
        cats = np.where(valid, cat_codes[np.maximum(ids, 0)], -1)
        key = (np.arange(rows)[:, None] * (int(cat_codes.max(initial=0)) + 2) + cats + 1).ravel()
        order = np.argsort(key, kind="stable")  # stable: rank order kept within (row, category)
        sorted_key = key[order]
        starts = np.concatenate([[0], np.flatnonzero(np.diff(sorted_key)) + 1])
        run_start = np.repeat(starts, np.diff(np.concatenate([starts, [len(order)]])))
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order)) - run_start
        keep &= rank.reshape(rows, width) < cap
    return keep & (np.cumsum(keep, axis=1) <= n)
