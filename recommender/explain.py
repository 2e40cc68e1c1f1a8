"""Reasons: which of a customer's own items made a recommended item score high, so an email can
say "because you bought X".

Each algorithm's score splits into per-history-item parts:

* ALS: implicit's `explain` (Hu, Koren and Volinsky, "Collaborative Filtering for Implicit
  Feedback Datasets", ICDM 2008, section 5): the user's factors are
  W_u Y^T C_u p_u, so item j contributes c_uj * y_i^T W_u y_j. Computed here for all of a
  user's items and all candidates in two matrix products (one Cholesky per user), the same
  numbers implicit's explain gives one item at a time in a Python loop.
* item-kNN (cosine, BM25): the score is sum_j r_uj * S[j, i] exactly, so item j contributes
  r_uj * S[j, i], which is non-zero only when j is one of i's nearest neighbours.
* EASE: the score is sum_j x_uj B[j, i] exactly (Steck 2019), so item j contributes x_uj * B[j, i];
  B is dense, so every history item with a positive weight towards i is a reason.
* BPR has no such decomposition; its reasons are the history items whose factors are closest
  (cosine) to the candidate's, weighted by confidence: an approximation, said so here.
* The popularity model has no reasons (it does not look at the customer): empty lists.
* The repeat model's reasons are its collaborative model's; personal frequency has none (an item
  bought before is its own reason, and an item never explains itself).

Only items with a positive contribution are reasons; an item never explains itself. The cost is
one user's history against n candidates, so callers explain the final list, never candidates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import scipy.linalg
from implicit.cpu.als import AlternatingLeastSquares
from implicit.cpu.bpr import BayesianPersonalizedRanking
from implicit.nearest_neighbours import ItemItemRecommender
from scipy.sparse import csr_matrix

from recommender.algorithms import scale_confidence
from recommender.ease import EASE
from recommender.models import Recommender

#: A user as the model knows them (their row code in the training matrix), or their history as
#: item id -> confidence weight (or a plain list of item ids, each weighing 1), e.g. a customer who
#: arrived after training.
UserHistory = int | Mapping[str, float] | Sequence[str]
DEFAULT_TOP = 3


def because(model: Recommender, user: UserHistory, item_codes: Sequence[int] | np.ndarray,
            top: int = DEFAULT_TOP) -> list[list[str]]:
    """For each item code, up to `top` of the user's item ids that contributed most, best first.

    Parameters
    ----------
    model : Recommender
        A trained model.
    user : int, mapping of str to float, or sequence of str
        A user code (row of the training matrix; out of range: no history), or a history as item
        id -> confidence weight (or item ids, each weighing 1); unknown items are skipped.
    item_codes : sequence of int or numpy.ndarray
        Shape (k,): the recommended items to explain, as item codes.
    top : int
        Reasons per item at most (fewer when fewer history items contribute positively).

    Returns
    -------
    list of list of str
        One list per item code, in order (empty for the popularity model, an empty history or
        `top` < 1).
    """
    codes = np.asarray(item_codes, dtype=np.int64).reshape(-1)
    if len(codes) == 0:
        return []
    history, confidence = _history(model, user)
    if len(history) == 0 or top < 1 or model.is_popularity:
        return [[] for _ in codes]
    parts = contributions(model, history, confidence, codes)
    parts[history[:, None] == codes[None, :]] = 0.0  # an item never explains itself
    names = model.item_ids.ids
    out: list[list[str]] = []
    for column in parts.T:
        order = np.argsort(-column, kind="stable")[:top]
        out.append([str(names[history[j]]) for j in order if column[j] > 0])
    return out


def contributions(model: Recommender, history: np.ndarray, confidence: np.ndarray,
                  item_codes: np.ndarray) -> np.ndarray:
    """How much each history item adds to each candidate's score (see the module docstring).

    Parameters
    ----------
    model : Recommender
        A trained model (not the popularity model: its reasons are empty before this is called).
    history : numpy.ndarray
        int64, shape (h,): the user's item codes.
    confidence : numpy.ndarray
        float, shape (h,): their confidences on the scale the model was trained on
        (`scale_confidence` applied).
    item_codes : numpy.ndarray
        int64, shape (k,): candidate item codes.

    Returns
    -------
    numpy.ndarray
        float64, shape (h, k); all zeros for personal frequency, which has no collaborative part.
    """
    algorithm = model.algorithm
    if model.uses_baskets:  # the repeat model's collaborative part explains; personal frequency has none
        algorithm = getattr(algorithm, "base", None)
        if algorithm is None:
            return np.zeros((len(history), len(item_codes)))
    if isinstance(algorithm, ItemItemRecommender):
        similarity = algorithm.similarity.tocsr()
        block = similarity[history][:, item_codes].toarray()
        return block * confidence[:, None]
    if isinstance(algorithm, EASE):
        return np.asarray(algorithm.weights[history][:, item_codes], dtype=np.float64) * confidence[:, None]
    factors = np.asarray(algorithm.item_factors, dtype=np.float64)
    liked = factors[history]
    candidates = factors[item_codes]
    if isinstance(algorithm, AlternatingLeastSquares):
        c = confidence.astype(np.float64) * float(algorithm.alpha)
        a = (np.asarray(algorithm.YtY, dtype=np.float64) + algorithm.regularization * np.eye(factors.shape[1])
             + liked.T @ ((c - 1.0)[:, None] * liked))
        weighted = scipy.linalg.cho_solve(scipy.linalg.cho_factor(a), candidates.T)  # W_u y_i per candidate
        return (liked @ weighted) * c[:, None]
    if isinstance(algorithm, BayesianPersonalizedRanking):
        liked, candidates = liked[:, :-1], candidates[:, :-1]  # implicit's BPR keeps an item bias last
    norms = np.linalg.norm(liked, axis=1)[:, None] * np.linalg.norm(candidates, axis=1)[None, :]
    cosine = np.divide(liked @ candidates.T, norms, out=np.zeros((len(liked), len(candidates))), where=norms > 0)
    return cosine * confidence[:, None]


def _history(model: Recommender, user: UserHistory) -> tuple[np.ndarray, np.ndarray]:
    """The user's item codes and their confidences on the model's training scale."""
    if isinstance(user, (int, np.integer)):
        if not 0 <= int(user) < model.user_items.shape[0]:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        row = model.user_items[int(user)]
    else:
        if isinstance(user, Mapping):
            ids, weights = list(user), np.asarray(list(user.values()), dtype=np.float32)
        else:
            ids, weights = list(user), np.ones(len(user), dtype=np.float32)
        codes = model.item_ids.lookup(ids) if ids else np.zeros(0, dtype=np.int64)
        keep = (codes >= 0) & (weights > 0)
        row = csr_matrix((weights[keep], (np.zeros(int(keep.sum()), dtype=np.int64), codes[keep])),
                         shape=(1, len(model.item_ids)))
        row.sum_duplicates()
    row = scale_confidence(row, model.params)
    positive = row.data > 0
    return row.indices[positive].astype(np.int64), row.data[positive].astype(np.float32)
