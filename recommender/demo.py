"""A synthetic storefront for the demo and the tests: realistic shape, no downloads.

Products and content items (guides, how-tos) live in categories; item popularity and user
activity follow power laws; each user has favourite categories; sessions go view, then
sometimes add to cart (often abandoned), purchase and review; buyers read guides of the
category they bought in; consumables get bought again; some customers lapsed 8-12 months ago.
Products have prices (USD), brands, links and images (placeholders on example.com); purchases and
carts carry the price paid (sometimes on sale), a quantity and, for purchases, an order id.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recommender.catalog import Catalog
from recommender.catalog_changes import write_catalog_changes
from recommender.events import EVENT_TYPES, EventTable, write_events
from recommender.units import SECONDS_PER_DAY

CATEGORIES = (
    "coffee", "tea", "kitchen", "outdoor", "running", "yoga", "books", "garden", "pets", "audio",
    "lighting", "cycling", "baking", "camping", "skincare", "toys",
)
#: Categories whose products run out and are bought again (coffee beans, pet food, ...).
REPLENISHABLE = ("coffee", "tea", "pets", "skincare")
_TYPE = {name: code for code, name in enumerate(EVENT_TYPES)}
#: Steps after a session's first view (cart, purchase, review), each at most this many seconds after the last.
SESSION_STEPS = 3
MAX_STEP_SECONDS = 600
BRANDS = ("Northwind", "Acme", "Lumen", "Fernhill", "Kestrel", "Bramble", "Orbit", "Juniper")
#: Typical price per category (USD); items vary around it.
BASE_PRICE = {"coffee": 14, "tea": 9, "kitchen": 35, "outdoor": 60, "running": 90, "yoga": 30, "books": 18,
              "garden": 25, "pets": 22, "audio": 120, "lighting": 45, "cycling": 150, "baking": 20, "camping": 80,
              "skincare": 24, "toys": 28}


@dataclass
class DemoData:
    events: EventTable
    catalog: Catalog
    now: float
    #: past catalog writes, oldest first (recommender.catalog_changes; recommender.demo_triggers adds them)
    catalog_changes: list[tuple[float, Catalog]] | None = None


def _power_law_ranks(rng: np.random.Generator, sizes: np.ndarray, skew: float = 2.5) -> np.ndarray:
    """A rank in [0, size) per draw, heavily favouring low ranks (the category's best sellers)."""
    return np.minimum((sizes * rng.random(len(sizes)) ** skew).astype(np.int64), sizes - 1)


def make_catalog(rng: np.random.Generator, n_products: int, n_content: int, n_categories: int,
                 now: float) -> pd.DataFrame:
    categories = np.array(CATEGORIES[:n_categories], dtype=object)
    kinds = np.array(["product"] * n_products + ["content"] * n_content, dtype=object)
    cat = np.concatenate([rng.integers(0, n_categories, n_products), rng.integers(0, n_categories, n_content)])
    ids = np.concatenate([[f"p{i:05d}" for i in range(n_products)], [f"guide-{i:04d}" for i in range(n_content)]])
    age_days = np.where(rng.random(len(ids)) < 0.08, rng.uniform(0, 30, len(ids)), rng.uniform(30, 900, len(ids)))
    titles = [f"{'Guide to' if k == 'content' else 'Product'} {categories[c]} #{i}"
              for i, (k, c) in enumerate(zip(kinds, cat))]
    frame = pd.DataFrame({
        "item_id": ids, "kind": kinds, "category": categories[cat],
        "in_stock": np.where(kinds == "content", True, rng.random(len(ids)) > 0.08),
        "created_at": now - age_days * SECONDS_PER_DAY, "title": titles,
    })
    return _shop_fields(frame, np.random.default_rng([int(n_products), int(n_content), 16]))


def _shop_fields(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Prices, brands, links and images for the products (guides get a link only); its own generator, so
    the store's events are what they were before prices existed."""
    product = (frame["kind"] == "product").to_numpy()
    base = frame["category"].map(BASE_PRICE).fillna(20).to_numpy(dtype=np.float64)
    price = np.round(base * rng.lognormal(0.0, 0.4, len(frame)), 0) - 0.01
    frame["price"] = np.where(product, np.maximum(price, 0.99), np.nan)
    frame["currency"] = np.where(product, "USD", None)
    frame["url"] = [f"https://example.com/{'products' if p else 'guides'}/{i}" for i, p in
                    zip(frame["item_id"], product)]
    frame["image_url"] = [f"https://example.com/images/{i}.jpg" if p else None for i, p in
                          zip(frame["item_id"], product)]
    frame["brand"] = np.where(product, np.asarray(BRANDS, dtype=object)[rng.integers(0, len(BRANDS), len(frame))], None)
    frame["attributes"] = [{"colour": str(rng.choice(["black", "white", "green", "blue"]))} if p else None
                           for p in product]
    return frame


def generate_storefront(n_users: int = 2000, n_products: int = 800, n_content: int = 80,
                        n_categories: int = 12, seed: int = 0, now: float | None = None) -> DemoData:
    """Generate events and a catalog; the same seed and `now` always give the same store (`now` defaults to
    the clock, epoch seconds: no event lies after it)."""
    rng = np.random.default_rng(seed)
    now = float(now if now is not None else time.time())
    n_categories = min(n_categories, len(CATEGORIES))
    items = make_catalog(rng, n_products, n_content, n_categories, now)
    created = items["created_at"].to_numpy()
    products = items.index[items["kind"] == "product"].to_numpy()
    content = items.index[items["kind"] == "content"].to_numpy()
    product_cat = pd.factorize(items["category"], sort=True)[0]
    by_cat = [products[product_cat[products] == c] for c in range(n_categories)]
    guides_by_cat = [content[product_cat[content] == c] for c in range(n_categories)]
    # order products within each category by a hidden appeal, so popularity is skewed
    by_cat = [rng.permutation(group) for group in by_cat]

    # users: power-law session counts, two favourite categories, an activity window
    sessions = np.minimum(1 + (rng.pareto(1.3, n_users) * 3).astype(np.int64), 200)
    favourites = rng.integers(0, n_categories, (n_users, 2))
    lapse = rng.random(n_users)
    end = now - np.where(lapse < 0.7, rng.uniform(0, 60, n_users),
                         np.where(lapse < 0.9, rng.uniform(240, 365, n_users), rng.uniform(60, 240, n_users))) * SECONDS_PER_DAY
    start = end - rng.uniform(30, 400, n_users) * SECONDS_PER_DAY

    user = np.repeat(np.arange(n_users), sessions)
    pick = rng.random(len(user))
    cat = np.where(pick < 0.6, favourites[user, 0],
                   np.where(pick < 0.85, favourites[user, 1], rng.integers(0, n_categories, len(user))))
    sizes = np.array([len(g) for g in by_cat])
    cat = np.where(sizes[cat] == 0, favourites[user, 0], cat)
    rank = _power_law_ranks(rng, np.maximum(sizes[cat], 1))
    item = np.array([by_cat[c][r] if len(by_cat[c]) else products[0] for c, r in zip(cat, rank)])
    t0 = rng.uniform(start[user], end[user])
    t0 = np.maximum(t0, created[item] + SECONDS_PER_DAY)  # nobody views an item before it exists
    t0 = np.minimum(t0, now - 60 - SESSION_STEPS * MAX_STEP_SECONDS)  # a whole session ends before `now`

    # session depth: 0 view, 1 view+cart (abandoned), 2 +purchase, 3 +purchase+review
    depth = np.searchsorted(np.cumsum([0.66, 0.14, 0.15, 0.05]), rng.random(len(user)))
    steps = depth + 1
    ev_user = np.repeat(user, steps)
    ev_item = np.repeat(item, steps)
    step = np.arange(steps.sum()) - np.repeat(np.cumsum(steps) - steps, steps)
    ev_type = np.array([_TYPE["view"], _TYPE["add_to_cart"], _TYPE["purchase"], _TYPE["review"]])[step]
    ev_time = np.repeat(t0, steps) + step * rng.uniform(30, MAX_STEP_SECONDS, len(step))
    ev_value = np.where(ev_type == _TYPE["review"], rng.choice([3, 4, 4, 5, 5, 5], len(step)), 1).astype(np.float32)

    parts = [(ev_user, ev_item, ev_type, ev_time, ev_value)]
    # buyers read a guide of the category they bought in
    bought = (depth >= 2) & (rng.random(len(user)) < 0.35)
    guide_sizes = np.array([len(g) for g in guides_by_cat])
    readable = bought & (guide_sizes[cat] > 0)
    if readable.any():
        g_rank = _power_law_ranks(rng, guide_sizes[cat[readable]], skew=1.5)
        guides = np.array([guides_by_cat[c][r] for c, r in zip(cat[readable], g_rank)])
        parts.append((user[readable], guides, np.full(len(guides), _TYPE["click"]),
                      np.minimum(t0[readable] + rng.uniform(3600, 5 * SECONDS_PER_DAY, len(guides)), now - 1),
                      np.ones(len(guides), dtype=np.float32)))
    # consumables: some purchases repeat every few weeks until the customer's window ends
    repeat_cats = np.flatnonzero(np.isin(np.array(CATEGORIES[:n_categories]), REPLENISHABLE))
    loyal = (depth >= 2) & np.isin(cat, repeat_cats) & (rng.random(len(user)) < 0.5)
    if loyal.any():
        interval = rng.uniform(20, 45, loyal.sum()) * SECONDS_PER_DAY
        times = [t0[loyal] + k * interval for k in range(1, 7)]
        reps = np.stack(times, axis=1)
        ok = reps < end[user[loyal]][:, None]
        parts.append((np.repeat(user[loyal], 6)[ok.ravel()], np.repeat(item[loyal], 6)[ok.ravel()],
                      np.full(ok.sum(), _TYPE["purchase"]), reps.ravel()[ok.ravel()],
                      np.ones(ok.sum(), dtype=np.float32)))

    users_col, items_col, types_col, times_col, values_col = (np.concatenate(c) for c in zip(*parts))
    order = np.argsort(times_col, kind="stable")
    user_names = np.array([f"u{i:06d}" for i in range(n_users)], dtype=object)
    events = EventTable(
        user_ids=user_names[users_col[order]],
        item_ids=items["item_id"].to_numpy(dtype=object)[items_col[order]],
        types=types_col[order].astype(np.int8),
        timestamps=np.round(times_col[order], 3),
        values=values_col[order].astype(np.float32),
    )
    _order_data(events, items, items_col[order], np.random.default_rng([seed, 16]))
    return DemoData(events, Catalog.from_frame(items), now)


def _order_data(events: EventTable, items: pd.DataFrame, item_rows: np.ndarray, rng: np.random.Generator) -> None:
    """Prices paid (the catalog price, 15% of the time 10-30% off), quantities (consumables 1 to 3) and an
    order id per purchase, on the purchase and add-to-cart events; its own generator (see _shop_fields)."""
    carries = np.isin(events.types, [_TYPE["add_to_cart"], _TYPE["purchase"]])
    list_price = items["price"].to_numpy(dtype=np.float64)[item_rows]
    sale = np.where(rng.random(len(events)) < 0.15, 1 - rng.uniform(0.1, 0.3, len(events)), 1.0)
    events.prices = np.where(carries, np.round(list_price * sale, 2), np.nan)
    consumable = np.isin(items["category"].to_numpy(dtype=object)[item_rows], REPLENISHABLE)
    events.quantities = np.where(carries & consumable, rng.integers(1, 4, len(events)), 1).astype(np.int32)
    purchase = events.types == _TYPE["purchase"]
    events.order_ids = np.full(len(events), None, dtype=object)
    events.order_ids[purchase] = [f"o{k:07d}" for k in range(int(purchase.sum()))]


#: The catalog writes' file beside events.csv and catalog.csv, when the store has any.
CATALOG_CHANGES_FILE = "catalog_changes.jsonl"


def write_storefront(data: DemoData, directory: str | Path) -> tuple[Path, Path]:
    """Write events.csv and catalog.csv (and CATALOG_CHANGES_FILE when the store has catalog changes); returns
    the first two's paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    events_path, catalog_path = directory / "events.csv", directory / "catalog.csv"
    write_events(data.events, events_path)
    data.catalog.to_csv(catalog_path)
    if data.catalog_changes:
        write_catalog_changes(data.catalog_changes, directory / CATALOG_CHANGES_FILE)
    return events_path, catalog_path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write a synthetic storefront (events.csv, catalog.csv).")
    parser.add_argument("--out", default="data/demo", help="directory to write into")
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--products", type=int, default=800)
    parser.add_argument("--content", type=int, default=80)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    data = generate_storefront(args.users, args.products, args.content, seed=args.seed)
    events_path, catalog_path = write_storefront(data, args.out)
    print(f"wrote {len(data.events)} events to {events_path} and {len(data.catalog)} items to {catalog_path}")


if __name__ == "__main__":
    main()
