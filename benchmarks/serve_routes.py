"""The serving benchmark's scenario: the events the service trains on, and the request mix per route.

Routes are built so that no two consecutive requests touch the same key: hot sets are shuffled and
cycled, "first read" and "miss" routes ask for each id once. `check_routes` makes sure the service
precomputed what the benchmark expects before anything is timed.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pandas as pd

from benchmarks.harness.processes import BenchError, http
from recommender.events import EventTable
from service.store.keys import Keys

WRITE_KEY = "bench-write-key"
KEY_PREFIX = "encore"
KEYS = Keys(KEY_PREFIX)
BARE_KEY = "bench:blob"
BATCH_USERS = 1000
EVENTS_PER_REQUEST = 500
LIST_N = 10
#: Precomputed users requested over and over (a store's active shoppers); the rest are read once each.
HOT_USERS = 5_000
#: Items whose similar lists are requested over and over (the popular product pages).
HOT_ITEMS = 5_000
NEW_USERS = 20_000  # event ingestion writes for users the model does not know, so no other route sees them
#: Catalog fields the `cached_fields` route embeds (what an email or a product tile shows).
LIST_FIELDS = "title,price,url,image_url"
ROUTE_NAMES = ("cached", "cached_fields", "first_read", "miss", "similar", "similar_first", "batch", "events",
               "events_priced")


@dataclass
class Route:
    """One request mix for wrk, against the service or a bare app."""

    key: str
    name: str
    label: str
    target: str  # "service" | "hello" | "bare_get" (the bare_get_user route runs against the bare_get app too)
    method: str
    paths: list[str]
    bodies: list[str] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    per_request: int = 1  # users or events per request
    unit: str = "req"
    warm_paths: list[str] | None = None  # warm up on these (default: the route's own requests)
    warm_seconds: float | None = None
    unique: bool = False  # every request a different key: the run is cut short rather than repeat one


def prepare_events(workdir: Path, interactions: int, seed: int) -> tuple[EventTable, Path]:
    """The events table (benchmarks.synthetic: power-law users, Zipf items, clusters, a year of time)
    and its CSV for RECS_BOOTSTRAP_EVENTS, reused when a kept workdir already has them."""
    from benchmarks.synthetic import generate_events
    from recommender.events import read_events, write_events

    path = workdir / "events.csv"
    meta = workdir / "events.json"
    wanted = {"interactions": interactions, "seed": seed}
    if path.exists() and meta.exists() and json.loads(meta.read_text()) == wanted:
        return read_events(path), path
    events = generate_events(interactions, seed=seed)
    write_events(events, path)
    meta.write_text(json.dumps(wanted))
    return events, path


def prepare_catalog(workdir: Path, items: np.ndarray, seed: int) -> Path:
    """A catalog CSV for RECS_BOOTSTRAP_CATALOG: every item with a title, a price, a page and an image link
    (what `fields=title,price,url,image_url` embeds, at a realistic size)."""
    from recommender.catalog import Catalog

    rng = np.random.default_rng([seed, 16])
    path = workdir / "catalog.csv"
    ids = [str(i) for i in items]
    Catalog.from_frame(pd.DataFrame({
        "item_id": ids, "title": [f"Product {i} in a plausible length of title" for i in ids],
        "price": np.round(rng.lognormal(3.0, 0.8, len(ids)), 2), "currency": "USD",
        "url": [f"https://shop.example.com/products/{i}" for i in ids],
        "image_url": [f"https://cdn.example.com/images/{i}.jpg" for i in ids]})).to_csv(path)
    return path


def build_routes(rng: np.random.Generator, precomputed: np.ndarray, pool: np.ndarray, items: np.ndarray,
                 popular_items: np.ndarray, version: str) -> dict[str, Route]:
    """Request mixes; every list is shuffled so consecutive requests touch different keys. `version`: the
    served model's, whose precomputed lists the bare per-user GET reads."""
    order = rng.permutation(precomputed)
    hot_users, first_users = order[:HOT_USERS], order[HOT_USERS:]
    hot_items = rng.permutation(popular_items[:HOT_ITEMS])
    first_items = rng.permutation(np.setdiff1d(items, popular_items[:HOT_ITEMS]))

    def user_path(u: str) -> str:
        return f"/v1/users/{u}/recommendations?n={LIST_N}"

    def item_path(i: str) -> str:
        return f"/v1/items/{i}/similar?n={LIST_N}"

    hot_user_paths = [user_path(u) for u in hot_users]
    hot_item_paths = [item_path(i) for i in hot_items]
    batch_bodies = [json.dumps({"user_ids": rng.choice(precomputed, BATCH_USERS, replace=False).tolist(),
                                "n": LIST_N}) for _ in range(40)]
    now = time.time()
    types = ("view", "view", "view", "click", "add_to_cart", "purchase")
    new_users = np.array([f"bench-new-{k:05d}" for k in range(NEW_USERS)], dtype=object)
    event_bodies, priced_bodies = [], []
    for body in range(40):
        users = rng.choice(new_users, EVENTS_PER_REQUEST)
        chosen = rng.choice(items, EVENTS_PER_REQUEST)
        kinds = rng.choice(len(types), EVENTS_PER_REQUEST)
        events = [{"user_id": str(u), "item_id": str(i), "type": types[k], "timestamp": round(now - float(s), 3)}
                  for u, i, k, s in zip(users, chosen, kinds, rng.uniform(0, 3600, EVENTS_PER_REQUEST))]
        event_bodies.append(json.dumps(events))
        priced_bodies.append(json.dumps([_with_order_data(e, k, body, rng) for k, e in enumerate(events)]))
    json_headers = {"Content-Type": "application/json"}
    return {
        "hello": Route("hello", "bare hello", "bare aiohttp app answering a fixed JSON body", "hello", "GET", ["/"]),
        "bare_get": Route("bare_get", "bare Redis GET", "bare aiohttp app doing one redis.asyncio GET of an "
                          "800-byte value (a precomputed list's size) per request", "bare_get", "GET", ["/"]),
        "bare_get_user": Route("bare_get_user", "bare per-user GET",
                               "the bare app's `GET /get/{key}`: one redis.asyncio GET of a first-read user's "
                               "precomputed list, returned as it is (a different key per request, the first-read "
                               "users in reverse order)", "bare_get", "GET",
                               [f"/get/{quote(KEYS.user_recs(version, u), safe='')}" for u in first_users[::-1]],
                               unique=True),
        "cached_fields": Route("cached_fields", "user recs, cached, with fields",
                               f"the cached route with `&fields={LIST_FIELDS}` (the catalog's fields embedded in "
                               "each item; remembered answers include them)", "service", "GET",
                               [f"{p}&fields={LIST_FIELDS}" for p in hot_user_paths], warm_seconds=None),
        "cached": Route("cached", "user recs, cached (hot)",
                        f"`GET /v1/users/{{id}}/recommendations?n={LIST_N}` over {len(hot_users):,} precomputed users "
                        "in random order, after a warm-up that has read each once (steady state: lists and "
                        "since-training events come from the in-process caches)", "service", "GET", hot_user_paths,
                        warm_seconds=None),
        "first_read": Route("first_read", "user recs, cached (first read)",
                            f"the same route over the other {len(first_users):,} precomputed users, each requested "
                            "once (the list and the user's events come from Redis)", "service", "GET",
                            [user_path(u) for u in first_users], warm_paths=hot_user_paths, unique=True),
        "miss": Route("miss", "user recs, cache miss",
                      "the same route for known users who were not precomputed: the list is computed from the "
                      "model (in the event loop) and written back", "service", "GET", [user_path(u) for u in pool],
                      warm_paths=hot_user_paths, unique=True),
        "similar": Route("similar", "similar items (hot)",
                         f"`GET /v1/items/{{id}}/similar?n={LIST_N}` over the {len(hot_items):,} most popular items in "
                         "random order, after a warm-up that has read each once", "service", "GET", hot_item_paths),
        "similar_first": Route("similar_first", "similar items (first read)",
                               f"the same route over the other {len(first_items):,} items, each requested once "
                               "(read from Redis)", "service", "GET", [item_path(i) for i in first_items],
                               warm_paths=hot_item_paths, unique=True),
        "batch": Route("batch", "batch, 1,000 users",
                       f"`POST /v1/recommendations/batch` with {BATCH_USERS:,} random precomputed users, n={LIST_N} "
                       "(JSON response; batches read Redis and bypass the in-process caches)", "service", "POST",
                       ["/v1/recommendations/batch"] * len(batch_bodies), batch_bodies, json_headers, BATCH_USERS,
                       "users"),
        "events": Route("events", "events, 500 per request",
                        f"`POST /v1/events` with {EVENTS_PER_REQUEST} events per request for users the model does not "
                        "know (so no other route sees them); 202 means on disk", "service", "POST",
                        ["/v1/events"] * len(event_bodies), event_bodies,
                        {**json_headers, "Authorization": f"Bearer {WRITE_KEY}"}, EVENTS_PER_REQUEST, "events"),
        "events_priced": Route("events_priced", "events with prices, 500 per request",
                               "the same events, the carts and purchases with order data: a unit price (half the "
                               "purchases without one, so the script prices them from the catalog), a quantity "
                               "and an order id per purchase", "service", "POST",
                               ["/v1/events"] * len(priced_bodies), priced_bodies,
                               {**json_headers, "Authorization": f"Bearer {WRITE_KEY}"}, EVENTS_PER_REQUEST,
                               "events"),
    }


