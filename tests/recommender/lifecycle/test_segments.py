import numpy as np
import pytest

from recommender.errors import InputError
from recommender.lifecycle import SEGMENTS, RfmEdges, fit_rfm_edges, summarize
from recommender.lifecycle.segments import churn_bands, rfm_scores, rfm_segments

from .test_summary import purchases


@pytest.mark.parametrize(("r", "f", "m", "orders", "segment"), [
    (5, 5, 5, 9, "champions"), (4, 4, 0, 6, "champions"), (5, 3, 3, 3, "loyal"), (3, 5, 5, 9, "loyal"),
    (5, 1, 1, 2, "potential"), (3, 2, 1, 2, "potential"), (5, 1, 5, 1, "new"), (4, 1, 0, 1, "new"),
    (3, 1, 5, 1, "loyal"), (2, 5, 5, 9, "at_risk"), (1, 3, 3, 4, "at_risk"), (1, 5, 4, 8, "cant_lose"),
    (2, 1, 3, 2, "hibernating"), (1, 2, 1, 1, "lost"),
])
def test_segment_grid(r, f, m, orders, segment):
    assert rfm_segments(np.array([r]), np.array([f]), np.array([m]), np.array([orders]))[0] == segment


def test_every_cell_has_a_known_segment():
    r, fm = np.meshgrid(np.arange(1, 6), np.arange(1, 6))
    names = rfm_segments(r.ravel(), fm.ravel(), np.zeros(25), np.full(25, 2))
    assert set(names) <= set(SEGMENTS) and set(names) == set(SEGMENTS) - {"new"}


def test_scores_against_store_quintiles():
    edges = RfmEdges(recency_days=(10, 20, 30, 40), orders=(1, 1, 2, 4), aov=(10, 20, 30, 40))
    rows = [("a", 0.0, 50.0), ("a", 5.0, 50.0), ("a", 9.0, 50.0), ("a", 99.0, 50.0), ("a", 100.0, 50.0),
            ("b", 55.0, 10.0), ("c", 90.0, np.nan)] + [("d", day, 20.0) for day in (96.0, 97.0, 98.0, 99.0)]
    summary = summarize(purchases(rows), as_of=100 * 86_400.0 + purchases(rows).timestamps.min())
    r, f, m = rfm_scores(edges, summary)
    # a value equal to an edge is in the lower quintile (the q-quantile bounds the values at most it)
    np.testing.assert_array_equal(r, [5, 1, 5, 5])  # 0, 45, 10 and 1 days since the last order
    np.testing.assert_array_equal(f, [5, 1, 1, 4])  # 5, 1, 1 and 4 orders
    np.testing.assert_array_equal(m, [5, 1, 0, 2])  # AOV 50, 10, unknown (0) and 20


def test_edges_are_quintiles_of_the_store():
    rows = [(f"c{i}", float(i), float(i + 1)) for i in range(10)]
    summary = summarize(purchases(rows), as_of=purchases(rows).timestamps.max())
    edges = fit_rfm_edges(summary)
    np.testing.assert_allclose(edges.recency_days, np.quantile(np.arange(10.0), [0.2, 0.4, 0.6, 0.8]))
    np.testing.assert_allclose(edges.aov, np.quantile(np.arange(1.0, 11.0), [0.2, 0.4, 0.6, 0.8]))
    assert edges.orders == (1.0, 1.0, 1.0, 1.0)
    with pytest.raises(InputError):
        fit_rfm_edges(summary.take(np.zeros(len(summary), dtype=bool)))


def test_churn_bands_follow_the_thresholds():
    alive = np.array([1.0, 0.51, 0.5, 0.21, 0.2, 0.0])
    np.testing.assert_array_equal(churn_bands(alive, 0.5, 0.8),
                                  ["low", "low", "medium", "medium", "high", "high"])
    np.testing.assert_array_equal(churn_bands(alive, 0.0, 0.3), ["medium", "high", "high", "high", "high", "high"])
    with pytest.raises(InputError):
        churn_bands(alive, 0.8, 0.5)
