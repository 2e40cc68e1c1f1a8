"""Interaction events: the columnar event table, its validation, and event files (CSV, JSON lines).

Everything here is columnar (numpy/pandas): 10 million events never go through a
Python loop one at a time. recommender.matrix turns a table into the weighted training matrix.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recommender.errors import InputError
from recommender.files import read_frame
from recommender.ids import validate_ids
from recommender.units import SECONDS_PER_DAY

#: Event types in code order; the code is what an EventTable stores (and what snapshots keep as
#: int8), so new types are only ever appended. `impression` is the store saying it showed the
#: item to the customer (an email, a carousel): no preference, used to avoid repeating lists.
EVENT_TYPES: tuple[str, ...] = ("view", "click", "add_to_cart", "purchase", "review", "impression")
EVENT_COLUMNS = ("user_id", "item_id", "type", "timestamp", "value")
MAX_REVIEW_VALUE = 5.0
MAX_VALUE = float(np.finfo(np.float32).max)  # values are stored as float32
_EPOCH = pd.Timestamp("1970-01-01", tz="UTC")


@dataclass(frozen=True)
class Event:
    """One interaction.

    Attributes
    ----------
    user_id, item_id : str
    type : str
        One of EVENT_TYPES.
    timestamp : float
        Epoch seconds.
    value : float
        The star rating (0 to 5) for a review; ignored otherwise.
    """

    user_id: str
    item_id: str
    type: str
    timestamp: float
    value: float = 1.0


@dataclass
class EventTable:
    """Events as parallel columns, one row per event.

    Attributes
    ----------
    user_ids, item_ids : numpy.ndarray
        object arrays of str, shape (events,).
    types : numpy.ndarray
        int8, shape (events,): codes into EVENT_TYPES.
    timestamps : numpy.ndarray
        float64, shape (events,): epoch seconds.
    values : numpy.ndarray
        float32, shape (events,): star ratings for reviews, 1.0 (or what was given) otherwise.
    """

    user_ids: np.ndarray
    item_ids: np.ndarray
    types: np.ndarray
    timestamps: np.ndarray
    values: np.ndarray

    def __len__(self) -> int:
        return len(self.user_ids)

    def take(self, rows: np.ndarray) -> EventTable:
        """The rows selected by `rows` (a boolean mask of shape (events,), or integer positions)."""
        return EventTable(
            self.user_ids[rows], self.item_ids[rows], self.types[rows],
            self.timestamps[rows], self.values[rows],
        )

    @classmethod
    def empty(cls) -> EventTable:
        """A table without events (columns of the right dtypes)."""
        return cls.from_frame(pd.DataFrame({c: [] for c in EVENT_COLUMNS}))

    @classmethod
    def concat(cls, tables: Iterable[EventTable]) -> EventTable:
        """The tables' rows one after another (an empty table for none)."""
        tables = list(tables)
        if not tables:
            return cls.empty()
        return cls(*(np.concatenate([getattr(t, f.name) for t in tables])
                     for f in dataclasses.fields(cls)))

    @classmethod
    def from_events(cls, events: Iterable[Event]) -> EventTable:
        """A table of `Event` records, validated as `from_frame` validates.

        Raises
        ------
        InputError
            As `from_frame`.
        """
        rows = [dataclasses.astuple(e) for e in events]
        return cls.from_frame(pd.DataFrame(rows, columns=list(EVENT_COLUMNS)))

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, default_timestamp: float | None = None) -> EventTable:
        """Validate a frame with the event columns (EVENT_COLUMNS; `value` optional).

        Parameters
        ----------
        frame : pandas.DataFrame
            One row per event: ids as strings, `type` a name in EVENT_TYPES, `timestamp` epoch
            seconds or ISO 8601, `value` a number (a review's star rating).
        default_timestamp : float, optional
            Epoch seconds for rows (or a whole column) without a timestamp.

        Returns
        -------
        EventTable

        Raises
        ------
        InputError
            Naming the first bad row and its field: a missing column, a bad id (`validate_ids`), an
            unknown type, a timestamp that is neither epoch seconds nor ISO 8601 or not finite, a
            value that is not a number, or a review rating outside 0 to 5.
        """
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
        """The table as a frame with EVENT_COLUMNS (type names, epoch-second timestamps)."""
        return pd.DataFrame({
            "user_id": self.user_ids,
            "item_id": self.item_ids,
            "type": np.asarray(EVENT_TYPES, dtype=object)[self.types],
            "timestamp": self.timestamps,
            "value": self.values,
        })


def parse_types(column: pd.Series) -> np.ndarray:
    """Event type names to their int8 codes (positions in EVENT_TYPES).

    Raises
    ------
    InputError
        The first row whose type is not in EVENT_TYPES.
    """
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
    """Epoch seconds or ISO 8601 strings (timezone-naive ones read as UTC), to epoch seconds.

    Parameters
    ----------
    column : pandas.Series
        One timestamp per event.
    default : float, optional
        Epoch seconds for missing entries.

    Returns
    -------
    numpy.ndarray
        float64, shape (events,).

    Raises
    ------
    InputError
        The first row that is neither, or is missing (without a default) or not finite.
    """
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
    """Event values: missing ones default to 1; a review needs a rating between 0 and 5 stars.

    Parameters
    ----------
    column : pandas.Series or None
        One value per event, or None for no value column.
    types : numpy.ndarray
        int8 type codes, shape (n,).
    n : int
        Number of events.

    Returns
    -------
    numpy.ndarray
        float32, shape (n,).

    Raises
    ------
    InputError
        The first row whose value is not a finite number float32 can hold, or a review whose
        rating is outside 0 to MAX_REVIEW_VALUE.
    """
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
    """Read events from CSV (header user_id,item_id,type,timestamp[,value]) or JSON lines.

    Raises
    ------
    InputError
        The file is missing or cannot be parsed, or a row is bad (`EventTable.from_frame`).
    """
    frame = read_frame(path, "events", {"user_id": str, "item_id": str, "type": str}, ("value", "timestamp"))
    return EventTable.from_frame(frame)


def write_events(events: EventTable, path: str | Path) -> None:
    """Write `events` as CSV with EVENT_COLUMNS (`read_events` reads it back)."""
    events.to_frame().to_csv(path, index=False)


def active_users(events: EventTable, days: float, now: float | None = None) -> np.ndarray:
    """The users with an event in the `days` up to `now`: the customers whose lists are precomputed.

    Parameters
    ----------
    events : EventTable
    days : float
        Window length in days.
    now : float, optional
        End of the window, epoch seconds; default the newest event's time (so offline data sets have
        active users however old they are).

    Returns
    -------
    numpy.ndarray
        Distinct user ids (object array), in order of first appearance among the window's events.
    """
    if len(events) == 0:
        return np.zeros(0, dtype=object)
    end = float(events.timestamps.max()) if now is None else now
    recent = (events.timestamps >= end - days * SECONDS_PER_DAY) & (events.timestamps <= end)
    return pd.unique(events.user_ids[recent])
