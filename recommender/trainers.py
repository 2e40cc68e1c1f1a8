"""Which engine fits a model from events: implicit in this process, or Spark ALS.

Both return the same `Recommender` (same id maps, same factor arrays, same artifact), so
everything after the fit (evaluation, artifacts, precompute, serving) does not know which ran.
Spark is imported only when asked for, so the library works without pyspark and Java.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from recommender.algorithms import ModelParams
from recommender.catalog import Catalog
from recommender.errors import InputError
from recommender.events import EventTable
from recommender.matrix import EventWeights, build_matrix, default_weights
from recommender.models import Recommender

TRAINERS: tuple[str, ...] = ("implicit", "spark")


class Fit(Protocol):
    """Fit a model on events; what `open_trainer` yields."""

    def __call__(self, events: EventTable, params: ModelParams, weights: EventWeights | None = None,
                 catalog: Catalog | None = None) -> Recommender: ...


def fit_implicit(events: EventTable, params: ModelParams, weights: EventWeights | None = None,
                 catalog: Catalog | None = None) -> Recommender:
    """The default: build the confidence matrix here and fit with implicit."""
    matrix = build_matrix(events, weights or default_weights(params.algorithm))
    return Recommender(params).fit(matrix, catalog, events=events)


@contextmanager
def open_trainer(name: str, workdir: str | Path | None = None) -> Iterator[Fit]:
    """A fit function for trainer `name`; Spark's session lives until the block ends, so the
    holdout fit and the final fit of one refresh share it. `workdir` holds Spark's files
    (on a cluster it must be storage every executor reads, e.g. the shared model directory)."""
    if name == "implicit":
        yield fit_implicit
    elif name == "spark":
        from recommender.spark_als import SparkALSTrainer

        with SparkALSTrainer(workdir=workdir) as trainer:
            yield trainer
    else:
        raise InputError(f"unknown trainer {name!r}; expected one of {', '.join(TRAINERS)}")
