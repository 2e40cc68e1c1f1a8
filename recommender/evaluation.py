"""Offline evaluation: ranking metrics (precision, recall, nDCG, MAP, coverage) of a model on a
held-out split (recommender.splits).

Metrics are computed from a hit matrix in one vectorised pass, so the same code scores a
toy example in a test and 100,000 users in a benchmark. Binary relevance throughout; nDCG is
Järvelin and Kekäläinen's ("Cumulated gain-based evaluation of IR techniques", ACM TOIS 2002)
with the log2(rank + 1) discount, and AP@k divides by min(relevant, k) as ml_metrics' `apk` does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy.sparse import csr_matrix

from recommender.algorithms import ModelParams
from recommender.catalog import Catalog
from recommender.errors import InputError
from recommender.events import EVENT_TYPES, EventTable
from recommender.matrix import EventWeights, build_matrix, default_weights
from recommender.models import Recommender
from recommender.splits import Split, split_events

EVAL_BATCH = 4096


@dataclass
class Metrics:
    """Ranking quality of one model on one test half, means over the evaluated users.

    Attributes
    ----------
    k : int
        List length the metrics are "at".
    precision, recall, ndcg, map : float
        precision@k, recall@k, nDCG@k and MAP@k, each in [0, 1] (`ranking_metrics`).
    coverage : float
        Share of the model's items that appear in at least one evaluated list, in [0, 1].
    users : int
        Users evaluated (those with at least one relevant test item).
    """

    k: int
    precision: float
    recall: float
    ndcg: float
    map: float
    coverage: float
    users: int

    def as_dict(self) -> dict[str, float]:
        """Every field by name (what the training job records)."""
        return asdict(self)


def ranking_metrics(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> dict[str, float]:
    """Mean precision, recall, nDCG and MAP at k from a hit matrix (binary relevance).

    Parameters
    ----------
    hits : numpy.ndarray
        bool or 0/1, shape (users, >= k): whether the item at each rank is relevant (columns
        past k are ignored).
    n_relevant : numpy.ndarray
        int, shape (users,): relevant items per user, each at least 1.
    k : int
        Cut-off.

    Returns
    -------
    dict of str to float
        "precision" (hits / k), "recall" (hits / relevant), "ndcg" (DCG over the ideal DCG of
        min(relevant, k) hits) and "map" (AP@k over min(relevant, k)), each a mean over users;
        all 0.0 when there are no users.
    """
    hits = np.asarray(hits, dtype=np.float64)[:, :k]
    n_relevant = np.asarray(n_relevant, dtype=np.float64)
    if len(hits) == 0:
        return {"precision": 0.0, "recall": 0.0, "ndcg": 0.0, "map": 0.0}
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = (hits * discount).sum(axis=1)
    ideal_hits = np.minimum(n_relevant, k).astype(np.int64)
    idcg = np.cumsum(discount)[ideal_hits - 1]
    precision_at_rank = np.cumsum(hits, axis=1) / np.arange(1, k + 1)
    average_precision = (precision_at_rank * hits).sum(axis=1) / ideal_hits
    return {
        "precision": float((hits.sum(axis=1) / k).mean()),
        "recall": float((hits.sum(axis=1) / n_relevant).mean()),
        "ndcg": float((dcg / idcg).mean()),
        "map": float(average_precision.mean()),
    }


def _pairs(model: Recommender, events: EventTable) -> csr_matrix:
    """Binary (users, items) matrix of the (user, item) pairs in `events` that the model knows,
    impressions left out (the store showing an item, not the customer choosing it)."""
    events = events.take(events.types != EVENT_TYPES.index("impression"))
    users = model.user_ids.lookup(events.user_ids)
    items = model.item_ids.lookup(events.item_ids)
    known = (users >= 0) & (items >= 0)
    pairs = csr_matrix((np.ones(known.sum(), dtype=np.float32), (users[known], items[known])),
                       shape=model.user_items.shape)
    pairs.data[:] = 1.0  # duplicates summed above; membership is binary
    return pairs


def evaluate(model: Recommender, test: EventTable, k: int = 10,
             progress: Callable[[int], None] | None = None, exclude: EventTable | None = None) -> Metrics:
    """Score `model` on held-out events: relevant items are test items the user had not seen in
    training and the model knows (no model can rank an item it never saw). Impressions are the
    store showing an item, not the customer choosing it, so they are never relevant.

    Parameters
    ----------
    model : Recommender
        Trained on the other half; its lists (`recommend_indices`, seen items removed) are scored.
    test : EventTable
        Held-out events; users and items the model does not know are skipped.
    k : int
        Cut-off.
    progress : callable, optional
        Called with the number of users of each batch scored.
    exclude : EventTable, optional
        Events whose (user, item) pairs are taken out of both the ranking and the relevant set, as
        RecBole's full ranking leaves out a user's validation items when it scores the test part of
        a train / validation / test split: the model ranks k plus as many items as the user has
        excluded, and the excluded ones are dropped from that list before the top k is scored.

    Returns
    -------
    Metrics
        Over users with at least one relevant item.
    """
    relevant = _pairs(model, test)
    relevant = relevant - relevant.multiply(model.user_items > 0)
    excluded = _pairs(model, exclude) if exclude is not None else None
    if excluded is not None:
        relevant = relevant - relevant.multiply(excluded)
    relevant.eliminate_zeros()
    n_relevant = np.diff(relevant.indptr)
    eval_users = np.flatnonzero(n_relevant > 0)
    all_hits = np.zeros((len(eval_users), k), dtype=bool)
    recommended = np.zeros(model.user_items.shape[1], dtype=bool)
    for start in range(0, len(eval_users), EVAL_BATCH):
        batch = eval_users[start:start + EVAL_BATCH]
        if excluded is None:
            ids, _ = model.recommend_indices(batch, k)
        else:
            ids = _top_k_without(model, batch, excluded, k)
        valid = ids >= 0
        rows = np.repeat(batch, k).reshape(len(batch), k)
        lookup = np.asarray(relevant[rows[valid], ids[valid]]).ravel() > 0
        hits = np.zeros(ids.shape, dtype=bool)
        hits[valid] = lookup
        all_hits[start:start + len(batch)] = hits
        recommended[ids[valid]] = True
        if progress:
            progress(len(batch))
    scores = ranking_metrics(all_hits, n_relevant[eval_users], k)
    coverage = float(recommended.mean()) if len(recommended) else 0.0
    return Metrics(k=k, coverage=coverage, users=len(eval_users), **scores)


def _top_k_without(model: Recommender, users: np.ndarray, excluded: csr_matrix, k: int) -> np.ndarray:
    """Each user's top k item indices (-1 where short) after dropping their `excluded` items."""
    extra = int(np.diff(excluded.indptr)[users].max(initial=0))
    ids, _ = model.recommend_indices(users, k + extra)
    rows = np.repeat(users, ids.shape[1]).reshape(ids.shape)
    drop = ids < 0
    drop[~drop] = np.asarray(excluded[rows[~drop], ids[~drop]]).ravel() > 0
    order = np.argsort(drop, axis=1, kind="stable")  # kept items first, in ranked order
    ids = np.where(drop, -1, ids)
    return np.take_along_axis(ids, order, axis=1)[:, :k]


