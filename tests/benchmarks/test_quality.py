"""The quality benchmark's search and report, on tiny data and tiny grids."""

from __future__ import annotations

import dataclasses
import json

import pytest

from benchmarks import quality
from benchmarks.quality import (
    Config,
    Search,
    around,
    benchmark_split,
    describe,
    planned_trials,
)
from recommender.algorithms import ModelParams
from recommender.demo import generate_storefront
from recommender.evaluation import Metrics
from recommender.splits import split_events
from recommender.matrix import EventWeights


def fake_metrics(ndcg: float) -> Metrics:
    return Metrics(k=10, precision=0.0, recall=0.0, ndcg=ndcg, map=0.0, coverage=0.0, users=1)


@pytest.fixture
def scored_by(monkeypatch):
    """Replace training with a score function of the config, and record what was tried."""
    tried = []

    def install(score):
        def fake(split, config, k=10):
            tried.append(config)
            return fake_metrics(score(config)), 0.0
        monkeypatch.setattr(quality, "fit_and_score", fake)
        return tried
    return install


@pytest.fixture(scope="module")
def tiny_events():
    return generate_storefront(n_users=120, n_products=40, n_content=4, n_categories=4, seed=3, now=1e9).events


def test_stages_start_from_the_best_so_far(scored_by, tiny_events):
    base = ModelParams().regularization  # the search starts from the library default
    tried = scored_by(lambda c: -abs(c.params.factors - 64) - abs(c.params.regularization - (2 * base + 2)))
    stages = [{"factors": [16, 64, 256]}, {"regularization": around(0.5, 1, 2)}]
    search = Search(split_events(tiny_events, "random"))
    best, score = search.run("als", stages, half_lives=())
    assert (best.params.factors, best.params.regularization) == (64, 2 * base)  # base -> base/2, base, 2 base
    assert score == -2.0
    assert len(tried) == 5  # 1 + 3 + 3, less two repeats of the default, which are scored once


def test_a_stage_can_search_event_weights_with_model_params(scored_by, tiny_events):
    # the best: history half-life 0.1 with alpha raised 10x; the clock half-life stays untouched
    base_alpha = ModelParams().alpha
    tried = scored_by(lambda c: (c.weights.history_half_life == 0.1) + (c.params.alpha == 10 * base_alpha))
    stages = [{"history_half_life": [0.1, 0.4], "alpha": around(1, 10)}]
    best, score = Search(split_events(tiny_events, "random")).run("als", stages, half_lives=())
    assert best.weights == EventWeights(history_half_life=0.1)
    assert best.params.alpha == 10 * base_alpha and score == 2
    assert len(tried) == 5  # the start, then 2 x 2
    assert tried[0].weights.history_half_life is None  # the search starts without the library's recency
    assert "history_half_life=0.1" in describe(best)


def test_history_half_life_is_searched_where_values_count():
    als = [stage for stage in quality.SEARCH["als"] if "history_half_life" in stage]
    assert als and list(als[0]["history_half_life"]) == list(quality.HISTORY_HALF_LIVES)
    assert {"regularization", "alpha"} <= set(als[0])  # it shrinks confidences, so these move with it
    for name in ("cosine", "bm25"):
        assert any("history_half_life" in stage for stage in quality.SEARCH[name])


def test_time_decay_needs_a_real_gain(scored_by, tiny_events):
    gains = {None: 1.0, 30.0: 1.004, 90.0: 1.002}
    scored_by(lambda c: gains[c.weights.half_life_days])
    best, score = Search(split_events(tiny_events, "random")).run("als", [], half_lives=(30.0, 90.0))
    assert best.weights.half_life_days is None and score == 1.0  # +0.4% is noise
    gains[90.0] = 1.02
    best, score = Search(split_events(tiny_events, "random")).run("als", [], half_lives=(30.0, 90.0))
    assert best.weights.half_life_days == 90.0 and score == 1.02


def test_decay_is_not_tried_where_values_are_ignored(scored_by, tiny_events):
    tried = scored_by(lambda c: 1.0)
    Search(split_events(tiny_events, "random")).run("popular", [], half_lives=(30.0,))
    assert len(tried) == 1


def test_ties_keep_the_earlier_config(scored_by, tiny_events):
    scored_by(lambda c: 0.5)
    best, _ = Search(split_events(tiny_events, "random")).run("bm25", [{"neighbours": [10, 20]}], half_lives=())
    assert best.params == ModelParams(algorithm="bm25")


def test_planned_trials_counts_every_stage():
    expected = 1 + sum(quality.stage_size(s) for s in quality.SEARCH["als"]) + len(quality.HALF_LIVES)
    assert planned_trials(["als", "popular"]) == expected + 1


def test_describe_shows_what_the_algorithm_reads():
    config = Config(ModelParams(algorithm="bm25", neighbours=50, bm25_k1=0.5, confidence="linear"))
    assert describe(config) == "neighbours=50, bm25_k1=0.5, bm25_b=0.75, confidence=linear, history_half_life=off"
    recent = dataclasses.replace(config, weights=EventWeights(history_half_life=0.2))
    assert describe(recent).endswith("history_half_life=0.2")
    decayed = dataclasses.replace(config.weights, half_life_days=90.0)
    assert describe(Config(ModelParams(algorithm="popular"), decayed)) == "half_life_days=90"


@pytest.mark.parametrize("split", ["random", "temporal"])
def test_benchmark_split_end_to_end(tiny_events, tmp_path, split):
    stages = {"als": [{"factors": [8, 16]}], "bm25": [{"neighbours": [5, 20]}]}
    result = benchmark_split(tiny_events, "tiny", split, ["popular", "als", "bm25"], stages=stages,
                             half_lives=(30.0,))
    assert [m.model for m in result.models] == ["popular", "als", "bm25"]
    for m in result.models:
        assert 0.0 <= m.metrics.ndcg <= 1.0 and m.metrics.users > 0
        assert m.config.params.algorithm == m.model
    assert result.sizes["validation_train"] + result.sizes["validation"] == result.sizes["train"]
    info = {"cpu": "test", "cores": "2", "python": "3", "implicit": "0.7", "numpy": "2", "openblas_threads": "1"}
    report = quality.markdown([result], info, 1.0)
    assert f"## tiny, {split} split" in report and "| als |" in report
    quality.plot([result], tmp_path / "ndcg.png")
    assert (tmp_path / "ndcg.png").stat().st_size > 0
    json.dumps(quality.as_json([result], info, 1.0))
