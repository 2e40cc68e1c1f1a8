"""The algorithms behind Recommender: implicit's ALS, BPR, item-kNN, EASE (recommender.ease), EASE
with DAN normalisation (recommender.ease_dan), a popularity baseline, and the basket models
(recommender.basket_models: personal frequency; recommender.repeat_model: repeat-aware).

All of them answer implicit's `recommend` and `similar_items`, so one code path ranks, filters and
batches for every algorithm. This module also turns each into plain arrays and back,
for artifacts.

Sources: ALS is implicit's conjugate-gradient solver (Hu, Koren and Volinsky, "Collaborative
Filtering for Implicit Feedback Datasets", ICDM 2008; Takács, Pilászy and Tikk, RecSys 2011); BPR is
Rendle et al., "BPR: Bayesian Personalized Ranking from Implicit Feedback" (UAI 2009); cosine and
BM25 are implicit's item-item nearest neighbours (BM25 weighting after Robertson and Zaragoza);
the basket models follow TIFU-KNN (Hu et al., SIGIR 2020) and the Reality Check's GP-TopFreq (Li et
al., ACM TOIS 2023).
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import numpy as np
from implicit.cpu.als import AlternatingLeastSquares
from implicit.cpu.bpr import BayesianPersonalizedRanking
from implicit.cpu.matrix_factorization_base import MatrixFactorizationBase
from implicit.nearest_neighbours import (
    BM25Recommender,
    CosineRecommender,
    ItemItemRecommender,
)
from implicit.recommender_base import RecommenderBase
from scipy.sparse import csr_matrix

from recommender.basket_models import BasketRecommender, PersonalFrequencyRecommender
from recommender.ease import EASE
from recommender.ease_dan import EASEDAN
from recommender.errors import ArtifactError, InputError
from recommender.item_neighbours import WITHOUT_ITEM_SIMILARITY, similar_or_popular
from recommender.repeat_model import RepeatRecommender, RepeatSettings

ALGORITHMS: tuple[str, ...] = ("als", "bpr", "cosine", "bm25", "popular", "ease", "ease_dan", "personal",
                                "repeat")
#: The basket models (recommender.basket_models): they rank from purchase baskets and keep bought items.
BASKET_ALGORITHMS: tuple[str, ...] = ("personal", "repeat")
CONFIDENCE_SCALINGS: tuple[str, ...] = ("linear", "log")
#: Collaborative models the repeat model can use for never-bought items (they fold in new customers).
REPEAT_BASES: tuple[str, ...] = ("als", "cosine", "bm25")
#: Largest ALS regularisation: far past any useful value (about 1 to 30 on small stores), and past it the
#: solver's factors overflow to NaN.
MAX_REGULARIZATION = 1e6
#: Largest value of each count parameter: beyond these a training runs out of memory or time (factors and
#: neighbours size the model, iterations its training time) long before it helps.
MAX_COUNTS: dict[str, int] = {"factors": 1024, "iterations": 1000, "bpr_iterations": 10_000, "neighbours": 10_000,
                              "repeat_neighbours": 10_000, "group_size": 1000, "mix_customers": 10_000_000}
_BASE_PREFIX = "base_"
#: The prefix of a baseline's item neighbours' arrays in its state (recommender.item_neighbours).
_NEIGHBOURS_PREFIX = "nn_"
#: What Recommender holds: an implicit model or a basket model (same `recommend` and `similar_items`).
Algorithm = RecommenderBase | BasketRecommender


@dataclass(frozen=True)
class ModelParams:
    """Hyper-parameters for every algorithm; each algorithm reads the ones it uses.

    Attributes
    ----------
    algorithm : str
        One of ALGORITHMS.
    factors : int
        Latent factors (ALS, BPR).
    regularization : float
        ALS's L2 weight; in implicit 0.7 it is not scaled by counts (useful values about 1 to 30).
    alpha : float
        ALS's confidence scale: an interaction's confidence is alpha x its (scaled) weight, an
        unobserved pair's is 1.
    iterations : int
        ALS sweeps.
    learning_rate, bpr_regularization : float
        BPR's SGD step and L2 weight (scaled unlike ALS's, hence its own).
    bpr_iterations : int
        BPR epochs.
    neighbours : int
        Item-kNN's K (cosine, BM25).
    bm25_k1, bm25_b : float
        BM25's term-frequency saturation and length normalisation.
    confidence : str
        "log": train on log1p(weight), which tames heavy users; "linear": as given (CONFIDENCE_SCALINGS).
    random_state : int
        Seed of every random start.
    repeat_base : str
        The repeat model's collaborative model for never-bought items, one of REPEAT_BASES.
    repeat_neighbours : int
        TIFU-KNN's k: nearest customers whose vectors are averaged.
    within_decay, group_decay : float
        TIFU-KNN's r_b (per basket back from the customer's newest) and r_g (per group back), in (0, 1].
    group_size : int
        TIFU-KNN's m: groups a customer's baskets are split into.
    mix_customers : int
        Customers whose newest basket is held out to learn the repeat model's mix.

    Raises
    ------
    InputError
        A value of the wrong type (an integer parameter given 1.5, a number given a string or a
        non-finite float), an unknown algorithm, confidence scaling or repeat base, a count outside
        1 to its MAX_COUNTS bound, or a decay outside (0, 1].
    """

    algorithm: str = "als"
    factors: int = 64
    regularization: float = 30.0  # tuned in benchmarks.quality: best worst case over four validation splits
    alpha: float = 5.0
    iterations: int = 15
    learning_rate: float = 0.01  # BPR
    bpr_regularization: float = 0.01  # BPR's SGD step is scaled unlike ALS's, so it has its own
    bpr_iterations: int = 100
    neighbours: int = 100
    bm25_k1: float = 1.2
    bm25_b: float = 0.75
    ease_regularization: float = 250.0  # EASE's lambda (Steck 2019); RecBole's default reg_weight
    # EASE with DAN (recommender.ease_dan; Park et al., SIGIR 2025): lambda on the user-normalised Gram
    # matrix, DLAE's dropout p, and DAN's user (b) and item (a) exponents
    dan_regularization: float = 3.0
    dan_dropout: float = 0.1
    dan_user_exponent: float = 0.5
    dan_item_exponent: float = 0.1
    confidence: str = "log"  # train on log1p(confidence), which tames heavy users; "linear" as given
    random_state: int = 42
    # the repeat model (recommender.repeat_model); TIFU-KNN's names (Hu et al., SIGIR 2020) in brackets. The
    # defaults are their published Ta-Feng settings, kept after a validation search found nothing better
    # beyond noise (benchmarks/README.md, Next basket); TIFU-KNN's alpha is learned by the mix instead
    repeat_base: str = "cosine"  # collaborative model for never-bought items, one of REPEAT_BASES
    repeat_neighbours: int = 300  # nearest customers whose vectors are averaged [k]
    within_decay: float = 0.9  # per basket back from the customer's newest [r_b]
    group_decay: float = 0.7  # per group of baskets back from the newest group [r_g]
    group_size: int = 7  # groups a customer's baskets are split into [m]
    mix_customers: int = 5000  # customers whose newest basket is held out to learn the mix

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):  # values from JSON (experiment variants) arrive untyped
            value = getattr(self, f.name)
            if f.type == "int" and (isinstance(value, bool) or not isinstance(value, (int, np.integer))):
                raise InputError(f"{f.name} must be an integer, got {value!r}")
            if f.type == "float" and (isinstance(value, bool) or not isinstance(value, (int, float, np.number))
                                      or not np.isfinite(value)):
                raise InputError(f"{f.name} must be a finite number, got {value!r}")
            if f.type == "str" and not isinstance(value, str):
                raise InputError(f"{f.name} must be a string, got {value!r}")
        if self.algorithm not in ALGORITHMS:
            raise InputError(f"unknown algorithm {self.algorithm!r}; expected one of {', '.join(ALGORITHMS)}")
        if self.confidence not in CONFIDENCE_SCALINGS:
            raise InputError(f"unknown confidence scaling {self.confidence!r}")
        for name, most in MAX_COUNTS.items():
            if not 1 <= getattr(self, name) <= most:
                raise InputError(f"{name} must be from 1 to {most:,}")
        if not 0 < self.regularization <= MAX_REGULARIZATION:
            raise InputError(f"regularization must be above 0 and at most {MAX_REGULARIZATION:g}")
        if not self.ease_regularization > 0:
            raise InputError("ease_regularization must be positive")
        if not self.dan_regularization > 0:
            raise InputError("dan_regularization must be positive")
        if not 0.0 <= self.dan_dropout < 1.0:
            raise InputError("dan_dropout must be in [0, 1)")
        for name in ("dan_user_exponent", "dan_item_exponent"):
            if not getattr(self, name) >= 0:
                raise InputError(f"{name} must be at least 0")
        if self.repeat_base not in REPEAT_BASES:
            raise InputError(f"unknown repeat_base {self.repeat_base!r}; expected one of {', '.join(REPEAT_BASES)}")
        for name in ("within_decay", "group_decay"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise InputError(f"{name} must be in (0, 1]")

    def repeat_settings(self) -> RepeatSettings:
        """The repeat model's settings (recommender.repeat_model) from these parameters."""
        return RepeatSettings(neighbours=self.repeat_neighbours, within_decay=self.within_decay,
                              group_decay=self.group_decay, group_size=self.group_size,
                              mix_customers=self.mix_customers, random_state=self.random_state)

    def base_params(self) -> ModelParams:
        """The repeat model's collaborative model's parameters."""
        return dataclasses.replace(self, algorithm=self.repeat_base)

    def to_dict(self) -> dict[str, object]:
        """Every parameter by name (what artifacts store)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, object]) -> ModelParams:
        """Parameters from `to_dict`'s output; unknown names (from newer or older versions) are ignored.

        Raises
        ------
        InputError
            A value is invalid (see the class).
        """
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


class PopularityRecommender(MatrixFactorizationBase):
    """Ranks items by how many users interacted with them: the baseline every model must beat.

    Written as a one-factor matrix factorisation (every user 1, every item its count), so
    implicit's batched top-k and already-seen filtering serve it like any other model.
    """

    def fit(self, user_items: csr_matrix, show_progress: bool = False, callback=None) -> None:
        """Count each item's users in `user_items` (users x items CSR); the other arguments are implicit's."""
        counts = np.bincount(user_items.indices, minlength=user_items.shape[1]).astype(np.float32)
        self.item_factors = counts[:, None]
        self.user_factors = np.ones((user_items.shape[0], 1), dtype=np.float32)

    def recalculate_user(self, userid, user_items):
        """Every user's factor is 1: float32, shape (1,) for one user, (users, 1) for several."""
        users = 1 if np.isscalar(userid) else len(userid)
        return np.ones((users, 1), dtype=np.float32) if users > 1 else np.ones(1, dtype=np.float32)

    #: item-kNN neighbours for similar items when this model serves (recommender.item_neighbours); None: bestsellers
    neighbours: CosineRecommender | None = None

    def similar_items(self, itemid, N=10, recalculate_item=False, item_users=None, filter_items=None, items=None):
        """The item's neighbours topped up with the bestsellers when the model has them
        (recommender.item_neighbours), else the most popular items, which is all a popularity model knows.

        Returns
        -------
        (ids, scores) : tuple of numpy.ndarray
            Shape (N,) for one item id, (len(itemid), N) for several; scores are cosine similarities (0 for the
            top-up), or user counts (float32). `items` restricts the candidates; the other arguments are ignored.
        """
        if self.neighbours is not None:
            return similar_or_popular(self.neighbours, self.item_factors[:, 0], itemid, N, items)
        single = np.isscalar(itemid)
        ids = np.atleast_1d(itemid)
        candidates = np.asarray(items) if items is not None else np.arange(self.item_factors.shape[0])
        order = candidates[np.argsort(-self.item_factors[candidates, 0], kind="stable")][:N]
        out_ids = np.tile(order, (len(ids), 1))
        out_scores = self.item_factors[out_ids, 0]
        return (out_ids[0], out_scores[0]) if single else (out_ids, out_scores)

    def save(self, file):  # artifacts.py stores the factors; implicit's format is not used
        raise NotImplementedError


