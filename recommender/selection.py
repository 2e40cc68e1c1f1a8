"""Model choice per store: score candidate configurations on a global time cut holdout, choose the
best by nDCG@10, and never one that loses to the popularity or personal-frequency baselines.

A store cannot know whether its customers rebuy (groceries, pet food, coffee) or never do (films,
furniture); its own recent past can tell. The holdout (recommender.splits.time_cut_split) trains
every candidate on the events before a time T and scores the k-item list it would serve each
customer against what that customer did at or after T:

* relevant items are every item of the customer's non-impression events after T that the models know,
  including items they had before T (the next-basket convention: a repeat purchase is a hit), so a
  model that removes a customer's items from their list and one that does not are compared on the
  same ground (`Candidate.filter_interacted` says which way a candidate serves);
* the users scored are the customers with events on both sides of T (a customer new after T gets
  the same popularity list from every model); every candidate is scored on the same users;
* two baselines are scored on the same users, each a model the service can serve: popularity
  (Recommender's popular model; its list is scored both without and with the customer's own items,
  and the better counts, so the baseline is the stronger of G-TopFreq and popularity as served) and
  personal frequency (the `personal` algorithm: the customer's most-bought items, ties by
  popularity, topped up with bestsellers: GP-TopFreq of "A Next Basket Recommendation Reality
  Check", Li et al., TOIS 2023);
* the chosen entry has the best nDCG@k; a candidate must beat both baselines strictly, else the
  better baseline is chosen and serves;
* `repeats` restricts the choice to lists that keep a customer's bought items (True) or remove
  them (False); baselines that serve the other way are then not scored.

A candidate that cannot train on this store (EASE above its catalog limit) is reported with the
reason and skipped. The cost is one extra training per distinct fit (candidates that differ only in
`filter_interacted` share theirs, and candidates weighting events alike share one matrix) on the
events before T, plus scoring. On a large store both are bounded (`holdout_sample`): at most
SCORED_USERS customers are scored and the candidates train on at most about TRAIN_EVENTS events,
those of a sample of customers; benchmarks/README.md (Model choice) has the measured figures.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix

from recommender.algorithms import BASKET_ALGORITHMS, ModelParams
from recommender.catalog import Catalog
from recommender.errors import InputError
from recommender.evaluation import EVAL_BATCH, ranking_metrics
from recommender.splits import SCORED_USERS, TRAIN_EVENTS, TimeCut, holdout_sample, time_cut_split
from recommender.events import EVENT_TYPES, EventTable
from recommender.matrix import EventWeights, InteractionMatrix, build_matrix, default_weights
from recommender.models import Recommender

log = logging.getLogger(__name__)

K = 10
#: Share of a store's events (the newest) held out after the cut, unless a number of days is given.
TEST_FRACTION = 0.2
#: Fewer customers with events on both sides of the cut than this and a choice would be noise.
MIN_USERS = 30
POPULARITY = "popularity"
PERSONAL_FREQUENCY = "personal_frequency"
BASELINES: tuple[str, ...] = (POPULARITY, PERSONAL_FREQUENCY)


@dataclass(frozen=True)
class Candidate:
    """One configuration to try: `name` labels it; `weights` None means default_weights(algorithm);
    `filter_interacted` is how it serves (True: a customer's own items are removed from their list,
    as Encore serves today; False: they may come back, for stores where customers rebuy)."""

    name: str
    params: ModelParams
    weights: EventWeights | None = None
    filter_interacted: bool = True

    def event_weights(self) -> EventWeights:
        return self.weights if self.weights is not None else default_weights(self.params.algorithm)

    @property
    def serves_bought_items(self) -> bool:
        """Whether its lists may hold items the customer had before (the basket models always)."""
        return not self.filter_interacted or self.params.algorithm in BASKET_ALGORITHMS


#: The algorithms of this library, each as served today, and the collaborative models whose lists
#: beat GP-TopFreq on Ta-Feng when bought items were allowed back (issue 13).
DEFAULT_CANDIDATES: tuple[Candidate, ...] = (
    Candidate("als", ModelParams(algorithm="als")),
    Candidate("als_with_repeats", ModelParams(algorithm="als"), filter_interacted=False),
    Candidate("cosine", ModelParams(algorithm="cosine")),
    Candidate("cosine_with_repeats", ModelParams(algorithm="cosine"), filter_interacted=False),
    Candidate("bm25", ModelParams(algorithm="bm25")),
    Candidate("ease", ModelParams(algorithm="ease")),
)
#: The repeat-aware models (recommender.basket_models, recommender.repeat_model): they rank bought and
#: never-bought items together. `personal` is also the PERSONAL_FREQUENCY baseline (one shared fit).
REPEAT_AWARE_CANDIDATES: tuple[Candidate, ...] = (
    Candidate("repeat", ModelParams(algorithm="repeat"), filter_interacted=False),
    Candidate("personal", ModelParams(algorithm="personal"), filter_interacted=False),
)
#: What the PERSONAL_FREQUENCY baseline is, and what serves when it wins.
PERSONAL_BASELINE = Candidate(PERSONAL_FREQUENCY, ModelParams(algorithm="personal"), filter_interacted=False)


def default_candidates() -> list[Candidate]:
    """DEFAULT_CANDIDATES and REPEAT_AWARE_CANDIDATES, in that order."""
    return [*DEFAULT_CANDIDATES, *REPEAT_AWARE_CANDIDATES]


def candidates_for(algorithm: str | None = None, repeats: bool | None = None) -> list[Candidate]:
    """The candidates a store allows: default_candidates(), or one algorithm's configurations.

    Parameters
    ----------
    algorithm : str, optional
        None: every default candidate. One of recommender.algorithms.ALGORITHMS: that algorithm
        only, as served (bought items removed) and with bought items allowed back (the basket
        models only the latter: they always keep them), with the library's default parameters.
    repeats : bool, optional
        None: both kinds; True: only candidates that serve bought items; False: only those that
        remove them.

    Raises
    ------
    InputError
        an unknown algorithm, or no candidate left (a basket model with repeats=False).
    """
    if algorithm is None:
        pool = default_candidates()
    else:
        params = ModelParams(algorithm=algorithm)  # raises InputError for an unknown algorithm
        pool = ([Candidate(algorithm, params, filter_interacted=False)] if algorithm in BASKET_ALGORITHMS else
                [Candidate(algorithm, params), Candidate(f"{algorithm}_with_repeats", params, filter_interacted=False)])
    if repeats is not None:
        pool = [c for c in pool if c.serves_bought_items == repeats]
    if not pool:
        raise InputError(f"the {algorithm} algorithm always serves bought items: it has no configuration that "
                         "removes them")
    return pool


@dataclass
class CandidateResult:
    """One entry's holdout figures; `error` says why it was not scored (then the metrics are None)."""

    name: str
    algorithm: str
    filter_interacted: bool
    baseline: bool
    serves_bought_items: bool
    ndcg: float | None = None
    recall: float | None = None
    users: int = 0
    fit_seconds: float = 0.0
    score_seconds: float = 0.0
    error: str | None = None


