"""Generated stores for the service's model-choice and repeat tests: a grocery whose customers rebuy
their staples on a weekly rhythm, with a catalog of kinds, categories and stock to filter on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recommender.catalog import Catalog
from recommender.events import EventTable, write_events
from recommender.units import SECONDS_PER_DAY

CATEGORIES = ("dairy", "bakery", "produce")
#: Days between a customer's visits, and the last day (before now) the lapsed customers came.
WEEK, LAPSED_SINCE = 7.0, 20.0


@dataclass
class Grocery:
    events: EventTable
    catalog: Catalog
    staples: dict[str, list[str]]  # customer -> the four items they rebuy every visit
    lapsed: list[str]  # customers whose last visit was LAPSED_SINCE days ago
    now: float

    def write(self, directory: Path) -> tuple[Path, Path]:
        directory.mkdir(parents=True, exist_ok=True)
        events, catalog = directory / "events.csv", directory / "catalog.csv"
        write_events(self.events, events)
        self.catalog.to_csv(catalog)
        return events, catalog


def grocery(now: float, customers: int = 80, products: int = 24, seed: int = 0) -> Grocery:
    """Each customer visits every WEEK days (+- half a day) over ten weeks up to `now` (the last fifth
    up to LAPSED_SINCE days before it), buys their four staples (drawn among the first half of the
    products, by popularity) and views one random product; a few products are out of stock, and four
    guides (content) are read."""
    rng = np.random.default_rng(seed)
    items = [f"p{i:03d}" for i in range(products)] + [f"guide-{i}" for i in range(4)]
    catalog = Catalog.from_frame(pd.DataFrame({
        "item_id": items, "kind": ["product"] * products + ["content"] * 4,
        "category": [CATEGORIES[i % len(CATEGORIES)] for i in range(len(items))],
        "in_stock": [i % 7 != 3 for i in range(len(items))], "created_at": now - 400 * SECONDS_PER_DAY}))
    rows, staples, lapsed = [], {}, []
    weights = 1.0 / np.arange(1, products // 2 + 1)
    for c in range(customers):
        user = f"c{c:03d}"
        mine = [items[i] for i in rng.choice(products // 2, 4, replace=False, p=weights / weights.sum())]
        staples[user] = mine
        end = now - (LAPSED_SINCE if c >= customers * 4 // 5 else 0.5) * SECONDS_PER_DAY
        if end < now - SECONDS_PER_DAY:
            lapsed.append(user)
        for visit in range(10):
            at = end - (visit * WEEK + rng.uniform(0, 0.5)) * SECONDS_PER_DAY
            rows += [(user, item, "purchase", at) for item in mine]
            rows.append((user, items[int(rng.integers(products))], "view", at + 60))
            if rng.random() < 0.3:
                rows.append((user, items[products + int(rng.integers(4))], "view", at + 120))
    users, item_ids, types, times = zip(*rows)
    events = EventTable.from_frame(pd.DataFrame({"user_id": users, "item_id": item_ids, "type": types,
                                                 "timestamp": times}))
    return Grocery(events, catalog, staples, lapsed, now)
