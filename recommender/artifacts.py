"""Model artifacts: one .npz file with the model, id maps, catalog, parameters and a checksum.

The file is written to a temporary name and renamed, so readers never see half a file;
loading recomputes a SHA-256 over every array and refuses anything that does not match.
Loaded arrays are read-only views into a memory map of the file (recommender.npz), so
processes serving the same artifact share its pages; only the arrays implicit insists on
having writable (`writable_state`) are copy-on-write views, which it never writes.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix

from recommender.algorithms import (
    ModelParams,
    algorithm_state,
    restore_algorithm,
    writable_state,
)
from recommender.catalog import Catalog
from recommender.errors import ArtifactError
from recommender.ids import IdMap
from recommender.matrix import EventWeights, InteractionMatrix
from recommender.models import Recommender
from recommender.npz import MappedNpz, write_npz
from recommender.repurchase import PurchaseIndex

FORMAT = "encore-model/1"
_META = "__meta__"
_PURCHASES = "purchases_"  # recommender.repurchase.PurchaseIndex, when the model has one


@dataclass
class ArtifactInfo:
    """What an artifact says about itself, readable without loading the model.

    Attributes
    ----------
    version : str
        `make_version`: UTC training time and the first 8 hex digits of `_version_digest`, which
        covers the arrays' checksum and this info (training time included): every save of a model,
        even of the same data within the same second, has its own version.
    algorithm : str
        The algorithm's name (recommender.algorithms.ALGORITHMS).
    params, weights : dict
        `ModelParams.to_dict()` and `EventWeights.to_dict()` of the model.
    trained_at : float
        Epoch seconds the model was trained at.
    users, items, interactions : int
        Shape of the training matrix and its non-zero entries.
    metrics : dict
        Offline metrics the caller stored with it (the training job: holdout metrics).
    extra : dict
        Anything else the caller stored (JSON-serialisable).
    """

    version: str
    algorithm: str
    params: dict
    weights: dict
    trained_at: float
    users: int
    items: int
    interactions: int
    metrics: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)
    filter_interacted: bool = True  # False: the model serves items users interacted with (Recommender)


def _checksum(arrays: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}:{array.dtype.str}:{array.shape}".encode())
        digest.update(array.reshape(-1).view(np.uint8))  # the bytes in place: no copy of a mapped array
    return digest.hexdigest()


def _blob(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype=np.uint8)


def _version_digest(checksum: str, info: dict) -> str:
    """Hex SHA-256 of the arrays' checksum and the artifact's info (JSON, keys sorted)."""
    text = checksum + json.dumps(info, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def make_version(checksum: str, trained_at: float) -> str:
    """Timestamp plus short content hash: sortable by time and unique per artifact.

    Parameters
    ----------
    checksum : str
        Hex SHA-256 of the artifact's content (`save_model` passes `_version_digest`).
    trained_at : float
        Epoch seconds.

    Returns
    -------
    str
        "YYYYmmddTHHMMSSZ-" (UTC) and the checksum's first 8 hex digits.
    """
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(trained_at)) + "-" + checksum[:8]


def save_model(model: Recommender, path: str | Path, metrics: dict | None = None,
               extra: dict | None = None) -> ArtifactInfo:
    """Write `model` to `path` atomically and return its info (with the new version).

    The arrays go to a temporary file in the same directory, which is fsynced and renamed over
    `path`: readers see the old file or the new one, never half of one.

    Parameters
    ----------
    model : Recommender
        A trained model (its training matrix, maps, catalog and algorithm state are stored).
    path : str or Path
        Where to write; parent directories are created.
    metrics, extra : dict, optional
        JSON-serialisable data stored in the artifact's info.

    Returns
    -------
    ArtifactInfo

    Raises
    ------
    RuntimeError
        The model is not trained.
    OSError
        The file cannot be written (the temporary file is removed, any old artifact stays).
    """
    interactions = model._trained()
    matrix = interactions.matrix
    arrays = {
        "user_ids": _blob(interactions.users.to_bytes()),
        "item_ids": _blob(interactions.items.to_bytes()),
        "ui_data": matrix.data, "ui_indices": matrix.indices, "ui_indptr": matrix.indptr,
        "catalog": _blob(model.catalog.to_jsonl()),
        **{f"model_{k}": v for k, v in algorithm_state(model.algorithm).items()},
        **({} if model.purchases is None else {_PURCHASES + k: v for k, v in model.purchases.state().items()}),
    }
    checksum = _checksum(arrays)
    trained_at = model.trained_at or time.time()
    info = ArtifactInfo(
        version="", algorithm=model.params.algorithm,
        params=model.params.to_dict(), weights=interactions.weights.to_dict(), trained_at=trained_at,
        users=matrix.shape[0], items=matrix.shape[1], interactions=int(matrix.nnz),
        metrics=metrics or {}, extra=extra or {}, filter_interacted=model.filter_interacted,
    )
    info.version = make_version(_version_digest(checksum, info.__dict__), trained_at)
    meta = {"format": FORMAT, "checksum": checksum, "reference_time": interactions.reference_time,
            "info": info.__dict__}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            write_npz(handle, {**arrays, _META: _blob(json.dumps(meta).encode())})
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a failed save leaves the old artifact and no half file
        raise
    return info


def _read(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    if not path.is_file():
        raise ArtifactError(f"model artifact not found: {path}")
    try:
        data = MappedNpz(path)
        arrays = {name: data.array(name) for name in data.names}
    except Exception as exc:  # noqa: BLE001 - zipfile and numpy's header parser raise many kinds on bad bytes
        raise ArtifactError(f"model artifact {path} is truncated or corrupted: {exc}") from None
    try:
        meta = json.loads(arrays.pop(_META).tobytes())
        if not isinstance(meta, dict):
            raise ValueError("not an object")
    except (KeyError, ValueError) as exc:
        raise ArtifactError(f"model artifact {path} has no readable metadata: {exc}") from None
    if meta.get("format") != FORMAT:
        raise ArtifactError(f"model artifact {path} has unknown format {meta.get('format')!r}")
    if _checksum(arrays) != meta.get("checksum"):
        raise ArtifactError(f"model artifact {path} failed its checksum: the file is corrupted")
    algorithm = meta.get("info", {}).get("algorithm", "")
    arrays.update({f"model_{name}": data.array(f"model_{name}", writable=True)
                   for name in writable_state(algorithm) if f"model_{name}" in arrays})
    return meta, arrays


def read_info(path: str | Path) -> ArtifactInfo:
    """An artifact's info, after the same checks as `load_model` (the arrays are verified, not used).

    Raises
    ------
    ArtifactError
        As `load_model`.
    """
    meta, _ = _read(Path(path))
    return ArtifactInfo(**meta["info"])


def load_model(path: str | Path) -> tuple[Recommender, ArtifactInfo]:
    """Load and verify an artifact.

    Arrays are views into a copy-on-write memory map of the file (recommender.npz): read-only,
    except the few implicit needs writable (`writable_state`), which it never writes.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    (Recommender, ArtifactInfo)
        The model, ready to serve, and what the artifact says about itself.

    Raises
    ------
    ArtifactError
        The file is missing, truncated or corrupted, has no readable metadata or an unknown
        format, or fails its SHA-256 checksum: anything that is not exactly what was saved.
    """
    meta, arrays = _read(Path(path))
    info = ArtifactInfo(**meta["info"])
    params = ModelParams.from_dict(info.params)
    users = IdMap.from_bytes(arrays["user_ids"].tobytes())
    items = IdMap.from_bytes(arrays["item_ids"].tobytes())
    matrix = csr_matrix((arrays["ui_data"], arrays["ui_indices"], arrays["ui_indptr"]),
                        shape=(len(users), len(items)))
    interactions = InteractionMatrix(matrix, users, items, EventWeights(**info.weights),
                                     float(meta["reference_time"]))
    model = Recommender(params, filter_interacted=info.filter_interacted)
    state = {k.removeprefix("model_"): v for k, v in arrays.items() if k.startswith("model_")}
    purchases = {k.removeprefix(_PURCHASES): v for k, v in arrays.items() if k.startswith(_PURCHASES)}
    if purchases:
        model.purchases = PurchaseIndex.from_state(purchases)
    model.algorithm = restore_algorithm(params, state)
    model.trained_at = info.trained_at
    model.attach(interactions, Catalog.from_jsonl(arrays["catalog"].tobytes()))
    return model, info
