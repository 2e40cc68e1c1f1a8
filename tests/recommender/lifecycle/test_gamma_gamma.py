import math

import numpy as np
import pytest
from scipy import integrate, stats

from recommender.errors import InputError
from recommender.lifecycle import FitError, GammaGammaParams, conditional_expected_spend, fit_gamma_gamma, summarize
from recommender.lifecycle.gamma_gamma import log_likelihood

from .conftest import simulate

#: Fader and Hardie (2013) on CDNOW's 946 repeat buyers, as published.
PUBLISHED = GammaGammaParams(p=6.25, q=3.74, gamma=15.44)


def test_published_mean_spend():
    assert PUBLISHED.mean_spend == pytest.approx(35.22, abs=5e-3)
    assert GammaGammaParams(1.0, 0.9, 1.0).mean_spend == math.inf


def test_log_likelihood_is_the_mixture_density_of_the_mean():
    """f(m | x) = integral over nu ~ Gamma(q, gamma) of the Gamma(px, x nu) density of the mean of x orders."""
    params = GammaGammaParams(p=2.5, q=3.0, gamma=20.0)
    for x, m in ((1, 12.0), (3, 30.0), (8, 5.5)):
        def integrand(nu: float) -> float:
            return (stats.gamma.pdf(m, a=params.p * x, scale=1 / (x * nu))
                    * stats.gamma.pdf(nu, a=params.q, scale=1 / params.gamma))
        density, _ = integrate.quad(integrand, 0, np.inf, epsabs=0, epsrel=1e-11, limit=200)
        assert log_likelihood(params, np.array([x]), np.array([m]))[0] == pytest.approx(math.log(density), rel=1e-7)


def test_conditional_expected_spend_weighs_own_mean_against_the_population():
    spend = conditional_expected_spend(PUBLISHED, np.array([0, 1, 5, 10_000, 2]), np.array([np.nan, 50.0, 50.0,
                                                                                           50.0, np.nan]))
    assert spend[0] == pytest.approx(PUBLISHED.mean_spend)  # no repeat spend: the population mean
    assert spend[4] == pytest.approx(PUBLISHED.mean_spend)  # unknown spend too
    assert PUBLISHED.mean_spend < spend[1] < spend[2] < spend[3] < 50.0
    assert spend[3] == pytest.approx(50.0, rel=1e-3)
    w = PUBLISHED.p * 5 / (PUBLISHED.p * 5 + PUBLISHED.q - 1)
    assert spend[2] == pytest.approx(w * 50.0 + (1 - w) * PUBLISHED.mean_spend)


def test_fit_recovers_a_simulated_store(simulated):
    summary = summarize(simulated.purchases, simulated.as_of)
    fitted = fit_gamma_gamma(summary.repeat_spend_orders, summary.repeat_spend)
    assert fitted.customers == int((summary.repeat_spend_orders > 0).sum())
    assert fitted.mean_spend == pytest.approx(6.0 * 15.0 / 3.0, rel=0.1)  # conftest.simulate: p=6, q=4, gamma=15
    for name, value in {"p": 6.0, "q": 4.0, "gamma": 15.0}.items():
        assert getattr(fitted, name) == pytest.approx(value, rel=0.2), name


def test_fit_uses_repeat_buyers_with_known_positive_spend_only(simulated):
    summary = summarize(simulated.purchases, simulated.as_of)
    x, m = summary.repeat_spend_orders, summary.repeat_spend
    fitted = fit_gamma_gamma(x, m)
    padded = fit_gamma_gamma(np.concatenate([x, [0, 3, 2]]), np.concatenate([m, [np.nan, np.nan, 0.0]]))
    assert padded.p == pytest.approx(fitted.p, rel=1e-6) and padded.customers == fitted.customers


def test_failures_are_clean():
    with pytest.raises(FitError) as caught:
        fit_gamma_gamma(np.array([0, 0]), np.array([np.nan, np.nan]))
    assert caught.value.reason == "no_spend"
    with pytest.raises(FitError) as caught:
        fit_gamma_gamma(np.array([2]), np.array([10.0]))
    assert caught.value.reason == "not_identified"
    with pytest.raises(InputError, match="at least 0"):
        fit_gamma_gamma(np.array([1]), np.array([-3.0]))


def test_a_heavy_tail_has_no_mean_and_says_so():
    heavy = simulate(n=4000, q=0.6, gamma=2.0, seed=5)  # nu ~ Gamma(0.6): customers' mean spend has no mean
    summary = summarize(heavy.purchases, heavy.as_of)
    with pytest.raises(FitError, match="no finite mean spend") as caught:
        fit_gamma_gamma(summary.repeat_spend_orders, summary.repeat_spend)
    assert caught.value.reason == "infinite_mean_spend"
