"""The holdout check of a store's lifecycle fit: how well P(alive) ranks the customers who stopped buying.

Calibrate on all but the last `holdout_days` days, then rank the customers with a purchase in calibration by
1 - p_alive and, as the baseline, by the days since their last purchase alone, and score each ranking
against "no purchase in the holdout days" by the area under the ROC curve (0.5: chance, 1: every customer
who stopped ranked above every customer who bought). Both over all those customers and over the repeat
buyers among them (x >= 1: BG/NBD gives everyone else p_alive = 1, so on one-time buyers the model ranks
by nothing). This is the check of issue 18's validation (benchmarks/lifecycle.py) in the form a service
runs at every training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

from recommender.errors import InputError
from recommender.lifecycle.model import fit_lifecycle
from recommender.lifecycle.predictions import LifecycleConfig
from recommender.lifecycle.purchases import Purchases
from recommender.units import SECONDS_PER_DAY

#: Days held out by default: a month, as in benchmarks/lifecycle.py.
HOLDOUT_DAYS = 30


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve of `scores` for boolean `labels` (Mann-Whitney U, ties counted half).

    Parameters
    ----------
    scores : numpy.ndarray, shape (n,), float
        Higher means more likely positive.
    labels : numpy.ndarray, shape (n,), bool

    Returns
    -------
    float
        In [0, 1]; NaN when there are no positives or no negatives.
    """
    labels = np.asarray(labels, dtype=bool)
    positives, negatives = int(labels.sum()), int((~labels).sum())
    if positives == 0 or negatives == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives))


@dataclass(frozen=True)
class HoldoutCheck:
    """How a fit on all but the last `holdout_days` days ranked the customers who then did not buy.

    Attributes
    ----------
    calibration_end : float
        Epoch seconds: the calibration fit saw purchases up to here.
    holdout_days : int
    customers, repeat_buyers : int
        Customers with a purchase in calibration, and those among them with a repeat order (x >= 1).
    churned_share : float
        Share of `customers` without a purchase in the holdout days.
    auc_p_alive, auc_days_since_last : float
        AUC of 1 - p_alive and of days since the last purchase for "no purchase in the holdout", over all
        `customers`; NaN when nobody or everybody bought.
    repeat_auc_p_alive, repeat_auc_days_since_last : float
        The same over the repeat buyers.
    """

    calibration_end: float
    holdout_days: int
    customers: int
    repeat_buyers: int
    churned_share: float
    auc_p_alive: float
    auc_days_since_last: float
    repeat_auc_p_alive: float
    repeat_auc_days_since_last: float

    def to_dict(self) -> dict[str, float | int]:
        return dict(self.__dict__)


def holdout_check(purchases: Purchases, as_of: float, holdout_days: int = HOLDOUT_DAYS,
                  config: LifecycleConfig = LifecycleConfig()) -> HoldoutCheck:
    """Fit on purchases up to `as_of - holdout_days` days and score the churn rankings on the days after.

    Parameters
    ----------
    purchases : Purchases
        Purchases after `as_of` are left out.
    as_of : float
        The end of the data, epoch seconds.
    holdout_days : int
        Days held out, at least 1.
    config : LifecycleConfig

    Returns
    -------
    HoldoutCheck

    Raises
    ------
    FitError
        The calibration data cannot be fitted (e.g. nobody bought twice before the holdout).
    InputError
        `holdout_days` is below 1 or `as_of` is not finite.
    """
    if holdout_days < 1:
        raise InputError(f"holdout_days must be at least 1; got {holdout_days}", None, "holdout_days")
    if not np.isfinite(as_of):
        raise InputError("as_of must be finite epoch seconds", None, "as_of")
    end = float(as_of) - holdout_days * SECONDS_PER_DAY
    model, summary = fit_lifecycle(purchases, end, config)
    later = (purchases.timestamps > end) & (purchases.timestamps <= as_of)
    bought_later = np.isin(summary.customer_ids, np.unique(purchases.customer_ids[later]))
    churned = ~bought_later
    risk = 1.0 - model.predict(summary).p_alive
    idle = summary.days_since_last
    repeat = summary.frequency > 0
    return HoldoutCheck(
        calibration_end=end, holdout_days=int(holdout_days), customers=len(summary),
        repeat_buyers=int(repeat.sum()), churned_share=float(churned.mean()),
        auc_p_alive=auc(risk, churned), auc_days_since_last=auc(idle, churned),
        repeat_auc_p_alive=auc(risk[repeat], churned[repeat]),
        repeat_auc_days_since_last=auc(idle[repeat], churned[repeat]),
    )

