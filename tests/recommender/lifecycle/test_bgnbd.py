import math

import numpy as np
import pytest
from scipy.special import beta, gamma

from recommender.errors import InputError
from recommender.lifecycle import (
    BGNBDParams, FitError, conditional_expected_purchases, expected_purchases_new, fit_bgnbd, p_alive,
    p_no_purchases_new, summarize,
)
from recommender.lifecycle.bgnbd import log_likelihood

from .conftest import simulate

#: Fader, Hardie and Lee (2005) on CDNOW, time in weeks, as published (rounded to 3 decimals).
PUBLISHED = BGNBDParams(r=0.243, alpha=4.414, a=0.793, b=2.426)


def test_reference_values_at_the_published_parameters():
    # Hardie's spreadsheet: E[Y(39) | x=2, t_x=30.43, T=38.86] = 1.226 and P(X(39) = 0) = 0.5738.
    assert conditional_expected_purchases(PUBLISHED, 39.0, np.array([2]), np.array([30.43]),
                                          np.array([38.86]))[0] == pytest.approx(1.226, abs=5e-4)
    assert p_no_purchases_new(PUBLISHED, 39.0) == pytest.approx(0.5738, abs=5e-5)
    # E[X(t)] = 0.0532, 0.1506, 1.8576 at t = 1, 3, 78 come from the unrounded estimates: the parameters
    # rounded to 3 decimals move E[X(78)] by 0.16% (1.8605), so the check here is relative; the CDNOW fit
    # (test_cdnow.py) must match them to the 4 decimals given.
    np.testing.assert_allclose(expected_purchases_new(PUBLISHED, np.array([1.0, 3.0, 78.0])),
                               [0.0532, 0.1506, 1.8576], rtol=2e-3)


def direct_likelihood(p: BGNBDParams, x: int, t_x: float, T: float) -> float:
    """FHL 2005 equation 6, term by term in plain floats."""
    r, alpha, a, b = p.r, p.alpha, p.a, p.b
    common = beta(a, b + x) / beta(a, b) * gamma(r + x) * alpha ** r / gamma(r)
    alive = (alpha + T) ** -(r + x)
    dropped = a / (b + x - 1) * (alpha + t_x) ** -(r + x) if x > 0 else 0.0
    return common * (alive + dropped)


def test_log_likelihood_matches_the_paper_term_by_term():
    x, t_x, T = np.array([0, 1, 2, 7]), np.array([0.0, 5.0, 30.43, 20.0]), np.array([38.86, 12.0, 38.86, 39.0])
    expected = [math.log(direct_likelihood(PUBLISHED, *row)) for row in zip(x, t_x, T)]
    np.testing.assert_allclose(log_likelihood(PUBLISHED, x, t_x, T), expected, rtol=1e-12)


def test_p_alive():
    x, t_x, T = np.array([0, 2, 2, 2]), np.array([0.0, 30.0, 30.0, 10.0]), np.array([39.0, 30.0, 39.0, 39.0])
    alive = p_alive(PUBLISHED, x, t_x, T)
    odds = PUBLISHED.a / (PUBLISHED.b + 1) * ((PUBLISHED.alpha + 39) / (PUBLISHED.alpha + 30)) ** (PUBLISHED.r + 2)
    assert alive[0] == 1.0  # no repeat purchase: cannot have dropped out under BG/NBD
    assert alive[2] == pytest.approx(1 / (1 + odds), rel=1e-12)
    assert alive[1] > alive[2] > alive[3]  # the longer the silence, the lower


def hyp2f1_series(a: float, b: float, c: float, z: float) -> float:
    """Gauss's series, summed term by term (for 0 <= z < 1)."""
    term, total, k = 1.0, 1.0, 0
    while abs(term) > 1e-17 * abs(total) or k < 10:
        term *= (a + k) * (b + k) / ((c + k) * (k + 1)) * z
        total += term
        k += 1
    return total


@pytest.mark.parametrize(("x", "t_x", "T", "t"), [(2, 30.43, 38.86, 39.0), (0, 0.0, 100.0, 365.0),
                                                  (40, 600.0, 700.0, 365.0), (300, 990.0, 1000.0, 365.0)])
