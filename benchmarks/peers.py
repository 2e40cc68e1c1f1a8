"""Encore's models against RecBole's published MovieLens-1M table, under RecBole's protocol.

    OPENBLAS_NUM_THREADS=1 python -m benchmarks.peers                  # every model, 15 to 40 minutes
    OPENBLAS_NUM_THREADS=1 python -m benchmarks.peers --models ease popular

The protocol of RecBole's general-recommendation results on ml-1m (its configuration:
RUCAIBox/RecBole asset/hyper_tune_configs/general/ml-1m_general.md, and recbole/properties/overall.yaml):

1. positives: ratings of 3 stars and above (`val_interval: rating: "[3,inf)"`); the rating is then
   dropped (`unused_col`), so every positive is one implicit event of weight 1 here;
2. 10-core: `user_inter_num_interval` and `item_inter_num_interval` "[10,inf)", applied as RecBole's
   `_filter_by_inter_num` does, in rounds until stable: each round drops every user and every item
   with fewer than 10 positives left, both counted before the round's drops;
3. split `RS: [0.8, 0.1, 0.1]`, `order: RO`, `group_by: user`: the positives are shuffled, then each
   user's are cut in order into train, validation (int(0.1 n)) and test (int(0.1 n)), train taking the
   rest (RecBole's `split_by_ratio` / `_calcu_split_ids`);
4. full ranking: a user's list ranks every item except their train items (and, for test, their
   validation items: RecBole's `history_item` is every used item but the positives scored);
   recall@10 = hits / relevant and nDCG@10 with the ideal DCG of min(relevant, 10) hits, averaged over
   users with a relevant item (RecBole's metrics.py; recommender.evaluation.ranking_metrics is the same);
5. models are trained on train only; hyper-parameters are chosen by validation nDCG@10 (RecBole's
   `valid_metric` for this table) with benchmarks.quality's staged Search, and the chosen configuration,
   refitted on train, scores test once (RecBole's models, too, never see validation positives).

Writes benchmarks/results/peers.md, peers.json and peers.png, and prints the table.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy/implicit load OpenBLAS

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from tqdm import tqdm  # noqa: E402

from benchmarks.datasets import DEFAULT_CACHE, DatasetError, movielens_1m  # noqa: E402
from benchmarks.quality import (  # noqa: E402
    SEARCH, Config, Search, describe, fit_and_score, machine, search_pool, stage_size,
)
from recommender.algorithms import ModelParams, scale_confidence  # noqa: E402
from recommender.ease import ease_weights  # noqa: E402
from recommender.evaluation import Metrics# noqa: E402
from recommender.splits import Split# noqa: E402
from recommender.events import EVENT_TYPES, EventTable  # noqa: E402
from recommender.matrix import build_matrix, default_weights  # noqa: E402
from benchmarks.harness.report import description

K = 10
MIN_RATING = 3.0
CORE = 10
RATIOS = (0.8, 0.1, 0.1)
SEED = 2020  # RecBole's default seed; its torch shuffle is not reproduced, only the protocol
RESULTS = Path(__file__).resolve().parent / "results"
MODELS: tuple[str, ...] = ("popular", "als", "cosine", "bm25", "ease", "ease_dan")
#: RecBole's published ml-1m table (recall@10, nDCG@10), as quoted in issue 13.
PUBLISHED: dict[str, tuple[float, float]] = {
    "EASE": (0.2139, 0.2865), "ADMMSLIM": (0.2134, 0.2904), "SLIMElastic": (0.2035, 0.2782),
    "LightGCN": (0.1823, 0.2476), "BPR": (0.1725, 0.2407), "ItemKNN": (0.1723, 0.2389),
}
#: Encore's library-default ALS measured on this protocol before EASE (issue 13).
PRIOR_ALS = (0.2013, 0.2676)
TARGET_RECALL = PUBLISHED["EASE"][0]
#: RecBole's EASE on this table: reg_weight 250 (its default, recbole/properties/model/EASE.yaml) on binary X.
RECBOLE_EASE = Config(ModelParams(algorithm="ease", ease_regularization=250.0, confidence="linear"))
CLICK = EVENT_TYPES.index("click")


@dataclass
class Protocol:
    train: EventTable
    validation: EventTable
    test: EventTable
    sizes: dict[str, int]


@dataclass
class PeerResult:
    label: str
    config: Config
    tuned: bool
    validation_ndcg: float | None
    metrics: Metrics
    fit_seconds: float
    trials: int = 0
    search_seconds: float = 0.0
    on_protocol: bool = True  # False: a row for context, left out of the comparison and the target


# -- the protocol ---------------------------------------------------------------------------------
def positives(ratings: EventTable, min_rating: float = MIN_RATING) -> EventTable:
    """Ratings of `min_rating` stars and above as binary implicit events (type click, weight 1)."""
    keep = ratings.values >= min_rating
    kept = ratings.take(keep)
    return EventTable(kept.user_ids, kept.item_ids, np.full(len(kept), CLICK, dtype=np.int8),
                      kept.timestamps, np.ones(len(kept), dtype=np.float32))


def k_core(events: EventTable, k: int = CORE) -> EventTable:
    """RecBole's iterative k-core: rounds that drop users and items with fewer than k events."""
    frame = pd.DataFrame({"user": events.user_ids, "item": events.item_ids})
    keep = np.ones(len(frame), dtype=bool)
    while True:
        users = frame["user"][keep].value_counts()
        items = frame["item"][keep].value_counts()
        bad_users, bad_items = users.index[users < k], items.index[items < k]
        if len(bad_users) == 0 and len(bad_items) == 0:
            return events.take(keep)
        keep &= ~(frame["user"].isin(bad_users) | frame["item"].isin(bad_items)).to_numpy()


