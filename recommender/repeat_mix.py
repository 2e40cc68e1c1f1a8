"""The learned mix of the repeat-aware model: how much a store's customers rebuy, and what.

For each customer and candidate item a few features describe the repeat side (bought before,
how often, how recently, the item's repurchase rate, the customer's own repeat share, TIFU-KNN's
personal score) and the explore side (the nearest customers' TIFU-KNN vectors, the collaborative
model's rank, popularity). A logistic regression on them predicts whether the item is in the
customer's next basket; it is fitted at every training on the store's own customers (their newest
basket held out), so a store where nobody rebuys learns to rank bought items last, and a grocery
learns to put the staples first. TIFU-KNN's own blend (alpha * own + (1 - alpha) * neighbours)
is the special case of two of these features with fixed weights.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from recommender.errors import InputError

#: The mix's features, in the order of its weights (the intercept comes last).
FEATURES: tuple[str, ...] = (
    "bought",  # 1 if the customer bought the item before
    "log_count",  # log(1 + baskets holding the item)
    "own_score",  # the customer's TIFU-KNN vector, divided by its largest entry
    "recency",  # 1 / (1 + baskets since the item was last bought), bought items only
    "item_repeat_rate",  # the item's repurchase rate, bought items only
    "customer_repeat_share",  # the customer's repeat share, bought items only
    "neighbours",  # mean TIFU-KNN vector of the nearest customers, divided by its largest entry
    "neighbours_new",  # the same, for items the customer never bought
    "collaborative",  # 1 - rank / candidates in the collaborative model's list of never-bought items
    "popularity",  # log(1 + baskets holding the item) / log(1 + the bestseller's)
)
#: L2 penalty of the logistic regression (on the feature weights, not the intercept).
MIX_L2 = 1.0


@dataclass
class MixInputs:
    """One block of customers, dense over the item space.

    Attributes
    ----------
    count, own, since : numpy.ndarray
        float32, shape (rows, items): baskets holding the item, the TIFU-KNN vector, and baskets
        since the last purchase (read only where count > 0).
    neighbours : numpy.ndarray
        float32, shape (rows, items): mean TIFU-KNN vector of the nearest customers.
    collaborative : numpy.ndarray
        float32, shape (rows, items): the collaborative rank feature (0 outside its list).
    candidates : numpy.ndarray
        bool, shape (rows, items): the items this block may rank.
    user_share : numpy.ndarray
        float32, shape (rows,).
    item_rate, popularity : numpy.ndarray
        float32, shape (items,).
    """

    count: np.ndarray
    own: np.ndarray
    since: np.ndarray
    neighbours: np.ndarray
    collaborative: np.ndarray
    candidates: np.ndarray
    user_share: np.ndarray
    item_rate: np.ndarray
    popularity: np.ndarray


def _row_scaled(values: np.ndarray) -> np.ndarray:
    top = values.max(axis=1, keepdims=True) if values.shape[1] else np.zeros((len(values), 1))
    return np.divide(values, top, out=np.zeros_like(values), where=top > 0)


def feature_columns(inputs: MixInputs) -> Iterator[np.ndarray]:
    """Each of `FEATURES` in turn, as a float32 array of shape (rows, items)."""
    bought = (inputs.count > 0).astype(np.float32)
    yield bought
    yield np.log1p(inputs.count)
    yield _row_scaled(inputs.own)
    yield bought / (1.0 + inputs.since)
    yield bought * inputs.item_rate[None, :]
    yield bought * inputs.user_share[:, None]
    neighbours = _row_scaled(inputs.neighbours)
    yield neighbours
    yield (1.0 - bought) * neighbours
    yield inputs.collaborative
    yield np.broadcast_to(inputs.popularity[None, :], inputs.count.shape)


def candidate_mask(count: np.ndarray, neighbours: np.ndarray, collaborative: np.ndarray,
                   popularity: np.ndarray, allowed: np.ndarray, per_source: int) -> np.ndarray:
    """bool, shape (rows, items): bought items, the top `per_source` of the neighbours' vector and of
    popularity, and every item of the collaborative list; only where `allowed` (shape (items,)) is true."""
    mask = (count > 0) | (collaborative > 0)
    allowed_codes = np.flatnonzero(allowed)
    take = min(per_source, len(allowed_codes))
    if take:
        near = np.where(allowed[None, :], neighbours, -np.inf)
        top = np.argpartition(-near, take - 1, axis=1)[:, :take]
        rows = np.repeat(np.arange(len(count)), take)
        positive = near[rows, top.ravel()] > 0
        mask[rows[positive], top.ravel()[positive]] = True
        popular = allowed_codes[np.argsort(-popularity[allowed_codes], kind="stable")[:take]]
        mask[:, popular] = True
    return mask & allowed[None, :]


def mix_scores(inputs: MixInputs, weights: np.ndarray) -> np.ndarray:
    """float32, shape (rows, items): the predicted chance of being in the next basket, -inf off the candidates."""
    weights = np.asarray(weights, dtype=np.float64)
    if len(weights) != len(FEATURES) + 1:
        raise InputError(f"the mix has {len(weights)} weights; expected {len(FEATURES) + 1}")
    logit = np.full(inputs.count.shape, weights[-1], dtype=np.float32)
    for weight, column in zip(weights[:-1], feature_columns(inputs)):
        if weight:
            logit += np.float32(weight) * column
    scores = 1.0 / (1.0 + np.exp(-logit))
    return np.where(inputs.candidates, scores, -np.inf).astype(np.float32)


def training_rows(inputs: MixInputs, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The candidates of a block as a design matrix and labels.

    Parameters
    ----------
    targets : numpy.ndarray
        bool, shape (rows, items): the items of each customer's held-out basket.

    Returns
    -------
    (features, labels) : tuple of numpy.ndarray
        float32 of shape (candidates, len(FEATURES)), and float32 0/1 of shape (candidates,).
    """
    mask = inputs.candidates
    columns = [column[mask] for column in feature_columns(inputs)]
    return np.stack(columns, axis=1).astype(np.float32), targets[mask].astype(np.float32)


def fit_mix(features: np.ndarray, labels: np.ndarray, l2: float = MIX_L2) -> np.ndarray:
    """L2-penalised logistic regression (scipy's L-BFGS-B) of the labels on the features.

    Returns
    -------
    numpy.ndarray
        float64, shape (len(FEATURES) + 1,): one weight per feature, then the intercept.

    Raises
    ------
    InputError
        no candidate rows, or the labels are all alike (nothing to learn from).
    """
    x = np.c_[np.asarray(features, dtype=np.float64), np.ones(len(features))]
    y = np.asarray(labels, dtype=np.float64)
    if len(y) == 0 or y.min() == y.max():
        raise InputError("the held-out baskets give no positive and negative candidates to learn the mix from")
    penalty = np.r_[np.full(x.shape[1] - 1, l2), 0.0]

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = x @ w
        p = 1.0 / (1.0 + np.exp(-z))
        value = float(np.logaddexp(0.0, z).sum() - y @ z + 0.5 * (penalty * w) @ w)
        return value, x.T @ (p - y) + penalty * w

    result = minimize(loss, np.zeros(x.shape[1]), jac=True, method="L-BFGS-B")
    return result.x