@dataclass
class SelectionReport:
    """What model choice measured and chose. `chosen_candidate` is what serves: a candidate, or a
    baseline as a Candidate (popularity, or PERSONAL_BASELINE)."""

    k: int
    cut_time: float  # epoch seconds
    train_events: int
    test_events: int
    users_scored: int
    results: list[CandidateResult]
    chosen: str
    chosen_candidate: Candidate
    reason: str
    seconds: float
    events_before_cut: int = 0  # all of them; `train_events` is how many the candidates trained on
    prepare_seconds: float = 0.0  # the cut, the samples, the reference maps and the relevant items

    def result(self, name: str) -> CandidateResult:
        return next(r for r in self.results if r.name == name)

    def as_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["chosen_candidate"] = {"name": self.chosen_candidate.name,
                                   "params": self.chosen_candidate.params.to_dict(),
                                   "weights": self.chosen_candidate.event_weights().to_dict(),
                                   "filter_interacted": self.chosen_candidate.filter_interacted}
        return out


def select_model(events: EventTable, candidates: Sequence[Candidate] | None = None, catalog: Catalog | None = None,
                 test_fraction: float = TEST_FRACTION, test_days: float | None = None, k: int = K,
                 min_users: int = MIN_USERS, progress: Callable[[str], None] | None = None,
                 repeats: bool | None = None, max_users: int | None = SCORED_USERS,
                 max_train_events: int | None = TRAIN_EVENTS, seed: int = 0) -> SelectionReport:
    """Score `candidates` (default_candidates() when None) and the baselines on a global time cut.

    Parameters
    ----------
    events : EventTable
        The store's events; timestamps in epoch seconds.
    candidates : sequence of Candidate, optional
        Configurations to try, with unique names other than POPULARITY and PERSONAL_FREQUENCY.
    catalog : Catalog, optional
        Passed to every model's fit (no filter is applied on the holdout).
    test_fraction, test_days
        Where the cut falls (recommender.splits.time_cut_split): the newest `test_fraction` of
        events, or the last `test_days` days.
    k : int
        List length scored (nDCG@k, recall@k).
    min_users : int
        The fewest customers with events on both sides of the cut that a choice needs.
    progress : callable, optional
        Called with each candidate's name once it is scored.
    repeats : bool, optional
        None: choose among all. True: every candidate must serve bought items, and so do the
        baselines scored (popularity with the customer's own items; personal frequency). False:
        every candidate must remove them, and so does the one baseline scored (popularity as served).
    max_users : int or None
        Customers scored at most (SCORED_USERS); None scores every customer with events on both
        sides of the cut.
    max_train_events : int or None
        Events before the cut the candidates train on at most (TRAIN_EVENTS); None trains them on
        every event before the cut. See `holdout_sample`.
    seed : int
        Seed of both samples.

    Returns
    -------
    SelectionReport
        Every entry's nDCG@k, recall@k, users scored and fit seconds; the chosen one and why.

    Raises
    ------
    InputError
        no or duplicate candidates, a candidate that serves otherwise than `repeats` says, k < 1, a
        cut with no events on one side, fewer than `min_users` customers to score, or no candidate
        that could train.
    """
    started = time.perf_counter()
    candidates = default_candidates() if candidates is None else list(candidates)
    _check(candidates, k, repeats)
    split = time_cut_split(events, test_fraction, test_days)
    before_cut = len(split.train)
    train, scored = holdout_sample(split, max_users, max_train_events, seed)
    split = TimeCut(train, split.test, split.cut_time)
    reference = build_matrix(split.train, EventWeights())  # the maps every candidate's matrix extends
    relevant = _relevance(reference, split.test)
    users = np.flatnonzero(np.diff(relevant.indptr) > 0)
    if scored is not None:
        users = np.intersect1d(users, reference.users.lookup(scored))
    prepare_seconds = time.perf_counter() - started
    if len(users) < min_users:
        raise InputError(f"only {len(users)} customers have events both before and after the time cut at "
                         f"{split.cut_time:.0f} (epoch seconds); model choice needs at least {min_users}")
    results = [_popularity(reference, catalog, relevant, users, k, repeats)]
    baselines = [] if repeats is False else [PERSONAL_BASELINE]
    fitted: dict[tuple[ModelParams, EventWeights], tuple[Recommender | None, float, str | None]] = {}
    matrices = {EventWeights(): reference}  # one matrix per weighting, shared by the candidates using it
    uses = Counter((c.params, c.event_weights()) for c in [*baselines, *candidates])
    for candidate in [*baselines, *candidates]:
        result = _score_candidate(candidate, split, reference, catalog, relevant, users, k, fitted, matrices)
        result.baseline = candidate in baselines
        results.append(result)
        key = (candidate.params, candidate.event_weights())
        uses[key] -= 1
        if uses[key] == 0:  # the last candidate sharing this fit: let the model go (EASE's is 1 GiB)
            fitted[key] = (None, *fitted[key][1:])
        if progress and not result.baseline:
            progress(candidate.name)
    scored = [r for r in results if r.error is None and not r.baseline]
    if not scored:
        raise InputError("no candidate could train on this store: "
                         + "; ".join(f"{r.name}: {r.error}" for r in results if r.error))
    chosen, reason = _choose(results, k)
    by_name = {c.name: c for c in candidates}
    popularity = results[0]
    chosen_candidate = by_name.get(chosen.name) if not chosen.baseline else (
        Candidate(POPULARITY, ModelParams(algorithm="popular"), EventWeights(), popularity.filter_interacted)
        if chosen.name == POPULARITY else PERSONAL_BASELINE)
    report = SelectionReport(k, split.cut_time, len(split.train), len(split.test), len(users), results,
                             chosen.name, chosen_candidate, reason, time.perf_counter() - started,
                             before_cut, prepare_seconds)
    log.info("model choice: %s (%s)", chosen.name, reason)
    return report


