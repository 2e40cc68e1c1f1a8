"""The demo store's trigger stories: what the back-in-stock, price-drop, browse-abandonment and trending
routes need to find customers in a synthetic store.

On top of recommender.demo's events (its own generator, so the base store is unchanged): some popular
products were out of stock from 20 to 3 days ago (customers viewed, carted or asked `notify_me` meanwhile),
some out-of-stock products have been out for 10 days and have requests waiting, some products' prices went
up 25% two months ago and back down 5 days ago, browsing sessions of the last two days (two to four views of
one item, a third of them followed by a purchase), and a burst of views in the last day on a few items.
The catalog's history comes as catalog writes (recommender.catalog_changes), oldest first.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from recommender.catalog import Catalog
from recommender.events import EVENT_TYPES, EventTable
from recommender.units import SECONDS_PER_DAY

HOUR = 3600.0
_TYPE = {name: code for code, name in enumerate(EVENT_TYPES)}


def add_trigger_stories(events: EventTable, catalog: Catalog, now: float,
                        seed: int = 0) -> tuple[EventTable, list[tuple[float, Catalog]]]:
    """The events with the stories' events added (in time order) and the catalog writes that make the stock and
    price history, oldest first; the last state of every item is `catalog` (the current catalog)."""
    rng = np.random.default_rng([seed, 17])
    frame = catalog.frame.reset_index(drop=True)
    users = pd.unique(events.user_ids)
    counts = pd.Series(events.item_ids).value_counts()
    products = frame[frame["kind"] == "product"].set_index("item_id")
    in_stock = [i for i in counts.index if i in products.index and products.loc[i, "in_stock"]]
    out_now = [i for i in counts.index if i in products.index and not products.loc[i, "in_stock"]]
    restocked, repriced, burst = in_stock[:12], in_stock[12:30], in_stock[30:33]
    rows: list[tuple[str, str, str, float]] = []

    def some(k: int) -> np.ndarray:
        return rng.choice(users, size=min(k, len(users)), replace=False)

    # back in stock: out from 20 to 3 days ago, interest meanwhile; still out (10 days) with requests waiting
    for item in restocked:
        for user in some(8):
            kind = rng.choice(["view", "add_to_cart", "notify_me"], p=[0.5, 0.2, 0.3])
            rows.append((user, item, str(kind), now - rng.uniform(4, 19) * SECONDS_PER_DAY))
    for item in out_now[:6]:
        for user in some(4):
            rows.append((user, item, "notify_me", now - rng.uniform(1, 9) * SECONDS_PER_DAY))
    # price drop: views at the higher price (between 60 and 5 days ago) by customers who did not buy
    for item in repriced:
        for user in some(10):
            rows.append((user, item, "view", now - rng.uniform(6, 29) * SECONDS_PER_DAY))
    # browse abandonment: sessions of the last two days, a third of them end in a purchase
    for user in some(80):
        item = rng.choice(in_stock[:200])
        start = now - rng.uniform(4, 40) * HOUR
        views = int(rng.integers(2, 5))
        rows += [(user, item, "view", start + k * rng.uniform(60, 900)) for k in range(views)]
        if rng.random() < 1 / 3:
            rows.append((user, item, "purchase", start + views * 900 + rng.uniform(60, 3600)))
    # trending: a burst of views in the last day
    for rank, item in enumerate(burst):
        for user in some(60 - 15 * rank):
            rows.append((user, item, "view", now - rng.uniform(0.5, 20) * HOUR))

    extra = EventTable(np.array([r[0] for r in rows], dtype=object), np.array([r[1] for r in rows], dtype=object),
                       np.array([_TYPE[r[2]] for r in rows], dtype=np.int8),
                       np.round(np.array([r[3] for r in rows], dtype=np.float64), 3),
                       np.ones(len(rows), dtype=np.float32))
    merged = EventTable.concat([events, extra])
    merged = merged.take(np.argsort(merged.timestamps, kind="stable"))
    return merged, _catalog_writes(frame, restocked, out_now[:6], repriced, now)


def _catalog_writes(frame: pd.DataFrame, restocked: list[str], out_now: list[str], repriced: list[str],
                    now: float) -> list[tuple[float, Catalog]]:
    def write(ids: list[str], **changes: object) -> Catalog:
        rows = frame[frame["item_id"].isin(ids)].copy()
        for name, value in changes.items():
            rows[name] = value(rows) if callable(value) else value
        return Catalog.from_frame(rows.reset_index(drop=True))

    day = SECONDS_PER_DAY
    return [
        (now - 90 * day, write(restocked + out_now + repriced, in_stock=True)),  # where the histories start
        (now - 60 * day, write(repriced, in_stock=True, price=lambda r: np.round(r["price"] * 1.25, 2))),
        (now - 20 * day, write(restocked, in_stock=False)),
        (now - 10 * day, write(out_now, in_stock=False)),
        (now - 5 * day, write(repriced)),  # back to the catalog's price
        (now - 3 * day, write(restocked)),  # back in stock
    ]


def with_trigger_stories(data, seed: int = 0):
    """A recommender.demo.DemoData with the stories added (events and `catalog_changes`)."""
    events, changes = add_trigger_stories(data.events, data.catalog, data.now, seed)
    return dataclasses.replace(data, events=events, catalog_changes=changes)
