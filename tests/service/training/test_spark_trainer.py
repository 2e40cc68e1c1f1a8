"""RECS_TRAINER=spark end to end: the training child fits ALS on a local Spark, and the service
serves that artifact over HTTP exactly as an implicit one. Slow (a JVM per training): `make test-slow`."""

from __future__ import annotations

import pytest

pytest.importorskip("pyspark")

from recommender.artifacts import read_info  # noqa: E402
from tests.service.conftest import AUTH_ADMIN, wait_for, wait_ready  # noqa: E402

pytestmark = pytest.mark.slow


async def test_spark_trainer_trains_and_serves_over_http(make_client, settings, monkeypatch):
    monkeypatch.setenv("PYSPARK_SUBMIT_ARGS", "--master local[2] --conf spark.ui.enabled=false pyspark-shell")
    # Spark fits ALS only (README, RECS_TRAINER): model choice among ALS configurations, bought items removed
    client = await make_client(settings, ready=False, trainer="spark", algorithm="als", repeat="off")
    await wait_ready(client, timeout=600)
    model = await (await client.get("/v1/model")).json()
    assert model["algorithm"] == "als" and model["counts"]["users"] == 400
    assert model["metrics"]["ndcg"] > 0  # the holdout model was fitted by Spark too
    artifact = settings.models_path / f"{model['version']}.npz"
    assert read_info(artifact).extra["trainer"] == "spark"
    assert not list(settings.models_path.glob("encore-spark-*"))  # Spark's working files are gone

    body = await (await client.get("/v1/users/u000001/recommendations?n=5")).json()
    assert body["source"] == "personalized" and len(body["items"]) == 5
    assert body["model_version"] == model["version"]
    similar = await client.get(f"/v1/items/{body['items'][0]['item_id']}/similar?n=3")
    assert similar.status == 200 and len((await similar.json())["items"]) == 3

    first_attempt = model["training"]["last_attempt_at"]
    assert (await client.post("/v1/model/retrain", headers=AUTH_ADMIN)).status == 202  # a second JVM, in a new child

    async def retrained():
        training = (await (await client.get("/v1/model")).json())["training"]
        return not training["running"] and training["last_attempt_at"] != first_attempt and training

    training = await wait_for(retrained, timeout=600, interval=0.5)
    assert training["last_outcome"] == "trained", training["last_message"]