def _check(candidates: list[Candidate], k: int, repeats: bool | None) -> None:
    if k < 1:
        raise InputError("k must be at least 1")
    if not candidates:
        raise InputError("model choice needs at least one candidate")
    names = [c.name for c in candidates]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InputError(f"candidate names must be unique: {', '.join(duplicates)}")
    taken = sorted(set(names) & set(BASELINES))
    if taken:
        raise InputError(f"candidate name(s) {', '.join(taken)} are the baselines' names")
    if repeats is not None:
        wrong = [c.name for c in candidates if c.serves_bought_items != repeats]
        if wrong:
            raise InputError(f"candidate(s) {', '.join(wrong)} {'remove' if repeats else 'serve'} bought items, "
                             f"but repeats={repeats}")


def _relevance(reference: InteractionMatrix, test: EventTable) -> csr_matrix:
    """Binary (users, items) matrix of what each known customer did after the cut, repeats included."""
    test = test.take(test.types != EVENT_TYPES.index("impression"))
    users = reference.users.lookup(test.user_ids)
    items = reference.items.lookup(test.item_ids)
    known = (users >= 0) & (items >= 0)
    relevant = csr_matrix((np.ones(int(known.sum()), dtype=np.float32), (users[known], items[known])),
                          shape=reference.shape)
    relevant.data[:] = 1.0
    return relevant


