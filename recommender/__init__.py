"""Encore's recommender library: events to matrices, models, filters, evaluation, artifacts.

Pure and synchronous: no HTTP and no Redis here, so the service, the CLI and the
benchmarks all share one tested core.
"""

import os

# implicit's ALS is slow (and warns) when OpenBLAS runs its own thread pool; the variable only
# counts before numpy loads, so set it as early as the library is imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from recommender.catalog import Catalog, Item
from recommender.errors import ArtifactError, InputError, UnknownItemError
from recommender.events import Event, EventTable
from recommender.filters import ItemFilter
from recommender.ids import IdMap
from recommender.matrix import EventWeights, InteractionMatrix, build_matrix
from recommender.models import ModelParams, Recommendation, Recommender, ScoredItem

__all__ = [
    "ArtifactError",
    "Catalog",
    "Event",
    "EventTable",
    "EventWeights",
    "IdMap",
    "InputError",
    "InteractionMatrix",
    "Item",
    "ItemFilter",
    "ModelParams",
    "Recommendation",
    "Recommender",
    "ScoredItem",
    "UnknownItemError",
    "build_matrix",
]
