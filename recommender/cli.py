"""Command line: train a model, compare algorithms offline, print recommendations, make demo data, lifecycle.

Input errors print one line and exit with status 2; a traceback means a bug.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TypeVar

from tqdm import tqdm

from recommender.algorithms import ALGORITHMS, ModelParams
from recommender.artifacts import load_model, save_model
from recommender.catalog import Catalog, read_catalog
from recommender.errors import ArtifactError, InputError
from recommender.evaluation import compare_algorithms, metrics_table
from recommender.splits import SPLITS
from recommender.events import read_events
from recommender.filters import ItemFilter
from recommender.matrix import (
    DEFAULT_HISTORY_HALF_LIFE,
    EventWeights,
    build_matrix,
    default_weights,
)
from recommender.times import EARLIEST_TIMESTAMP, latest_timestamp, plausible_range

EXIT_INPUT = 2
#: Customers `demo-data` makes at most (a million makes about 12 million events).
MAX_DEMO_USERS = 1_000_000
#: Largest list length and evaluation cut-off the command line takes (the service's own bound, MAX_N, is lower).
MAX_LIST = 10_000
T = TypeVar("T")


def _params(args: argparse.Namespace, algorithm: str) -> ModelParams:
    """ModelParams' defaults for `algorithm` with the options given on top (a value given is used as given:
    ModelParams refuses what it cannot train with)."""
    given = {name: getattr(args, name) for name in ("factors", "regularization", "iterations")
             if getattr(args, name) is not None}
    return ModelParams.from_dict({**ModelParams().to_dict(), "algorithm": algorithm, **given})


def _weights(args: argparse.Namespace, algorithm: str) -> EventWeights:
    """The library's defaults for `algorithm` with the weight options given on top."""
    weights = default_weights(algorithm)
    if args.half_life_days is not None:
        weights = dataclasses.replace(weights, half_life_days=args.half_life_days)
    if args.history_half_life is not None:  # 0 turns per-user recency off
        weights = dataclasses.replace(weights, history_half_life=args.history_half_life or None)
    return weights


def _save(write: Callable[[], T], path: object) -> T:
    """`write()`, with an OSError (a directory, no permission, a missing drive) as an InputError naming `path`."""
    try:
        return write()
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None


def _algorithms(text: str) -> list[str]:
    """A comma-separated list of algorithm names; InputError for an empty list or an unknown name."""
    names = [name.strip() for name in text.split(",")]
    if not any(names):
        raise InputError(f"--algorithms must name at least one of {', '.join(ALGORITHMS)}")
    unknown = [name or "''" for name in names if name not in ALGORITHMS]
    if unknown:
        raise InputError(f"unknown algorithm(s): {', '.join(unknown)}; known: {', '.join(ALGORITHMS)}")
    return names


def cmd_train(args: argparse.Namespace) -> None:
    if Path(args.out).is_dir():  # found before training, not after
        raise InputError(f"cannot write {args.out}: it is a directory")
    started = time.perf_counter()
    events = read_events(args.events)
    catalog = read_catalog(args.catalog) if args.catalog else Catalog()
    matrix = build_matrix(events, _weights(args, args.algorithm))
    from recommender.models import Recommender

    model = Recommender(_params(args, args.algorithm)).fit(matrix, catalog, show_progress=True, events=events)
    info = _save(lambda: save_model(model, args.out), args.out)
    print(f"trained {info.algorithm} on {len(events):,} events: {info.users:,} users x {info.items:,} items, "
          f"{info.interactions:,} interactions in {model.fit_seconds:.1f}s "
          f"(total {time.perf_counter() - started:.1f}s); saved version {info.version} to {args.out}")


