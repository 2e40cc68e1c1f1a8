"""ALS on Spark (`pyspark.ml.recommendation.ALS`, implicit preferences) producing the very
`Recommender` that implicit's ALS would: same id maps, same confidence matrix, factor arrays of
the same shape and dtype, so artifacts, precompute and serving cannot tell which engine trained.

Why Spark: when the events no longer fit one machine's memory, or a Spark cluster already
exists, Spark reads the events in parallel and spreads the ALS solves over executors. On one
machine implicit is faster (benchmarks/results/spark.md).

The flow: the driver maps ids exactly as `build_matrix` does (sorted `IdMap`s, event types weighted
0 dropped first, so they add no users or items) and writes the events with integer codes to
Parquet, one file per core; Spark reads them in parallel, weighs each event with the same
`EventWeights` (type weight, times stars for reviews, times the half-life decay), sums per
(user, item), fits ALS, and writes the sums and both factor tables to Parquet, which the driver
reads back with pyarrow (no row-by-row collect through py4j).

How implicit's parameters map onto Spark's (both minimise sum c_ui (p_ui - x_u.y_i)^2 + penalty):

* confidence: implicit trains on c = alpha * r, where r is the summed confidence after
  `ModelParams.confidence` scaling (log1p by default); Spark uses c = 1 + alpha * rating. Spark gets
  rating = r - 1/alpha with the same alpha, so its c equals implicit's exactly. Where implicit's c
  would fall below 1 (r < 1/alpha: only with time decay or tiny weights), the rating is clipped to
  a small positive number (Spark treats ratings <= 0 as "not preferred"), so c is about 1 there.
* regularisation: implicit adds lambda * |x|^2 for every user and item vector; Spark adds
  regParam * n * |x|^2 where n is the vector's number of ratings (ALS-WR). One regParam cannot match
  every vector, so it matches the vectors most interactions belong to: with n averaged over
  interactions (a user with 100 ratings counts 100 times), regParam * mean(n) = lambda, i.e.
  regParam = lambda * 2 * nnz / (sum of n_u^2 + sum of n_i^2). Heavy users and popular items carry
  most of the data and set the ranking, and get about implicit's penalty; light users and rare items
  get less. (Matching the penalty summed over all vectors instead, lambda * (users + items) / (2 nnz),
  regularised popular items far more than implicit and scored 54% of implicit's nDCG@10 on the demo
  store's temporal split, against 69% for this mapping.) Fold-in of new users at serving time
  (implicit's `recalculate_user`) uses plain lambda, as for an implicit-trained model.
"""

from __future__ import annotations

import itertools
import logging
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import numpy as np
from scipy.sparse import csr_matrix

from recommender.algorithms import ModelParams, restore_algorithm
from recommender.catalog import Catalog
from recommender.errors import InputError
from recommender.events import EVENT_TYPES, EventTable
from recommender.ids import IdMap
from recommender.matrix import (
    EventWeights,
    InteractionMatrix,
    default_weights,
    history_recency,
)
from recommender.models import Recommender
from recommender.units import SECONDS_PER_DAY

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

log = logging.getLogger(__name__)
#: Where implicit's confidence alpha * r would be below 1, Spark gets this rating (c = 1 + alpha * it).
MIN_RATING = 1e-6
#: Spark settings the trainer starts a session with; Spark's own configuration (spark-defaults.conf,
#: PYSPARK_SUBMIT_ARGS, e.g. `--master spark://host:7077`) decides the rest, `local[*]` by default.
DEFAULT_CONF: Mapping[str, str] = {
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.session.timeZone": "UTC",
}


def spark_reg_param(params: ModelParams, matrix: csr_matrix) -> float:
    """Spark's regParam whose penalty regParam * n equals implicit's `regularization` at the
    interaction-weighted mean number of ratings per vector, users and items together (see above)."""
    per_user = np.diff(matrix.indptr).astype(np.float64)
    per_item = np.bincount(matrix.indices, minlength=matrix.shape[1]).astype(np.float64)
    return params.regularization * 2.0 * matrix.nnz / max(float(per_user @ per_user + per_item @ per_item), 1.0)


