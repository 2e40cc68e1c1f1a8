"""The plausible range of a time entering Encore: epoch seconds from 1990-01-01 to a day after now.

A time outside it is a unit or a typo, not a date: an epoch value in milliseconds (1.7e12) is read as
the year 55,000, a date in the year 9999 is a placeholder, a small number (20240101, a row count) is
1970. Stored as seconds, one such event moves "the newest event" that training measures its windows
from (the active users it precomputes, the clock of a time decay) and empties them. So every time that
comes in (events over HTTP and in the files the CLI and the service's bootstrap read, catalog
`created_at`, purchase files, the `now` and `--as-of` parameters) is checked against this range, and a
time outside it is refused with an InputError naming its row and field.

The earliest is 1990-01-01T00:00:00Z: before any web shop, and well before the public data sets the
benchmarks read (MovieLens-100k and CDNOW start in 1997). The latest is the clock plus one day, so a
client whose clock runs a little fast is not refused. Times built in code (`EventTable.from_frame` on a
frame, relative test times) are not checked: the check belongs where data enters.
"""

from __future__ import annotations

import time

import numpy as np

from recommender.errors import InputError
from recommender.units import SECONDS_PER_DAY

#: 1990-01-01T00:00:00Z in epoch seconds: the earliest plausible time.
EARLIEST_TIMESTAMP = 631_152_000.0
#: How far past the clock a time may lie (a client's clock running fast).
MAX_CLOCK_AHEAD = SECONDS_PER_DAY


def latest_timestamp(now: float | None = None) -> float:
    """The latest plausible time, epoch seconds: `now` (default: the clock) plus MAX_CLOCK_AHEAD."""
    return (time.time() if now is None else now) + MAX_CLOCK_AHEAD


def plausible_range(now: float | None = None) -> str:
    """The range as text for error messages and documents: `1990-01-01T00:00:00Z to <ISO>`."""
    return f"{_iso(EARLIEST_TIMESTAMP)} to {_iso(latest_timestamp(now))}"


def check_timestamps(seconds: np.ndarray, field: str = "timestamp", now: float | None = None) -> None:
    """Refuse times outside [EARLIEST_TIMESTAMP, latest_timestamp(now)].

    Parameters
    ----------
    seconds : numpy.ndarray, shape (n,), dtype float64
        Epoch seconds, one per row; NaN (a time not given, as a catalog's unknown `created_at`) passes.
    field : str
        The column's name, for the error.
    now : float, optional
        Epoch seconds the latest plausible time is counted from (default: the clock).

    Raises
    ------
    InputError
        naming the first row outside the range (`row`, `field`).
    """
    seconds = np.asarray(seconds, dtype=np.float64)
    latest = latest_timestamp(now)
    bad = (seconds < EARLIEST_TIMESTAMP) | (seconds > latest)  # NaN compares False: not refused
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        value = float(seconds[row])
        raise InputError(f"{field} {value!r} at row {row} is not a plausible time: epoch seconds from "
                         f"{plausible_range(now)} are accepted{milliseconds_hint(value)}", row, field)


def milliseconds_hint(value: float) -> str:
    """What an error about a refused time adds when `value` (epoch seconds) could be a time in milliseconds:
    " (milliseconds are 1,000 times too large)", else ""."""
    return " (milliseconds are 1,000 times too large)" if value > 1000 * EARLIEST_TIMESTAMP else ""


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
