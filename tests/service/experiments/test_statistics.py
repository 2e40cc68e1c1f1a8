"""The results' statistics against values computed by hand (the formulas written out here, with the
normal and t quantiles from tables) on a small fixed example."""

from __future__ import annotations

import math

import numpy as np
import pytest

from service.experiments.statistics import Sample, mean, proportion, sample_ratio

Z975 = 1.959963984540054  # the standard normal's 97.5% quantile


def test_two_proportions_match_the_hand_computed_z_test_and_intervals():
    # control 100 buyers of 1,000 exposed, treatment 130 of 1,000
    est = proportion(130, 1000, control=(100, 1000))
    pooled = 230 / 2000
    z = (0.13 - 0.10) / math.sqrt(pooled * (1 - pooled) * (2 / 1000))
    assert z == pytest.approx(2.10274, abs=1e-5)
    assert est.p_value == pytest.approx(math.erfc(z / math.sqrt(2)))  # 2 * (1 - Phi(z)) = 0.035488
    assert est.p_value == pytest.approx(0.035488, abs=1e-6)
    half = Z975 * math.sqrt(0.13 * 0.87 / 1000 + 0.10 * 0.90 / 1000)
    assert est.difference == pytest.approx(0.03) and est.difference_ci_low == pytest.approx(0.03 - half)
    assert est.difference_ci_high == pytest.approx(0.03 + half)
    # Wilson: (p + z^2/2n +- z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)
    n, p = 1000, 0.13
    centre, spread = p + Z975 ** 2 / (2 * n), Z975 * math.sqrt(p * (1 - p) / n + Z975 ** 2 / (4 * n * n))
    assert est.ci_low == pytest.approx((centre - spread) / (1 + Z975 ** 2 / n), abs=1e-9)
    assert est.ci_high == pytest.approx((centre + spread) / (1 + Z975 ** 2 / n), abs=1e-9)
    control = proportion(100, 1000)
    assert control.p_value is None and control.difference is None and control.value == 0.1


def test_welch_matches_the_hand_computed_statistic_degrees_of_freedom_and_interval():
    # revenue per customer: five buyers among eight exposed customers against three among six
    treatment = Sample.of(np.array([10.0, 20.0, 0.0, 30.0, 40.0]), 8)
    control = Sample.of(np.array([5.0, 5.0, 20.0]), 6)
    t_values = np.array([10, 20, 0, 30, 40, 0, 0, 0], dtype=float)
    c_values = np.array([5, 5, 20, 0, 0, 0], dtype=float)
    assert treatment.mean == 12.5 and treatment.variance == pytest.approx(t_values.var(ddof=1))
    v1, v0 = t_values.var(ddof=1) / 8, c_values.var(ddof=1) / 6
    assert (v1, v0) == pytest.approx((31.25, 10.0))
    t = (12.5 - 5.0) / math.sqrt(v1 + v0)
    df = (v1 + v0) ** 2 / (v1 ** 2 / 7 + v0 ** 2 / 5)  # Welch-Satterthwaite
    assert t == pytest.approx(1.167748, abs=1e-6) and df == pytest.approx(10.667506, abs=1e-6)
    est = mean(treatment, control)
    # 2 * P(T > t) for Student's t with df degrees of freedom, by numerical integration of its density: 0.268346
    assert est.p_value == pytest.approx(0.268346, abs=1e-5)
    t975 = 2.209387  # the t quantile at 97.5% for 10.6675 d.f. (tables: 2.2281 at 10, 2.2010 at 11)
    assert est.difference_ci_low == pytest.approx(7.5 - t975 * math.sqrt(v1 + v0), abs=1e-4)
    assert est.difference_ci_high == pytest.approx(7.5 + t975 * math.sqrt(v1 + v0), abs=1e-4)
    alone = mean(treatment)  # t quantile at 7 d.f.: 2.364624
    assert alone.ci_low == pytest.approx(12.5 - 2.364624 * math.sqrt(t_values.var(ddof=1) / 8), abs=1e-4)


def test_the_sample_ratio_check_flags_a_split_far_from_its_shares():
    fair = sample_ratio([5020, 4980], [0.5, 0.5])
    assert fair.chi_square == pytest.approx((20 ** 2 + 20 ** 2) / 5000) and not fair.mismatch
    assert fair.p_value == pytest.approx(0.689157, abs=1e-6)  # chi-square, 1 d.f.: erfc(sqrt(0.16 / 2))
    skewed = sample_ratio([5300, 4700], [0.5, 0.5])  # chi-square 36: p about 2e-9
    assert skewed.chi_square == pytest.approx(36.0) and skewed.mismatch
    assert sample_ratio([0, 0], [0.5, 0.5]).p_value is None


def test_empty_variants_have_no_value_rather_than_an_error():
    assert proportion(0, 0).value is None and mean(Sample(0, 0.0, 0.0)).value is None
    assert proportion(0, 10, control=(0, 10)).p_value == 1.0
