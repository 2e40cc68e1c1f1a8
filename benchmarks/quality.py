"""Recommendation quality: tune every algorithm on validation data, then score it once on the test half.

    python -m benchmarks.quality            # ml-100k and the demo storefront, random and temporal splits

For each data set and split (recommender.evaluation.split_events):

1. the test half is put aside; the same kind of split, applied to the training half only,
   carves a validation split out of it (train' / validation);
2. a small staged search per algorithm trains on train' and scores nDCG@10 on validation:
   each stage tries a small grid around the best configuration so far (coarse first, then
   finer; a stage may also set EventWeights.history_half_life, the per-user recency weighting),
   and a last stage tries an EventWeights half-life, kept only if it raises the
   validation nDCG@10 by at least DECAY_MIN_GAIN;
3. the chosen configuration is retrained on the whole training half and evaluated once on
   the test half with recommender.evaluation, the same code that scores the untuned defaults.

Writes benchmarks/results/quality.md (tables), quality.json (everything, including the full
chosen parameters) and quality_ndcg.png (nDCG@10 bars), and prints the tables.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import multiprocessing
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import recommender  # noqa: F401 - first: recommender/__init__.py sets OPENBLAS_NUM_THREADS=1 before numpy loads

import numpy as np
from tqdm import tqdm

from benchmarks.datasets import DEFAULT_CACHE, DatasetError, load
from benchmarks.harness.machine import cpu_model
from benchmarks.harness.report import RESULTS, pyplot, results_dir
from recommender.algorithms import ModelParams
from recommender.events import EventTable
from recommender.matrix import EventWeights, build_matrix, default_weights
from recommender.evaluation import Metrics, evaluate
from recommender.splits import Split, split_events
from recommender.models import Recommender

DATASETS: tuple[str, ...] = ("ml-100k", "demo")
SPLITS: tuple[str, ...] = ("random", "temporal")
MODELS: tuple[str, ...] = ("popular", "als", "bpr", "cosine", "bm25", "ease")
K = 10
TEST_FRACTION = 0.2
#: Of the training half, so validation holds about as many events as the test half.
VALIDATION_FRACTION = 0.25
SEED = 42
#: Half-lives (days) tried for time decay, and the relative validation gain it must bring.
HALF_LIVES: tuple[float, ...] = (30.0, 90.0, 180.0, 365.0)
DECAY_MIN_GAIN = 0.005
#: nDCG@10 targets from the benchmarks issue, for the best tuned model.
TARGETS: dict[tuple[str, str], float] = {("ml-100k", "random"): 0.44, ("ml-100k", "temporal"): 0.22}

#: The parameters each algorithm reads (what the tables show).
RELEVANT: dict[str, tuple[str, ...]] = {
    "popular": (),
    "als": ("factors", "regularization", "alpha", "iterations", "confidence"),
    "bpr": ("factors", "learning_rate", "bpr_regularization", "bpr_iterations"),
    "cosine": ("neighbours", "confidence"),
    "bm25": ("neighbours", "bm25_k1", "bm25_b", "confidence"),
    "ease": ("ease_regularization", "confidence"),
    "ease_dan": ("dan_regularization", "dan_dropout", "dan_user_exponent", "dan_item_exponent", "confidence"),
}
#: Algorithms whose scores depend on the confidence values (so time decay can matter);
#: popularity counts interactions and BPR samples them, both ignore the values.
USES_VALUES = ("als", "cosine", "bm25", "ease", "ease_dan")


def around(*factors: float) -> Callable[[float], list[float]]:
    """Values around the current best: `around(0.6, 1, 1.6)` tries 60%, 100% and 160% of it."""
    return lambda best: [float(f"{best * f:.3g}") for f in factors]


#: One search stage: parameter -> values (or a function of the current best value); the
#: stage tries every combination, starting from the best configuration so far. A parameter is
#: a ModelParams field or an EventWeights field (WEIGHT_FIELDS, e.g. history_half_life).
Stage = dict[str, Sequence[object] | Callable[[object], Sequence[object]]]
WEIGHT_FIELDS = frozenset(f.name for f in dataclasses.fields(EventWeights))
#: Per-user recency (EventWeights.history_half_life) tried by the search after the other
#: parameters, which are searched without it (the search starts from plain EventWeights, not
#: ALS's default_weights: a staged search only looks near its path, and started from 0.4 it
#: missed ALS's best random-split configuration, 0.3974 against 0.4436); it shrinks ALS's
#: confidences, so regularization and alpha are searched again with it.
HISTORY_HALF_LIVES: tuple[float | None, ...] = (None, 0.05, 0.1, 0.2, 0.4)

SEARCH: dict[str, list[Stage]] = {
    "popular": [],
    "als": [
        # regularization, alpha and the confidence scaling interact, so they go together
        {"factors": [64], "regularization": [1.0, 3.0, 10.0, 30.0, 100.0], "alpha": [0.5, 1.0, 3.0, 10.0, 30.0],
         "confidence": ["linear", "log"]},
        {"factors": [32, 64, 128, 256], "iterations": [15, 30]},
        {"history_half_life": HISTORY_HALF_LIVES, "regularization": around(0.3, 1, 3),
         "alpha": around(1, 3, 10, 30)},
        {"regularization": around(0.6, 1, 1.6), "alpha": around(0.6, 1, 1.6)},
    ],
    "bpr": [
        {"learning_rate": [0.003, 0.01, 0.03], "bpr_iterations": [50, 100, 200]},
        {"factors": [32, 64, 128, 256], "bpr_regularization": [0.001, 0.01, 0.05]},
    ],
    "cosine": [
        {"neighbours": [10, 20, 50, 100, 200, 400], "confidence": ["linear", "log"]},
        {"history_half_life": HISTORY_HALF_LIVES},
    ],
    "bm25": [
        {"neighbours": [20, 50, 100, 200, 400], "bm25_k1": [0.5, 1.2, 3.0], "bm25_b": [0.25, 0.5, 0.75, 1.0]},
        {"confidence": ["linear", "log"]},
        {"history_half_life": HISTORY_HALF_LIVES},
    ],
    # lambda's scale is the Gram matrix's (squared confidences): binary data wants about 100 to 1000
    # (Steck 2019; RecBole's default 250), log confidences of a few events less
    "ease": [
        {"ease_regularization": [10.0, 30.0, 100.0, 250.0, 500.0, 1000.0, 3000.0], "confidence": ["linear", "log"]},
        {"ease_regularization": around(0.5, 0.7, 1, 1.4, 2)},
        {"history_half_life": HISTORY_HALF_LIVES},
    ],
    # EASE with DAN (recommender.ease_dan): lambda is on the user-normalised Gram matrix, so it is far
    # smaller than plain EASE's; the user exponent, the dropout and lambda interact, so they go together
    "ease_dan": [
        {"dan_user_exponent": [0.25, 0.5, 0.75], "dan_dropout": [0.0, 0.05, 0.1, 0.2],
         "dan_regularization": [1.0, 3.0, 10.0, 30.0]},
        {"dan_item_exponent": [0.0, 0.1, 0.2, 0.3], "confidence": ["linear", "log"]},
        {"dan_regularization": around(0.5, 0.7, 1, 1.4, 2), "dan_dropout": around(0.6, 1, 1.5)},
        {"dan_user_exponent": around(0.8, 1, 1.2), "dan_item_exponent": around(0.5, 1, 1.5)},
        {"history_half_life": HISTORY_HALF_LIVES},
    ],
}


@dataclass(frozen=True)
class Config:
    params: ModelParams
    weights: EventWeights = field(default_factory=EventWeights)


@dataclass
class ModelResult:
    model: str
    config: Config
    validation_ndcg: float
    metrics: Metrics
    train_seconds: float
    default_ndcg: float
    trials: int
    search_seconds: float


@dataclass
class SplitResult:
    dataset: str
    split: str
    sizes: dict[str, int]
    models: list[ModelResult]


# -- evaluation ---------------------------------------------------------------------------------
def fit_and_score(split: Split, config: Config, k: int = K,
                  exclude: EventTable | None = None) -> tuple[Metrics, float]:
    """Train on split.train, score on split.test; returns the metrics and training seconds.
    `exclude`: events left out of ranking and relevance (recommender.evaluation.evaluate)."""
    model = Recommender(config.params).fit(build_matrix(split.train, config.weights))
    return evaluate(model, split.test, k, exclude=exclude), model.fit_seconds or 0.0


def validation_split(train: EventTable, split: str) -> Split:
    """The same kind of split as the test split, applied to the training half only."""
    return split_events(train, split, VALIDATION_FRACTION, seed=SEED + 1)


def stage_size(stage: Stage) -> int:
    return int(np.prod([len(v) if not callable(v) else len(v(1.0)) for v in stage.values()]))


def planned_trials(models: Sequence[str]) -> int:
    """Upper bound of validation trials for these models (cached repeats count too)."""
    total = 0
    for name in models:
        total += 1 + sum(stage_size(s) for s in SEARCH[name])
        total += len(HALF_LIVES) if name in USES_VALUES else 0
    return total


_VALIDATION: Split | None = None  # a pool worker's validation split


def _init_worker(validation: Split) -> None:
    global _VALIDATION
    _VALIDATION = validation


def _score_in_worker(config: Config) -> float:
    return fit_and_score(_VALIDATION, config)[0].ndcg


@contextmanager
def search_pool(validation: Split, workers: int):
    """Processes that score validation trials of `Search` in parallel (None for one worker)."""
    # spawn, not fork: implicit's OpenMP threads do not survive a fork
    pool = (ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                initializer=_init_worker, initargs=(validation,)) if workers > 1 else None)
    try:
        yield pool
    finally:
        if pool is not None:
            pool.shutdown()


def with_values(config: Config, values: dict[str, object]) -> Config:
    """`config` with some ModelParams and EventWeights fields replaced."""
    weights = {k: v for k, v in values.items() if k in WEIGHT_FIELDS}
    params = {k: v for k, v in values.items() if k not in WEIGHT_FIELDS}
    return Config(dataclasses.replace(config.params, **params), dataclasses.replace(config.weights, **weights))


class Search:
    """Staged search for one algorithm on one validation split, with a cache of tried configs.

    A stage's configurations are independent, so with a process pool they are scored in parallel.
    """

    def __init__(self, validation: Split, bar: tqdm | None = None, pool: Executor | None = None) -> None:
        self.validation = validation
        self.bar = bar
        self.pool = pool
        self.scores: dict[Config, float] = {}

    def score_all(self, configs: Sequence[Config]) -> list[float]:
        todo = [c for c in dict.fromkeys(configs) if c not in self.scores]
        scored = (self.pool.map(_score_in_worker, todo) if self.pool is not None
                  else (fit_and_score(self.validation, c)[0].ndcg for c in todo))
        for config, score in zip(todo, scored):
            self.scores[config] = score
            if self.bar is not None:
                self.bar.update(1)
        if self.bar is not None:
            self.bar.update(len(configs) - len(todo))  # repeats count as done
        return [self.scores[c] for c in configs]

    def run(self, name: str, stages: Sequence[Stage] | None = None,
            half_lives: Sequence[float] = HALF_LIVES) -> tuple[Config, float]:
        best = Config(ModelParams(algorithm=name))  # plain EventWeights: no recency (HISTORY_HALF_LIVES)
        [best_score] = self.score_all([best])
        for stage in SEARCH[name] if stages is None else stages:
            start = best
            names = list(stage)
            grids = [v(getattr(start.weights if p in WEIGHT_FIELDS else start.params, p)) if callable(v) else v
                     for p, v in stage.items()]
            candidates = [with_values(start, dict(zip(names, values))) for values in itertools.product(*grids)]
            for candidate, score in zip(candidates, self.score_all(candidates)):
                if score > best_score:  # ties keep the earlier (coarser, default-side) configuration
                    best, best_score = candidate, score
            if self.bar is not None:
                self.bar.set_postfix_str(f"best val nDCG@{K} {best_score:.4f}")
        if name in USES_VALUES and half_lives:
            no_decay = best_score
            candidates = [Config(best.params, dataclasses.replace(best.weights, half_life_days=h))
                          for h in half_lives]
            for candidate, score in zip(candidates, self.score_all(candidates)):
                if score > best_score and score >= no_decay * (1 + DECAY_MIN_GAIN):
                    best, best_score = candidate, score
        return best, best_score


def benchmark_split(events: EventTable, dataset: str, split: str, models: Sequence[str] = MODELS,
                    bar: tqdm | None = None, stages: dict[str, list[Stage]] | None = None,
                    half_lives: Sequence[float] = HALF_LIVES, workers: int = 1) -> SplitResult:
    """Tune every model on validation data carved from the training half, then score it on test."""
    halves = split_events(events, split, TEST_FRACTION, seed=SEED)
    validation = validation_split(halves.train, split)
    with search_pool(validation, workers) as pool:
        results = _benchmark_models(halves, validation, dataset, split, models, bar, stages, half_lives, pool)
    sizes = {"events": len(events), "users": len(set(events.user_ids)), "items": len(set(events.item_ids)),
             "train": len(halves.train), "test": len(halves.test),
             "validation_train": len(validation.train), "validation": len(validation.test)}
    return SplitResult(dataset, split, sizes, results)


def _benchmark_models(halves: Split, validation: Split, dataset: str, split: str, models: Sequence[str],
                      bar: tqdm | None, stages: dict[str, list[Stage]] | None, half_lives: Sequence[float],
                      pool: Executor | None) -> list[ModelResult]:
    results = []
    for name in models:
        if bar is not None:
            bar.set_description(f"{dataset}/{split} {name}")
        started = time.perf_counter()
        search = Search(validation, bar, pool)
        config, val_score = search.run(name, None if stages is None else stages.get(name, []), half_lives)
        search_seconds = time.perf_counter() - started
        metrics, seconds = fit_and_score(halves, config)
        default = Config(ModelParams(algorithm=name), default_weights(name))
        default_ndcg = metrics.ndcg if config == default else fit_and_score(halves, default)[0].ndcg
        results.append(ModelResult(name, config, val_score, metrics, seconds, default_ndcg,
                                   len(search.scores), search_seconds))
    return results


# -- reporting ----------------------------------------------------------------------------------
def describe(config: Config) -> str:
    """The chosen parameters an algorithm reads, e.g. `factors=64, regularization=20`."""
    params = config.params
    parts = [f"{p}={getattr(params, p):g}" if isinstance(getattr(params, p), float) else f"{p}={getattr(params, p)}"
             for p in RELEVANT[params.algorithm]]
    if params.algorithm in USES_VALUES:
        history = config.weights.history_half_life
        parts.append(f"history_half_life={'off' if history is None else format(history, 'g')}")
    if config.weights.half_life_days:
        parts.append(f"half_life_days={config.weights.half_life_days:g}")
    return ", ".join(parts) or "-"


def split_table(result: SplitResult) -> str:
    lines = [f"| model | precision@{K} | recall@{K} | nDCG@{K} | MAP@{K} | coverage | train s | "
             f"val nDCG@{K} | default nDCG@{K} | chosen params |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in result.models:
        m = r.metrics
        lines.append(f"| {r.model} | {m.precision:.4f} | {m.recall:.4f} | **{m.ndcg:.4f}** | {m.map:.4f} | "
                     f"{m.coverage:.3f} | {r.train_seconds:.2f} | {r.validation_ndcg:.4f} | "
                     f"{r.default_ndcg:.4f} | {describe(r.config)} |")
    return "\n".join(lines)


def sizes_line(result: SplitResult) -> str:
    s = result.sizes
    users = result.models[0].metrics.users if result.models else 0
    return (f"{s['events']:,} events, {s['users']:,} users, {s['items']:,} items; train {s['train']:,} / "
            f"test {s['test']:,} events ({users:,} users scored); validation: train' {s['validation_train']:,} / "
            f"validation {s['validation']:,} events.")


def machine() -> dict[str, str]:
    import implicit

    return {"cpu": cpu_model(), "cores": str(os.cpu_count()), "python": platform.python_version(),
            "implicit": implicit.__version__, "numpy": np.__version__,
            "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "")}


def markdown(results: Sequence[SplitResult], info: dict[str, str], seconds: float) -> str:
    out = ["# Quality benchmark", "",
           f"`python -m benchmarks.quality`, {time.strftime('%Y-%m-%d')}: {info['cores']} cores ({info['cpu']}), "
           f"Python {info['python']}, implicit {info['implicit']}, numpy {info['numpy']}, "
           f"OPENBLAS_NUM_THREADS={info['openblas_threads']}; whole run {seconds / 60:.1f} min.", "",
           f"Metrics at k={K} on the test half, after choosing parameters on a validation split carved out of "
           f"the training half. *val* is the chosen configuration's validation nDCG@{K}; *default* is "
           f"the test nDCG@{K} of the library's default ModelParams/EventWeights; *train s* is one fit "
           f"on the training half.", ""]
    for result in results:
        out += [f"## {result.dataset}, {result.split} split", "", sizes_line(result), "", split_table(result), ""]
        target = TARGETS.get((result.dataset, result.split))
        if target is not None and result.models:
            best = max(result.models, key=lambda m: m.metrics.ndcg)
            verdict = "met" if best.metrics.ndcg >= target else "not met"
            out += [f"Target nDCG@{K} >= {target:.2f}: **{verdict}** (best: {best.model}, "
                    f"{best.metrics.ndcg:.4f}).", ""]
    return "\n".join(out)


def plot(results: Sequence[SplitResult], path: Path) -> None:
    plt = pyplot()
    models = [m.model for m in results[0].models] if results else []
    groups = [f"{r.dataset}\n{r.split}" for r in results]
    width = 0.8 / max(len(models), 1)
    fig, ax = plt.subplots(figsize=(max(6.0, 2.2 * len(groups)), 4.5))
    x = np.arange(len(groups))
    for i, name in enumerate(models):
        tuned = [next(m.metrics.ndcg for m in r.models if m.model == name) for r in results]
        default = [next(m.default_ndcg for m in r.models if m.model == name) for r in results]
        offset = x - 0.4 + width * (i + 0.5)
        bars = ax.bar(offset, tuned, width, label=name)
        ax.hlines(default, offset - width / 2, offset + width / 2, colors="black", linewidth=1.2,
                  label="default params" if i == 0 else None)
        ax.bar_label(bars, fmt="%.3f", fontsize=7, padding=1)
    labelled = False
    for i, r in enumerate(results):
        target = TARGETS.get((r.dataset, r.split))
        if target is not None:
            ax.hlines(target, i - 0.45, i + 0.45, colors="grey", linestyles="dotted", linewidth=1.2,
                      label=None if labelled else "issue target")
            labelled = True
    ax.set_xticks(x, groups)
    ax.set_ylabel(f"nDCG@{K} (test)")
    ax.set_title(f"Tuned nDCG@{K} per algorithm (black: library defaults, dotted: target)")
    ax.legend(fontsize=8, ncol=3)
    ax.margins(y=0.12)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def as_json(results: Sequence[SplitResult], info: dict[str, str], seconds: float) -> dict:
    return {
        "machine": info, "seconds": seconds, "k": K,
        "results": [{
            "dataset": r.dataset, "split": r.split, "sizes": r.sizes,
            "models": [{
                "model": m.model, "params": m.config.params.to_dict(), "weights": m.config.weights.to_dict(),
                "validation_ndcg": m.validation_ndcg, "default_ndcg": m.default_ndcg,
                "metrics": m.metrics.as_dict(), "train_seconds": m.train_seconds,
                "trials": m.trials, "search_seconds": m.search_seconds,
            } for m in r.models],
        } for r in results],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Tune each algorithm on validation data and score it on test.")
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS))
    parser.add_argument("--splits", nargs="+", choices=SPLITS, default=list(SPLITS))
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--out", type=Path, default=RESULTS, help="directory for quality.md/json/png")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1),
                        help="processes scoring validation trials in parallel (default: up to 2)")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    try:
        data = {name: load(name, args.cache_dir) for name in args.datasets}
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    total = planned_trials(args.models) * len(args.datasets) * len(args.splits)
    results = []
    with tqdm(total=total, unit="fit", dynamic_ncols=True) as bar:
        for name, events in data.items():
            for split in args.splits:
                results.append(benchmark_split(events, name, split, args.models, bar, workers=args.workers))
    seconds = time.perf_counter() - started
    info = machine()
    results_dir(args.out)
    report = markdown(results, info, seconds)
    (args.out / "quality.md").write_text(report + "\n")
    (args.out / "quality.json").write_text(json.dumps(as_json(results, info, seconds), indent=2) + "\n")
    plot(results, args.out / "quality_ndcg.png")
    print(report)
    print(f"\nwrote {args.out / 'quality.md'}, quality.json and quality_ndcg.png in {seconds / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
