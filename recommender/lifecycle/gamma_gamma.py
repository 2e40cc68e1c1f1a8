"""The Gamma-Gamma model of spend per order: likelihood, maximum-likelihood fit, conditional expected spend.

Fader and Hardie (2013), "The Gamma-Gamma Model of Monetary Value", brucehardie.com note 025 (after Fader,
Hardie and Lee 2005, "RFM and CLV: Using Iso-Value Curves for Customer Base Analysis", JMR 42(4)). A
customer's order values are Gamma(p, nu) around a personal mean p / nu, with nu ~ Gamma(q, gamma) across
customers; it is fitted on repeat buyers' mean repeat-order spend m_x over their x repeat orders, and
assumes spend does not depend on how often a customer buys.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import gammaln

from recommender.errors import InputError
from recommender.lifecycle.fitting import FitError, maximize_log_likelihood

_START = (1.0, 1.0, 1.0)  # p, q, gamma; gamma in units of the mean spend (see fit_gamma_gamma)


@dataclass(frozen=True)
class GammaGammaParams:
    """Fitted Gamma-Gamma parameters.

    Attributes
    ----------
    p, q : float
        Shapes of the per-order spend and of the spread of customers' means.
    gamma : float
        Scale of that spread, currency units.
    log_likelihood : float
        The total log-likelihood (NaN when not fitted here).
    customers : int
        Repeat buyers the parameters were fitted on (0 when not fitted here).
    """

    p: float
    q: float
    gamma: float
    log_likelihood: float = float("nan")
    customers: int = 0

    @property
    def mean_spend(self) -> float:
        """The population mean spend per order, p gamma / (q - 1), currency units (infinite when q <= 1)."""
        return self.p * self.gamma / (self.q - 1) if self.q > 1 else float("inf")

    def to_dict(self) -> dict[str, float | int]:
        return {"p": self.p, "q": self.q, "gamma": self.gamma, "log_likelihood": self.log_likelihood,
                "customers": self.customers, "mean_spend": self.mean_spend}


def log_likelihood(params: GammaGammaParams, frequency: np.ndarray, mean_spend: np.ndarray) -> np.ndarray:
    """Each repeat buyer's log-likelihood of their mean spend m_x over x orders (Fader and Hardie 2013, eq. 1).

    Parameters
    ----------
    params : GammaGammaParams
    frequency : numpy.ndarray, shape (n,)
        x >= 1, the orders averaged.
    mean_spend : numpy.ndarray, shape (n,)
        m_x > 0, currency units.

    Returns
    -------
    numpy.ndarray, shape (n,), float64
        ln f(m_x | p, q, gamma, x) = ln Gamma(px + q) - ln Gamma(px) - ln Gamma(q) + q ln gamma
        + (px - 1) ln m_x + px ln x - (px + q) ln(gamma + m_x x).
    """
    x, m = np.asarray(frequency, dtype=np.float64), np.asarray(mean_spend, dtype=np.float64)
    p, q, g = params.p, params.q, params.gamma
    return (gammaln(p * x + q) - gammaln(p * x) - gammaln(q) + q * np.log(g) + (p * x - 1) * np.log(m)
            + p * x * np.log(x) - (p * x + q) * np.log(g + m * x))


def fit_gamma_gamma(frequency: np.ndarray, mean_spend: np.ndarray) -> GammaGammaParams:
    """Fit the Gamma-Gamma model by maximum likelihood on the customers with x >= 1 and m_x > 0.

    Customers without repeat orders of known, positive spend (x = 0, m_x NaN or 0) are left out of the fit,
    as in Fader and Hardie (2013), who fit on CDNOW's repeat buyers only. Spend is rescaled to its mean for
    the search (gamma is scaled back).

    Parameters
    ----------
    frequency : numpy.ndarray, shape (n,)
        x: the repeat orders behind each mean (e.g. CustomerSummary.repeat_spend_orders).
    mean_spend : numpy.ndarray, shape (n,)
        m_x: mean spend of those orders, currency units; NaN when unknown.

    Returns
    -------
    GammaGammaParams
        With the total log-likelihood in the given currency units.

    Raises
    ------
    FitError
        ``no_spend`` (nobody has a repeat order of known, positive spend), ``not_identified`` or
        ``infinite_mean_spend`` (q <= 1: the fitted spread has no finite mean, so nothing can be predicted
        for an average customer).
    InputError
        the arrays differ in shape, or a frequency or spend is negative.
    """
    x, m = np.asarray(frequency, dtype=np.float64), np.asarray(mean_spend, dtype=np.float64)
    if x.shape != m.shape or x.ndim != 1:
        raise InputError(f"frequency and mean spend need one 1-d shape; got {x.shape} and {m.shape}")
    if (x < 0).any() or (m < 0).any():
        raise InputError("frequency and mean spend must be at least 0")
    used = (x > 0) & np.isfinite(m) & (m > 0)
    if not used.any():
        raise FitError("the spend model needs customers with a repeat order of known, positive spend; there are "
                       "none", "no_spend")
    x, m = x[used], m[used]
    scale = float(np.mean(m))

    def mean_ll(log_params: np.ndarray) -> float:
        with np.errstate(all="ignore"):
            return float(np.mean(log_likelihood(GammaGammaParams(*np.exp(log_params)), x, m / scale)))

    (p, q, g), _ = maximize_log_likelihood(mean_ll, _START, ("p", "q", "gamma"), "Gamma-Gamma spend",
                                             len(x))
    fitted = GammaGammaParams(float(p), float(q), float(g * scale))
    if q <= 1:
        raise FitError(f"the spend model finds no finite mean spend (q = {q:.3g} <= 1): a few very large orders "
                       "dominate; spend predictions are unavailable", "infinite_mean_spend")
    return GammaGammaParams(fitted.p, fitted.q, fitted.gamma, float(np.sum(log_likelihood(fitted, x, m))), len(x))


def conditional_expected_spend(params: GammaGammaParams, frequency: np.ndarray, mean_spend: np.ndarray) -> np.ndarray:
    """E[M | x, m_x]: each customer's expected spend per future order (Fader and Hardie 2013, eq. 5).

    (p gamma + p x m_x) / (p x + q - 1), a weighted mean of the population mean p gamma / (q - 1) and the
    customer's own m_x; customers with x = 0 or unknown m_x get the population mean.

    Parameters
    ----------
    params : GammaGammaParams
    frequency : numpy.ndarray, shape (n,)
        x: repeat orders behind m_x.
    mean_spend : numpy.ndarray, shape (n,)
        m_x, currency units; NaN when unknown.

    Returns
    -------
    numpy.ndarray, shape (n,), float64, currency units
    """
    x, m = np.asarray(frequency, dtype=np.float64), np.asarray(mean_spend, dtype=np.float64)
    known = (x > 0) & np.isfinite(m)
    x, m = np.where(known, x, 0.0), np.where(known, m, 0.0)
    p, q, g = params.p, params.q, params.gamma
    return (p * g + p * x * m) / (p * x + q - 1)
