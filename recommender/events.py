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
from recommender.times import check_timestamps
from recommender.units import SECONDS_PER_DAY

#: Event types in code order; the code is what an EventTable stores (and what snapshots keep as
#: int8), so new types are only ever appended. `impression` is the store saying it showed the
#: item to the customer (an email, a carousel): no preference, used to avoid repeating lists.
#: `notify_me` is the customer asking to be told when an out-of-stock item is back (the back-in-stock
#: campaign's trigger; weight 0 in training, like impressions).
EVENT_TYPES: tuple[str, ...] = ("view", "click", "add_to_cart", "purchase", "review", "impression", "notify_me")
EVENT_COLUMNS = ("user_id", "item_id", "type", "timestamp", "value")
#: Optional columns of purchase and add_to_cart events: unit price, units, the order they belong to.
ORDER_COLUMNS = ("price", "quantity", "order_id")
#: The event types that may carry ORDER_COLUMNS.
ORDER_TYPES = ("add_to_cart", "purchase")
MAX_QUANTITY = 1_000_000  # units of one item in one event; more is a typo (quantities are int32)
MAX_PRICE = 1e12  # a unit price above this is a typo or a unit mix-up, not a price
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
    price, quantity, order_id : optional
        Purchases and add-to-cart events may carry a unit `price` (currency units), a `quantity`
        (units) and an `order_id`.
    """

    user_id: str
    item_id: str
    type: str
    timestamp: float
    value: float = 1.0
    price: float | None = None
    quantity: int | None = None
    order_id: str | None = None


#: The optional order columns of an EventTable: (attribute, file column, dtype, value meaning "not given").
ORDER_FIELDS = (("prices", "price", np.float64, np.nan), ("quantities", "quantity", np.int32, 1),
                ("order_ids", "order_id", object, None))


@dataclass
class EventTable:
    """Events as parallel columns; types are small integer codes into EVENT_TYPES.

    Attributes
    ----------
    user_ids, item_ids : numpy.ndarray, shape (n,), dtype object
        Ids (str).
    types : numpy.ndarray, shape (n,), dtype int8
        Codes into EVENT_TYPES.
    timestamps : numpy.ndarray, shape (n,), dtype float64
        Epoch seconds (UTC).
    values : numpy.ndarray, shape (n,), dtype float32
        Star ratings of reviews; 1 otherwise.
    prices : numpy.ndarray, shape (n,), dtype float64, or None
        Unit price in currency units, NaN where not given; None when no event has one.
    quantities : numpy.ndarray, shape (n,), dtype int32, or None
        Units bought or carted, 1 where not given; None when no event gives one.
    order_ids : numpy.ndarray, shape (n,), dtype object, or None
        The order (str) of each event, None where not given; None when no event has one.
    """

    user_ids: np.ndarray
    item_ids: np.ndarray
    types: np.ndarray
    timestamps: np.ndarray
    values: np.ndarray
    prices: np.ndarray | None = None
    quantities: np.ndarray | None = None
    order_ids: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.user_ids)

    def take(self, rows: np.ndarray) -> EventTable:
        return EventTable(*(None if column is None else column[rows] for column in self._columns()))

    def _columns(self) -> list[np.ndarray | None]:
        return [getattr(self, f.name) for f in dataclasses.fields(self)]

    def order_column(self, name: str) -> np.ndarray:
        """`prices`, `quantities` or `order_ids` as a full column, filled with "not given" when absent."""
        for attr, _, dtype, missing in ORDER_FIELDS:
            if attr == name:
                column = getattr(self, attr)
                return np.full(len(self), missing, dtype=dtype) if column is None else column
        raise KeyError(name)

    def spend(self) -> np.ndarray:
        """price x quantity per event, float64 currency units; NaN where the price is unknown."""
        if self.prices is None:
            return np.full(len(self), np.nan)
        return self.prices * self.order_column("quantities")

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
        base = [np.concatenate([getattr(t, name) for t in tables])
                for name in ("user_ids", "item_ids", "types", "timestamps", "values")]
        extra = [None if all(getattr(t, attr) is None for t in tables)
                 else np.concatenate([t.order_column(attr) for t in tables])
                 for attr, *_ in ORDER_FIELDS]
        return cls(*base, *extra)

    @classmethod
    def from_events(cls, events: Iterable[Event]) -> EventTable:
        """A table of `Event` records, validated as `from_frame` validates.

        Raises
        ------
        InputError
            As `from_frame`.
        """
        rows = [dataclasses.astuple(e) for e in events]
        return cls.from_frame(pd.DataFrame(rows, columns=[*EVENT_COLUMNS, *ORDER_COLUMNS]))

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, default_timestamp: float | None = None) -> EventTable:
        """Validate a frame with the event columns (EVENT_COLUMNS; `value` and ORDER_COLUMNS optional).

        Parameters
        ----------
        frame : pandas.DataFrame
            One row per event: ids as strings, `type` a name in EVENT_TYPES, `timestamp` epoch
            seconds or ISO 8601, `value` a number (a review's star rating); `price`, `quantity`
            and `order_id` as `parse_order_columns` reads them.
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
            value that is not a number, a review rating outside 0 to 5, or a bad order field.
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
            types, timestamps, values, *parse_order_columns(frame, types),
        )

    def to_frame(self) -> pd.DataFrame:
        """The table as a frame with EVENT_COLUMNS (type names, epoch-second timestamps) and the
        order columns it has."""
        frame = pd.DataFrame({
            "user_id": self.user_ids,
            "item_id": self.item_ids,
            "type": np.asarray(EVENT_TYPES, dtype=object)[self.types],
            "timestamp": self.timestamps,
            "value": self.values,
        })
        carries = np.isin(self.types, [EVENT_TYPES.index(t) for t in ORDER_TYPES])
        for attr, column, _, _ in ORDER_FIELDS:
            values = getattr(self, attr)
            if values is not None:  # empty cells on rows of other types: only order events carry these
                frame[column] = pd.Series(values).astype("Int32" if attr == "quantities" else values.dtype).where(
                    carries, None)
        return frame


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
        # ISO 8601's extended form starts YYYY-MM; pandas would also take "now" and "today". Upper case, as
        # RFC 3339 allows a lower-case t and z.
        text = column[needs_parse].astype(str).str.strip().str.upper()
        parsed = pd.to_datetime(text.where(text.str.match(r"\d{4}-\d{2}")), utc=True, errors="coerce",
                                format="ISO8601")
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
    """Event values: missing ones default to 1, but a review needs its rating, between 0 and 5 stars.

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
        The first row whose value is not a finite number float32 can hold, a review without one, or a
        review whose rating is outside 0 to MAX_REVIEW_VALUE.
    """
    review = types == EVENT_TYPES.index("review")
    given = np.zeros(n, dtype=bool) if column is None else column.notna().to_numpy()
    unrated = review & ~given
    if unrated.any():
        row = int(np.flatnonzero(unrated)[0])
        raise InputError(f"review at row {row} has no rating: its value must be 0 to {MAX_REVIEW_VALUE:g} stars",
                         row, "value")
    if column is None:
        values = np.ones(n, dtype=np.float32)
    else:
        numeric = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
        bad = given & ~(np.abs(numeric) <= MAX_VALUE)  # NaN, infinite, or beyond what float32 stores
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise InputError(f"value {str(column.iloc[row])!r} at row {row} is not a finite number within "
                             f"+/-{MAX_VALUE:.3g}", row, "value")
        values = np.where(given, numeric, 1.0).astype(np.float32)
    bad = review & ((values < 0) | (values > MAX_REVIEW_VALUE))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(f"review value at row {row} must be a rating from 0 to {MAX_REVIEW_VALUE:g}", row, "value")
    return values


