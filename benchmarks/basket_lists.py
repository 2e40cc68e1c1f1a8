"""The basket models' lists on Ta-Feng and the demo store, saved, or compared with a saved run.

    OPENBLAS_NUM_THREADS=1 python -m benchmarks.basket_lists --save before.npz     # at one commit
    OPENBLAS_NUM_THREADS=1 python -m benchmarks.basket_lists --compare before.npz  # at another

A change meant to make the repeat-aware and personal-frequency models faster without changing what
they serve is checked with this: run `--save` on a checkout of the commit before the change (the
script reads only public functions that both sides have), then `--compare` on the change. Lists:

* Ta-Feng (benchmarks.next_basket's protocol, split seed 0): each model fitted on the training
  events; the served top 10 (`Recommender.recommend_indices`) and the precomputed top 100
  (`Recommender.precompute_indices`) of the 2,790 test customers;
* the demo store (`recommender.demo.generate_storefront`, seed 0, a fixed clock): the same for every
  customer, and the top 10 of 300 customers folded in from their history
  (`Recommender.recommend_for_history`, with timestamps and event types);
* the repeat model's learned mix weights.

`--compare` prints, per list, the share of customers whose list is identical (same items, same
order), whose list has the same score at every position (so that where the items differ, they are
items tied in score), whose top k holds the same set of items, and the mean overlap of the two top
k; and the largest difference between the mix weights. Writes nothing under benchmarks/results.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import recommender  # noqa: F401 - first: recommender/__init__.py sets OPENBLAS_NUM_THREADS=1 before numpy loads

import numpy as np

from benchmarks.datasets import DEFAULT_CACHE, ta_feng_frame
from benchmarks.next_basket import customers, prepare, split_customers, training_events
from recommender.algorithms import ModelParams
from recommender.demo import generate_storefront
from recommender.events import EVENT_TYPES
from recommender.matrix import build_matrix, default_weights
from recommender.models import Recommender
from benchmarks.harness.report import description

MODELS = ("repeat", "personal")
DEMO_NOW = 1_750_000_000.0
FOLD_IN_CUSTOMERS = 300


def _fit(events, algorithm: str) -> tuple[Recommender, float]:
    started = time.perf_counter()
    model = Recommender(ModelParams(algorithm=algorithm)).fit(build_matrix(events, default_weights(algorithm)),
                                                              events=events)
    return model, time.perf_counter() - started


def _lists(model: Recommender, codes: np.ndarray, prefix: str, out: dict[str, np.ndarray]) -> None:
    started = time.perf_counter()
    out[f"{prefix}/served"], out[f"{prefix}/served_scores"] = model.recommend_indices(codes, 10)
    out[f"{prefix}/served_seconds"] = np.asarray(time.perf_counter() - started)
    started = time.perf_counter()
    out[f"{prefix}/precomputed"], out[f"{prefix}/precomputed_scores"] = model.precompute_indices(codes, 100)
    out[f"{prefix}/precomputed_seconds"] = np.asarray(time.perf_counter() - started)


def collect(cache: Path) -> dict[str, np.ndarray]:
    """Every list and mix weight described in the module docstring, by name."""
    out: dict[str, np.ndarray] = {}
    data = prepare(ta_feng_frame(cache))
    split = split_customers(data.users)
    events = training_events(data, split["train"])
    test = customers(data, split["test"])
    demo = generate_storefront(seed=0, now=DEMO_NOW)
    for algorithm in MODELS:
        model, seconds = _fit(events, algorithm)
        out[f"tafeng/{algorithm}/fit_seconds"] = np.asarray(seconds)
        _lists(model, model.user_ids.lookup(test.users), f"tafeng/{algorithm}", out)
        if algorithm == "repeat":
            out["tafeng/repeat/weights"] = np.asarray(model.algorithm.weights)
        model, seconds = _fit(demo.events, algorithm)
        out[f"demo/{algorithm}/fit_seconds"] = np.asarray(seconds)
        _lists(model, np.arange(len(model.user_ids)), f"demo/{algorithm}", out)
        if algorithm == "repeat":
            out["demo/repeat/weights"] = np.asarray(model.algorithm.weights)
        out[f"demo/{algorithm}/fold_in"] = fold_in_lists(model, demo.events)
    return out


def fold_in_lists(model: Recommender, events) -> np.ndarray:
    """Top 10 of the first FOLD_IN_CUSTOMERS customers as if unseen, from their whole history."""
    users = np.unique(events.user_ids)[:FOLD_IN_CUSTOMERS]
    out = np.full((len(users), 10), -1, dtype=np.int64)
    for row, user in enumerate(users):
        mine = events.user_ids == user
        names = [EVENT_TYPES[t] for t in events.types[mine]]
        listed = model.recommend_for_history(f"new-{user}", list(events.item_ids[mine]), list(np.ones(int(mine.sum()))),
                                             10, timestamps=list(events.timestamps[mine]), types=names)
        codes = model.item_ids.lookup([item.item_id for item in listed.items])
        out[row, :len(codes)] = codes
    return out


def compare(before: dict[str, np.ndarray], after: dict[str, np.ndarray]) -> list[str]:
    lines = ["| list | customers | identical lists | same scores, position by position | same set | mean overlap |",
             "|---|---:|---:|---:|---:|---:|"]
    for name in sorted(before):
        if name.endswith(("seconds", "weights", "scores")):
            continue
        a, b = before[name], after[name]
        if a.shape != b.shape:
            lines.append(f"| {name} | shape {a.shape} vs {b.shape} | | | |")
            continue
        identical = np.all(a == b, axis=1)
        same_set = np.array([set(x[x >= 0].tolist()) == set(y[y >= 0].tolist()) for x, y in zip(a, b)])
        overlap = np.array([len(set(x[x >= 0].tolist()) & set(y[y >= 0].tolist())) / max((x >= 0).sum(), 1)
                            for x, y in zip(a, b)])
        scores = f"{name}_scores"
        same_scores = (f"{np.all(before[scores] == after[scores], axis=1).mean():.4%}" if scores in before
                       else "-")
        lines.append(f"| {name} | {len(a):,} | {identical.mean():.4%} | {same_scores} | {same_set.mean():.4%} | "
                     f"{overlap.mean():.4%} |")
    lines.append("")
    for name in sorted(n for n in before if n.endswith("weights")):
        diff = float(np.max(np.abs(before[name] - after[name])))
        lines.append(f"* {name}: largest difference {diff:.2e} (largest weight {np.max(np.abs(before[name])):.3f})")
    for name in sorted(n for n in before if n.endswith("seconds")):
        lines.append(f"* {name}: {float(before[name]):.2f} s before, {float(after[name]):.2f} s after")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=description(__doc__))
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--save", type=Path, help="write this run's lists to this .npz file")
    group.add_argument("--compare", type=Path, help="compare this run's lists with a saved .npz file")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = parser.parse_args(argv)
    lists = collect(args.cache)
    if args.save:
        np.savez(args.save, **{k.replace("/", "__"): v for k, v in lists.items()})
        print(f"saved {len(lists)} arrays to {args.save}")
        return 0
    with np.load(args.compare) as saved:
        before = {k.replace("__", "/"): saved[k] for k in saved.files}
    print("\n".join(compare(before, lists)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