def test_conditional_expectation_matches_equation_10_summed_directly(x, t_x, T, t):
    p = BGNBDParams(r=0.7, alpha=40.0, a=0.8, b=2.5)
    z = t / (p.alpha + T + t)
    factor = ((p.alpha + T) / (p.alpha + T + t)) ** (p.r + x) * hyp2f1_series(p.r + x, p.b + x, p.a + p.b + x - 1, z)
    alive = p_alive(p, np.array([x]), np.array([t_x]), np.array([T]))[0]
    expected = (p.a + p.b + x - 1) / (p.a - 1) * (1 - factor) * alive
    got = conditional_expected_purchases(p, t, np.array([x]), np.array([t_x]), np.array([T]))[0]
    assert np.isfinite(got) and got == pytest.approx(expected, rel=1e-9)


def test_expectations_broadcast_over_horizons_and_start_at_zero():
    x, t_x, T = np.array([0, 3]), np.array([0.0, 20.0]), np.array([30.0, 40.0])
    grid = conditional_expected_purchases(PUBLISHED, np.array([0.0, 10.0, 100.0])[:, None], x, t_x, T)
    assert grid.shape == (3, 2)
    np.testing.assert_array_equal(grid[0], 0.0)
    assert (np.diff(grid, axis=0) > 0).all()
    new = expected_purchases_new(PUBLISHED, np.array([0.0, 1.0, 10.0]))
    assert new[0] == 0.0 and (np.diff(new) > 0).all()


def test_fit_recovers_the_parameters_of_a_simulated_store(simulated):
    summary = summarize(simulated.purchases, simulated.as_of)
    fitted = fit_bgnbd(summary.frequency, summary.recency, summary.age)
    truth = {"r": 0.5, "alpha": 20.0, "a": 0.8, "b": 2.5}  # conftest.simulate's defaults
    for name, value in truth.items():
        assert getattr(fitted, name) == pytest.approx(value, rel=0.15), name
    assert fitted.customers == len(summary)
    total = log_likelihood(fitted, summary.frequency, summary.recency, summary.age).sum()
    assert fitted.log_likelihood == pytest.approx(total, rel=1e-12)
    worse = BGNBDParams(fitted.r * 1.05, fitted.alpha, fitted.a, fitted.b)
    assert log_likelihood(worse, summary.frequency, summary.recency, summary.age).sum() < total


def test_nobody_bought_twice_fails_cleanly():
    with pytest.raises(FitError, match="at least two different days") as caught:
        fit_bgnbd(np.zeros(50), np.zeros(50), np.arange(50.0))
    assert caught.value.reason == "no_repeat_buyers"
    assert isinstance(caught.value, InputError)
    with pytest.raises(FitError) as caught:
        fit_bgnbd(np.zeros(0), np.zeros(0), np.zeros(0))
    assert caught.value.reason == "no_customers"


def test_a_single_customer_cannot_determine_the_model():
    with pytest.raises(FitError, match="1 customer ") as caught:
        fit_bgnbd(np.array([2]), np.array([30.0]), np.array([40.0]))
    assert caught.value.reason == "not_identified"


def test_a_small_simulated_store_is_enough():
    small = simulate(n=150, seed=3)
    summary = summarize(small.purchases, small.as_of)
    fitted = fit_bgnbd(summary.frequency, summary.recency, summary.age)
    assert 0.2 < fitted.r < 1.5 and fitted.customers == 150


@pytest.mark.parametrize(("x", "t_x", "T", "words"), [([1], [5.0], [4.0], "exceed"), ([0], [3.0], [4.0], "be 0"),
                                                      ([-1], [0.0], [4.0], "at least 0"),
                                                      ([1], [np.nan], [4.0], "finite")])
def test_inconsistent_histories_are_input_errors(x, t_x, T, words):
    with pytest.raises(InputError, match=words):
        fit_bgnbd(np.array(x), np.array(t_x), np.array(T))
