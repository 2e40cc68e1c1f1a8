"""Synthetic implicit feedback at scale for the scale benchmark: millions of events in seconds.

Vectorised numpy throughout, deterministic for a seed. The shape is what a store sees:

* user activity follows a power law (most users have a handful of events, a few have thousands),
  and every user has at least one event;
* item popularity follows a Zipf law (the top 1% of items take about half of the events);
* latent structure: users and items belong to clusters ("tastes"); an event goes to an item of the
  user's main cluster, else of a second cluster, else anywhere, each time by popularity, so a model
  has something to learn;
* users have a lifetime inside the year before `now` (some lapsed long ago), so only part of them are
  active in a recent window;
* events have types (mostly views, some carts, purchases and star-rated reviews) and timestamps,
  and come out as a `recommender.events.EventTable` with string ids, exactly what ingestion reads.

    python -m benchmarks.synthetic --interactions 1000000     # prints a summary
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import recommender  # noqa: F401 - first: recommender/__init__.py sets OPENBLAS_NUM_THREADS=1 before numpy loads

import numpy as np

from recommender.events import EVENT_TYPES, EventTable

DAY = 86_400.0
#: A fixed clock, so the same seed always gives the same events (and the same active window).
NOW = 1_700_000_000.0
#: Share of events per type, in EVENT_TYPES order (view, click, add_to_cart, purchase, review; no impressions).
TYPE_SHARES = (0.70, 0.14, 0.09, 0.05, 0.02)


@dataclass(frozen=True)
class SyntheticSpec:
    """How big and how skewed; `for_interactions` picks users and items for a size."""

    interactions: int
    users: int
    items: int
    clusters: int = 64
    item_zipf: float = 1.0  # item popularity ~ rank^-item_zipf
    user_pareto: float = 1.2  # activity weights ~ Pareto(user_pareto): a heavy tail of busy users
    main_cluster: float = 0.70  # P(event in the user's main cluster)
    second_cluster: float = 0.15  # P(event in the user's second cluster); the rest is anywhere
    days: float = 365.0  # events span this many days before `now`
    mean_lifetime_days: float = 45.0
    seed: int = 0
    now: float = NOW

    @classmethod
    def for_interactions(cls, interactions: int, seed: int = 0, **overrides: object) -> SyntheticSpec:
        """20 events per user, items growing as the square root: 20M -> 1M users x 100k items."""
        users = max(interactions // 20, 10)
        items = max(100, int(round(100_000 * (interactions / 20_000_000) ** 0.5, -2)))
        return cls(interactions=interactions, users=users, items=items, seed=seed, **overrides)


def user_activity(rng: np.random.Generator, spec: SyntheticSpec) -> np.ndarray:
    """Events per user: at least one each, the rest multinomial over Pareto weights (sums exactly)."""
    if spec.interactions < spec.users:
        raise ValueError("need at least one interaction per user")
    weights = rng.pareto(spec.user_pareto, spec.users) + 1.0
    weights = np.minimum(weights, np.quantile(weights, 0.9999))  # no single user with half the data
    return 1 + rng.multinomial(spec.interactions - spec.users, weights / weights.sum())


def item_popularity(rng: np.random.Generator, spec: SyntheticSpec) -> np.ndarray:
    """A Zipf weight per item, in a random item order (item 0 is not the most popular)."""
    ranks = rng.permutation(spec.items) + 1
    return ranks.astype(np.float64) ** -spec.item_zipf


def generate(spec: SyntheticSpec) -> EventTable:
    rng = np.random.default_rng(spec.seed)
    n = spec.interactions
    counts = user_activity(rng, spec)
    users = np.repeat(np.arange(spec.users, dtype=np.int64), counts)

    # items grouped by cluster; one cumulative popularity array serves every draw: a draw from
    # cluster c is a uniform point in c's segment, a global draw a point in the whole range
    popularity = item_popularity(rng, spec)
    item_cluster = rng.integers(0, spec.clusters, spec.items)
    by_cluster = np.argsort(item_cluster, kind="stable")
    cumulative = np.cumsum(popularity[by_cluster])
    bounds = np.searchsorted(item_cluster[by_cluster], np.arange(spec.clusters + 1))
    with_zero = np.concatenate([[0.0], cumulative])
    seg_start, seg_end = with_zero[bounds[:-1]], with_zero[bounds[1:]]
    empty = bounds[1:] == bounds[:-1]

    tastes = rng.integers(0, spec.clusters, (spec.users, 2))
    pick = rng.random(n)
    cluster = np.where(pick < spec.main_cluster, tastes[users, 0], tastes[users, 1])
    anywhere = (pick >= spec.main_cluster + spec.second_cluster) | empty[cluster]
    low = np.where(anywhere, 0.0, seg_start[cluster])
    width = np.where(anywhere, cumulative[-1], seg_end[cluster] - seg_start[cluster])
    del pick, cluster, anywhere
    target = low + rng.random(n) * width
    del low, width
    position = np.minimum(np.searchsorted(cumulative, target, side="right"), spec.items - 1)
    del target
    items = by_cluster[position]
    del position

    # each user is around for a while inside the year: first seen uniform, lifetime exponential
    horizon = spec.now - spec.days * DAY
    first = rng.uniform(horizon, spec.now, spec.users)
    last = np.minimum(first + rng.exponential(spec.mean_lifetime_days * DAY, spec.users), spec.now)
    span = (last - first)[users]
    timestamps = first[users] + rng.random(n) * span
    del span

    types = rng.choice(len(TYPE_SHARES), size=n, p=np.asarray(TYPE_SHARES)).astype(np.int8)
    values = np.ones(n, dtype=np.float32)
    review = types == EVENT_TYPES.index("review")
    values[review] = rng.integers(1, 6, int(review.sum())).astype(np.float32)

    # events arrive in time order, as a stream would hand them over
    order = np.argsort(timestamps, kind="stable")
    user_names = np.array([f"u{i:07d}" for i in range(spec.users)], dtype=object)
    item_names = np.array([f"i{i:06d}" for i in range(spec.items)], dtype=object)
    return EventTable(user_names[users[order]], item_names[items[order]], types[order],
                      timestamps[order], values[order])


def generate_events(interactions: int, seed: int = 0, **overrides: object) -> EventTable:
    return generate(SyntheticSpec.for_interactions(interactions, seed, **overrides))


def parse_size(text: str) -> int:
    """An interaction count as the benchmarks' --sizes write it: `1M`, `300k`, `2.5M` or `50000`.

    Raises
    ------
    ValueError
        If `text` is not a positive number with an optional k or M suffix.
    """
    text = text.strip().upper()
    scale = {"K": 1_000, "M": 1_000_000}.get(text[-1:], 1)
    try:
        size = int(float(text.rstrip("KM")) * scale)
    except ValueError:
        raise ValueError(f"not a size: {text!r} (write it like 1M, 300k or 50000)") from None
    if size <= 0:
        raise ValueError(f"not a size: {text!r} (it must be positive)")
    return size


def size_label(n: int) -> str:
    """The short name of an interaction count: `1M`, `2.5M`, `300k`."""
    return f"{n / 1e6:g}M" if n >= 1_000_000 else f"{n / 1e3:g}k"


def top_share(item_ids: np.ndarray, fraction: float = 0.01) -> float:
    """Share of events that go to the most popular `fraction` of the items that occur."""
    _, counts = np.unique(item_ids, return_counts=True)
    counts = np.sort(counts)[::-1]
    top = max(1, round(len(counts) * fraction))
    return float(counts[:top].sum() / counts.sum())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    spec = SyntheticSpec.for_interactions(args.interactions, args.seed)
    events = generate(spec)
    _, per_user = np.unique(events.user_ids, return_counts=True)
    print(f"{len(events):,} events, {spec.users:,} users, {spec.items:,} items, "
          f"top 1% of items: {top_share(events.item_ids):.0%} of events, "
          f"events per user median {int(np.median(per_user))}, max {per_user.max():,}")


if __name__ == "__main__":
    main()
