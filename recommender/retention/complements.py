"""Complements from co-purchases, and the content that buyers of an item go on to read.

"Bought together" is counted on the purchase-only user x item matrix P (binary: a customer
bought the item or not): C = P^T P, the number of customers who bought both items. Views
and carts are left out on purpose: the training matrix's "similar items" already mixes in
browsing (substitutes: the other kettles), whereas complements are what people actually
buy together (the kettle and the descaler).

Counts are normalised like a cosine with a small shrinkage, co(i, j) / (sqrt(n_i n_j) + 1):
without it every list would be the best sellers, which co-occur with everything; the
shrinkage keeps two items bought once by the same customer from looking like a sure match.
"Content read by buyers" is the same construction between P and the binary matrix of clicks
and views on content items (guides, how-tos).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix

from recommender.catalog import ItemAttributes
from recommender.filters import ItemFilter
from recommender.retention.history import History
from recommender.retention.ranking import BlockItem, block_items, item_mask, top_ranked

#: Most recent distinct purchases per customer counted: a reseller buying 10,000 items would
#: otherwise add 10^8 pairs, and say nothing about what goes together.
MAX_BASKET = 200
SHRINK = 1.0


@dataclass
class Complements:
    """Co-purchase complements and content read by buyers, over a History's item codes.

    Attributes
    ----------
    purchases : scipy.sparse.csr_matrix
        float32, shape (users, items): 1 where the user bought the item (each user's MAX_BASKET
        most recently bought distinct items).
    copurchase : scipy.sparse.csr_matrix
        float32, shape (items, items): normalised co-purchase counts, zero diagonal.
    reads : scipy.sparse.csr_matrix
        float32, shape (items, items): buyers of the row item who clicked or viewed the column
        content item, normalised the same way.
    """

    purchases: csr_matrix  # users x items, 1 where the user bought the item (history codes)
    copurchase: csr_matrix  # items x items, normalised co-purchase counts, zero diagonal
    reads: csr_matrix  # items x items: buyers of the row item reading the column content item

    @classmethod
    def build(cls, history: History, is_content: np.ndarray) -> Complements:
        """Count and normalise co-purchases and reads (see the module docstring).

        Parameters
        ----------
        history : History
            Every event; only purchases, and clicks and views of content, are read.
        is_content : numpy.ndarray
            bool, shape (history.n_items,): catalog kind == "content" per history item code.

        Returns
        -------
        Complements
        """
        bought = _binary(history, history.of_type("purchase"), MAX_BASKET)
        read_pos = np.concatenate([history.of_type("click"), history.of_type("view")])
        read_pos = np.sort(read_pos[is_content[history.item_codes[read_pos]]])
        read = _binary(history, read_pos, None)
        copurchase = _normalised(bought, bought)
        copurchase.setdiag(0)
        copurchase.eliminate_zeros()
        return cls(bought, copurchase, _normalised(bought, read))

    def complement_scores(self, seeds: csr_matrix) -> csr_matrix:
        """Each row's seed items (weighted) times their complements.

        Parameters
        ----------
        seeds : scipy.sparse.csr_matrix
            shape (rows, items): `seed_matrix`.

        Returns
        -------
        scipy.sparse.csr_matrix
            float32, shape (rows, items): complement scores (seed items themselves score 0 through
            the zero diagonal, but other seeds may score).
        """
        return (seeds @ self.copurchase).tocsr()

    def read_scores(self, seeds: csr_matrix) -> csr_matrix:
        """As `complement_scores`, for content read by buyers of the seed items: shape (rows, items)."""
        return (seeds @ self.reads).tocsr()


def seed_matrix(rows: list[np.ndarray], weights: list[np.ndarray], n_items: int) -> csr_matrix:
    """One sparse row per entry of `rows`: the items to expand, with their weights.

    Parameters
    ----------
    rows : list of numpy.ndarray
        int item codes per row (repeats add up).
    weights : list of numpy.ndarray
        float, one per item code of the matching row.
    n_items : int
        Columns.

    Returns
    -------
    scipy.sparse.csr_matrix
        float32, shape (len(rows), n_items).
    """
    lengths = [len(r) for r in rows]
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    indices = np.concatenate(rows).astype(np.int64) if rows else np.zeros(0, dtype=np.int64)
    data = np.concatenate(weights).astype(np.float32) if rows else np.zeros(0, dtype=np.float32)
    seeds = csr_matrix((data, indices, indptr), shape=(len(rows), n_items))
    seeds.sum_duplicates()
    return seeds


def _binary(history: History, positions: np.ndarray, basket: int | None) -> csr_matrix:
    """users x items, 1 per distinct (user, item) among the events at `positions` (which are in
    (user, time) order); with `basket`, only each user's `basket` most recently touched items."""
    users = history.user_codes[positions].astype(np.int64)
    items = history.item_codes[positions].astype(np.int64)
    keys = users * max(history.n_items, 1) + items
    # the last occurrence of each (user, item): unique over the reversed keys
    _, last = np.unique(keys[::-1], return_index=True)
    last = len(keys) - 1 - last
    if basket is not None and len(last):
        # newest first within each user, then keep the first `basket` of each user
        recent = last[np.lexsort((-last, users[last]))]
        u = users[recent]
        starts = np.concatenate([[0], np.flatnonzero(np.diff(u)) + 1])
        rank = np.arange(len(u)) - np.repeat(starts, np.diff(np.concatenate([starts, [len(u)]])))
        last = recent[rank < basket]
    matrix = csr_matrix((np.ones(len(last), dtype=np.float32), (users[last], items[last])),
                        shape=(history.n_users, history.n_items))
    matrix.sum_duplicates()
    return matrix