def _with_order_data(event: dict, k: int, body: int, rng: np.random.Generator) -> dict:
    """An event of the events route with the order data a store sends: carts and purchases get a price and
    a quantity (half the purchases no price: the catalog's is taken), purchases an order id."""
    if event["type"] not in ("add_to_cart", "purchase"):
        return event
    event = {**event, "quantity": int(rng.integers(1, 4))}
    if event["type"] == "add_to_cart" or k % 2:
        event["price"] = round(float(rng.uniform(1, 200)), 2)
    if event["type"] == "purchase":
        event["order_id"] = f"bench-order-{body}-{k // 3}"
    return event


def reset_state(redis_url: str, version: str, pool: np.ndarray) -> None:
    """Forget what earlier runs in a kept workdir left behind: since-training events, written-back
    misses. Runs before the service has answered any request, so its in-process caches are empty."""
    import redis

    client = redis.Redis.from_url(redis_url)
    pipe = client.pipeline(transaction=False)
    for k, user in enumerate(pool):
        pipe.delete(KEYS.user_recs(version, user))
        if k % 5000 == 4999:
            pipe.execute()
    pipe.execute()
    batch = []
    for key in client.scan_iter(match=KEYS.since_training("*"), count=5000):
        batch.append(key)
        if len(batch) >= 5000:
            client.delete(*batch)
            batch = []
    if batch:
        client.delete(*batch)
    client.delete(KEYS.events)
    client.close()


