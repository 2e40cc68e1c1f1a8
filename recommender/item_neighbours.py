"""Item-to-item neighbours for the models that have none of their own: the popularity and personal-frequency
baselines rank a customer's list without any notion of which items go together, so their "similar items"
would be the bestsellers for every item. When one of them serves (model choice found nothing that beats it),
`Recommender.fit` gives it these neighbours: implicit's item-kNN with cosine similarity over the same
confidence matrix (Sarwar et al., "Item-based collaborative filtering recommendation algorithms", WWW 2001),
the `cosine` algorithm's own similarity. Items with fewer neighbours than asked are topped up with the
bestsellers, after every neighbour.
"""

from __future__ import annotations

import warnings

import numpy as np
from implicit.nearest_neighbours import CosineRecommender
from implicit.utils import ParameterWarning
from scipy.sparse import csr_matrix

#: Algorithms that have no item similarity of their own (ModelParams.algorithm names).
WITHOUT_ITEM_SIMILARITY = frozenset({"popular", "personal"})


def fit_neighbours(user_items: csr_matrix, k: int) -> CosineRecommender:
    """Item-kNN (cosine) on `user_items` (users x items CSR confidence matrix), `k` neighbours per item."""
    model = CosineRecommender(K=k)
    with warnings.catch_warnings():  # implicit converts its own COO input and says so
        warnings.simplefilter("ignore", ParameterWarning)
        model.fit(user_items, show_progress=False)
    return model


def similar_or_popular(neighbours: CosineRecommender, popularity: np.ndarray, itemid, n: int,
                       items: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """implicit's `similar_items` contract from item neighbours, topped up with bestsellers.

    Parameters
    ----------
    neighbours : CosineRecommender
        Fitted (`fit_neighbours`).
    popularity : numpy.ndarray
        float32, shape (items,): what the bestseller top-up ranks by.
    itemid : int or numpy.ndarray
        One item code, or int codes of shape (k,).
    n : int
        Items per list.
    items : numpy.ndarray, optional
        int, the candidate item codes (default every item).

    Returns
    -------
    (ids, scores) : tuple of numpy.ndarray
        int64 and float32, shape (n,) for one item, (k, n) for several (n at most the candidates): the item
        itself first (score 1, as implicit's item-kNN gives it), then its neighbours by cosine similarity,
        then bestsellers with score 0.
    """
    single = np.isscalar(itemid)
    codes = np.atleast_1d(np.asarray(itemid, dtype=np.int64))
    candidates = np.arange(len(popularity)) if items is None else np.asarray(items, dtype=np.int64)
    n = min(n, len(candidates))
    popular = candidates[np.argsort(-popularity[candidates], kind="stable")][:n + 1]
    similarity = neighbours.similarity.tocsr()
    allowed = np.zeros(len(popularity), dtype=bool)
    allowed[candidates] = True
    out_ids = np.empty((len(codes), n), dtype=np.int64)
    out_scores = np.empty((len(codes), n), dtype=np.float32)
    for row, code in enumerate(codes.tolist()):
        start, stop = similarity.indptr[code], similarity.indptr[code + 1]
        near, values = similarity.indices[start:stop], similarity.data[start:stop]
        keep = allowed[near] & (values > 0) & (near != code)
        near, values = near[keep], values[keep]
        order = np.argsort(-values, kind="stable")
        ranked = [code] if allowed[code] else []
        scores = [1.0] if allowed[code] else []
        ranked += near[order].tolist()
        scores += values[order].tolist()
        seen = set(ranked)
        for item in popular.tolist():
            if len(ranked) >= n:
                break
            if item not in seen:
                ranked.append(item)
                scores.append(0.0)
        out_ids[row], out_scores[row] = ranked[:n], scores[:n]
    return (out_ids[0], out_scores[0]) if single else (out_ids, out_scores)