def recbole_split(events: EventTable, ratios: tuple[float, ...] = RATIOS,
                  seed: int = SEED) -> tuple[EventTable, EventTable, EventTable]:
    """RecBole's RS split grouped by user with random order: (train, validation, test) events."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"user": events.user_ids, "key": rng.random(len(events))})
    order = frame.sort_values(["user", "key"], kind="stable").index.to_numpy()
    users = frame["user"].to_numpy()[order]
    position = pd.Series(users).groupby(users).cumcount().to_numpy()
    total = pd.Series(users).groupby(users).transform("size").to_numpy()
    parts = np.array(ratios, dtype=np.float64) / sum(ratios)
    n_test = (parts[2] * total).astype(np.int64)  # int(): rounded down, like RecBole
    n_validation = (parts[1] * total).astype(np.int64)
    n_train = total - n_validation - n_test
    part = np.where(position < n_train, 0, np.where(position < n_train + n_validation, 1, 2))
    return tuple(events.take(np.sort(order[part == p])) for p in range(3))  # type: ignore[return-value]


def build_protocol(ratings: EventTable) -> Protocol:
    core = k_core(positives(ratings))
    train, validation, test = recbole_split(core)
    sizes = {"ratings": len(ratings), "positives": int((ratings.values >= MIN_RATING).sum()),
             "events": len(core), "users": len(set(core.user_ids)), "items": len(set(core.item_ids)),
             "train": len(train), "validation": len(validation), "test": len(test)}
    return Protocol(train, validation, test, sizes)


# -- running -------------------------------------------------------------------------------------
def planned(models: list[str]) -> int:
    """Validation trials of benchmarks.quality's staged search (its SEARCH stages, no clock decay)."""
    return sum(1 + sum(stage_size(s) for s in SEARCH[name]) for name in models)


