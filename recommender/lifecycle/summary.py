"""Per-customer summary of purchases: orders, frequency, recency and age in days, spend.

Purchases on one UTC calendar day are one order (their spend summed), as in Fader, Hardie and Lee (2005),
whose CDNOW data counts at most one transaction per customer and day. All times are whole days.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recommender.errors import InputError
from recommender.lifecycle.purchases import Purchases
from recommender.units import SECONDS_PER_DAY


@dataclass(frozen=True)
class CustomerSummary:
    """Each customer's purchase history up to `as_of`, as parallel arrays of length n (one per customer).

    Attributes
    ----------
    customer_ids : numpy.ndarray, shape (n,), dtype object
        Customer ids, sorted.
    frequency : numpy.ndarray, shape (n,), dtype int64
        x: repeat orders, i.e. days with a purchase after the first such day.
    recency : numpy.ndarray, shape (n,), dtype float64
        t_x: days from the first order to the last (0 when x = 0).
    age : numpy.ndarray, shape (n,), dtype float64
        T: days from the first order to `as_of`'s day.
    first_purchase, last_purchase : numpy.ndarray, shape (n,), dtype float64
        Epoch seconds of the customer's first and last purchase.
    revenue : numpy.ndarray, shape (n,), dtype float64
        Spend summed over the orders whose spend is known, currency units; NaN when none is known.
    spend_orders : numpy.ndarray, shape (n,), dtype int64
        Orders whose spend is known (an order with any purchase of unknown spend is unknown).
    repeat_spend : numpy.ndarray, shape (n,), dtype float64
        m_x: mean spend of the repeat orders whose spend is known, currency units; NaN when there is none.
    repeat_spend_orders : numpy.ndarray, shape (n,), dtype int64
        The repeat orders behind `repeat_spend`.
    as_of : float
        Epoch seconds; purchases after it are not counted.
    """

    customer_ids: np.ndarray
    frequency: np.ndarray
    recency: np.ndarray
    age: np.ndarray
    first_purchase: np.ndarray
    last_purchase: np.ndarray
    revenue: np.ndarray
    spend_orders: np.ndarray
    repeat_spend: np.ndarray
    repeat_spend_orders: np.ndarray
    as_of: float

    def __len__(self) -> int:
        return len(self.customer_ids)

    @property
    def orders(self) -> np.ndarray:
        """Orders (purchase days) per customer, int64 (frequency + 1)."""
        return self.frequency + 1

    @property
    def days_since_last(self) -> np.ndarray:
        """Days from the last order to `as_of`'s day (T - t_x), float64."""
        return self.age - self.recency

    @property
    def aov(self) -> np.ndarray:
        """Average order value: revenue / orders with known spend, currency units; NaN when none is known."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.spend_orders > 0, self.revenue / self.spend_orders, np.nan)

    def take(self, rows: np.ndarray) -> CustomerSummary:
        """The customers at `rows` (int indices or a boolean mask), same `as_of`."""
        return CustomerSummary(*(getattr(self, name)[rows] for name in _ARRAYS), as_of=self.as_of)


_ARRAYS = ("customer_ids", "frequency", "recency", "age", "first_purchase", "last_purchase", "revenue",
           "spend_orders", "repeat_spend", "repeat_spend_orders")


def day_of(epoch_seconds: np.ndarray | float) -> np.ndarray:
    """The UTC calendar day (days since 1970-01-01, int64) of epoch seconds."""
    return np.floor(np.asarray(epoch_seconds, dtype=np.float64) / SECONDS_PER_DAY).astype(np.int64)


def summarize(purchases: Purchases, as_of: float) -> CustomerSummary:
    """Summarise each customer's purchases up to `as_of` (frequency, recency, age, spend).

    Purchases with a timestamp after `as_of` are left out, so a summary never sees the future; customers
    whose purchases are all after it are not in the summary (neither is anyone without a purchase). A
    day's spend is the sum of its purchases' spend, unknown (NaN) if any of them is unknown.

    Parameters
    ----------
    purchases : Purchases
        n purchases (customer ids, epoch seconds, spend in currency units or NaN).
    as_of : float
        The end of the observation, epoch seconds; T is counted in whole days to its UTC day.

    Returns
    -------
    CustomerSummary
        One entry per customer with a purchase at or before `as_of`, sorted by customer id.

    Raises
    ------
    InputError
        `as_of` is not finite.
    """
    if not np.isfinite(as_of):
        raise InputError("as_of must be finite epoch seconds", None, "as_of")
    kept = purchases.timestamps <= as_of
    ids, times, spend = purchases.customer_ids[kept], purchases.timestamps[kept], purchases.spend[kept]
    codes, customers = pd.factorize(ids, sort=True)
    customers = np.asarray(customers, dtype=object)
    days = day_of(times)
    order = np.lexsort((times, codes))
    codes, days, times, spend = codes[order], days[order], times[order], spend[order]
    # one order per (customer, day): the first purchase of each run of equal (customer, day)
    new_order = np.ones(len(codes), dtype=bool)
    new_order[1:] = (codes[1:] != codes[:-1]) | (days[1:] != days[:-1])
    starts = np.flatnonzero(new_order)
    order_customer, order_day = codes[starts], days[starts]
    order_spend = np.add.reduceat(spend, starts) if len(starts) else np.zeros(0)  # NaN if any part is NaN
    n = len(customers)
    orders = np.bincount(order_customer, minlength=n)
    first_row = np.concatenate(([0], np.cumsum(orders)[:-1])).astype(np.int64) if n else np.zeros(0, np.int64)
    last_row = first_row + orders - 1
    first_day, last_day = order_day[first_row], order_day[last_row]
    is_repeat = np.ones(len(starts), dtype=bool)
    is_repeat[first_row] = False
    known = np.isfinite(order_spend)
    spend_orders = np.bincount(order_customer[known], minlength=n)
    revenue = np.bincount(order_customer[known], weights=order_spend[known], minlength=n)
    repeat_known = known & is_repeat
    repeat_spend_orders = np.bincount(order_customer[repeat_known], minlength=n)
    repeat_total = np.bincount(order_customer[repeat_known], weights=order_spend[repeat_known], minlength=n)
    last_purchase_row = np.concatenate((np.flatnonzero(codes[1:] != codes[:-1]), [len(codes) - 1])) if n else []
    with np.errstate(invalid="ignore", divide="ignore"):
        repeat_spend = np.where(repeat_spend_orders > 0, repeat_total / repeat_spend_orders, np.nan)
    return CustomerSummary(
        customer_ids=customers,
        frequency=(orders - 1).astype(np.int64),
        recency=(last_day - first_day).astype(np.float64),
        age=(day_of(as_of) - first_day).astype(np.float64),
        first_purchase=times[starts[first_row]] if n else np.zeros(0),
        last_purchase=times[np.asarray(last_purchase_row, dtype=np.int64)],
        revenue=np.where(spend_orders > 0, revenue, np.nan),
        spend_orders=spend_orders.astype(np.int64),
        repeat_spend=repeat_spend,
        repeat_spend_orders=repeat_spend_orders.astype(np.int64),
        as_of=float(as_of),
    )