def train_and_evaluate(split: Split, params: ModelParams, weights: EventWeights | None = None,
                       catalog: Catalog | None = None, k: int = 10, show_progress: bool = False,
                       fit: Callable[[EventTable, ModelParams, EventWeights | None, Catalog | None], Recommender]
                       | None = None) -> tuple[Recommender, Metrics]:
    """Fit on the train half and score on the test half with identical evaluation for every model.

    Parameters
    ----------
    split : Split
    params : ModelParams
    weights : EventWeights, optional
        Default: the algorithm's `default_weights`.
    catalog : Catalog, optional
        For kind filters and the model's catalog; scoring itself applies no filter.
    k : int
        Cut-off.
    show_progress : bool
        implicit's progress bar while fitting.
    fit : callable, optional
        A `recommender.trainers.Fit` (e.g. Spark's) that replaces implicit in this process.

    Returns
    -------
    (Recommender, Metrics)
    """
    weights = weights or default_weights(params.algorithm)
    if fit is not None:
        model = fit(split.train, params, weights, catalog)
    else:
        model = Recommender(params).fit(build_matrix(split.train, weights), catalog, show_progress=show_progress,
                                        events=split.train)
    return model, evaluate(model, split.test, k)


def compare_algorithms(events: EventTable, split: str = "temporal", k: int = 10,
                       algorithms: Sequence[str] = ("popular", "als", "bpr", "cosine", "bm25"),
                       base: ModelParams | None = None, weights: Callable[[str], EventWeights] | None = None,
                       on_done: Callable[[str], None] | None = None,
                       on_error: Callable[[str, InputError], None] | None = None) -> list[tuple[str, Metrics, float]]:
    """Each algorithm on the same split, with the same base parameters.

    Parameters
    ----------
    events : EventTable
    split : str
        One of recommender.splits.SPLITS (`split_events`, default fraction and seed).
    k : int
        Cut-off.
    algorithms : sequence of str
        Names in recommender.algorithms.ALGORITHMS.
    base : ModelParams, optional
        Parameters shared by every algorithm (its `algorithm` is replaced).
    weights : callable, optional
        An algorithm's name to the event weights it trains with (default: `default_weights`, each
        algorithm's own).
    on_done : callable, optional
        Called with each algorithm's name once it is scored (or skipped).
    on_error : callable, optional
        Called with an algorithm's name and the InputError it raised on these data (the repeat model
        with too few repeat buyers, for one); the algorithm is then left out of the rows. Without it
        the error is raised.

    Returns
    -------
    list of (str, Metrics, float)
        Per algorithm: its name, metrics and training time in seconds.

    Raises
    ------
    InputError
        An unknown split or algorithm, bad parameters, or (without `on_error`) an algorithm that cannot
        train on these data.
    """
    halves = split_events(events, split)
    base = base or ModelParams()
    rows = []
    for name in algorithms:
        params = ModelParams.from_dict({**base.to_dict(), "algorithm": name})
        try:
            model, metrics = train_and_evaluate(halves, params, weights(name) if weights else None, k=k)
        except InputError as exc:
            if on_error is None:
                raise
            on_error(name, exc)
        else:
            rows.append((name, metrics, model.fit_seconds or 0.0))
        if on_done:
            on_done(name)
    return rows


def metrics_table(rows: list[tuple[str, Metrics, float]]) -> str:
    """A markdown table: one row per model (`compare_algorithms`' rows); "" for no rows."""
    if not rows:
        return ""
    k = rows[0][1].k
    lines = [f"| model | precision@{k} | recall@{k} | nDCG@{k} | MAP@{k} | coverage | users | train s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, m, seconds in rows:
        lines.append(f"| {name} | {m.precision:.4f} | {m.recall:.4f} | {m.ndcg:.4f} | {m.map:.4f} | "
                     f"{m.coverage:.3f} | {m.users} | {seconds:.2f} |")
    return "\n".join(lines)