def make_algorithm(params: ModelParams) -> Algorithm:
    """A fresh, untrained model for `params`.

    ALS and BPR use implicit's own threads on every core (num_threads=0), while OpenBLAS stays at
    one thread (recommender/__init__.py).

    Returns
    -------
    Algorithm
        An implicit model, a basket model, or PopularityRecommender for "popular".
    """
    if params.algorithm == "als":
        return AlternatingLeastSquares(
            factors=params.factors, regularization=params.regularization, alpha=params.alpha,
            iterations=params.iterations, random_state=params.random_state, num_threads=0,
        )
    if params.algorithm == "bpr":
        return BayesianPersonalizedRanking(
            factors=params.factors, learning_rate=params.learning_rate, regularization=params.bpr_regularization,
            iterations=params.bpr_iterations, random_state=params.random_state,
        )
    if params.algorithm == "cosine":
        return CosineRecommender(K=params.neighbours)
    if params.algorithm == "bm25":
        return BM25Recommender(K=params.neighbours, K1=params.bm25_k1, B=params.bm25_b)
    if params.algorithm == "ease":
        return EASE(regularization=params.ease_regularization)
    if params.algorithm == "ease_dan":
        return EASEDAN(regularization=params.dan_regularization, dropout=params.dan_dropout,
                       user_exponent=params.dan_user_exponent, item_exponent=params.dan_item_exponent)
    if params.algorithm == "personal":
        return PersonalFrequencyRecommender()
    if params.algorithm == "repeat":
        return RepeatRecommender(params.repeat_settings(), functools.partial(make_algorithm, params.base_params()),
                                 functools.partial(scale_confidence, params=params))
    return PopularityRecommender()