def _metrics(lists: np.ndarray, relevant: csr_matrix, users: np.ndarray, k: int) -> tuple[float, float]:
    """nDCG@k and recall@k of (users, k) item lists (-1 where short) against `relevant`."""
    valid = (lists >= 0) & (lists < relevant.shape[1])
    rows = np.repeat(users, lists.shape[1]).reshape(lists.shape)
    hits = np.zeros(lists.shape, dtype=bool)
    hits[valid] = np.asarray(relevant[rows[valid], lists[valid]]).ravel() > 0
    scores = ranking_metrics(hits, np.diff(relevant.indptr)[users], k)
    return scores["ndcg"], scores["recall"]


def _lists(model: Recommender, users: np.ndarray, k: int, filter_interacted: bool) -> np.ndarray:
    out = np.full((len(users), k), -1, dtype=np.int64)
    for start in range(0, len(users), EVAL_BATCH):
        batch = users[start:start + EVAL_BATCH]
        out[start:start + len(batch)] = model.recommend_indices(batch, k, filter_interacted=filter_interacted)[0]
    return out


def _score_candidate(candidate: Candidate, split: TimeCut, reference: InteractionMatrix, catalog: Catalog | None,
                     relevant: csr_matrix, users: np.ndarray, k: int, fitted: dict,
                     matrices: dict[EventWeights, InteractionMatrix]) -> CandidateResult:
    """Fit (once per configuration: variants differing in filter_interacted share it) and score."""
    weights = candidate.event_weights()
    result = CandidateResult(candidate.name, candidate.params.algorithm, candidate.filter_interacted, False,
                             candidate.serves_bought_items)
    key = (candidate.params, weights)
    if key not in fitted:
        started = time.perf_counter()
        try:
            if weights not in matrices:
                matrices[weights] = build_matrix(split.train, weights, reference.reference_time, reference.users,
                                                 reference.items)
            model = Recommender(candidate.params).fit(matrices[weights], catalog, events=split.train,
                                                          item_neighbours=False)
            fitted[key] = (model, time.perf_counter() - started, None)
        except InputError as exc:  # e.g. EASE above its catalog limit: reported, not fatal
            fitted[key] = (None, time.perf_counter() - started, str(exc))
    model, result.fit_seconds, result.error = fitted[key]
    if model is not None:
        started = time.perf_counter()
        lists = _lists(model, users, k, candidate.filter_interacted)
        result.ndcg, result.recall = _metrics(lists, relevant, users, k)
        result.users, result.score_seconds = len(users), time.perf_counter() - started
    return result


def _popularity(reference: InteractionMatrix, catalog: Catalog | None, relevant: csr_matrix, users: np.ndarray,
                k: int, repeats: bool | None) -> CandidateResult:
    """The popularity baseline: the better of its list with and without the customer's own items
    (only the one `repeats` allows, when it is not None)."""
    started = time.perf_counter()
    model = Recommender(ModelParams(algorithm="popular")).fit(reference, catalog, item_neighbours=False)
    fit_seconds = time.perf_counter() - started
    best = None
    for filter_interacted in (True, False) if repeats is None else (not repeats,):
        started = time.perf_counter()
        ndcg, recall = _metrics(_lists(model, users, k, filter_interacted), relevant, users, k)
        result = CandidateResult(POPULARITY, "popular", filter_interacted, True, not filter_interacted, ndcg, recall,
                                 len(users), fit_seconds, time.perf_counter() - started)
        if best is None or result.ndcg > best.ndcg:
            best = result
    return best


def _choose(results: list[CandidateResult], k: int) -> tuple[CandidateResult, str]:
    """The best nDCG@k; baselines come first, so a candidate must beat them strictly."""
    scored = [r for r in results if r.error is None]
    best = scored[0]
    for result in scored[1:]:
        if result.ndcg > best.ndcg:
            best = result
    baselines = [r for r in scored if r.baseline]
    if best.baseline:
        top = max((r for r in scored if not r.baseline), key=lambda r: r.ndcg)
        return best, (f"baseline {best.name} has the best nDCG@{k} on the holdout ({best.ndcg:.4f}); no candidate "
                      f"beats it (best candidate: {top.name} {top.ndcg:.4f}), so the baseline serves")
    which = "both baselines" if len(baselines) == 2 else "the baseline" if len(baselines) == 1 else "the baselines"
    return best, (f"{best.name} has the best nDCG@{k} on the holdout ({best.ndcg:.4f}) and beats {which} "
                  f"({', '.join(f'{r.name} {r.ndcg:.4f}' for r in baselines)})")
