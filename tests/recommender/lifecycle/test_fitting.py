"""The shared maximum-likelihood search: an interior maximum is accepted, a stop short of one is not."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from recommender.lifecycle import fitting
from recommender.lifecycle.fitting import FitError, maximize_log_likelihood

PEAK = np.log([2.0, 3.0])


def _peaked(log_params: np.ndarray) -> float:
    """A mean log-likelihood with its maximum at parameters (2, 3) and unit curvature in log-parameters."""
    return -0.5 * float(np.sum((log_params - PEAK) ** 2))


def test_an_interior_maximum_is_found_and_accepted():
    params, value = maximize_log_likelihood(_peaked, [1.0, 1.0], ("a", "b"), "test", 100)
    assert params == pytest.approx([2.0, 3.0], rel=1e-5) and value == pytest.approx(0.0, abs=1e-9)


def test_a_search_that_stops_where_the_likelihood_still_rises_is_not_identified(monkeypatch):
    # what L-BFGS-B did on one customer's spend on one machine: it stopped on a ridge that rises towards the
    # bound, where the curvature alone (100 here, against 0.01 required) passed the standard-error check
    stopped = SimpleNamespace(x=np.log([1.5, 3.0]), message="stopped short")
    monkeypatch.setattr(fitting, "minimize", lambda *args, **kwargs: stopped)
    with pytest.raises(FitError) as caught:
        maximize_log_likelihood(_peaked, [1.0, 1.0], ("a", "b"), "test", 100)
    assert caught.value.reason == "not_identified" and "no maximum" in str(caught.value)


def test_a_stop_a_hair_from_the_maximum_is_accepted(monkeypatch):
    near = SimpleNamespace(x=PEAK + np.array([1e-4, -1e-4]), message="converged")
    monkeypatch.setattr(fitting, "minimize", lambda *args, **kwargs: near)
    params, _ = maximize_log_likelihood(_peaked, [1.0, 1.0], ("a", "b"), "test", 100)
    assert params == pytest.approx([2.0, 3.0], rel=1e-3)
