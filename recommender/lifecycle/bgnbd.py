"""The BG/NBD model of repeat purchasing: likelihood, maximum-likelihood fit and per-customer expectations.

Fader, Hardie and Lee (2005), "Counting Your Customers the Easy Way: An Alternative to the Pareto/NBD Model",
Marketing Science 24(2), 275-284, and Hardie's notes at brucehardie.com (004: implementing the likelihood,
021: P(alive)). While alive, a customer buys as a Poisson process with rate lambda ~ Gamma(r, alpha); after
each repeat purchase they drop out with probability p ~ Beta(a, b). Times (t, t_x, T, alpha) are in days in
this library; any unit works as long as it is one unit throughout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import betaln, expit, gammaln, hyp2f1

from recommender.errors import InputError
from recommender.lifecycle.fitting import FitError, maximize_log_likelihood

#: Where the fit starts (r, alpha, a, b), alpha in units of the customers' mean age (see fit_bgnbd).
_START = (1.0, 1.0, 1.0, 1.0)


@dataclass(frozen=True)
class BGNBDParams:
    """Fitted BG/NBD parameters.

    Attributes
    ----------
    r, alpha : float
        Shape and rate of the Gamma distribution of purchase rates; alpha in days (1 / alpha is a rate per day).
    a, b : float
        Beta distribution of the dropout probability after each repeat purchase.
    log_likelihood : float
        The total log-likelihood at these parameters, with times in days (NaN when not fitted here).
    customers : int
        Customers the parameters were fitted on (0 when not fitted here).
    """

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float = float("nan")
    customers: int = 0

    def to_dict(self) -> dict[str, float | int]:
        return {"r": self.r, "alpha_days": self.alpha, "a": self.a, "b": self.b,
                "log_likelihood": self.log_likelihood, "customers": self.customers}


def _arrays(*values: np.ndarray | float) -> list[np.ndarray]:
    return [np.asarray(v, dtype=np.float64) for v in values]


def log_likelihood(params: BGNBDParams, frequency: np.ndarray, recency: np.ndarray,
                   age: np.ndarray) -> np.ndarray:
    """Each customer's BG/NBD log-likelihood (FHL 2005, equation 6; Hardie note 004).

    Parameters
    ----------
    params : BGNBDParams
    frequency, recency, age : numpy.ndarray, shape (n,)
        x (repeat purchases), t_x and T (same time unit as params.alpha).

    Returns
    -------
    numpy.ndarray, shape (n,), float64
        ln L(r, alpha, a, b | x, t_x, T); the two-term sum is taken with log-sum-exp.
    """
    x, t_x, T = _arrays(frequency, recency, age)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    base = (gammaln(r + x) - gammaln(r) + r * np.log(alpha) + betaln(a, b + x) - betaln(a, b))
    gone = -(r + x) * np.log(alpha + T)
    repeat = x > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        dropped = np.where(repeat, np.log(a) - np.log(np.where(repeat, b + x - 1, 1.0)) - (r + x) * np.log(alpha + t_x),
                           -np.inf)
    return base + np.logaddexp(gone, dropped)


def fit_bgnbd(frequency: np.ndarray, recency: np.ndarray, age: np.ndarray) -> BGNBDParams:
    """Fit the BG/NBD model by maximum likelihood.

    Identical (x, t_x, T) patterns (common, as times are whole days) are evaluated once and weighted by their
    count, and times are rescaled to the customers' mean age for the search (alpha is scaled back).

    Parameters
    ----------
    frequency, recency, age : numpy.ndarray, shape (n,)
        x (int), t_x and T in days, e.g. from `summarize`.

    Returns
    -------
    BGNBDParams
        Parameters with alpha in days and the total log-likelihood in days.

    Raises
    ------
    FitError
        ``no_customers`` (n = 0), ``no_repeat_buyers`` (nobody bought on two different days) or
        ``not_identified`` (no interior maximum).
    InputError
        the arrays are inconsistent (negative, t_x > T, t_x > 0 with x = 0, different lengths).
    """
    x, t_x, T = _arrays(frequency, recency, age)
    validate_history(x, t_x, T)
    if len(x) == 0:
        raise FitError("there are no customers with a purchase to fit the BG/NBD model on", "no_customers")
    if not (x > 0).any():
        raise FitError(f"the BG/NBD model needs customers who ordered on at least two different days; none of "
                       f"the {len(x):,} customers did", "no_repeat_buyers")
    patterns, weights = np.unique(np.stack([x, t_x, T], axis=1), axis=0, return_counts=True)
    scale = max(float(np.mean(T)), 1.0)
    px, pt_x, pT = patterns[:, 0], patterns[:, 1] / scale, patterns[:, 2] / scale
    total = weights.sum()

    def mean_ll(log_params: np.ndarray) -> float:
        with np.errstate(all="ignore"):
            return float(weights @ log_likelihood(BGNBDParams(*np.exp(log_params)), px, pt_x, pT) / total)

    (r, alpha, a, b), _ = maximize_log_likelihood(mean_ll, _START, ("r", "alpha", "a", "b"), "BG/NBD",
                                                     int(total))
    fitted = BGNBDParams(float(r), float(alpha * scale), float(a), float(b))
    total_ll = float(weights @ log_likelihood(fitted, patterns[:, 0], patterns[:, 1], patterns[:, 2]))
    return BGNBDParams(fitted.r, fitted.alpha, fitted.a, fitted.b, total_ll, len(x))


def validate_history(frequency: np.ndarray, recency: np.ndarray, age: np.ndarray) -> None:
    """Raise InputError unless x >= 0, 0 <= t_x <= T, t_x = 0 when x = 0, all finite and of one length."""
    x, t_x, T = _arrays(frequency, recency, age)
    if not (x.shape == t_x.shape == T.shape) or x.ndim != 1:
        raise InputError(f"frequency, recency and age need one 1-d shape; got {x.shape}, {t_x.shape}, {T.shape}")
    checks = ((~np.isfinite(x) | ~np.isfinite(t_x) | ~np.isfinite(T), "a value is not finite"),
              ((x < 0) | (t_x < 0), "frequency and recency must be at least 0"),
              (t_x > T, "recency (t_x) must not exceed age (T)"),
              ((x == 0) & (t_x != 0), "recency must be 0 when frequency is 0"))
    for bad, message in checks:
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise InputError(f"customer history at row {row}: {message}", row)


def p_alive(params: BGNBDParams, frequency: np.ndarray, recency: np.ndarray, age: np.ndarray) -> np.ndarray:
    """P(alive | x, t_x, T): the probability that each customer has not dropped out (Hardie note 021).

    1 / (1 + [x > 0] a / (b + x - 1) ((alpha + T) / (alpha + t_x))^(r + x)), computed as a logistic of its
    log-odds. Customers without repeat purchases are alive with probability 1 under the BG/NBD assumptions
    (dropout happens only after a repeat purchase).

    Parameters
    ----------
    params : BGNBDParams
    frequency, recency, age : numpy.ndarray, shape (n,)
        x, t_x and T in the unit of params.alpha (days).

    Returns
    -------
    numpy.ndarray, shape (n,), float64 in [0, 1]
    """
    x, t_x, T = _arrays(frequency, recency, age)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    repeat = x > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        log_odds_gone = (np.log(a) - np.log(np.where(repeat, b + x - 1, 1.0))
                         + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x)))
    return np.where(repeat, expit(-log_odds_gone), 1.0)


def _survival_factor(params: BGNBDParams, x: np.ndarray, z: np.ndarray) -> np.ndarray:
    """(1 - z)^(r + x) 2F1(r + x, b + x; a + b + x - 1; z), the hypergeometric part of FHL 2005 eq. 10.

    Computed first through Euler's transformation, (1 - z)^(a - 1) 2F1(a + b - 1 - r, a - 1; a + b + x - 1; z),
    whose upper parameters do not grow with x (so the series stays tame for frequent buyers and z near 1);
    where that is not finite, directly (as lifetimes falls back between the two forms).
    """
    r, a, b = params.r, params.a, params.b
    c = a + b + x - 1
    with np.errstate(all="ignore"):
        euler = np.exp((a - 1) * np.log1p(-z)) * hyp2f1(a + b - 1 - r, a - 1, c, z)
        bad = ~np.isfinite(euler)
        if bad.any():
            xb, zb = x[bad], z[bad]
            euler[bad] = np.exp((r + xb) * np.log1p(-zb)) * hyp2f1(r + xb, b + xb, c[bad], zb)
    return euler


def conditional_expected_purchases(params: BGNBDParams, t: np.ndarray | float, frequency: np.ndarray,
                                   recency: np.ndarray, age: np.ndarray) -> np.ndarray:
    """E[Y(t) | x, t_x, T]: expected repeat purchases in the next t days of each customer (FHL 2005, eq. 10).

    (a + b + x - 1) / (a - 1) [1 - ((alpha + T) / (alpha + T + t))^(r + x) 2F1(r + x, b + x; a + b + x - 1;
    t / (alpha + T + t))] P(alive | x, t_x, T).

    Parameters
    ----------
    params : BGNBDParams
    t : float or numpy.ndarray
        Horizon(s), in the unit of params.alpha (days); broadcast against the customers.
    frequency, recency, age : numpy.ndarray, shape (n,)

    Returns
    -------
    numpy.ndarray, float64, the broadcast shape of t and the customers
    """
    x, t_x, T = _arrays(frequency, recency, age)
    t = np.asarray(t, dtype=np.float64)
    x_b, T_b, t_b = np.broadcast_arrays(x, T, t)
    z = t_b / (params.alpha + T_b + t_b)
    factor = _survival_factor(params, x_b.ravel(), z.ravel()).reshape(z.shape)
    scale = (params.a + params.b + x_b - 1) / (params.a - 1)
    return scale * (1.0 - factor) * p_alive(params, x, t_x, T)


def expected_purchases_new(params: BGNBDParams, t: np.ndarray | float) -> np.ndarray:
    """E[X(t)]: expected repeat purchases in the first t days after a customer's first purchase (FHL 2005, eq. 9).

    Parameters
    ----------
    params : BGNBDParams
    t : float or numpy.ndarray
        Days since the first purchase.

    Returns
    -------
    numpy.ndarray, float64, the shape of t
    """
    t = np.asarray(t, dtype=np.float64)
    zeros = np.zeros(t.shape)
    return conditional_expected_purchases(params, t, zeros, zeros, zeros)


def p_no_purchases_new(params: BGNBDParams, t: np.ndarray | float) -> np.ndarray:
    """P(X(t) = 0): probability that a new customer makes no repeat purchase within t days (FHL 2005, eq. 8, n = 0).

    Equals (alpha / (alpha + t))^r, since nobody drops out before a repeat purchase.

    Returns
    -------
    numpy.ndarray, float64, the shape of t
    """
    t = np.asarray(t, dtype=np.float64)
    return np.exp(params.r * (np.log(params.alpha) - np.log(params.alpha + t)))
