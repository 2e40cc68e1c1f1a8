"""Business filters over recommendation lists: kind, category, stock, exclusions, diversity."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recommender.catalog import ItemAttributes

#: How many more candidates to fetch than asked for when a category cap will thin the list.
CAP_OVERSAMPLE = 4


@dataclass(frozen=True)
class ItemFilter:
    """What a caller allows in a list; the default allows everything.

    Attributes
    ----------
    kind : str or None
        Only items of this kind ("product", "content"); None: any.
    category : str or None
        Only items of this category; None: any.
    in_stock_only : bool
        Only items in stock (items without catalog data count as in stock).
    exclude : frozenset of str
        Item ids never to return.
    max_per_category : int or None
        At most this many items of one category per list (items without a category share one);
        None: no cap.
    """

    kind: str | None = None
    category: str | None = None
    in_stock_only: bool = False
    exclude: frozenset[str] = frozenset()
    max_per_category: int | None = None

    @property
    def restricts_items(self) -> bool:
        """Whether some item is filtered out (the category cap aside, which depends on the list)."""
        return bool(self.kind or self.category or self.in_stock_only or self.exclude)


def allowed_mask(item_filter: ItemFilter, attrs: ItemAttributes, item_ids: np.ndarray,
                 removed: np.ndarray | None = None) -> np.ndarray:
    """Boolean mask over item indices of what `item_filter` lets through (the category cap aside).

    Parameters
    ----------
    item_filter : ItemFilter
    attrs : ItemAttributes
        The catalog aligned to the model's items (recommender.catalog), arrays of shape (items,).
    item_ids : numpy.ndarray
        object array of str, shape (items,): the id of each item index (for `exclude`).
    removed : numpy.ndarray, optional
        bool, shape (items,): items taken out of the catalog (never recommended again).

    Returns
    -------
    numpy.ndarray
        bool, shape (items,).
    """
    mask = np.ones(len(item_ids), dtype=bool)
    if removed is not None:
        mask &= ~removed
    if item_filter.kind:
        mask &= attrs.kind == item_filter.kind
    if item_filter.category:
        mask &= attrs.category == item_filter.category
    if item_filter.in_stock_only:
        mask &= attrs.in_stock
    if item_filter.exclude:
        mask &= ~np.isin(item_ids, np.array(sorted(item_filter.exclude), dtype=object))
    return mask


def cap_per_category(indices: np.ndarray, categories: np.ndarray, cap: int | None) -> np.ndarray:
    """Positions in a ranked list kept when each category may appear at most `cap` times.

    Parameters
    ----------
    indices : numpy.ndarray
        int, shape (k,): item indices, best first.
    categories : numpy.ndarray
        Shape (items,): each item index's category; items without one share the "" category.
    cap : int or None
        None keeps everything.

    Returns
    -------
    numpy.ndarray
        int64, ascending positions into `indices` (so ranked order is preserved).
    """
    if cap is None or len(indices) == 0:
        return np.arange(len(indices))
    cats = categories[indices]
    _, codes = np.unique(cats.astype(str), return_inverse=True)
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_codes)) + 1]
    run_start = np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    rank_in_category = np.empty(len(indices), dtype=np.int64)
    rank_in_category[order] = np.arange(len(order)) - run_start
    return np.flatnonzero(rank_in_category < cap)


def filter_ranked(indices: np.ndarray, scores: np.ndarray, allowed: np.ndarray,
                  categories: np.ndarray, item_filter: ItemFilter, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Apply a filter to any ranked list of item indices and keep the best `n`.

    Parameters
    ----------
    indices : numpy.ndarray
        int, shape (k,): item indices, best first; negative entries (padding) are dropped.
    scores : numpy.ndarray
        float, shape (k,): their scores; entries that are not finite or at most -1e30 (implicit's
        padding of liked items at -FLT_MAX) are dropped.
    allowed : numpy.ndarray
        bool, shape (items,): `allowed_mask`.
    categories : numpy.ndarray
        Shape (items,): each item index's category, for the cap.
    item_filter : ItemFilter
        Only its `max_per_category` is read here (the rest is in `allowed`).
    n : int
        How many to keep.

    Returns
    -------
    (indices, scores) : tuple of numpy.ndarray
        At most n entries each, in ranked order, dtypes as given.
    """
    valid = (indices >= 0) & np.isfinite(scores) & (scores > -1e30)
    indices, scores = indices[valid], scores[valid]
    keep = allowed[indices]
    indices, scores = indices[keep], scores[keep]
    kept = cap_per_category(indices, categories, item_filter.max_per_category)[:n]
    return indices[kept], scores[kept]
