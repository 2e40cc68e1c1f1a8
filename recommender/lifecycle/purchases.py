"""Purchases, the lifecycle models' input: one row per purchase (an order line or a whole order).

`Purchases` holds parallel arrays; `read_purchases` takes the `purchase` rows of an events file (read by
recommender.events), with spend from its optional `price` (unit price) and `quantity` (default 1) columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recommender.errors import InputError
from recommender.events import EVENT_TYPES, EventTable, read_events

_PURCHASE = EVENT_TYPES.index("purchase")


@dataclass(frozen=True)
class Purchases:
    """Purchases as parallel arrays (validated on construction).

    Attributes
    ----------
    customer_ids : numpy.ndarray, shape (n,), dtype object
        Customer id (str) of each purchase.
    timestamps : numpy.ndarray, shape (n,), dtype float64
        When each purchase happened, epoch seconds (UTC).
    spend : numpy.ndarray, shape (n,), dtype float64
        What each purchase cost the customer, in currency units (one currency per store); NaN when unknown.

    Raises
    ------
    InputError
        the arrays differ in length, a timestamp is missing or not finite, or a spend is negative or infinite
        (`row` and `field` name the first bad value).
    """

    customer_ids: np.ndarray
    timestamps: np.ndarray
    spend: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "customer_ids", np.asarray(self.customer_ids, dtype=object))
        object.__setattr__(self, "timestamps", np.asarray(self.timestamps, dtype=np.float64))
        object.__setattr__(self, "spend", np.asarray(self.spend, dtype=np.float64))
        n = len(self.customer_ids)
        if self.customer_ids.ndim != 1 or self.timestamps.shape != (n,) or self.spend.shape != (n,):
            raise InputError(f"purchases need three 1-d arrays of one length; got shapes {self.customer_ids.shape}, "
                             f"{self.timestamps.shape} and {self.spend.shape}")
        _first_bad(~np.isfinite(self.timestamps), "timestamp is missing or not finite", "timestamp")
        _first_bad(np.isinf(self.spend) | (self.spend < 0), "spend must be a finite amount of at least 0", "spend")

    def __len__(self) -> int:
        return len(self.customer_ids)

    @property
    def has_spend(self) -> bool:
        """Whether any purchase has a known spend (else the spend model cannot be fitted)."""
        return bool(np.isfinite(self.spend).any())

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, customer: str = "customer_id", timestamp: str = "timestamp",
                   spend: str | None = "spend") -> Purchases:
        """Purchases from DataFrame columns; without a `spend` column every spend is unknown (NaN).

        Parameters
        ----------
        frame : pandas.DataFrame
            One row per purchase: customer ids (any type, used as str), timestamps (float epoch seconds)
            and optionally spend (float, currency units).

        Raises
        ------
        InputError
            a column is missing or a value is invalid (see the class).
        """
        missing = [c for c in (customer, timestamp) if c not in frame.columns]
        if missing:
            raise InputError(f"missing column(s): {', '.join(missing)}", None, missing[0])
        spent = (frame[spend].to_numpy(np.float64) if spend is not None and spend in frame.columns
                 else np.full(len(frame), np.nan))
        return cls(frame[customer].astype(str).to_numpy(object), frame[timestamp].to_numpy(np.float64), spent)


    @classmethod
    def from_events(cls, events: EventTable) -> Purchases:
        """The `purchase` events of an event table, with spend = price x quantity (NaN where the price is
        unknown); other event types are left out.

        Parameters
        ----------
        events : EventTable
            n events (recommender.events).

        Returns
        -------
        Purchases
            One purchase per purchase event, in table order.
        """
        rows = np.flatnonzero(events.types == _PURCHASE)
        return cls(events.user_ids[rows], events.timestamps[rows], events.spend()[rows])


def _first_bad(bad: np.ndarray, message: str, field: str) -> None:
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(f"{message} at row {row}", row, field)


def read_purchases(path: str | Path) -> Purchases:
    """The `purchase` rows of an events file, with spend = price x quantity.

    The file is an events file as `recommender.events.read_events` reads it (the one reader of event
    files, with its validation): CSV with header user_id,item_id,type,timestamp[,value] or JSON lines, with
    the optional order columns `price` (unit price in currency units; empty: unknown) and `quantity`
    (integer units, empty or absent: 1). Rows of other event types are skipped.

    Parameters
    ----------
    path : str or pathlib.Path
        The events file.

    Returns
    -------
    Purchases
        One purchase per purchase row, in file order; spend is NaN where the price is unknown (everywhere
        when the file has no `price` column).

    Raises
    ------
    InputError
        the file is missing or unparsable, or a row is invalid: among others a price that is not a number
        of at least 0, a quantity that is not a positive integer, a timestamp outside the plausible range
        (`row` is the 0-based data row).
    """
    return Purchases.from_events(read_events(path))
