"""Shared fixtures: a small generated storefront, a hand-made event table, cheap trained models."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest

from recommender.algorithms import ModelParams
from recommender.demo import DemoData, generate_storefront
from recommender.events import EventTable
from recommender.matrix import InteractionMatrix, build_matrix
from recommender.models import Recommender
from recommender.units import SECONDS_PER_DAY

#: A fixed "now" so the generated store (and everything trained on it) is reproducible.
NOW = 1_700_000_000.0
DAY = SECONDS_PER_DAY

#: Small hyper-parameters: every algorithm trains in well under a second on the test store.
SMALL_PARAMS = {"factors": 16, "iterations": 8, "bpr_iterations": 30, "neighbours": 50, "repeat_neighbours": 50}


def small_params(algorithm: str, **overrides: object) -> ModelParams:
    return ModelParams(algorithm=algorithm, **{**SMALL_PARAMS, **overrides})


@pytest.fixture(scope="session")
def storefront() -> DemoData:
    return generate_storefront(n_users=300, n_products=120, n_content=20, seed=1, now=NOW)


@pytest.fixture(scope="session")
def demo_matrix(storefront: DemoData) -> InteractionMatrix:
    return build_matrix(storefront.events)


@pytest.fixture(scope="session")
def trained(storefront: DemoData, demo_matrix: InteractionMatrix):
    """`trained(algorithm)`: a model fitted once per session on the demo store; do not mutate it."""

    @functools.cache
    def fit(algorithm: str) -> Recommender:
        return Recommender(small_params(algorithm)).fit(demo_matrix, storefront.catalog, events=storefront.events)

    return fit


@pytest.fixture
def tiny_frame() -> pd.DataFrame:
    """Three users, three items, every event type; u1 has a duplicate view of i1."""
    return pd.DataFrame({
        "user_id": ["u1", "u1", "u1", "u2", "u2", "u3", "u1"],
        "item_id": ["i1", "i2", "i3", "i1", "i3", "i2", "i1"],
        "type": ["view", "add_to_cart", "purchase", "click", "review", "view", "view"],
        "timestamp": NOW - np.array([5, 4, 3, 2, 1, 0, 6], dtype=float) * DAY,
        "value": [np.nan, np.nan, np.nan, np.nan, 4.0, np.nan, np.nan],
    })


@pytest.fixture
def tiny_events(tiny_frame: pd.DataFrame) -> EventTable:
    return EventTable.from_frame(tiny_frame)
