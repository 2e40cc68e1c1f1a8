"""EASE with Data-Adaptive Normalization (DAN): Park, Yoon, Kim and Lee, "Why is Normalization
Necessary for Linear Recommenders?" (SIGIR 2025), applied to Steck's EASE with the dropout
regularisation of Steck's DLAE ("Autoencoders that don't overfit towards the identity", NeurIPS 2020).

Plain EASE (recommender.ease) fits B to the Gram matrix X^T X, in which a customer with 500 items
weighs as much as 500 customers with one, and ranks popular items first because they co-occur with
everything. DAN changes three things and keeps EASE's closed form:

* user normalisation: the Gram matrix is X^T D_U^-b X, each customer's rows weighted by n_u^-b
  (n_u the customer's confidence total, b the `user_exponent`; b = 1 is the random-walk
  normalisation, 0 plain EASE);
* dropout regularisation: each item's ridge is lambda + p / (1 - p) * sum_u x_ui^2 (DLAE's Lambda for
  input dropout with probability p), so items seen often are held back more than a single lambda does;
* item normalisation: W = D_I^a B D_I^-a, i.e. W[j, i] = B[j, i] c_j^a / c_i^a for item totals c
  (a the `item_exponent`): the score of item i is divided by c_i^a (less popularity bias) and a
  history item j counts c_j^a times (a popular item says as much as a rare one).

The fit is EASE's (one dense items x items float32 array, items^3 flops, the same `max_items` limit),
and W is served exactly as EASE's B: a customer's scores are their row times W, so a customer who
arrived after training is folded in exactly, and similar items of i are the row W[i, :], the list a
customer whose only item is i gets. `b` and `a` are the `--beta` and `--alpha` of the authors' code
(github.com/psm1206/DAN, model EASE_DAN), `p` its `--drop_p`, lambda its `--reg_p`.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix

from recommender.ease import EASE, ease_weights
from recommender.errors import InputError


def _powers(totals: np.ndarray, exponent: float) -> np.ndarray:
    """totals ** exponent in float32, 1 where a total is zero (an empty row or column stays empty)."""
    out = np.ones(len(totals), dtype=np.float32)
    positive = totals > 0
    out[positive] = np.power(totals[positive], exponent)
    return out


def dan_weights(user_items: csr_matrix, regularization: float, dropout: float, user_exponent: float,
                item_exponent: float) -> np.ndarray:
    """DAN's weight matrix W for EASE as float32 (items, items), diagonal zero.

    Parameters
    ----------
    user_items : scipy.sparse.csr_matrix, shape (users, items)
        Confidences X (non-negative; binary in the paper, Encore's scaled confidences here).
    regularization : float
        lambda > 0, every item's base ridge.
    dropout : float
        p in [0, 1): the DLAE ridge p / (1 - p) * sum_u x_ui^2 added per item.
    user_exponent : float
        b >= 0: customer u's rows weigh n_u^-b in the Gram matrix (n_u = their row total).
    item_exponent : float
        a >= 0: W = D_I^a B D_I^-a with D_I the item totals (column totals of X).

    Raises
    ------
    InputError
        a parameter out of range, or the regularised Gram matrix is not positive definite.
    """
    if not regularization > 0:
        raise InputError("dan_regularization must be positive")
    if not 0.0 <= dropout < 1.0:
        raise InputError("dan_dropout must be in [0, 1)")
    if not (user_exponent >= 0 and item_exponent >= 0):
        raise InputError("dan_user_exponent and dan_item_exponent must be at least 0")
    x = csr_matrix(user_items, dtype=np.float32)
    if x.nnz and float(x.data.min()) < 0:
        raise InputError("DAN needs non-negative confidences")
    user_totals = np.asarray(x.sum(axis=1), dtype=np.float64).ravel()
    item_totals = np.asarray(x.sum(axis=0), dtype=np.float64).ravel()
    squares = np.asarray(x.multiply(x).sum(axis=0), dtype=np.float64).ravel()
    weighted = x.copy()  # X^T D_U^-b X is the Gram matrix of rows scaled by n_u^(-b/2)
    weighted.data *= np.repeat(_powers(user_totals, -user_exponent / 2), np.diff(x.indptr))
    ridge = (regularization + dropout / (1.0 - dropout) * squares).astype(np.float32)
    w = ease_weights(weighted, ridge)
    if item_exponent:
        w *= _powers(item_totals, item_exponent)[:, None]  # in place: no second items x items array
        w *= _powers(item_totals, -item_exponent)[None, :]
    return w


class EASEDAN(EASE):
    """EASE with DAN behind implicit's interface; serves, folds in and explains exactly as EASE.

    Parameters
    ----------
    regularization : float
        lambda, the base ridge (on the user-normalised Gram matrix, whose scale shrinks as
        `user_exponent` grows: far below plain EASE's 250).
    dropout : float
        p of the DLAE ridge, in [0, 1).
    user_exponent, item_exponent : float
        b and a of DAN (module docstring), each at least 0.
    max_items : int, optional
        The largest catalog `fit` accepts (None: recommender.ease.MAX_ITEMS).

    Attributes
    ----------
    weights : numpy.ndarray, float32, shape (items, items)
        W after `fit` (or restored from an artifact, possibly a read-only memory map: never written).
    """

    def __init__(self, regularization: float = 3.0, dropout: float = 0.1, user_exponent: float = 0.5,
                 item_exponent: float = 0.1, max_items: int | None = None) -> None:
        super().__init__(regularization, max_items)
        self.dropout = float(dropout)
        self.user_exponent = float(user_exponent)
        self.item_exponent = float(item_exponent)

    def fit(self, user_items: csr_matrix, show_progress: bool = False, callback=None) -> None:
        """Compute W from the (users, items) confidence matrix.

        Raises
        ------
        InputError
            more items than `max_items`, or a parameter out of range (dan_weights).
        """
        self.check_size(user_items.shape[1])
        self.weights = dan_weights(user_items, self.regularization, self.dropout, self.user_exponent,
                                   self.item_exponent)
