"""Events to the training input: a weighted user x item confidence matrix (CSR) with its id maps.

Each event's confidence is its type's weight (times the stars for a review), optionally decayed by
age (`half_life_days`) and by the user's own newer activity (`history_half_life`); confidences of the
same (user, item) add up. The matrix is the confidence matrix of implicit-feedback matrix
factorisation (Hu, Koren and Volinsky, "Collaborative Filtering for Implicit Feedback Datasets",
ICDM 2008), which implicit's ALS takes as its input. The library's default weights per algorithm are
here too.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix, csr_matrix

from recommender.errors import InputError
from recommender.events import EVENT_TYPES, EventTable
from recommender.ids import IdMap
from recommender.units import SECONDS_PER_DAY

#: The shortest clock half-life: a shorter one decays all but the newest hour of a store's events to nothing.
MIN_HALF_LIFE_DAYS = 1 / 24


@dataclass(frozen=True)
class EventWeights:
    """How much each event type says about preference, and how fast old events fade.

    Attributes
    ----------
    view, click, add_to_cart, purchase : float
        Confidence weight of one event of that type.
    review : float
        Weight per star: a review of `value` stars weighs ``review * value``.
    impression : float
        Weight of an impression (the store showed the item); 0 drops them before training.
    half_life_days : float or None
        Clock decay: an event's weight halves every this many days before the reference time;
        None for no clock decay.
    history_half_life : float or None
        Per-user recency, relative to the user's own history rather than the clock: an event's
        weight halves for every `history_half_life` share of the user's events that came after it
        (0.1: the events behind the user's newest 10% count half, behind the newest 20% a quarter).
        A customer's next choices follow their latest ones (a session, a current interest) whether
        they were last here yesterday or a year ago, which a clock decay cannot see; being a share,
        it treats a 20-event and a 500-event history alike. None: off (the library turns it on for
        ALS: `default_weights`).
    """

    view: float = 1.0
    click: float = 1.0
    add_to_cart: float = 3.0
    purchase: float = 5.0
    review: float = 1.0  # per star: a 5-star review weighs 5
    impression: float = 0.0  # being shown something says nothing about liking it
    notify_me: float = 0.0  # a back-in-stock request: a campaign trigger, not a training signal
    half_life_days: float | None = None  # None: no time decay
    history_half_life: float | None = None

    def __post_init__(self) -> None:
        """Raises InputError for a negative or non-finite type weight, a `half_life_days` under
        MIN_HALF_LIFE_DAYS or not finite, or a `history_half_life` that is not a positive finite share."""
        for name in EVENT_TYPES:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < np.inf:
                raise InputError(f"the weight of {name} must be a finite number of 0 or more, got {value!r}")
        days = self.half_life_days
        if days is not None and not MIN_HALF_LIFE_DAYS <= days < np.inf:
            raise InputError(f"half_life_days must be a finite number of days of at least {MIN_HALF_LIFE_DAYS:g} "
                             f"(an hour), got {days!r}")
        share = self.history_half_life
        if share is not None and not 0 < share < np.inf:
            raise InputError(f"history_half_life must be a positive share of the user's history, got {share!r}")

    def by_type_code(self) -> np.ndarray:
        """float32, shape (len(EVENT_TYPES),): the weight of each event type code (recommender.events)."""
        return np.array([getattr(self, name) for name in EVENT_TYPES], dtype=np.float32)

    def to_dict(self) -> dict[str, float | None]:
        """Every field by name, as stored in a model artifact's parameters."""
        return dataclasses.asdict(self)


@dataclass
class InteractionMatrix:
    """The training input: confidences per (user, item) plus the maps back to external ids.

    Attributes
    ----------
    matrix : scipy.sparse.csr_matrix
        float32, shape (users, items): summed confidences, explicit zeros removed.
    users, items : IdMap
        Row and column code of every external id.
    weights : EventWeights
        The weights the matrix was built with.
    reference_time : float
        Epoch seconds: "now" for the clock decay.
    """

    matrix: csr_matrix
    users: IdMap
    items: IdMap
    weights: EventWeights = field(default_factory=EventWeights)
    reference_time: float = 0.0

    @property
    def shape(self) -> tuple[int, int]:
        """(users, items)."""
        return self.matrix.shape


def event_confidence(events: EventTable, weights: EventWeights, reference_time: float) -> np.ndarray:
    """Per-event confidence: type weight, times stars for reviews, times exponential clock decay.

    Parameters
    ----------
    events : EventTable
        The events to weigh.
    weights : EventWeights
        Type weights and `half_life_days`.
    reference_time : float
        Epoch seconds the events' age is measured from (events after it count as age 0).

    Returns
    -------
    numpy.ndarray
        float32, shape (events,).
    """
    confidence = weights.by_type_code()[events.types]
    review = events.types == EVENT_TYPES.index("review")
    confidence = np.where(review, confidence * events.values, confidence).astype(np.float32)
    if weights.half_life_days:
        age_days = np.maximum(reference_time - events.timestamps, 0.0) / SECONDS_PER_DAY
        confidence *= np.exp2(-age_days / weights.half_life_days).astype(np.float32)
    return confidence


#: Per-user recency in the library's default weights, by algorithm (default_weights). 0.4 for ALS
#: was chosen on validation splits (benchmarks/README.md, Quality); item-kNN is left without it,
#: and BPR reads no confidence values.
DEFAULT_HISTORY_HALF_LIFE: dict[str, float] = {"als": 0.4}


def default_weights(algorithm: str) -> EventWeights:
    """The library's default weights for `algorithm` (what a caller that passes none gets).

    Parameters
    ----------
    algorithm : str
        An algorithm name (recommender.algorithms.ALGORITHMS); unknown names get the plain weights.

    Returns
    -------
    EventWeights
        The type weights above, with `history_half_life` from DEFAULT_HISTORY_HALF_LIFE.
    """
    return EventWeights(history_half_life=DEFAULT_HISTORY_HALF_LIFE.get(algorithm))


def history_recency(events: EventTable, half_life: float, user_codes: np.ndarray | None = None) -> np.ndarray:
    """Per-event factor ``2 ** (-newer share / half_life)``, where the newer share is the fraction
    of the same user's events with a later timestamp (0 for a user's newest events, ties included).

    Encore's per-user recency: a decay by position in the user's own history rather than by the
    clock, so a customer's latest interests lead whether they came yesterday or a year ago; being a
    share, it treats short and long histories alike. Temporaries are int32 and freed as soon as
    they are used (memory at scale: benchmarks/README.md, Scale).

    Parameters
    ----------
    events : EventTable
        The events, in any order.
    half_life : float
        Share of the user's events (0 < half_life; 0.1: the events behind the newest 10% count half).
    user_codes : numpy.ndarray, optional
        Integer code per event, one per user (build_matrix's row codes), shape (events,); saves
        factorising the ids again.

    Returns
    -------
    numpy.ndarray
        float32, shape (events,): each event's factor in (0, 1].

    Raises
    ------
    InputError
        `half_life` is not positive.
    """
    if half_life <= 0:
        raise InputError("history_half_life must be positive")
    n = len(events)
    if n == 0:
        return np.ones(0, dtype=np.float32)
    users = pd.factorize(events.user_ids)[0] if user_codes is None else user_codes
    order = np.lexsort((events.timestamps, users)).astype(np.int32)
    sorted_users = users[order]
    new_user = np.empty(n, dtype=bool)  # the first event of a user, in sorted order
    new_user[0] = True
    np.not_equal(sorted_users[1:], sorted_users[:-1], out=new_user[1:])
    del sorted_users
    sorted_times = events.timestamps[order]
    new_run = new_user.copy()  # the first event of a run: one user, one timestamp
    new_run[1:] |= sorted_times[1:] != sorted_times[:-1]
    del sorted_times
    user_start = np.flatnonzero(new_user).astype(np.int32)
    user_end = np.append(user_start[1:], np.int32(n))  # exclusive, per user
    run_end = np.append(np.flatnonzero(new_run)[1:].astype(np.int32), np.int32(n))  # exclusive, per run
    per_user = np.cumsum(new_user, dtype=np.int32) - 1
    del new_user
    end = user_end[per_user]
    count = end - user_start[per_user]
    del per_user, user_start, user_end
    per_run = np.cumsum(new_run, dtype=np.int32) - 1
    del new_run
    newer = end - run_end[per_run]
    del per_run, run_end, end
    factor = np.empty(n, dtype=np.float32)
    factor[order] = np.exp2(-(newer / count) / half_life)  # in float64, as measured in benchmarks/results
    return factor


def build_matrix(
    events: EventTable,
    weights: EventWeights | None = None,
    reference_time: float | None = None,
    users: IdMap | None = None,
    items: IdMap | None = None,
) -> InteractionMatrix:
    """Sum event confidences into a float32 CSR matrix.

    Events of a type weighted 0 (impressions, by default) are dropped first, so they add no users
    or items and do not count in a user's history for `history_half_life` either (which needs every
    event of a user at once, so it is applied here rather than in the per-event `event_confidence`).

    Parameters
    ----------
    events : EventTable
        The events.
    weights : EventWeights, optional
        Default: ``EventWeights()`` (no decay of either kind).
    reference_time : float, optional
        Epoch seconds, "now" for the clock decay; default the newest event's time, so offline data
        sets are not decayed to nothing (the current time when there are no events).
    users, items : IdMap, optional
        Existing maps: their codes are kept and new ids appended (sorted), so a model's indices
        stay valid across refreshes.

    Returns
    -------
    InteractionMatrix
        The float32 CSR matrix, shape (users, items), duplicates summed and zeros removed, with
        its maps, weights and reference time.

    Raises
    ------
    InputError
        `weights.history_half_life` is set but not positive.
    """
    weights = weights or EventWeights()
    silent = weights.by_type_code() == 0
    if silent.any():  # e.g. impressions: they must not add users or items (empty rows) to the maps
        events = events.take(~silent[events.types])
    if reference_time is None:
        reference_time = float(events.timestamps.max()) if len(events) else time.time()
    users, rows = (users or IdMap()).extend(events.user_ids)
    items, cols = (items or IdMap()).extend(events.item_ids)
    data = event_confidence(events, weights, reference_time)
    if weights.history_half_life:
        data *= history_recency(events, weights.history_half_life, rows)
    matrix = coo_matrix((data, (rows, cols)), shape=(len(users), len(items)), dtype=np.float32).tocsr()
    matrix.sum_duplicates()
    matrix.eliminate_zeros()
    return InteractionMatrix(matrix, users, items, weights, reference_time)
