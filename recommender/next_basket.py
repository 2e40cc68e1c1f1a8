"""Next-basket evaluation: how well ranked lists predict each customer's next basket.

The metrics follow "A Next Basket Recommendation Reality Check" (Li et al., ACM TOIS 2023; their
evaluation/metrics.py and model_performance.py), so figures compare with the literature's:

* recall@k: hits in the top k / items in the target basket;
* nDCG@k: DCG of the top k (binary gains, 1 / log2(rank + 1)) over the ideal DCG of the *whole*
  target basket, not capped at k as recommender.evaluation's nDCG is (`ndcg_capped` gives that
  one too): a basket larger than k cannot reach 1;
* PHR@k (personal hit ratio): the share of customers with at least one hit;
* the repeat / explore split: recall on the target's items the customer bought before (averaged
  over customers whose target holds such items) and on the new ones (likewise), and the share of
  bought-before items among the top k (divided by k).

Every customer counts, including those whose list is shorter than k. Relevance is binary.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.sparse import csr_matrix

from recommender.errors import InputError
from recommender.models import Recommender

#: Customers ranked per call when scoring a Recommender.
EVAL_BATCH = 2048


@dataclass
class NextBasketMetrics:
    """Mean next-basket metrics at one k over `users` customers (see the module docstring)."""

    k: int
    users: int
    recall: float
    ndcg: float
    ndcg_capped: float
    phr: float
    repeat_recall: float  # NaN when no customer's target holds a bought-before item
    explore_recall: float  # NaN when no customer's target holds a new item
    repeat_share: float
    repeat_users: int
    explore_users: int

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def _lookup(matrix: csr_matrix, ranked: np.ndarray) -> np.ndarray:
    """bool (users, k): whether matrix[u, ranked[u, j]] is non-zero (False where ranked is -1)."""
    users = np.repeat(np.arange(ranked.shape[0]), ranked.shape[1]).reshape(ranked.shape)
    valid = ranked >= 0
    found = np.zeros(ranked.shape, dtype=bool)
    found[valid] = np.asarray(matrix[users[valid], ranked[valid]]).ravel() != 0
    return found


def next_basket_metrics(ranked: np.ndarray, targets: csr_matrix, history: csr_matrix, k: int) -> NextBasketMetrics:
    """Metrics of ranked lists against next baskets.

    Parameters
    ----------
    ranked : numpy.ndarray
        int64, shape (customers, at least k): item codes, best first, -1 where a list is short.
    targets : scipy.sparse.csr_matrix
        shape (customers, items), non-zero where the item is in the customer's next basket.
    history : scipy.sparse.csr_matrix
        shape (customers, items), non-zero where the customer bought the item before.
    k : int

    Raises
    ------
    InputError
        shapes disagree, k is not positive or wider than the lists, or a customer has an empty target.
    """
    ranked = np.asarray(ranked, dtype=np.int64)
    if ranked.ndim != 2 or ranked.shape[0] != targets.shape[0] or history.shape != targets.shape:
        raise InputError("ranked lists, targets and history must have one row per customer and the same items")
    if not 0 < k <= ranked.shape[1]:
        raise InputError(f"k must be between 1 and the list length {ranked.shape[1]}")
    targets = (csr_matrix(targets) != 0).astype(np.float32).tocsr()
    history = (csr_matrix(history) != 0).astype(np.float32).tocsr()
    n_target = np.diff(targets.indptr).astype(np.float64)
    if (n_target == 0).any():
        raise InputError("every customer needs a non-empty target basket")
    top = ranked[:, :k]
    hits = _lookup(targets, top)
    bought = _lookup(history, top)
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = (hits * discount).sum(axis=1)
    ideal = np.cumsum(1.0 / np.log2(np.arange(2, int(n_target.max()) + 2)))
    repeat_target = targets.multiply(history).tocsr()
    n_repeat = np.diff(repeat_target.indptr).astype(np.float64)
    n_explore = n_target - n_repeat
    repeat_hits = (hits & bought).sum(axis=1)
    explore_hits = (hits & ~bought).sum(axis=1)
    has_repeat, has_explore = n_repeat > 0, n_explore > 0
    return NextBasketMetrics(
        k=k, users=len(top),
        recall=float((hits.sum(axis=1) / n_target).mean()) if len(top) else 0.0,
        ndcg=float((dcg / ideal[n_target.astype(np.int64) - 1]).mean()) if len(top) else 0.0,
        ndcg_capped=float((dcg / np.cumsum(discount)[np.minimum(n_target, k).astype(np.int64) - 1]).mean())
        if len(top) else 0.0,
        phr=float((hits.any(axis=1)).mean()) if len(top) else 0.0,
        repeat_recall=float((repeat_hits[has_repeat] / n_repeat[has_repeat]).mean())
        if has_repeat.any() else float("nan"),
        explore_recall=float((explore_hits[has_explore] / n_explore[has_explore]).mean())
        if has_explore.any() else float("nan"),
        repeat_share=float((bought.sum(axis=1) / k).mean()) if len(top) else 0.0,
        repeat_users=int(has_repeat.sum()), explore_users=int(has_explore.sum()),
    )


def rank_customers(model: Recommender, user_codes: np.ndarray, n: int,
                   filter_interacted: bool = True) -> np.ndarray:
    """int64 (customers, n): the lists `model` serves known customers (Recommender.recommend_indices).

    `filter_interacted=False` lets any model's list hold what the customer interacted with.
    """
    user_codes = np.asarray(user_codes, dtype=np.int64)
    out = np.full((len(user_codes), n), -1, dtype=np.int64)
    for start in range(0, len(user_codes), EVAL_BATCH):
        batch = user_codes[start:start + EVAL_BATCH]
        out[start:start + len(batch)], _ = model.recommend_indices(batch, n, filter_interacted=filter_interacted)
    return out