def check_routes(base: str, routes: dict[str, Route], redis_url: str, version: str, pool: np.ndarray,
                 precomputed: np.ndarray, bare_get: str) -> None:
    """Before timing anything: precomputed lists where expected, none for the miss pool, one
    request per read route with the right status and source, and the bare per-user GET (at `bare_get`,
    the bare app's URL) finding a list."""
    import redis

    client = redis.Redis.from_url(redis_url)
    if not all(client.exists(KEYS.user_recs(version, u)) for u in precomputed[:50]):
        raise BenchError("precomputed users have no cached list: the benchmark's active-user rule and "
                         "service.training_job.precompute disagree")
    if any(client.exists(KEYS.user_recs(version, u)) for u in pool[:200]):
        raise BenchError("users meant to miss the cache have a cached list")
    client.close()
    status, _ = http("GET", bare_get + routes["bare_get_user"].paths[0])
    if status != 200:
        raise BenchError(f"the bare per-user GET answered {status}: the precomputed lists' keys are not where "
                         "service.store.keys says")
    status, body = http("GET", base + routes["cached"].paths[0])
    reply = json.loads(body)
    if status != 200 or reply.get("source") != "personalized" or len(reply.get("items", [])) != LIST_N:
        raise BenchError(f"cached user route answered {status}: {body[:300]!r}")
    status, body = http("GET", base + routes["cached_fields"].paths[0])
    reply = json.loads(body)
    if status != 200 or not all(item.get("price") and item.get("url") for item in reply.get("items", [])):
        raise BenchError(f"cached route with fields answered {status} without the catalog's fields: {body[:300]!r}")
    status, body = http("GET", base + routes["similar"].paths[0])
    if status != 200 or len(json.loads(body).get("items", [])) != LIST_N:
        raise BenchError(f"similar route answered {status}: {body[:300]!r}")
    status, body = http("POST", base + "/v1/recommendations/batch", json.loads(routes["batch"].bodies[0]))
    if status != 200 or len(json.loads(body).get("results", [])) != BATCH_USERS:
        raise BenchError(f"batch route answered {status}: {body[:300]!r}")