def scale_confidence(matrix: csr_matrix, params: ModelParams) -> csr_matrix:
    """`matrix` on the scale models train on: itself for "linear", a copy with log1p(data) (float32)
    for "log" (`ModelParams.confidence`). Same shape and sparsity either way."""
    if params.confidence == "linear":
        return matrix
    scaled = matrix.copy()
    scaled.data = np.log1p(scaled.data).astype(np.float32)
    return scaled


def float32_scores(scores: np.ndarray) -> np.ndarray:
    """implicit's `recommend` scores (float64 for item-kNN, float32 otherwise) as float32, any shape.

    implicit marks an item it has no score for (an item-kNN user whose neighbours do not reach an item
    asked for with `items=`) with the most negative float64; that marker becomes -inf here, explicitly,
    instead of overflowing in the cast."""
    scores = np.asarray(scores)
    if scores.dtype == np.float32:
        return scores
    return np.where(scores < np.finfo(np.float32).min, -np.inf, scores).astype(np.float32)


def algorithm_state(model: Algorithm) -> dict[str, np.ndarray]:
    """The arrays that fully describe a trained model (`restore_algorithm` rebuilds it from them).

    Returns
    -------
    dict of str to numpy.ndarray
        Factor models: user_factors (users x factors) and item_factors (items x factors); item-kNN:
        the similarity matrix's CSR arrays and shape; basket models: their own state, and the
        repeat model's collaborative model's arrays prefixed "base_"; a baseline's item neighbours
        (recommender.item_neighbours): their item-kNN arrays prefixed "nn_".
    """
    neighbours = getattr(model, "neighbours", None)
    own = {} if neighbours is None else {_NEIGHBOURS_PREFIX + k: v for k, v in _state(neighbours).items()}
    return {**_state(model), **own}