def event_codes(events: EventTable, weights: EventWeights) -> tuple[EventTable, IdMap, IdMap, np.ndarray, np.ndarray]:
    """The events that count (types weighted 0 dropped) and the id maps `build_matrix` would make."""
    unknown = (events.types < 0) | (events.types >= len(EVENT_TYPES))
    if unknown.any():  # Spark would weigh an unknown code as null and drop it without a word
        row = int(np.flatnonzero(unknown)[0])
        raise InputError(f"unknown event type code {int(events.types[row])} at row {row}", row, "type")
    silent = weights.by_type_code() == 0
    if silent.any():
        events = events.take(~silent[events.types])
    if len(events) == 0:
        raise InputError("cannot train on an empty interaction matrix")
    users, user_codes = IdMap().extend(events.user_ids)
    items, item_codes = IdMap().extend(events.item_ids)
    return events, users, items, user_codes, item_codes


def write_parquet_events(events: EventTable, user_codes: np.ndarray, item_codes: np.ndarray, directory: Path,
                         files: int, recency: np.ndarray | None = None) -> None:
    """Events as integer-coded Parquet in `files` files, so Spark reads them with that many tasks;
    `recency` (history_recency's per-event factors, computed here on the driver) as a column."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    directory.mkdir(parents=True)
    bounds = np.linspace(0, len(events), max(1, min(files, len(events))) + 1).astype(np.int64)
    for part, (start, stop) in enumerate(itertools.pairwise(bounds)):
        columns = {
            "user": user_codes[start:stop].astype(np.int32), "item": item_codes[start:stop].astype(np.int32),
            "type": events.types[start:stop].astype(np.int8), "timestamp": events.timestamps[start:stop],
            "value": events.values[start:stop].astype(np.float32),
        }
        if recency is not None:
            columns["recency"] = recency[start:stop].astype(np.float32)
        table = pa.table(columns)
        pq.write_table(table, directory / f"part-{part:05d}.parquet")


def confidence_column(weights: EventWeights, reference_time: float) -> Column:
    """Per-event confidence in Spark SQL, from the same EventWeights as `event_confidence`:
    type weight, times stars for reviews, times 2^(-age / half-life) when a half-life is set, times
    the `recency` column (see write_parquet_events) when a history half-life is set."""
    from pyspark.sql import functions as F

    by_type = F.array(*[F.lit(float(w)) for w in weights.by_type_code()])
    weight = F.element_at(by_type, F.col("type").cast("int") + 1)
    confidence = F.when(F.col("type") == EVENT_TYPES.index("review"), weight * F.col("value")).otherwise(weight)
    if weights.half_life_days:
        age_days = F.greatest(F.lit(reference_time) - F.col("timestamp"), F.lit(0.0)) / SECONDS_PER_DAY
        confidence = confidence * F.pow(F.lit(2.0), -age_days / weights.half_life_days)
    if weights.history_half_life:
        confidence = confidence * F.col("recency")
    return confidence


def spark_rating(params: ModelParams) -> Column:
    """Spark's rating for a summed confidence, so that 1 + alpha * rating = implicit's alpha * r."""
    from pyspark.sql import functions as F

    scaled = F.log1p(F.col("confidence")) if params.confidence == "log" else F.col("confidence")
    return F.greatest(scaled - 1.0 / params.alpha, F.lit(MIN_RATING))


def read_factors(directory: Path, rows: int, rank: int) -> np.ndarray:
    """A Spark factor table (id, features) as a dense float32 array; ids with no rating stay 0,
    as implicit leaves a user whose confidences sum to 0."""
    import pyarrow.parquet as pq

    table = pq.read_table(directory)
    factors = np.zeros((rows, rank), dtype=np.float32)
    if table.num_rows:
        features = table.column("features").combine_chunks().flatten().to_numpy(zero_copy_only=False)
        factors[table.column("id").to_numpy()] = features.reshape(-1, rank)
    return factors


def read_confidence(directory: Path, users: IdMap, items: IdMap) -> csr_matrix:
    import pyarrow.parquet as pq

    table = pq.read_table(directory)
    matrix = csr_matrix((table.column("confidence").to_numpy().astype(np.float32),
                         (table.column("user").to_numpy(), table.column("item").to_numpy())),
                        shape=(len(users), len(items)), dtype=np.float32)
    matrix.sum_duplicates()  # sorts the indices, as build_matrix leaves them
    return matrix


class SparkALSTrainer:
    """A `recommender.trainers.Fit` that trains ALS on Spark; use as a context manager.

    Starts a session on first use (unless given one) and stops it on close; `workdir` holds the
    Parquet files of each fit, deleted after it (on a cluster: storage every executor reads).
    """

    def __init__(self, spark: SparkSession | None = None, workdir: str | Path | None = None,
                 conf: Mapping[str, str] | None = None) -> None:
        self._spark = spark
        self._owns_session = spark is None
        self.workdir = Path(workdir) if workdir else None
        self.conf = {**DEFAULT_CONF, **(conf or {})}
        self.last_fit_seconds: float | None = None

    @property
    def spark(self) -> SparkSession:
        if self._spark is None:
            from pyspark.sql import SparkSession

            builder = SparkSession.builder.appName("encore-als")
            for key, value in self.conf.items():
                builder = builder.config(key, value)
            self._spark = builder.getOrCreate()
            self._spark.sparkContext.setLogLevel("WARN")
        return self._spark

    def close(self) -> None:
        if self._owns_session and self._spark is not None:
            self._spark.stop()
            self._spark = None

    def __enter__(self) -> SparkALSTrainer:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def __call__(self, events: EventTable, params: ModelParams, weights: EventWeights | None = None,
                 catalog: Catalog | None = None) -> Recommender:
        if params.algorithm != "als":
            raise InputError(f"the spark trainer fits ALS only, not {params.algorithm!r}")
        if params.alpha <= 0:
            raise InputError("alpha must be positive for the spark trainer")
        weights = weights or default_weights(params.algorithm)
        events, users, items, user_codes, item_codes = event_codes(events, weights)
        reference_time = float(events.timestamps.max())
        recency = (history_recency(events, weights.history_half_life, user_codes)
                   if weights.history_half_life else None)
        started = time.perf_counter()
        if self.workdir:
            self.workdir.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="encore-spark-", dir=self.workdir))
        try:
            write_parquet_events(events, user_codes, item_codes, work / "events",
                                 self.spark.sparkContext.defaultParallelism, recency)
            matrix, user_factors, item_factors = self._fit(work, params, weights, reference_time, users, items)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        model = Recommender(params)
        model.algorithm = restore_algorithm(params, {"user_factors": user_factors, "item_factors": item_factors})
        model.fit_seconds = self.last_fit_seconds = time.perf_counter() - started
        model.trained_at = time.time()
        model.attach(InteractionMatrix(matrix, users, items, weights, reference_time), catalog or Catalog())
        log.info("trained als on spark on %d users x %d items (%d interactions) in %.1fs",
                 len(users), len(items), matrix.nnz, model.fit_seconds)
        return model

    def _fit(self, work: Path, params: ModelParams, weights: EventWeights, reference_time: float,
             users: IdMap, items: IdMap) -> tuple[csr_matrix, np.ndarray, np.ndarray]:
        """Weigh, sum and fit in Spark; the sums and factors come back through Parquet."""
        from pyspark.ml.recommendation import ALS
        from pyspark.sql import functions as F

        spark = self.spark
        spark.sparkContext.setCheckpointDir(str(work / "checkpoints"))  # cuts ALS's lineage every 10 iterations
        sums: DataFrame = (spark.read.parquet(str(work / "events"))
                           .groupBy("user", "item")
                           .agg(F.sum(confidence_column(weights, reference_time)).cast("float").alias("confidence"))
                           .where(F.col("confidence") != 0))  # as build_matrix's eliminate_zeros
        sums.write.parquet(str(work / "confidence"))
        sums = spark.read.parquet(str(work / "confidence"))  # re-read: the aggregation runs once
        matrix = read_confidence(work / "confidence", users, items)
        blocks = max(spark.sparkContext.defaultParallelism, 1)
        als = ALS(implicitPrefs=True, rank=params.factors, maxIter=params.iterations, alpha=params.alpha,
                  regParam=spark_reg_param(params, matrix),
                  userCol="user", itemCol="item", ratingCol="rating", seed=params.random_state,
                  numUserBlocks=blocks, numItemBlocks=blocks)
        fitted = als.fit(sums.select("user", "item", spark_rating(params).alias("rating")))
        fitted.userFactors.write.parquet(str(work / "user_factors"))
        fitted.itemFactors.write.parquet(str(work / "item_factors"))
        return (matrix, read_factors(work / "user_factors", len(users), params.factors),
                read_factors(work / "item_factors", len(items), params.factors))