def cmd_evaluate(args: argparse.Namespace) -> None:
    events = read_events(args.events)
    algorithms = _algorithms(args.algorithms) if args.algorithms is not None else list(ALGORITHMS)
    base = _params(args, "als")
    skipped: list[str] = []
    with tqdm(total=len(algorithms), desc=f"evaluating ({args.split} split)", unit="model") as bar:
        rows = compare_algorithms(events, args.split, args.k, algorithms, base, lambda name: _weights(args, name),
                                  on_done=lambda name: (bar.set_postfix_str(name), bar.update()),
                                  on_error=lambda name, exc: skipped.append(f"{name}: {exc}"))
    for reason in skipped:  # an algorithm these data cannot train (the rest are still compared)
        print(f"skipped {reason}", file=sys.stderr)
    if not rows:
        raise InputError(f"no algorithm could be evaluated on these events ({'; '.join(skipped)})")
    if all(metrics.users == 0 for _, metrics, _ in rows):
        raise InputError(f"nothing to evaluate: no user of the {args.split} split's test part could be scored "
                         "(too few events?)")
    print(f"\n{len(events):,} events, {args.split} split, k={args.k}\n")
    print(metrics_table(rows))


def cmd_recommend(args: argparse.Namespace) -> None:
    if not args.user.strip():
        raise InputError("--user must be a user id, not empty")
    model, info = load_model(args.model)
    item_filter = ItemFilter(kind=args.kind, category=args.category, in_stock_only=args.in_stock)
    result = model.recommend(args.user, args.n, item_filter)
    print(json.dumps({"user_id": result.user_id, "model_version": info.version, "source": result.source,
                      "items": [{"item_id": i.item_id, "score": round(i.score, 5)} for i in result.items]},
                     indent=2))


def cmd_demo_data(args: argparse.Namespace) -> None:
    from recommender.demo import generate_storefront, write_storefront

    if not 1 <= args.users <= MAX_DEMO_USERS:
        raise InputError(f"--users must be from 1 to {MAX_DEMO_USERS:,}; got {args.users}")
    if args.seed < 0:
        raise InputError(f"--seed must be 0 or more; got {args.seed}")
    data = generate_storefront(n_users=args.users, seed=args.seed)
    events_path, catalog_path = _save(lambda: write_storefront(data, args.out), args.out)
    print(f"wrote {len(data.events):,} events to {events_path} and {len(data.catalog):,} items to {catalog_path}")


def _end_of_day(text: str) -> tuple[str, float]:
    """YYYY-MM-DD as the last millisecond of that UTC day, epoch seconds (so the whole day counts)."""
    try:
        day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=timezone.utc)
    except ValueError:
        raise InputError(f"--as-of must be a date YYYY-MM-DD; got {text!r}") from None
    if not EARLIEST_TIMESTAMP <= day.timestamp() <= latest_timestamp():
        raise InputError(f"--as-of must be a date from {plausible_range()}; got {text!r}")
    return day.date().isoformat(), (day + timedelta(days=1)).timestamp() - 0.001


def cmd_lifecycle(args: argparse.Namespace) -> None:
    from recommender.lifecycle import fit_lifecycle, read_purchases
    from recommender.lifecycle.predictions import customer_table

    as_of_date, as_of = _end_of_day(args.as_of)
    purchases = read_purchases(args.events)
    model, summary = fit_lifecycle(purchases, as_of)
    table = customer_table(summary, model.predict(summary))
    _save(lambda: table.to_csv(args.out, index=False), args.out)
    print(json.dumps({
        "as_of": as_of_date, "customers": len(summary), "repeat_buyers": int((summary.frequency > 0).sum()),
        "bgnbd": model.bgnbd.to_dict(),
        "gamma_gamma": model.gamma_gamma.to_dict() if model.gamma_gamma else None,
        "spend_unavailable": model.spend_unavailable, "out": str(args.out),
    }, indent=2))
    print(f"{len(purchases):,} purchases, {len(summary):,} customers up to {as_of_date}; wrote {args.out}"
          + (f"; spend figures unavailable: {model.spend_unavailable}" if model.spend_unavailable else ""),
          file=sys.stderr)