def _state(model: Algorithm) -> dict[str, np.ndarray]:
    """`algorithm_state` of the model itself, its item neighbours aside."""
    if isinstance(model, BasketRecommender):
        base = algorithm_state(model.base) if isinstance(model, RepeatRecommender) else {}
        return {**model.state(), **{_BASE_PREFIX + k: v for k, v in base.items()}}
    if isinstance(model, ItemItemRecommender):
        sim = model.similarity.tocsr()
        return {"sim_data": sim.data, "sim_indices": sim.indices, "sim_indptr": sim.indptr,
                "sim_shape": np.asarray(sim.shape, dtype=np.int64)}
    if isinstance(model, EASE):
        return {"weights": np.ascontiguousarray(model.weights)}
    return {"user_factors": np.ascontiguousarray(model.user_factors),
            "item_factors": np.ascontiguousarray(model.item_factors)}


def writable_state(algorithm: str) -> frozenset[str]:
    """The `algorithm_state` arrays implicit needs as writable buffers although it never writes them.

    Cython refuses a read-only buffer for a memoryview not declared const: ALS fold-in
    (`recalculate_user`) hands the item factors to such a least-squares solver, and item-kNN's
    scorer (built when the model is restored) holds the similarity's indptr and indices that way.
    Everything else the service does with a loaded model (recommend, batches, similar items, the
    exact top-n of recommender.topn, recommender.explain, all of EASE) works on read-only arrays.
    """
    if algorithm == "als":
        return frozenset({"item_factors"})
    if algorithm in ("cosine", "bm25"):
        return frozenset({"sim_indptr", "sim_indices"})
    if algorithm in WITHOUT_ITEM_SIMILARITY:  # their item neighbours, when they have them
        return frozenset(_NEIGHBOURS_PREFIX + name for name in writable_state("cosine"))
    if algorithm == "repeat":  # whichever collaborative model it holds
        return frozenset(_BASE_PREFIX + name for base in REPEAT_BASES for name in writable_state(base))
    return frozenset()


