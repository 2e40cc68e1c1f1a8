"""Purchases simulated from the BG/NBD and Gamma-Gamma models' own stories, so fits can be checked against
the parameters that generated them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from recommender.lifecycle import Purchases

DAY = 86_400.0
#: Day 0 of the simulated stores (2023-11-14 00:00 UTC).
START = 19_675 * DAY


@dataclass(frozen=True)
class Simulated:
    purchases: Purchases
    as_of: float  # the end of the observation day, epoch seconds


def simulate(n: int = 4000, r: float = 0.5, alpha: float = 20.0, a: float = 0.8, b: float = 2.5,
             p: float = 6.0, q: float = 4.0, gamma: float = 15.0, days: int = 365, cohort_days: int = 90,
             seed: int = 0) -> Simulated:
    """n customers whose first purchase falls in the first `cohort_days`, observed for `days`.

    While alive a customer buys at rate lambda ~ Gamma(r, alpha) per day and drops out after each repeat
    purchase with probability ~ Beta(a, b) (BG/NBD); each order costs Gamma(p, nu) with nu ~ Gamma(q, gamma)
    (Gamma-Gamma). Purchases at a time of day drawn at random, so some land on one day.
    """
    rng = np.random.default_rng(seed)
    rate = rng.gamma(r, 1.0 / alpha, n)
    dropout = rng.beta(a, b, n)
    nu = rng.gamma(q, 1.0 / gamma, n)
    first = rng.integers(0, cohort_days, n) + rng.random(n)
    customers, times = [np.arange(n)], [first]
    now, alive = first.copy(), np.ones(n, dtype=bool)
    while alive.any():
        now = now + rng.exponential(1.0, n) / np.maximum(rate, 1e-12)
        alive &= now < days
        customers.append(np.flatnonzero(alive))
        times.append(now[alive])
        alive &= rng.random(n) >= dropout
    who = np.concatenate(customers)
    when = np.concatenate(times)
    spend = rng.gamma(p, 1.0 / nu[who])
    ids = np.array([f"c{i:05d}" for i in range(n)], dtype=object)
    return Simulated(Purchases(ids[who], START + when * DAY, spend), START + days * DAY - 0.001)


@pytest.fixture(scope="session")
def simulated() -> Simulated:
    return simulate()