def _by_algorithm(values: dict[str, float]) -> str:
    return ", ".join(f"{value:g} for {name}" for name, value in values.items())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m recommender", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def model_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--factors", type=int, help=f"latent factors (ALS, BPR; default {ModelParams.factors})")
        p.add_argument("--regularization", type=float,
                       help=f"ALS regularisation (default {ModelParams.regularization:g})")
        p.add_argument("--iterations", type=int, help=f"ALS iterations (default {ModelParams.iterations})")
        p.add_argument("--half-life-days", type=float, help="time decay half-life; default none")
        p.add_argument("--history-half-life", type=float,
                       help="per-user recency: weight halves per this share of the user's newer events; "
                            f"by default {_by_algorithm(DEFAULT_HISTORY_HALF_LIFE)}, off for the others; 0 for off")

    train = sub.add_parser("train", help="train a model and save it as an artifact")
    train.add_argument("--events", required=True, help="events CSV or JSON lines")
    train.add_argument("--catalog", help="catalog CSV or JSON lines")
    train.add_argument("--out", required=True, help="artifact path (.npz)")
    train.add_argument("--algorithm", choices=ALGORITHMS, default="als")
    model_options(train)
    train.set_defaults(func=cmd_train)

    evaluate = sub.add_parser("evaluate", help="compare every algorithm on a held-out split")
    evaluate.add_argument("--events", required=True, help="events CSV or JSON lines")
    evaluate.add_argument("--split", choices=SPLITS, default="temporal",
                          help="random: 20%% of each user's items held out; temporal (default): each user's "
                               "newest 20%% of events; time_cut: the events after one moment, for everyone")
    evaluate.add_argument("--k", type=int, default=10,
                          help=f"list length the metrics are at (1 to {MAX_LIST:,}; default 10)")
    evaluate.add_argument("--algorithms", help=f"comma-separated subset of {','.join(ALGORITHMS)}")
    model_options(evaluate)
    evaluate.set_defaults(func=cmd_evaluate)

    recommend = sub.add_parser("recommend", help="print one user's recommendations from an artifact")
    recommend.add_argument("--model", required=True, help="artifact written by train (.npz)")
    recommend.add_argument("--user", required=True, help="user id (unknown users get the popular items)")
    recommend.add_argument("-n", type=int, default=10, help=f"items in the list (1 to {MAX_LIST:,}; default 10)")
    recommend.add_argument("--kind", choices=("product", "content"), help="only items of this kind")
    recommend.add_argument("--category", help="only items of this category")
    recommend.add_argument("--in-stock", action="store_true", help="only items in stock")
    recommend.set_defaults(func=cmd_recommend)

    demo = sub.add_parser("demo-data", help="write a synthetic storefront (events.csv, catalog.csv)")
    demo.add_argument("--out", default="data/demo", help="directory for events.csv and catalog.csv (default data/demo)")
    demo.add_argument("--users", type=int, default=2000, help=f"customers (1 to {MAX_DEMO_USERS:,}; default 2,000)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (0 or more; default 0)")
    demo.set_defaults(func=cmd_demo_data)

    lifecycle = sub.add_parser("lifecycle", help="fit BG/NBD and Gamma-Gamma; write per-customer predictions")
    lifecycle.add_argument("--events", required=True,
                           help="events CSV or JSON lines; purchase rows, spend from optional price x quantity")
    lifecycle.add_argument("--as-of", required=True, help="YYYY-MM-DD: purchases through this day (UTC) count")
    lifecycle.add_argument("--out", default="customers.csv", help="CSV with one row per customer")
    lifecycle.set_defaults(func=cmd_lifecycle)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        for name in ("k", "n"):
            value = getattr(args, name, None)
            if value is not None and not 1 <= value <= MAX_LIST:
                raise InputError(f"{'--k' if name == 'k' else '-n'} must be from 1 to {MAX_LIST:,}; got {value}")
        if getattr(args, "algorithms", None) is not None:
            _algorithms(args.algorithms)
        args.func(args)
    except (InputError, ArtifactError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    return 0