def _normalised(left: csr_matrix, right: csr_matrix) -> csr_matrix:
    """left^T right with each (i, j) divided by sqrt(n_i n_j) + SHRINK (n: column counts)."""
    counts = (left.T @ right).tocsr().astype(np.float32)
    n_left = np.asarray(left.sum(axis=0)).ravel()
    n_right = np.asarray(right.sum(axis=0)).ravel()
    rows = np.repeat(np.arange(counts.shape[0]), np.diff(counts.indptr))
    counts.data = (counts.data / (np.sqrt(n_left[rows] * n_right[counts.indices]) + SHRINK)).astype(np.float32)
    return counts


def complements_of(history: History, complements: Complements, attrs: ItemAttributes, item_code: int, n: int,
                   content_n: int, item_filter: ItemFilter | None = None) -> tuple[list[BlockItem], list[BlockItem]]:
    """What buyers of one item also bought, and the content they read: the follow-up block's two
    lists for a single seed item.

    Parameters
    ----------
    history, complements, attrs
        The event index, its co-purchase statistics and the catalog aligned to history item codes.
    item_code : int
        The seed item, a code into `history.items`.
    n, content_n : int
        Lengths of the product list and the content list.
    item_filter : ItemFilter, optional
        Category, stock, exclusions and the per-category cap; `kind` is ignored (one list per kind).

    Returns
    -------
    (list of BlockItem, list of BlockItem)
        Products by normalised co-purchase score (`"via": "co_purchase"`), then content items by the
        same score between purchases and reads; never the seed item itself.
    """
    item_filter = item_filter or ItemFilter()
    allowed = item_mask(ItemFilter(category=item_filter.category, in_stock_only=item_filter.in_stock_only,
                                   exclude=item_filter.exclude), attrs, history)
    allowed[item_code] = False
    seeds = seed_matrix([np.array([item_code])], [np.ones(1)], history.n_items)
    bought = complements.complement_scores(seeds)
    ids, scores = top_ranked(bought.indices, bought.data, allowed & (attrs.kind != "content"), attrs.category,
                             item_filter.max_per_category, n)
    read = complements.read_scores(seeds)
    c_ids, c_scores = top_ranked(read.indices, read.data, allowed & (attrs.kind == "content"), attrs.category,
                                 item_filter.max_per_category, content_n)
    return (block_items(ids, scores, history.items.ids, attrs, [{"via": "co_purchase"}] * len(ids)),
            block_items(c_ids, c_scores, history.items.ids, attrs))
