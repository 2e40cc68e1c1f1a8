"""Maximum likelihood on log-parameters, shared by the BG/NBD and Gamma-Gamma fits, and their error."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np
from scipy.optimize import minimize

from recommender.errors import InputError

log = logging.getLogger(__name__)

#: Log-parameters are searched within +-LOG_BOUND (parameters between about 2e-9 and 5e8); an optimum
#: on that bound means the data do not pin the parameter down.
LOG_BOUND = 20.0
#: The largest standard error of the log-parameters, along any direction, that a fit accepts: beyond it
#: the data do not tell a parameter within a factor of e^10 (e.g. a store with one or two customers). Real
#: stores can be far less sure about a direction that barely moves predictions (a and b growing together
#: at a fixed mean dropout), so this only rejects fits that are undetermined.
MAX_LOG_STANDARD_ERROR = 10.0
#: The largest Newton step (log-parameters) from a fit's optimum that it accepts: at an interior maximum the
#: step is about 0, while a search that stopped on a ridge rising towards the bound (one customer's spend: the
#: likelihood grows without end as the spread narrows) leaves one of order 1, though the curvature there can
#: pass the standard-error check.
MAX_NEWTON_STEP = 0.01
_HESSIAN_STEP = 1e-3


class FitError(InputError):
    """A lifecycle model cannot be fitted to these customers; the message says why in words a store owner reads.

    Attributes
    ----------
    reason : str
        A stable code for APIs: ``no_customers``, ``no_repeat_buyers``, ``no_spend``, ``not_identified``
        (the likelihood has no interior maximum: too few or too uniform customers) or
        ``infinite_mean_spend`` (Gamma-Gamma q <= 1).
    """

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def gradient(function: Callable[[np.ndarray], float], x: np.ndarray, step: float = _HESSIAN_STEP) -> np.ndarray:
    """The first derivatives of `function` at `x` (shape (k,)), by central differences; (k,)."""
    shifts = np.eye(len(x)) * step
    return np.array([(function(x + shift) - function(x - shift)) / (2 * step) for shift in shifts])


def hessian(function: Callable[[np.ndarray], float], x: np.ndarray, step: float = _HESSIAN_STEP) -> np.ndarray:
    """The matrix of second derivatives of `function` at `x` (shape (k,)), by central differences; (k, k)."""
    k = len(x)
    shifts = np.eye(k) * step
    result = np.empty((k, k))
    for i in range(k):
        for j in range(i, k):
            result[i, j] = result[j, i] = (
                function(x + shifts[i] + shifts[j]) - function(x + shifts[i] - shifts[j])
                - function(x - shifts[i] + shifts[j]) + function(x - shifts[i] - shifts[j])) / (4 * step * step)
    return result


def maximize_log_likelihood(mean_log_likelihood: Callable[[np.ndarray], float], start: Sequence[float],
                            names: Sequence[str], model: str, customers: int) -> tuple[np.ndarray, float]:
    """Maximise a mean log-likelihood over the logs of positive parameters, and check the data determine them.

    L-BFGS-B (scipy.optimize.minimize) with finite-difference gradients, from `start`, then a second run
    from its result so that a stop on a flat stretch is resumed. The observed information, `customers` times
    minus the Hessian of the mean log-likelihood in log-parameters, must be positive definite with every
    eigenvalue at least 1 / MAX_LOG_STANDARD_ERROR^2 (the usual asymptotic standard errors), and the result
    must be a maximum: the Newton step from it (information^-1 times the score) at most MAX_NEWTON_STEP.

    Parameters
    ----------
    mean_log_likelihood : callable
        Maps log-parameters, shape (k,) float64, to the mean log-likelihood per customer (float).
    start : sequence of float
        k starting parameters (not logs).
    names : sequence of str
        The k parameter names, for messages.
    model : str
        The model's name, for messages.
    customers : int
        Customers behind the mean (the information grows with them).

    Returns
    -------
    (numpy.ndarray, float)
        The parameters, shape (k,) float64, and the mean log-likelihood there.

    Raises
    ------
    FitError
        ``not_identified``: the likelihood is not finite at the optimum, a parameter runs to the search
        bound, the information is too small (the data cannot tell the parameters' values), or the
        likelihood still rises from there (no interior maximum).
    """
    def objective(log_params: np.ndarray) -> float:
        value = mean_log_likelihood(log_params)
        return -value if np.isfinite(value) else 1e300

    x = np.log(np.asarray(start, dtype=np.float64))
    bounds = [(-LOG_BOUND, LOG_BOUND)] * len(x)
    for _ in range(2):
        result = minimize(objective, x, method="L-BFGS-B", bounds=bounds,
                          options={"ftol": 1e-14, "gtol": 1e-9, "maxiter": 5000})
        x = result.x
    value = mean_log_likelihood(x)
    log.debug("%s fit: %s, %s", model, result.message, dict(zip(names, np.exp(x))))
    at_bound = [name for name, v in zip(names, x) if abs(v) > LOG_BOUND - 1e-3]
    if not np.isfinite(value) or at_bound:
        detail = f"{', '.join(at_bound)} ran to the search bound" if at_bound else "the likelihood is not finite"
    else:
        information = -customers * hessian(mean_log_likelihood, x)
        smallest = float(np.linalg.eigvalsh(information).min()) if np.isfinite(information).all() else np.nan
        if not smallest >= MAX_LOG_STANDARD_ERROR ** -2:
            detail = "the data leave a parameter undetermined"
        else:
            newton = np.linalg.solve(information, customers * gradient(mean_log_likelihood, x))
            detail = None if np.abs(newton).max() <= MAX_NEWTON_STEP else "the likelihood has no maximum"
    if detail:
        who = f"{customers:,} customer{'s' if customers != 1 else ''}"
        raise FitError(f"the {model} model cannot be fitted to {who} ({detail}): there are too few customers "
                       "or they are too alike", "not_identified")
    return np.exp(x), float(value)
