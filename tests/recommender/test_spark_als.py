"""The Spark ALS trainer against implicit's on the demo store, with a local Spark (`local[2]`).

Slow (a JVM starts, and Spark's per-stage overhead dominates on small data): `make test-slow`.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy.sparse import csr_matrix

pytest.importorskip("pyspark")

from recommender.algorithms import ModelParams  # noqa: E402
from recommender.artifacts import load_model, save_model  # noqa: E402
from recommender.demo import DemoData  # noqa: E402
from recommender.errors import InputError  # noqa: E402
from recommender.evaluation import evaluate# noqa: E402
from recommender.splits import temporal_split# noqa: E402
from recommender.events import EVENT_TYPES, EventTable  # noqa: E402
from recommender.matrix import EventWeights, build_matrix  # noqa: E402
from recommender.spark_als import SparkALSTrainer, spark_reg_param  # noqa: E402
from recommender.trainers import fit_implicit, open_trainer  # noqa: E402

pytestmark = pytest.mark.slow
LOCAL = {"spark.master": "local[2]", "spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "4"}
PARAMS = ModelParams(factors=32, iterations=10)


@pytest.fixture(scope="module")
def spark_fit(tmp_path_factory: pytest.TempPathFactory):
    with SparkALSTrainer(workdir=tmp_path_factory.mktemp("spark"), conf=LOCAL) as trainer:
        yield trainer


@pytest.fixture(scope="module")
def spark_model(spark_fit: SparkALSTrainer, storefront: DemoData):
    return spark_fit(storefront.events, PARAMS, None, storefront.catalog)


def test_spark_sums_the_same_confidences_under_the_same_ids_as_build_matrix(spark_fit, storefront):
    weights = EventWeights(half_life_days=30.0, review=2.0, history_half_life=0.2)
    model = spark_fit(storefront.events, dataclasses.replace(PARAMS, iterations=1), weights, storefront.catalog)
    expected = build_matrix(storefront.events, weights)
    assert list(model.user_ids.ids) == list(expected.users.ids)
    assert list(model.item_ids.ids) == list(expected.items.ids)
    assert model.interactions.reference_time == expected.reference_time
    got = model.user_items
    assert got.nnz == expected.matrix.nnz
    assert np.array_equal(got.indptr, expected.matrix.indptr) and np.array_equal(got.indices, expected.matrix.indices)
    np.testing.assert_allclose(got.data, expected.matrix.data, rtol=1e-5)


def test_the_artifact_is_implicits_format_and_serves_through_the_normal_loader(spark_model, storefront, tmp_path):
    implicit_model = fit_implicit(storefront.events, PARAMS, None, storefront.catalog)
    assert spark_model.algorithm.user_factors.shape == implicit_model.algorithm.user_factors.shape
    assert spark_model.algorithm.item_factors.dtype == implicit_model.algorithm.item_factors.dtype == np.float32
    save_model(spark_model, tmp_path / "model.npz")
    loaded, info = load_model(tmp_path / "model.npz")
    assert info.algorithm == "als" and info.params == PARAMS.to_dict()
    np.testing.assert_array_equal(loaded.algorithm.item_factors, spark_model.algorithm.item_factors)
    user = str(loaded.user_ids.ids[0])
    recommendation = loaded.recommend(user, n=10)
    assert recommendation.source == "personalized" and len(recommendation.items) == 10
    seen = set(loaded.item_ids.ids[loaded.user_items[0].indices])
    assert not seen & {item.item_id for item in recommendation.items}
    assert loaded.similar_items(str(loaded.item_ids.ids[0]), n=5)


def test_ndcg_on_a_temporal_split_is_within_a_factor_of_implicits(spark_fit, storefront):
    split = temporal_split(storefront.events)
    implicit_ndcg = evaluate(fit_implicit(split.train, PARAMS, None, storefront.catalog), split.test).ndcg
    spark_ndcg = evaluate(spark_fit(split.train, PARAMS, None, storefront.catalog), split.test).ndcg
    popular_ndcg = evaluate(fit_implicit(split.train, ModelParams(algorithm="popular")), split.test).ndcg
    assert spark_ndcg > popular_ndcg
    assert spark_ndcg >= 0.5 * implicit_ndcg, (spark_ndcg, implicit_ndcg)


def test_bad_input_raises_the_librarys_input_error(spark_fit, storefront):
    with pytest.raises(InputError, match="empty"):
        spark_fit(EventTable.empty(), PARAMS)
    impressions = storefront.events.take(np.arange(20))
    impressions.types = np.full(20, EVENT_TYPES.index("impression"), dtype=np.int8)
    with pytest.raises(InputError, match="empty"):  # weighted 0: nothing left to train on
        spark_fit(impressions, PARAMS)
    unknown = storefront.events.take(np.arange(20))
    unknown.types = unknown.types.copy()
    unknown.types[3] = len(EVENT_TYPES)
    with pytest.raises(InputError, match="row 3"):
        spark_fit(unknown, PARAMS)
    with pytest.raises(InputError, match="ALS only"):
        spark_fit(storefront.events, ModelParams(algorithm="bpr"))
    with pytest.raises(InputError, match="unknown trainer"), open_trainer("dask"):
        pass


def test_regularization_matches_implicits_where_the_interactions_are():
    matrix = csr_matrix(np.array([[1, 0], [1, 1], [0, 1]], dtype=np.float32))  # n_u = 1, 2, 1; n_i = 2, 2
    # each of the 4 ratings on both sides: mean n = (1 + 2 + 2 + 1 + 2 + 2 + 2 + 2) / 8 = 14 / 8
    assert spark_reg_param(ModelParams(regularization=30.0), matrix) == pytest.approx(30.0 / (14 / 8))