def restore_algorithm(params: ModelParams, state: dict[str, np.ndarray]) -> Algorithm:
    """Rebuild a trained model from `algorithm_state` arrays.

    Raises
    ------
    ArtifactError
        An array the algorithm needs is missing.
    """
    model = make_algorithm(params)
    if params.algorithm in WITHOUT_ITEM_SIMILARITY and _NEIGHBOURS_PREFIX + "sim_data" in state:
        model.neighbours = restore_algorithm(ModelParams(algorithm="cosine", neighbours=params.neighbours), {
            k.removeprefix(_NEIGHBOURS_PREFIX): v for k, v in state.items() if k.startswith(_NEIGHBOURS_PREFIX)})
        state = {k: v for k, v in state.items() if not k.startswith(_NEIGHBOURS_PREFIX)}
    if isinstance(model, BasketRecommender):
        if isinstance(model, RepeatRecommender):
            model.base = restore_algorithm(params.base_params(), {k.removeprefix(_BASE_PREFIX): v for k, v in
                                                                  state.items() if k.startswith(_BASE_PREFIX)})
        model.load_state({k: v for k, v in state.items() if not k.startswith(_BASE_PREFIX)})
        return model
    try:
        if isinstance(model, ItemItemRecommender):
            similarity = csr_matrix((state["sim_data"], state["sim_indices"], state["sim_indptr"]),
                                    shape=tuple(state["sim_shape"]))
            model.__setstate__({"similarity": similarity, "K": params.neighbours})
        elif isinstance(model, EASE):
            model.weights = state["weights"]
        else:
            model.user_factors = state["user_factors"]
            model.item_factors = state["item_factors"]
    except KeyError as exc:
        raise ArtifactError(f"artifact lacks model array {exc}") from None
    return model


def supports_fold_in(model: Algorithm) -> bool:
    """Whether a user unseen at training can be scored from their interactions alone."""
    return isinstance(model, (AlternatingLeastSquares, ItemItemRecommender, PopularityRecommender, EASE,
                              BasketRecommender))