def fixed_configs(models: list[str]) -> list[tuple[str, Config]]:
    """Untuned rows: the library defaults of ALS, EASE and EASE with DAN, and EASE as RecBole ran it."""
    rows = []
    if "als" in models:
        rows.append(("ALS, library defaults", Config(ModelParams(algorithm="als"), default_weights("als"))))
    if "ease" in models:
        rows.append(("EASE, library defaults", Config(ModelParams(algorithm="ease"), default_weights("ease"))))
        rows.append(("EASE, RecBole's reg_weight 250 on binary X", RECBOLE_EASE))
    if "ease_dan" in models:
        rows.append(("EASE with DAN, library defaults", Config(ModelParams(algorithm="ease_dan"),
                                                               default_weights("ease_dan"))))
    return rows


LABELS = {"popular": "popularity", "als": "ALS", "cosine": "item-kNN cosine", "bm25": "item-kNN BM25",
          "ease": "EASE", "ease_dan": "EASE with DAN", "bpr": "BPR"}


def run(protocol: Protocol, models: list[str], workers: int) -> list[PeerResult]:
    validation = Split(protocol.train, protocol.validation)
    test = Split(protocol.train, protocol.test)
    results = []
    with search_pool(validation, workers) as pool, tqdm(total=planned(models), unit="fit") as bar:
        for name in models:
            bar.set_description(f"ml-1m {name}")
            started = time.perf_counter()
            search = Search(validation, bar, pool)
            config, val_ndcg = search.run(name, SEARCH[name], half_lives=())
            seconds = time.perf_counter() - started
            metrics, fit_seconds = fit_and_score(test, config, K, exclude=protocol.validation)
            results.append(PeerResult(f"{LABELS[name]}, tuned" if SEARCH[name] else LABELS[name], config,
                                      True, val_ndcg, metrics, fit_seconds, len(search.scores), seconds))
    for label, config in fixed_configs(models):
        metrics, fit_seconds = fit_and_score(test, config, K, exclude=protocol.validation)
        results.append(PeerResult(label, config, False, None, metrics, fit_seconds))
    chosen = max((r for r in results if r.tuned), key=lambda r: r.validation_ndcg)
    everything = Split(EventTable.concat([protocol.train, protocol.validation]), protocol.test)
    metrics, fit_seconds = fit_and_score(everything, chosen.config, K)
    results.append(PeerResult(f"{chosen.label}, refitted on train + validation (off protocol)", chosen.config,
                              True, chosen.validation_ndcg, metrics, fit_seconds, on_protocol=False))
    return results


def seed_spread(ratings: EventTable, config: Config, seeds: range = range(SEED, SEED + 5)) -> list[Metrics]:
    """Test metrics of one configuration on the splits of other seeds: how much the split alone moves
    the figures (a published single split is one draw of it)."""
    core = k_core(positives(ratings))
    out = []
    for seed in seeds:
        train, validation, test = recbole_split(core, seed=seed)
        out.append(fit_and_score(Split(train, test), config, K, exclude=validation)[0])
    return out


def float32_check(protocol: Protocol, config: Config) -> dict[str, float]:
    """EASE's float32 Cholesky weights against RecBole's float64 inverse on the same training matrix:
    the largest weight difference and the share of users whose top 10 (train items removed) agree."""
    matrix = build_matrix(protocol.train, config.weights)
    x = scale_confidence(matrix.matrix, config.params)
    ours = ease_weights(x, config.params.ease_regularization)
    gram = (x.T @ x).toarray().astype(np.float64) + config.params.ease_regularization * np.eye(x.shape[1])
    inverse = np.linalg.inv(gram)
    reference = inverse / -np.diag(inverse)
    np.fill_diagonal(reference, 0.0)
    same = 0
    for start in range(0, x.shape[0], 1024):
        rows = x[start:start + 1024]
        lists = []
        for weights in (ours, reference):
            scores = np.asarray(rows @ weights, dtype=np.float64)
            scores[np.repeat(np.arange(rows.shape[0]), np.diff(rows.indptr)), rows.indices] = -np.inf
            lists.append(np.sort(np.argpartition(-scores, K, axis=1)[:, :K], axis=1))
        same += int((lists[0] == lists[1]).all(axis=1).sum())
    return {"max_abs_difference": float(np.abs(ours - reference).max()),
            "max_abs_weight": float(np.abs(reference).max()), "same_top10_share": same / x.shape[0]}


