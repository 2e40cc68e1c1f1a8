"""Interaction events and their conversion to a weighted user x item confidence matrix.

Everything here is columnar (numpy/pandas): 10 million events never go through a
Python loop one at a time.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix, csr_matrix

from recommender.errors import InputError
from recommender.files import read_frame
from recommender.ids import IdMap, validate_ids

#: Event types in code order; the code is what an EventTable stores (and what snapshots keep as
#: int8), so new types are only ever appended. `impression` is the store saying it showed the
#: item to the customer (an email, a carousel): no preference, used to avoid repeating lists.
EVENT_TYPES: tuple[str, ...] = ("view", "click", "add_to_cart", "purchase", "review", "impression")
EVENT_COLUMNS = ("user_id", "item_id", "type", "timestamp", "value")
SECONDS_PER_DAY = 86_400.0
MAX_REVIEW_VALUE = 5.0
MAX_VALUE = float(np.finfo(np.float32).max)  # values are stored as float32
_EPOCH = pd.Timestamp("1970-01-01", tz="UTC")


@dataclass(frozen=True)
class Event:
    """One interaction; `value` is the star rating for reviews and ignored otherwise."""

    user_id: str
    item_id: str
    type: str
    timestamp: float
    value: float = 1.0


@dataclass(frozen=True)
class EventWeights:
    """How much each event type says about preference, and how fast old events fade."""

    view: float = 1.0
    click: float = 1.0
    add_to_cart: float = 3.0
    purchase: float = 5.0
    review: float = 1.0  # per star: a 5-star review weighs 5
    impression: float = 0.0  # being shown something says nothing about liking it
    half_life_days: float | None = None  # None: no time decay
    #: Per-user recency, relative to the user's own history rather than the clock: an event's
    #: weight halves for every `history_half_life` share of the user's events that came after it
    #: (0.1: the events behind the user's newest 10% count half, behind the newest 20% a quarter).
    #: A customer's next choices follow their latest ones (a session, a current interest) whether
    #: they were last here yesterday or a year ago, which a global clock decay cannot see; being a
    #: share, it treats a 20-event and a 500-event history alike. None: off (the library turns it
    #: on for ALS: default_weights).
    history_half_life: float | None = None

    def by_type_code(self) -> np.ndarray:
        return np.array([getattr(self, name) for name in EVENT_TYPES], dtype=np.float32)

    def to_dict(self) -> dict[str, float | None]:
        return dataclasses.asdict(self)


@dataclass
class EventTable:
    """Events as parallel columns; types are small integer codes into EVENT_TYPES."""

    user_ids: np.ndarray
    item_ids: np.ndarray
    types: np.ndarray
    timestamps: np.ndarray
    values: np.ndarray

    def __len__(self) -> int:
        return len(self.user_ids)

    def take(self, rows: np.ndarray) -> EventTable:
        return EventTable(
            self.user_ids[rows], self.item_ids[rows], self.types[rows],
            self.timestamps[rows], self.values[rows],
        )

    @classmethod
    def empty(cls) -> EventTable:
        return cls.from_frame(pd.DataFrame({c: [] for c in EVENT_COLUMNS}))

    @classmethod
    def concat(cls, tables: Iterable[EventTable]) -> EventTable:
        tables = list(tables)
        if not tables:
            return cls.empty()
        return cls(*(np.concatenate([getattr(t, f.name) for t in tables])
                     for f in dataclasses.fields(cls)))

    @classmethod
    def from_events(cls, events: Iterable[Event]) -> EventTable:
        rows = [dataclasses.astuple(e) for e in events]
        return cls.from_frame(pd.DataFrame(rows, columns=list(EVENT_COLUMNS)))

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, default_timestamp: float | None = None) -> EventTable:
        """Validate a frame with the event columns; raise InputError naming the first bad row."""
        missing = [c for c in ("user_id", "item_id", "type") if c not in frame.columns]
        if missing:
            raise InputError(f"missing column(s): {', '.join(missing)}", None, missing[0])
        validate_ids(frame["user_id"], "user_id")
        validate_ids(frame["item_id"], "item_id")
        types = parse_types(frame["type"])
        if "timestamp" in frame.columns:
            timestamps = parse_timestamps(frame["timestamp"], default_timestamp)
        elif default_timestamp is not None:
            timestamps = np.full(len(frame), default_timestamp, dtype=np.float64)
        else:
            raise InputError("missing column(s): timestamp", None, "timestamp")
        values = parse_values(frame["value"] if "value" in frame.columns else None, types, len(frame))
        return cls(
            frame["user_id"].astype(str).to_numpy(dtype=object),
            frame["item_id"].astype(str).to_numpy(dtype=object),
            types, timestamps, values,
        )

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({
            "user_id": self.user_ids,
            "item_id": self.item_ids,
            "type": np.asarray(EVENT_TYPES, dtype=object)[self.types],
            "timestamp": self.timestamps,
            "value": self.values,
        })


def parse_types(column: pd.Series) -> np.ndarray:
    codes = pd.Index(EVENT_TYPES).get_indexer(column.astype(str))
    bad = codes < 0
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"unknown event type {column.iloc[row]!r} at row {row}; expected one of {', '.join(EVENT_TYPES)}",
            row, "type",
        )
    return codes.astype(np.int8)


def parse_timestamps(column: pd.Series, default: float | None = None) -> np.ndarray:
    """Epoch seconds or ISO 8601 strings, to float64 epoch seconds."""
    if default is not None:
        column = column.where(column.notna(), default)
    numeric = pd.to_numeric(column, errors="coerce")
    result = numeric.to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
    needs_parse = np.isnan(result) & column.notna().to_numpy()
    if needs_parse.any():
        parsed = pd.to_datetime(column[needs_parse], utc=True, errors="coerce", format="ISO8601")
        bad = parsed.isna().to_numpy()
        if bad.any():
            row = int(np.flatnonzero(needs_parse)[np.flatnonzero(bad)[0]])
            raise InputError(f"timestamp {column.iloc[row]!r} at row {row} is neither epoch seconds nor ISO 8601",
                             row, "timestamp")
        result[needs_parse] = ((parsed - _EPOCH) / pd.Timedelta(seconds=1)).to_numpy(dtype=np.float64)
    bad = ~np.isfinite(result)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(f"timestamp is missing or not finite at row {row}", row, "timestamp")
    return result


def parse_values(column: pd.Series | None, types: np.ndarray, n: int) -> np.ndarray:
    """Values default to 1; a review needs a rating between 0 and 5 stars."""
    if column is None:
        values = np.ones(n, dtype=np.float32)
    else:
        numeric = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
        given = column.notna().to_numpy()
        bad = given & ~(np.abs(numeric) <= MAX_VALUE)  # NaN, infinite, or beyond what float32 stores
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise InputError(f"value {column.iloc[row]!r} at row {row} is not a number", row, "value")
        values = np.where(given, numeric, 1.0).astype(np.float32)
    review = types == EVENT_TYPES.index("review")
    bad = review & ((values < 0) | (values > MAX_REVIEW_VALUE))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(f"review value at row {row} must be a rating from 0 to {MAX_REVIEW_VALUE:g}", row, "value")
    return values


def read_events(path: str | Path) -> EventTable:
    """Read events from CSV (header user_id,item_id,type,timestamp[,value]) or JSON lines."""
    frame = read_frame(path, "events", {"user_id": str, "item_id": str, "type": str}, ("value", "timestamp"))
    return EventTable.from_frame(frame)


def write_events(events: EventTable, path: str | Path) -> None:
    events.to_frame().to_csv(path, index=False)


@dataclass
class InteractionMatrix:
    """The training input: confidences per (user, item) plus the maps back to external ids."""

    matrix: csr_matrix
    users: IdMap
    items: IdMap
    weights: EventWeights = field(default_factory=EventWeights)
    reference_time: float = 0.0

    @property
    def shape(self) -> tuple[int, int]:
        return self.matrix.shape


def event_confidence(events: EventTable, weights: EventWeights, reference_time: float) -> np.ndarray:
    """Per-event confidence: type weight, times stars for reviews, times exponential decay."""
    confidence = weights.by_type_code()[events.types]
    review = events.types == EVENT_TYPES.index("review")
    confidence = np.where(review, confidence * events.values, confidence).astype(np.float32)
    if weights.half_life_days:
        age_days = np.maximum(reference_time - events.timestamps, 0.0) / SECONDS_PER_DAY
        confidence *= np.exp2(-age_days / weights.half_life_days).astype(np.float32)
    return confidence


#: Per-user recency in the library's default weights, by algorithm (default_weights). 0.4 for ALS
#: was chosen on validation data (benchmarks/README.md): it raised the untuned ALS's temporal-split
#: validation nDCG@10 on MovieLens-100k (0.190 -> 0.216) and the demo store (0.128 -> 0.130) and cost
#: at most 0.006 on random splits; it lowered the untuned item-kNN scores on 3 of 4 splits, and BPR
#: reads no confidence values.
DEFAULT_HISTORY_HALF_LIFE: dict[str, float] = {"als": 0.4}


def default_weights(algorithm: str) -> EventWeights:
    """The library's default weights for `algorithm` (what a caller that passes none gets)."""
    return EventWeights(history_half_life=DEFAULT_HISTORY_HALF_LIFE.get(algorithm))


def history_recency(events: EventTable, half_life: float, user_codes: np.ndarray | None = None) -> np.ndarray:
    """Per-event factor 2^(-newer share / half_life), where the newer share is the fraction of the
    same user's events with a later timestamp (0 for a user's newest events, ties included).

    `user_codes` (any integer code per event, one per user) saves factorizing the ids again when
    the caller has them (build_matrix's rows). Temporaries are int32 and dropped as soon as they
    are used: at 20M events the first version, which factorized the ids again, added 0.26 GiB to
    the refresh's peak RSS (benchmarks/README.md, Scale).
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

    Events of a type weighted 0 (impressions, by default) are dropped first, so they do not
    count in a user's history for `history_half_life` either (which needs every event of a user
    at once, so it is applied here rather than in the per-event `event_confidence`).
    `reference_time` is "now" for the decay; it defaults to the newest event so that
    offline data sets are not decayed to nothing. Passing existing `users`/`items` maps
    keeps their indices and appends new ids, so a model's ids stay valid across refreshes.
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
