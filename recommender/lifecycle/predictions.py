"""Per-customer predictions from fitted BG/NBD and Gamma-Gamma parameters, vectorised over customers.

What each field means, and where it comes from:

* ``p_alive``: P(alive | x, t_x, T) of the BG/NBD model (Hardie note 021).
* ``expected_orders_30d`` / ``_90d`` / ``_365d``: E[Y(t) | x, t_x, T] for t = 30, 90, 365 days (FHL 2005,
  eq. 10); orders are purchase days, as in the summary.
* ``next_order_at``: the date by which the model gives the customer's next order a 50% chance, counting the
  chance that they have dropped out: the w solving P(alive) (1 - S(w)) = 1/2, where S(w) = ((alpha + T) /
  (alpha + T + w))^(r + x) is the probability that an alive customer has not ordered within w days (their
  rate is Gamma(r + x, alpha + T) given the history, FHL 2005 section 3, and waiting times are exponential).
  NaN when that chance never reaches 50% (p_alive <= 1/2) or only after NEXT_ORDER_HORIZON_DAYS.
* ``expected_order_value``: E[M | x, m_x] of the Gamma-Gamma model (Fader and Hardie 2013, eq. 5).
* ``value_365d``: expected_order_value x the expected orders of each of the next 12 periods of 365/12 days,
  each discounted from its end at the annual rate: sum_k (E[Y(t_k)] - E[Y(t_(k-1))]) / (1 + rate)^(k / 12)
  (the discrete scheme of lifetimes' customer_lifetime_value, with the rate given per year).
* ``churn_risk``: a band of 1 - p_alive (segments.churn_bands). BG/NBD gives p_alive = 1 to every customer
  without a repeat purchase (dropout follows repeat purchases only), so one-time buyers are always low risk;
  expected orders rank them by their age (benchmarks/README.md, Lifecycle). ``segment`` and the R, F, M
  scores: segments.rfm_segments.
* ``revenue`` and ``aov``: historic, from the summary.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recommender.errors import InputError
from recommender.lifecycle.bgnbd import (
    BGNBDParams,
    conditional_expected_purchases,
    p_alive,
)
from recommender.lifecycle.gamma_gamma import (
    GammaGammaParams,
    conditional_expected_spend,
)
from recommender.lifecycle.segments import (
    RfmEdges,
    churn_bands,
    rfm_scores,
    rfm_segments,
)
from recommender.lifecycle.summary import CustomerSummary
from recommender.units import SECONDS_PER_DAY

#: The default annual discount rate for predicted value (the service's RECS_ANNUAL_DISCOUNT default).
DEFAULT_ANNUAL_DISCOUNT = 0.10
#: Default churn risk thresholds on 1 - p_alive: medium from 0.5 (more likely gone than not), high from 0.8.
DEFAULT_CHURN_MEDIUM = 0.5
DEFAULT_CHURN_HIGH = 0.8
HORIZONS_DAYS = (30, 90, 365)
VALUE_DAYS = 365.0
VALUE_PERIODS = 12
#: Beyond this a next-order date says nothing useful to a store (ten years); it is reported as NaN.
NEXT_ORDER_HORIZON_DAYS = 3650.0


@dataclass(frozen=True)
class LifecycleConfig:
    """Settings of the predictions.

    Attributes
    ----------
    annual_discount : float
        Yearly discount rate of predicted value (0.10 = 10% a year), >= 0.
    churn_medium, churn_high : float
        Thresholds on 1 - p_alive for the medium and high churn risk bands, 0 <= medium <= high <= 1.
    """

    annual_discount: float = DEFAULT_ANNUAL_DISCOUNT
    churn_medium: float = DEFAULT_CHURN_MEDIUM
    churn_high: float = DEFAULT_CHURN_HIGH

    def __post_init__(self) -> None:
        if not (np.isfinite(self.annual_discount) and self.annual_discount >= 0):
            raise InputError(f"annual discount must be a rate of at least 0; got {self.annual_discount}")
        if not 0 <= self.churn_medium <= self.churn_high <= 1:
            raise InputError(f"churn thresholds need 0 <= medium <= high <= 1; got {self.churn_medium} and "
                             f"{self.churn_high}")

    def to_dict(self) -> dict[str, float]:
        return {"annual_discount": self.annual_discount, "churn_medium": self.churn_medium,
                "churn_high": self.churn_high}


@dataclass(frozen=True)
class CustomerPredictions:
    """Predictions for n customers, as parallel arrays in the summary's customer order.

    Attributes
    ----------
    customer_ids : numpy.ndarray, shape (n,), object
    p_alive : numpy.ndarray, shape (n,), float64 in [0, 1]
    expected_orders_30d, expected_orders_90d, expected_orders_365d : numpy.ndarray, shape (n,), float64
        Expected orders in the next 30, 90 and 365 days.
    next_order_at : numpy.ndarray, shape (n,), float64
        Epoch seconds (see the module docstring); NaN when no next order is expected.
    expected_order_value, value_365d : numpy.ndarray, shape (n,), float64
        Currency units; NaN when the spend model is unavailable.
    revenue, aov : numpy.ndarray, shape (n,), float64
        Historic, currency units; NaN when no spend is known.
    churn_risk, segment : numpy.ndarray, shape (n,), object
        Names from segments.CHURN_BANDS and segments.SEGMENTS.
    r_score, f_score, m_score : numpy.ndarray, shape (n,), int8
        RFM scores 1-5 (m_score 0 when spend is unknown).
    """

    customer_ids: np.ndarray
    p_alive: np.ndarray
    expected_orders_30d: np.ndarray
    expected_orders_90d: np.ndarray
    expected_orders_365d: np.ndarray
    next_order_at: np.ndarray
    expected_order_value: np.ndarray
    value_365d: np.ndarray
    revenue: np.ndarray
    aov: np.ndarray
    churn_risk: np.ndarray
    segment: np.ndarray
    r_score: np.ndarray
    f_score: np.ndarray
    m_score: np.ndarray

    def __len__(self) -> int:
        return len(self.customer_ids)

    def to_frame(self) -> pd.DataFrame:
        """One row per customer, the attributes as columns."""
        return pd.DataFrame({name: getattr(self, name) for name in self.__dataclass_fields__})


def next_order_days(params: BGNBDParams, frequency: np.ndarray, age: np.ndarray, alive: np.ndarray) -> np.ndarray:
    """Days from the summary's day until the next order has a 50% chance (see the module docstring).

    Parameters
    ----------
    params : BGNBDParams
    frequency, age : numpy.ndarray, shape (n,)
        x and T (days).
    alive : numpy.ndarray, shape (n,)
        P(alive) of each customer.

    Returns
    -------
    numpy.ndarray, shape (n,), float64, days; NaN where no next order is expected
        (alpha + T) ((1 - 1 / (2 P(alive)))^(-1 / (r + x)) - 1.
    """
    x, T, alive = (np.asarray(v, dtype=np.float64) for v in (frequency, age, alive))
    with np.errstate(all="ignore"):
        survival = 1.0 - 0.5 / alive  # S(w) at the median
        days = (params.alpha + T) * np.expm1(-np.log(survival) / (params.r + x))
    return np.where((alive > 0.5) & (days <= NEXT_ORDER_HORIZON_DAYS), days, np.nan)


def discounted_orders(params: BGNBDParams, summary: CustomerSummary, annual_discount: float) -> np.ndarray:
    """Expected orders in the next VALUE_DAYS, each period's discounted from its end (module docstring).

    Returns
    -------
    numpy.ndarray, shape (n,), float64
    """
    steps = VALUE_DAYS * np.arange(VALUE_PERIODS + 1) / VALUE_PERIODS
    cumulative = conditional_expected_purchases(params, steps[:, None], summary.frequency, summary.recency,
                                                summary.age)  # (periods + 1, n)
    discount = (1.0 + annual_discount) ** (-np.arange(1, VALUE_PERIODS + 1) / VALUE_PERIODS)
    return discount @ np.diff(cumulative, axis=0)


def predict_customers(summary: CustomerSummary, bgnbd: BGNBDParams, gamma_gamma: GammaGammaParams | None,
                      rfm: RfmEdges, config: LifecycleConfig = LifecycleConfig()) -> CustomerPredictions:
    """Predict every customer of the summary (customers without purchases are not in it: no prediction).

    Parameters
    ----------
    summary : CustomerSummary
        n customers up to summary.as_of (the date predictions start from).
    bgnbd : BGNBDParams
        Fitted with times in days.
    gamma_gamma : GammaGammaParams or None
        None when spend is unknown: expected order value and value_365d are then NaN.
    rfm : RfmEdges
        The store's quintile edges (segments.fit_rfm_edges).
    config : LifecycleConfig

    Returns
    -------
    CustomerPredictions
        n rows in the summary's order.
    """
    x, t_x, T = summary.frequency, summary.recency, summary.age
    alive = p_alive(bgnbd, x, t_x, T)
    expected = conditional_expected_purchases(bgnbd, np.asarray(HORIZONS_DAYS, dtype=np.float64)[:, None], x, t_x, T)
    wait = next_order_days(bgnbd, x, T, alive)
    if gamma_gamma is not None:
        order_value = conditional_expected_spend(gamma_gamma, summary.repeat_spend_orders, summary.repeat_spend)
        value = order_value * discounted_orders(bgnbd, summary, config.annual_discount)
    else:
        order_value = value = np.full(len(summary), np.nan)
    r, f, m = rfm_scores(rfm, summary)
    return CustomerPredictions(
        customer_ids=summary.customer_ids,
        p_alive=alive,
        expected_orders_30d=expected[0],
        expected_orders_90d=expected[1],
        expected_orders_365d=expected[2],
        next_order_at=summary.as_of + wait * SECONDS_PER_DAY,
        expected_order_value=order_value,
        value_365d=value,
        revenue=summary.revenue,
        aov=summary.aov,
        churn_risk=churn_bands(alive, config.churn_medium, config.churn_high),
        segment=rfm_segments(r, f, m, summary.orders),
        r_score=r,
        f_score=f,
        m_score=m,
    )


def _dates(epoch_seconds: np.ndarray) -> np.ndarray:
    """ISO dates (UTC) of epoch seconds, object array; "" where NaN."""
    dates = pd.to_datetime(pd.Series(epoch_seconds, dtype=np.float64), unit="s", utc=True).dt.strftime("%Y-%m-%d")
    return dates.fillna("").to_numpy(dtype=object)


def customer_table(summary: CustomerSummary, predictions: CustomerPredictions) -> pd.DataFrame:
    """One row per customer: history (orders, dates, days, revenue, AOV) and predictions, rounded for reading.

    Dates are ISO (UTC); probabilities and expected orders have 4 decimals, currency amounts 2; unknown
    values are empty (NaN).

    Parameters
    ----------
    summary : CustomerSummary
    predictions : CustomerPredictions
        Of the same customers, in the same order.

    Returns
    -------
    pandas.DataFrame
        n rows, starting with `customer_id`.
    """
    if not np.array_equal(summary.customer_ids, predictions.customer_ids):
        raise InputError("the summary and the predictions are of different customers")
    return pd.DataFrame({
        "customer_id": summary.customer_ids,
        "orders": summary.orders,
        "first_order": _dates(summary.first_purchase),
        "last_order": _dates(summary.last_purchase),
        "frequency": summary.frequency,
        "recency_days": summary.recency,
        "age_days": summary.age,
        "days_since_last_order": summary.days_since_last,
        "revenue": predictions.revenue.round(2),
        "aov": predictions.aov.round(2),
        "p_alive": predictions.p_alive.round(4),
        "churn_risk": predictions.churn_risk,
        "expected_orders_30d": predictions.expected_orders_30d.round(4),
        "expected_orders_90d": predictions.expected_orders_90d.round(4),
        "expected_orders_365d": predictions.expected_orders_365d.round(4),
        "next_order_date": _dates(predictions.next_order_at),
        "expected_order_value": predictions.expected_order_value.round(2),
        "value_365d": predictions.value_365d.round(2),
        "segment": predictions.segment,
        "r_score": predictions.r_score,
        "f_score": predictions.f_score,
        "m_score": predictions.m_score,
    })