# -- reporting -----------------------------------------------------------------------------------
def table(results: list[PeerResult]) -> str:
    lines = [f"| model | recall@{K} | nDCG@{K} | val nDCG@{K} | fit s | trials | chosen params |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for r in sorted(results, key=lambda r: -r.metrics.recall):
        val = f"{r.validation_ndcg:.4f}" if r.validation_ndcg is not None else "-"
        lines.append(f"| {r.label} | **{r.metrics.recall:.4f}** | {r.metrics.ndcg:.4f} | {val} | "
                     f"{r.fit_seconds:.1f} | {r.trials or '-'} | {describe(r.config)} |")
    return "\n".join(lines)


def published_table() -> str:
    lines = [f"| RecBole model (published) | recall@{K} | nDCG@{K} |", "|---|---:|---:|"]
    lines += [f"| {name} | {recall:.4f} | {ndcg:.4f} |" for name, (recall, ndcg) in PUBLISHED.items()]
    lines.append(f"| Encore ALS, library defaults (issue 13, before EASE) | {PRIOR_ALS[0]:.4f} | {PRIOR_ALS[1]:.4f} |")
    return "\n".join(lines)


def spread_line(label: str, spread: list[Metrics]) -> str:
    recall = [m.recall for m in spread]
    ndcg = [m.ndcg for m in spread]
    return (f"The {label} configuration on the splits of seeds {SEED} to {SEED + len(spread) - 1}: recall@{K} "
            f"{', '.join(f'{r:.4f}' for r in recall)} (mean {np.mean(recall):.4f}), nDCG@{K} {min(ndcg):.4f} to "
            f"{max(ndcg):.4f} (mean {np.mean(ndcg):.4f}).")


def markdown(protocol: Protocol, results: list[PeerResult], check: dict | None, info: dict, seconds: float,
             spreads: dict[str, list[Metrics]] | None = None) -> str:
    s = protocol.sizes
    best = max((r for r in results if r.on_protocol), key=lambda r: r.metrics.recall)
    verdict = "met" if best.metrics.recall >= TARGET_RECALL else "not met"
    out = ["# Peers: MovieLens-1M under RecBole's protocol", "",
           f"`python -m benchmarks.peers`, {time.strftime('%Y-%m-%d %H:%M')}: {info['cores']} cores ({info['cpu']}), "
           f"Python {info['python']}, implicit {info['implicit']}, numpy {info['numpy']}, "
           f"OPENBLAS_NUM_THREADS={info['openblas_threads']}; whole run {seconds / 60:.1f} min.", "",
           f"{s['ratings']:,} ratings, {s['positives']:,} of 3 stars or more; 10-core: {s['events']:,} positives of "
           f"{s['users']:,} users and {s['items']:,} items; per-user random split: train {s['train']:,}, validation "
           f"{s['validation']:,}, test {s['test']:,} (seed {SEED}). Test scores rank every item but the user's train "
           f"and validation items; *val* is validation nDCG@{K} of the chosen configuration; *fit s* is one fit "
           "on train. The off-protocol row refits the configuration with the best validation nDCG@10 on train and "
           "validation together, as a store would train on everything it has (RecBole's models never see the "
           "validation positives, so that row is not compared).", "", table(results), "",
           f"Target recall@{K} >= {TARGET_RECALL} (RecBole's EASE): **{verdict}** (best: {best.label}, "
           f"{best.metrics.recall:.4f}).", ""]
    if spreads:
        out += ["The same configurations, trained and scored the same way on the splits of other seeds (the split "
                "alone moves the figures this much; RecBole's table is one such draw):", ""]
        out += [f"* {spread_line(label, spread)}" for label, spread in spreads.items()] + [""]
    out += [published_table(), ""]
    if check:
        out += [f"EASE float32 (Cholesky, in place) against RecBole's float64 inverse at the tuned lambda: largest "
                f"weight difference {check['max_abs_difference']:.2e} (largest weight {check['max_abs_weight']:.3f}); "
                f"{check['same_top10_share']:.2%} of users get the same top 10.", ""]
    return "\n".join(out)


def plot(results: list[PeerResult], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ours = sorted(results, key=lambda r: r.metrics.recall)
    labels = [f"Encore {r.label}" for r in ours] + [f"RecBole {name} (published)" for name in PUBLISHED]
    recall = [r.metrics.recall for r in ours] + [v[0] for v in PUBLISHED.values()]
    ndcg = [r.metrics.ndcg for r in ours] + [v[1] for v in PUBLISHED.values()]
    colours = ["tab:blue" if r.on_protocol else "lightsteelblue" for r in ours] + ["tab:grey"] * len(PUBLISHED)
    fig, axes = plt.subplots(1, 2, figsize=(13, 0.38 * len(labels) + 1.5), sharey=True)
    for ax, values, name in zip(axes, (recall, ndcg), (f"recall@{K}", f"nDCG@{K}")):
        y = np.arange(len(labels))
        bars = ax.barh(y, values, color=colours)
        ax.bar_label(bars, fmt="%.4f", fontsize=7, padding=2)
        ax.set_yticks(y, labels, fontsize=8)
        ax.set_xlabel(name + " (test)")
        ax.margins(x=0.15)
    axes[0].axvline(TARGET_RECALL, color="black", linestyle="dotted", linewidth=1)
    fig.suptitle("MovieLens-1M, RecBole protocol (blue: Encore, this run, light: off protocol; "
                 "grey: RecBole's published table)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def as_json(protocol: Protocol, results: list[PeerResult], check: dict | None, info: dict, seconds: float,
            spreads: dict[str, list[Metrics]] | None = None) -> dict:
    return {"machine": info, "seconds": seconds, "k": K, "seed": SEED, "sizes": protocol.sizes,
            "published": PUBLISHED, "prior_als": PRIOR_ALS, "float32_check": check,
            "seed_spread": {label: [m.as_dict() for m in spread] for label, spread in (spreads or {}).items()},
            "results": [{"label": r.label, "tuned": r.tuned, "params": r.config.params.to_dict(),
                         "weights": r.config.weights.to_dict(), "validation_ndcg": r.validation_ndcg,
                         "metrics": r.metrics.as_dict(), "fit_seconds": r.fit_seconds, "trials": r.trials,
                         "search_seconds": r.search_seconds, "on_protocol": r.on_protocol} for r in results]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=description(__doc__))
    parser.add_argument("--models", nargs="+", choices=sorted(LABELS), default=list(MODELS))
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        ratings = movielens_1m(args.cache_dir)
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    protocol = build_protocol(ratings)
    results = run(protocol, args.models, args.workers)
    tuned_ease = next((r for r in results if r.tuned and r.config.params.algorithm == "ease"), None)
    chosen = max((r for r in results if r.tuned and r.on_protocol), key=lambda r: r.validation_ndcg)
    picked = [chosen] + ([tuned_ease] if tuned_ease is not None and tuned_ease is not chosen else [])
    spreads = {r.label: seed_spread(ratings, r.config) for r in picked}  # chosen on validation, never by test
    check = float32_check(protocol, tuned_ease.config) if tuned_ease else None
    seconds = time.perf_counter() - started
    info = machine()
    args.out.mkdir(parents=True, exist_ok=True)
    report = markdown(protocol, results, check, info, seconds, spreads)
    (args.out / "peers.md").write_text(report + "\n")
    (args.out / "peers.json").write_text(json.dumps(as_json(protocol, results, check, info, seconds, spreads),
                                                    indent=2) + "\n")
    plot(results, args.out / "peers.png")
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