def parse_order_columns(frame: pd.DataFrame, types: np.ndarray
                        ) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """The optional price, quantity and order_id columns of a frame, validated.

    Parameters
    ----------
    frame : pandas.DataFrame
        Event rows; each of ORDER_COLUMNS may be absent, and a cell may be empty (None, NaN, "").
    types : numpy.ndarray, shape (n,), dtype int8
        The rows' event type codes (only ORDER_TYPES may carry order data).

    Returns
    -------
    prices : numpy.ndarray of float64 (NaN: not given) or None
        Unit prices in currency units, None when no row has one.
    quantities : numpy.ndarray of int32 (1: not given) or None
    order_ids : numpy.ndarray of object (None: not given) or None

    Raises
    ------
    InputError
        A price that is not a number from 0 to MAX_PRICE, a quantity that is not an integer from 1 to
        MAX_QUANTITY, an order id that is not an id, or order data on an event of another type
        (`row` and `field` name the first).
    """
    n = len(frame)
    may_carry = np.isin(types, [EVENT_TYPES.index(t) for t in ORDER_TYPES])
    out: list[np.ndarray | None] = []
    for column in ORDER_COLUMNS:
        if column not in frame.columns:
            out.append(None)
            continue
        cells = frame[column]
        given = cells.notna().to_numpy() & (cells.astype(str) != "").to_numpy()
        if not given.any():
            out.append(None)
            continue
        _first_bad(given & ~may_carry, column, f"{column} is only for {' and '.join(ORDER_TYPES)} events")
        if column == "order_id":
            ids = np.full(n, None, dtype=object)
            validate_ids(cells[given].astype(str).reset_index(drop=True), column, np.flatnonzero(given))
            ids[given] = cells[given].astype(str).to_numpy(dtype=object)
            out.append(ids)
            continue
        numbers = pd.to_numeric(cells.where(given, None), errors="coerce").to_numpy(np.float64, na_value=np.nan)
        not_number = given & np.isnan(numbers)
        if not_number.any():
            row = int(np.flatnonzero(not_number)[0])
            raise InputError(f"{column} {cells.iloc[row]!r} at row {row} is not a number", row, column)
        if column == "price":
            _first_bad(given & ~((numbers >= 0) & (numbers <= MAX_PRICE)), column,
                       f"price must be at least 0 and at most {MAX_PRICE:g}")
            out.append(np.where(given, numbers, np.nan))
        else:
            _first_bad(given & ~((numbers >= 1) & (numbers <= MAX_QUANTITY) & (numbers == np.floor(numbers))),
                       column, f"quantity must be a positive integer (at most {MAX_QUANTITY:,})")
            out.append(np.where(given, numbers, 1).astype(np.int32))
    return out[0], out[1], out[2]


def _first_bad(bad: np.ndarray, field: str, rule: str) -> None:
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(f"{rule} at row {row}", row, field)


def read_events(path: str | Path) -> EventTable:
    """Read events from an events file.

    CSV with the header user_id,item_id,type,timestamp[,value][,price][,quantity][,order_id], or JSON
    lines with those keys; `price` (unit price, currency units), `quantity` (integer, default 1) and
    `order_id` are optional and only for add_to_cart and purchase rows (see `parse_order_columns`).

    Raises
    ------
    InputError
        The file is missing or unparsable, or a row is invalid (`row` is the 0-based data row), a timestamp
        outside the plausible range (recommender.times) included.
    """
    frame = read_frame(path, "events", {"user_id": str, "item_id": str, "type": str, "order_id": str,
                                        "price": str, "quantity": str},
                       ("value", "timestamp", *ORDER_COLUMNS))
    events = EventTable.from_frame(frame)
    check_timestamps(events.timestamps)
    return events


def write_events(events: EventTable, path: str | Path) -> None:
    """Write an events CSV (the order columns only when the table has them)."""
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
