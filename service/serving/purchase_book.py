"""Every customer's purchases, with what each cost and in which currency, for the lifecycle routes.

Built with the retention index (service.serving.retention_index) from the same events: the snapshot the last
training folded plus every stream entry after it. So a purchase accepted a minute ago is in a customer's
profile and in the audiences at once, without a retraining: the BG/NBD and Gamma-Gamma expectations need
only the customer's own summary, which is recomputed from here at request time with the parameters the
training fitted (service.serving.profiles).

Spend is price x quantity as the event stream holds it (the event's price, else the catalog's price when the
event was accepted: service.store.events.write); the currency is the item's in the catalog, else the store's
default (RECS_CURRENCY), as the online revenue counts it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from recommender.catalog import Catalog
from recommender.events import EVENT_TYPES, EventTable
from recommender.lifecycle import Purchases

_PURCHASE = EVENT_TYPES.index("purchase")


@dataclass
class PurchaseBook:
    """Purchases grouped by customer (customers sorted by id, each one's purchases by time).

    Attributes
    ----------
    customers : pandas.Index of str, length m
        Customer ids, sorted.
    offsets : numpy.ndarray, shape (m + 1,), int64
        Customer k's purchases are rows offsets[k]:offsets[k + 1].
    purchases : recommender.lifecycle.Purchases, n rows
        Customer ids, epoch seconds and spend (currency units, NaN when the price is unknown).
    currencies : numpy.ndarray, shape (n,), object
        ISO 4217 code of each purchase's spend.
    """

    customers: pd.Index
    offsets: np.ndarray
    purchases: Purchases
    currencies: np.ndarray
    #: one remembered computation over every customer (service.serving.profiles.store_predictions)
    memo: dict = field(default_factory=dict, repr=False, compare=False)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @classmethod
    def build(cls, events: EventTable, catalog: Catalog, default_currency: str) -> PurchaseBook:
        """The purchase events of `events`, priced in the catalog's currencies (`default_currency` for items
        that name none or are not in the catalog)."""
        rows = np.flatnonzero(events.types == _PURCHASE)
        users, times = events.user_ids[rows], events.timestamps[rows]
        order = np.lexsort((times, users.astype(str)))
        rows = rows[order]
        spend = events.spend()[rows]
        users, times, items = events.user_ids[rows], events.timestamps[rows], events.item_ids[rows]
        codes, customers = pd.factorize(users, sort=True)
        offsets = np.concatenate(([0], np.cumsum(np.bincount(codes, minlength=len(customers))))).astype(np.int64)
        unique_items, item_codes = np.unique(items.astype(str), return_inverse=True)
        named = catalog.display_values(unique_items, "currency", default_currency) if len(unique_items) else []
        by_item = np.array([c or default_currency for c in named], dtype=object)
        currencies = by_item[item_codes] if len(rows) else np.zeros(0, dtype=object)
        return cls(pd.Index(customers, dtype=object), offsets, Purchases(users, times, spend), currencies)

    def __len__(self) -> int:
        return len(self.customers)

    def rows_of(self, user_id: str) -> slice:
        """The rows of a customer's purchases (an empty slice for a customer without any)."""
        k = self.customers.get_indexer([user_id])[0]
        if k < 0:
            return slice(0, 0)
        return slice(int(self.offsets[k]), int(self.offsets[k + 1]))

    def of(self, user_id: str) -> tuple[Purchases, np.ndarray]:
        """A customer's purchases (oldest first) and the currency of each."""
        rows = self.rows_of(user_id)
        p = self.purchases
        return Purchases(p.customer_ids[rows], p.timestamps[rows], p.spend[rows]), self.currencies[rows]
