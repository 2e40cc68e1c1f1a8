"""The statistics of an experiment's results, from scipy.stats, as "Trustworthy Online Controlled
Experiments" (Kohavi, Tang and Xu 2020, chapters 17 and 21) recommends: a 95% interval for each variant's
rates and means, the difference from the control with its interval and p-value, and the sample-ratio
check.

- Rates (click-through: clicks of impressions; conversion: buyers of exposed customers): the Wilson
  score interval (scipy.stats.binomtest(...).proportion_ci), and the two-proportion z-test with the
  pooled proportion for the p-value, the unpooled normal interval for the difference.
- Means (revenue per exposed customer, from each customer's total, zero for customers who bought
  nothing): Student's t interval, Welch's t-test (scipy.stats.ttest_ind_from_stats, equal_var=False)
  and the Welch-Satterthwaite interval for the difference.
- Sample ratio: Pearson's chi-square of the exposed customers against the configured shares
  (scipy.stats.chisquare); p < 0.001 flags a mismatch, the threshold the book uses.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

LEVEL = 0.95
#: Sample-ratio-mismatch threshold on the chi-square p-value.
SRM_ALPHA = 0.001


@dataclass(frozen=True)
class Estimate:
    """A variant's figure with its 95% interval; against the control, the difference (variant minus
    control), its interval and the test's p-value (None for the control itself or without data)."""

    value: float | None
    ci_low: float | None
    ci_high: float | None
    difference: float | None = None
    difference_ci_low: float | None = None
    difference_ci_high: float | None = None
    p_value: float | None = None

    def as_dict(self) -> dict:
        return {k: (None if v is None else round(float(v), 10)) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class Sample:
    """Per-unit values summarised: count, sum and sum of squares (float64)."""

    n: int
    total: float
    squares: float

    @classmethod
    def of(cls, values: np.ndarray, n: int) -> Sample:
        """`values` of shape (k,) for k <= n units, the other n - k units being zero."""
        values = np.asarray(values, dtype=np.float64)
        return cls(max(n, len(values)), float(values.sum()), float(np.square(values).sum()))

    @property
    def mean(self) -> float:
        return self.total / self.n

    @property
    def variance(self) -> float:
        """Sample variance (ddof 1); 0 for fewer than two units."""
        if self.n < 2:
            return 0.0
        return max(self.squares - self.n * self.mean ** 2, 0.0) / (self.n - 1)


def _z() -> float:
    return float(stats.norm.ppf(0.5 + LEVEL / 2))


def proportion(successes: int, trials: int, control: tuple[int, int] | None = None) -> Estimate:
    """`successes / trials` with its Wilson interval and, given the control's (successes, trials), the
    two-proportion z-test. Trials 0: no value."""
    if trials <= 0:
        return Estimate(None, None, None)
    p = successes / trials
    ci = stats.binomtest(successes, trials).proportion_ci(LEVEL, method="wilson")
    if control is None or control[1] <= 0:
        return Estimate(p, ci.low, ci.high)
    k0, n0 = control
    p0 = k0 / n0
    pooled = (successes + k0) / (trials + n0)
    se_pooled = math.sqrt(pooled * (1 - pooled) * (1 / trials + 1 / n0))
    p_value = 1.0 if se_pooled == 0 else float(2 * stats.norm.sf(abs(p - p0) / se_pooled))
    half = _z() * math.sqrt(p * (1 - p) / trials + p0 * (1 - p0) / n0)
    return Estimate(p, ci.low, ci.high, p - p0, p - p0 - half, p - p0 + half, p_value)


def mean(sample: Sample, control: Sample | None = None) -> Estimate:
    """The sample's mean with its t interval and, given the control's, Welch's t-test and interval."""
    if sample.n <= 0:
        return Estimate(None, None, None)
    m, se = sample.mean, math.sqrt(sample.variance / sample.n)
    half = float(stats.t.ppf(0.5 + LEVEL / 2, sample.n - 1)) * se if sample.n > 1 else math.inf
    low, high = (m - half, m + half) if math.isfinite(half) else (None, None)
    if control is None or control.n <= 0:
        return Estimate(m, low, high)
    v1, v0 = sample.variance / sample.n, control.variance / control.n
    difference = m - control.mean
    if v1 + v0 == 0:
        return Estimate(m, low, high, difference, difference, difference, 1.0 if difference == 0 else 0.0)
    test = stats.ttest_ind_from_stats(m, math.sqrt(sample.variance), sample.n, control.mean,
                                      math.sqrt(control.variance), control.n, equal_var=False)
    df = (v1 + v0) ** 2 / ((v1 ** 2 / (sample.n - 1) if sample.n > 1 else 0.0)
                           + (v0 ** 2 / (control.n - 1) if control.n > 1 else 0.0))
    half = float(stats.t.ppf(0.5 + LEVEL / 2, df)) * math.sqrt(v1 + v0)
    return Estimate(m, low, high, difference, difference - half, difference + half, float(test.pvalue))


@dataclass(frozen=True)
class SampleRatio:
    chi_square: float | None
    p_value: float | None
    mismatch: bool

    def as_dict(self) -> dict:
        return {"chi_square": self.chi_square, "p_value": self.p_value, "mismatch": self.mismatch}


def sample_ratio(exposed: Sequence[int], shares: Sequence[float]) -> SampleRatio:
    """Chi-square of exposed counts against the shares (which sum to 1); no verdict without exposures."""
    observed = np.asarray(exposed, dtype=np.float64)
    total = observed.sum()
    if total <= 0:
        return SampleRatio(None, None, False)
    expected = np.asarray(shares, dtype=np.float64) * total
    expected *= total / expected.sum()  # chisquare wants equal sums; shares sum to 1 within rounding
    result = stats.chisquare(observed, expected)
    return SampleRatio(float(result.statistic), float(result.pvalue), bool(result.pvalue < SRM_ALPHA))
