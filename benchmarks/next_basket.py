"""Next-basket benchmark on Ta-Feng: what Encore serves against the literature's baselines.

    python -m benchmarks.next_basket            # about 6 minutes on 2 cores (the validation search)

Protocol of "A Next Basket Recommendation Reality Check" (Li et al., ACM TOIS 2023; their
preprocess/tafeng.py and keyset_fold.py), which TIFU-KNN (Hu et al., SIGIR 2020) also follows:

1. a basket is one customer's distinct products on one day;
2. customers with 3 to 50 baskets are kept;
3. each customer's last basket is their target, the others their history; products seen fewer than
   3 times in the history baskets (of the kept customers) are removed from every basket, and so are
   baskets left empty and customers whose target or history is left empty;
4. customers are split 72 / 8 / 20 % into train / validation / test with a fixed seed.

Every model trains on the history baskets of all customers plus the targets of the training
customers (purchase events, one per product and day), and is scored on the targets of the test
customers; hyper-parameters are chosen on the validation customers' targets. Metrics:
recommender.next_basket. Writes benchmarks/results/next_basket.md, .json and next_basket.png.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import recommender  # noqa: F401,E402 - first: recommender/__init__.py sets OPENBLAS_NUM_THREADS=1 before numpy

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy.sparse import csr_matrix  # noqa: E402
from tqdm import tqdm  # noqa: E402

from benchmarks.datasets import DEFAULT_CACHE, DatasetError, ta_feng_frame  # noqa: E402
from benchmarks.harness.report import results_dir  # noqa: E402
from benchmarks.quality import machine  # noqa: E402
from recommender.algorithms import ModelParams  # noqa: E402
from recommender.baskets import baskets_from_codes  # noqa: E402
from recommender.events import EventTable  # noqa: E402
from recommender.matrix import build_matrix, default_weights  # noqa: E402
from recommender.units import SECONDS_PER_DAY  # noqa: E402
from recommender.ids import IdMap  # noqa: E402
from recommender.models import Recommender  # noqa: E402
from recommender.next_basket import NextBasketMetrics, next_basket_metrics, rank_customers  # noqa: E402
from recommender.repeat import nearest_mean, purchase_profile  # noqa: E402
from recommender.repeat_mix import FEATURES  # noqa: E402

MIN_BASKETS, MAX_BASKETS, MIN_ITEM_COUNT = 3, 50, 3
FRACTIONS = (0.72, 0.08, 0.20)
SEED = 0
KS = (10, 20)
LIST_LENGTH = max(KS)
#: TIFU-KNN's published Ta-Feng figures (Hu et al., SIGIR 2020) and its settings for Ta-Feng
#: (k, r_b, r_g, alpha, m) from their README.
PUBLISHED_TIFU = {"recall@10": 0.1301, "ndcg@10": 0.1011, "recall@20": 0.1810}
TIFU_SETTINGS = {"neighbours": 300, "within_decay": 0.9, "group_decay": 0.7, "alpha": 0.7, "group_size": 7}
#: The issue's target for the served list: recall@10 at least this times GP-TopFreq's, same run.
TARGET_RATIO = 1.05
#: Staged search of the repeat model on validation recall@10, from TIFU-KNN's Ta-Feng settings.
REPEAT_STAGES: tuple[dict[str, list], ...] = (
    {"repeat_base": ["cosine", "als", "bm25"]},
    {"repeat_neighbours": [100, 300, 900]},
    {"within_decay": [0.8, 0.9, 1.0], "group_decay": [0.6, 0.7, 0.8]},
    {"group_size": [3, 5, 7, 10]},
)
RESULTS_DIR = Path("benchmarks/results")


@dataclass
class NextBasketData:
    """The protocol's baskets: one row per (customer, product, day); `target` marks the last basket."""

    rows: pd.DataFrame  # user_id, item_id (str), day (int64, days since the epoch), target (bool)
    users: np.ndarray  # the kept customers' ids, sorted
    items: IdMap  # every product left in any basket


def prepare(frame: pd.DataFrame, min_baskets: int = MIN_BASKETS, max_baskets: int = MAX_BASKETS,
            min_item_count: int = MIN_ITEM_COUNT) -> NextBasketData:
    """Steps 1 to 3 of the protocol on purchase lines (columns user_id, item_id, timestamp in epoch seconds)."""
    rows = pd.DataFrame({"user_id": frame["user_id"].astype(str), "item_id": frame["item_id"].astype(str),
                         "day": np.floor(frame["timestamp"].to_numpy(np.float64) / SECONDS_PER_DAY).astype(np.int64)})
    rows = rows.drop_duplicates()
    days = rows.groupby("user_id")["day"].nunique()
    rows = rows[rows["user_id"].isin(days.index[(days >= min_baskets) & (days <= max_baskets)])]
    rows = rows.assign(target=rows["day"].to_numpy() == rows.groupby("user_id")["day"].transform("max").to_numpy())
    counts = rows.loc[~rows["target"], "item_id"].value_counts()
    rows = rows[rows["item_id"].isin(counts.index[counts >= min_item_count])]
    parts = rows.groupby("user_id")["target"].agg(["any", "all"])
    rows = rows[rows["user_id"].isin(parts.index[parts["any"] & ~parts["all"]])]
    rows = rows.sort_values(["user_id", "day", "item_id"], kind="stable").reset_index(drop=True)
    return NextBasketData(rows, np.sort(rows["user_id"].unique()), IdMap(np.sort(rows["item_id"].unique())))


def split_customers(users: np.ndarray, seed: int = SEED,
                    fractions: tuple[float, float, float] = FRACTIONS) -> dict[str, np.ndarray]:
    """Step 4: a seeded shuffle of the customers cut into train / validation / test (keyset_fold.py's cut)."""
    shuffled = np.asarray(users)[np.random.default_rng(seed).permutation(len(users))]
    train_end = int(len(users) * fractions[0])
    validation_end = int(len(users) * (fractions[0] + fractions[1]))
    return {"train": shuffled[:train_end], "validation": shuffled[train_end:validation_end],
            "test": shuffled[validation_end:]}


def training_events(data: NextBasketData, train_users: np.ndarray) -> EventTable:
    """Purchase events of every history basket and of the training customers' targets."""
    rows = data.rows[~data.rows["target"] | data.rows["user_id"].isin(train_users)]
    return EventTable.from_frame(pd.DataFrame({
        "user_id": rows["user_id"], "item_id": rows["item_id"], "type": "purchase",
        "timestamp": rows["day"].to_numpy(np.float64) * SECONDS_PER_DAY}))


@dataclass
class Customers:
    """The customers scored in one evaluation, with their targets and what they bought before."""

    users: np.ndarray
    targets: csr_matrix  # (customers, protocol items)
    history: csr_matrix


def customers(data: NextBasketData, users: np.ndarray) -> Customers:
    position = pd.Index(users)
    rows = data.rows[data.rows["user_id"].isin(users)]
    codes = position.get_indexer(rows["user_id"])
    items = data.items.lookup(rows["item_id"])
    shape = (len(users), len(data.items))

    def matrix(mask: np.ndarray) -> csr_matrix:
        return csr_matrix((np.ones(int(mask.sum()), dtype=np.float32), (codes[mask], items[mask])), shape=shape)

    target = rows["target"].to_numpy()
    return Customers(np.asarray(users), matrix(target), (matrix(~target) > 0).astype(np.float32))


def scores(ranked: np.ndarray, who: Customers) -> dict[int, NextBasketMetrics]:
    return {k: next_basket_metrics(ranked, who.targets, who.history, k) for k in KS}


# -- the baselines (methods/g-p-gp-topfreq of the Reality Check) -------------------------------
def _ranked_rows(pairs: pd.DataFrame, users: np.ndarray, items: IdMap, n: int) -> np.ndarray:
    """(customers, n) item codes from rows (user_id, item_id) already in rank order per customer."""
    out = np.full((len(users), n), -1, dtype=np.int64)
    pairs = pairs[pairs["user_id"].isin(users)]
    rank = pairs.groupby("user_id").cumcount().to_numpy()
    keep = rank < n
    out[pd.Index(users).get_indexer(pairs["user_id"][keep]), rank[keep]] = items.lookup(pairs["item_id"][keep])
    return out


def g_topfreq(events: EventTable, data: NextBasketData, who: Customers) -> np.ndarray:
    """The bestsellers (baskets holding each product in the training events), the same for everyone."""
    counts = pd.Series(events.item_ids).value_counts(sort=False)
    order = counts.index[np.lexsort((counts.index.to_numpy(), -counts.to_numpy()))][:LIST_LENGTH]
    return np.tile(data.items.lookup(order), (len(who.users), 1))


def p_topfreq(data: NextBasketData, who: Customers) -> np.ndarray:
    """The customer's history products by baskets holding them, ties to the earlier first purchase."""
    history = data.rows[~data.rows["target"] & data.rows["user_id"].isin(who.users)]
    own = history.groupby(["user_id", "item_id"], sort=False)["day"].agg(["size", "min"]).reset_index()
    own = own.sort_values(["user_id", "size", "min", "item_id"], ascending=[True, False, True, True], kind="stable")
    return _ranked_rows(own, who.users, data.items, LIST_LENGTH)


def gp_topfreq(events: EventTable, data: NextBasketData, who: Customers) -> np.ndarray:
    """P-TopFreq topped up with G-TopFreq's products the customer has not bought."""
    own, best = p_topfreq(data, who), g_topfreq(events, data, who)
    out = own.copy()
    for row in range(len(out)):
        short = int((own[row] < 0).sum())
        if short:
            fill = best[row][~np.isin(best[row], own[row])][:short]
            out[row, LIST_LENGTH - short:LIST_LENGTH - short + len(fill)] = fill
    return out


def tifu_knn(data: NextBasketData, train_users: np.ndarray, who: Customers,
             settings: dict = TIFU_SETTINGS) -> np.ndarray:
    """TIFU-KNN as its code runs it (methods/tifuknn): vectors from history baskets, neighbours among the
    training customers only, alpha * own + (1 - alpha) * neighbours' mean; recommender.repeat's maths."""
    history = data.rows[~data.rows["target"]]

    def vectors(users: np.ndarray) -> csr_matrix:
        rows = history[history["user_id"].isin(users)]
        baskets = baskets_from_codes(pd.Index(users).get_indexer(rows["user_id"]), data.items.lookup(rows["item_id"]),
                                     rows["day"].to_numpy(np.float64) * SECONDS_PER_DAY, len(users), len(data.items))
        profile = purchase_profile(baskets, settings["within_decay"], settings["group_decay"], settings["group_size"])
        return profile.matrix(profile.score)

    own = vectors(who.users)
    near = nearest_mean(own, vectors(np.asarray(train_users)), settings["neighbours"])
    blended = settings["alpha"] * own.toarray() + (1 - settings["alpha"]) * near
    order = np.argsort(-blended, axis=1, kind="stable")[:, :LIST_LENGTH]
    return np.where(np.take_along_axis(blended, order, axis=1) > 0, order, -1)


# -- Encore's models, through Recommender ---------------------------------------------------
@dataclass
class Fitted:
    model: Recommender
    fit_seconds: float


def fit(events: EventTable, params: ModelParams) -> Fitted:
    started = time.perf_counter()
    model = Recommender(params).fit(build_matrix(events, default_weights(params.algorithm)), events=events)
    return Fitted(model, time.perf_counter() - started)


def served(fitted: Fitted, data: NextBasketData, who: Customers, filter_interacted: bool = True) -> np.ndarray:
    """The top LIST_LENGTH lists Recommender serves the customers, in protocol item codes."""
    model = fitted.model
    ranked = rank_customers(model, model.user_ids.lookup(who.users), LIST_LENGTH, filter_interacted)
    to_protocol = data.items.lookup(model.item_ids.ids)
    return np.where(ranked >= 0, to_protocol[np.maximum(ranked, 0)], -1)


def search_repeat(events: EventTable, data: NextBasketData, validation: Customers,
                  bar: tqdm | None = None) -> tuple[ModelParams, list[dict]]:
    """The staged search (REPEAT_STAGES) from TIFU-KNN's Ta-Feng settings; returns the best and every trial."""
    best = ModelParams(algorithm="repeat")
    trials: list[dict] = []
    seen: dict[ModelParams, float] = {}

    def score(params: ModelParams) -> float:
        if params not in seen:
            fitted = fit(events, params)
            metrics = scores(served(fitted, data, validation), validation)
            seen[params] = metrics[10].recall
            trials.append({**{k: getattr(params, k) for k in repeat_fields()},
                           "validation_recall@10": round(seen[params], 4),
                           "validation_ndcg@10": round(metrics[10].ndcg, 4), "fit_s": round(fitted.fit_seconds, 1)})
            if bar:
                bar.update()
        return seen[params]

    for stage in REPEAT_STAGES:
        names = list(stage)
        grid = [dict(zip(names, values)) for values in _product(*(stage[n] for n in names))]
        best = max((replace(best, **values) for values in grid), key=lambda p: (score(p), p == best))
    return best, trials


def _product(*lists: list) -> list[tuple]:
    out: list[tuple] = [()]
    for values in lists:
        out = [done + (value,) for done in out for value in values]
    return out


def repeat_fields() -> tuple[str, ...]:
    return ("repeat_base", "repeat_neighbours", "within_decay", "group_decay", "group_size")


def planned_search_fits() -> int:
    return 1 + sum(int(np.prod([len(v) for v in stage.values()])) - 1 for stage in REPEAT_STAGES)


# -- the run --------------------------------------------------------------------------------
@dataclass
class Row:
    name: str
    what: str
    metrics: dict[int, NextBasketMetrics]
    fit_seconds: float | None = None
    rank_seconds: float | None = None


def timed(rank: Callable[[], np.ndarray], who: Customers) -> tuple[dict[int, NextBasketMetrics], float]:
    started = time.perf_counter()
    ranked = rank()
    return scores(ranked, who), time.perf_counter() - started


def run(data: NextBasketData, seed: int = SEED, search: bool = True, bar: tqdm | None = None) -> dict:
    split = split_customers(data.users, seed)
    events = training_events(data, split["train"])
    test, validation = customers(data, split["test"]), customers(data, split["validation"])
    rows: list[Row] = []

    def add(name: str, what: str, rank: Callable[[], np.ndarray], fitted: Fitted | None = None) -> None:
        metrics, seconds = timed(rank, test)
        rows.append(Row(name, what, metrics, fitted.fit_seconds if fitted else None, seconds))
        if bar:
            bar.set_postfix_str(name)
            bar.update()

    add("G-TopFreq", "bestsellers", lambda: g_topfreq(events, data, test))
    add("P-TopFreq", "own most-bought products only", lambda: p_topfreq(data, test))
    add("GP-TopFreq", "own most-bought, then bestsellers", lambda: gp_topfreq(events, data, test))
    add("TIFU-KNN (reference protocol)", "published settings; neighbours among training customers' histories",
        lambda: tifu_knn(data, split["train"], test))
    for algorithm in ("als", "cosine"):
        fitted = fit(events, ModelParams(algorithm=algorithm))
        label = {"als": "Encore ALS", "cosine": "Encore item-kNN cosine"}[algorithm]
        add(f"{label}, as served", "library defaults; bought products removed",
            lambda: served(fitted, data, test), fitted)
        add(f"{label}, bought allowed", "same model, filter_interacted=False",
            lambda: served(fitted, data, test, filter_interacted=False), fitted)
    personal = fit(events, ModelParams(algorithm="personal"))
    add("Encore personal, as served", "GP-TopFreq through Recommender", lambda: served(personal, data, test), personal)
    default = fit(events, ModelParams(algorithm="repeat"))
    add("Encore repeat, defaults, as served", "ModelParams() defaults", lambda: served(default, data, test), default)
    chosen, trials = (search_repeat(events, data, validation, bar) if search else (ModelParams(algorithm="repeat"), []))
    tuned = fit(events, chosen)
    add("Encore repeat, validated, as served", "parameters chosen on validation recall@10",
        lambda: served(tuned, data, test), tuned)
    mix = dict(zip((*FEATURES, "intercept"), np.round(tuned.model.algorithm.weights, 3).tolist()))
    return {"seed": seed, "sizes": {k: len(v) for k, v in split.items()}, "events": len(events),
            "items": len(data.items), "rows": rows, "chosen": {k: getattr(chosen, k) for k in repeat_fields()},
            "mix": mix, "trials": trials}


def spread(data: NextBasketData, chosen: ModelParams, seeds: list[int], bar: tqdm | None = None) -> list[dict]:
    """recall@10 of the main rows on other seeds' splits, with the parameters chosen on `SEED`'s validation
    customers (some of whom are test customers here: for the spread only, not a result)."""
    out = []
    for seed in seeds:
        split = split_customers(data.users, seed)
        events = training_events(data, split["train"])
        test = customers(data, split["test"])
        figures = {"seed": seed,
                   "GP-TopFreq": scores(gp_topfreq(events, data, test), test)[10].recall,
                   "TIFU-KNN (reference protocol)": scores(tifu_knn(data, split["train"], test), test)[10].recall}
        for name, params in (("Encore personal", ModelParams(algorithm="personal")), ("Encore repeat", chosen)):
            figures[name] = scores(served(fit(events, params), data, test), test)[10].recall
        out.append(figures)
        if bar:
            bar.update()
    return out


def reference_check(directory: Path) -> dict:
    """TIFU-KNN with recommender.repeat's maths on the Reality Check's own preprocessed Ta-Feng
    (jsondata/tafeng_history.json and tafeng_future.json of github.com/liming-7/A-Next-Basket-
    Recommendation-Reality-Check, the data TIFU-KNN's repository ships too), split as TIFUKNN.py's
    partition_the_data_validate does: customers with two history baskets or more in file order,
    the first 72% as neighbours, the last 20% scored."""
    history = json.loads((directory / "tafeng_history.json").read_text())
    future = json.loads((directory / "tafeng_future.json").read_text())
    keys = [key for key in future if len(history[key]) > 3]
    n = len(keys)
    train, test = keys[:int(4 / 5 * n * 0.9)], keys[int(4 / 5 * n):]
    n_items = 1 + max(max((max(b) for b in history[k][1:-1] if b), default=0) for k in keys)
    n_items = max(n_items, 1 + max(max(future[k][1]) for k in keys))

    def vectors(users: list[str]) -> csr_matrix:
        codes, items, days = [], [], []
        for row, key in enumerate(users):
            for day, basket in enumerate(history[key][1:-1]):
                codes += [row] * len(basket)
                items += basket
                days += [day * SECONDS_PER_DAY] * len(basket)
        baskets = baskets_from_codes(np.array(codes), np.array(items), np.array(days), len(users), n_items)
        s = TIFU_SETTINGS
        profile = purchase_profile(baskets, s["within_decay"], s["group_decay"], s["group_size"])
        return profile.matrix(profile.score)

    own = vectors(test)
    blended = TIFU_SETTINGS["alpha"] * own.toarray() + (1 - TIFU_SETTINGS["alpha"]) * nearest_mean(
        own, vectors(train), TIFU_SETTINGS["neighbours"])
    ranked = np.argsort(-blended, axis=1, kind="stable")[:, :LIST_LENGTH]
    targets = csr_matrix((np.ones(sum(len(future[k][1]) for k in test)),
                          (np.repeat(np.arange(len(test)), [len(future[k][1]) for k in test]),
                           np.concatenate([future[k][1] for k in test]))), shape=(len(test), n_items))
    metrics = {k: next_basket_metrics(ranked, targets, own, k) for k in KS}
    return {"customers": n, "test": len(test), "items": n_items, "recall@10": metrics[10].recall,
            "ndcg@10": metrics[10].ndcg, "recall@20": metrics[20].recall}


# -- reports --------------------------------------------------------------------------------
def _f(value: float) -> str:
    return "-" if value != value else f"{value:.4f}"  # NaN: no customer of that kind


def table(rows: list[Row]) -> str:
    lines = ["| model | recall@10 | recall@20 | nDCG@10 | nDCG@20 | PHR@10 | repeat recall@10 | explore recall@10 "
             "| bought share of top 10 | nDCG@10, IDCG capped at k | fit s | rank s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        m10, m20 = row.metrics[10], row.metrics[20]
        fit_s = "" if row.fit_seconds is None else f"{row.fit_seconds:.1f}"
        lines.append(f"| {row.name} | {_f(m10.recall)} | {_f(m20.recall)} | {_f(m10.ndcg)} | {_f(m20.ndcg)} | "
                     f"{_f(m10.phr)} | {_f(m10.repeat_recall)} | {_f(m10.explore_recall)} | {m10.repeat_share:.3f} | "
                     f"{_f(m10.ndcg_capped)} | {fit_s} | {row.rank_seconds:.1f} |")
    return "\n".join(lines)


def verdict(result: dict) -> list[str]:
    by_name = {row.name: row.metrics[10].recall for row in result["rows"]}
    served_recall = by_name["Encore repeat, validated, as served"]
    out = []
    for baseline in ("GP-TopFreq", "Encore personal, as served"):
        ratio = served_recall / by_name[baseline]
        out.append(f"* recall@10 of the served repeat list / {baseline}: {served_recall:.4f} / "
                   f"{by_name[baseline]:.4f} = **{ratio:.3f}x** (target {TARGET_RATIO}x: "
                   f"{'met' if ratio >= TARGET_RATIO else 'not met'})")
    published = PUBLISHED_TIFU["recall@10"]
    out.append(f"* against TIFU-KNN's published Ta-Feng recall@10 {published}: {served_recall:.4f} "
               f"({'met' if served_recall >= published else 'not met'})")
    return out


def markdown(result: dict, info: dict[str, str], seconds: float) -> str:
    sizes = result["sizes"]
    out = ["# Next-basket benchmark (Ta-Feng)", "",
           f"`python -m benchmarks.next_basket`, {time.strftime('%Y-%m-%d %H:%M')}: {info['cores']} cores "
           f"({info['cpu']}), Python {info['python']}, implicit {info['implicit']}, numpy {info['numpy']}, "
           f"OPENBLAS_NUM_THREADS={info['openblas_threads']}; {seconds / 60:.1f} minutes.", "",
           f"Protocol: benchmarks/README.md. "
           f"{sizes['train'] + sizes['validation'] + sizes['test']:,} customers ({sizes['train']:,} train, "
           f"{sizes['validation']:,} validation, {sizes['test']:,} test, seed {result['seed']}), "
           f"{result['items']:,} products, {result['events']:,} training purchase events. Test customers' "
           "figures; nDCG divides by the ideal DCG of the whole target basket (the papers' code), the capped "
           "column by at most k items (recommender.evaluation's convention). Repeat / explore recall: over the "
           "test customers whose target holds bought-before / new products.", "",
           table(result["rows"]), "", *verdict(result), "",
           f"Validated repeat parameters: {', '.join(f'{k}={v}' for k, v in result['chosen'].items())}. "
           f"Its mix, learned at training: {', '.join(f'{k} {v:+.3f}' for k, v in result['mix'].items())}.", ""]
    if result.get("reference"):
        ref = result["reference"]
        out += [f"TIFU-KNN's maths (recommender.repeat) on the Reality Check's own preprocessed Ta-Feng "
                f"({ref['customers']:,} customers, {ref['items']:,} products; TIFUKNN.py's split, {ref['test']:,} "
                f"scored): recall@10 {ref['recall@10']:.4f}, nDCG@10 {ref['ndcg@10']:.4f}, recall@20 "
                f"{ref['recall@20']:.4f}; published {PUBLISHED_TIFU['recall@10']}, {PUBLISHED_TIFU['ndcg@10']}, "
                f"{PUBLISHED_TIFU['recall@20']}.", ""]
    if result.get("spread"):
        names = [k for k in result["spread"][0] if k != "seed"]
        out += ["recall@10 on other seeds' splits (the repeat model keeps the parameters validated on seed "
                f"{result['seed']}, whose validation customers are partly test customers here: "
                "a spread, not a result):",
                "", "| seed | " + " | ".join(names) + " |", "|---:|" + "---:|" * len(names)]
        out += [f"| {s['seed']} | " + " | ".join(f"{s[n]:.4f}" for n in names) + " |" for s in result["spread"]]
        out.append("")
    if result["trials"]:
        out += ["Staged search on validation (recall@10, from TIFU-KNN's Ta-Feng settings):", "",
                "| " + " | ".join(result["trials"][0]) + " |", "|" + "---|" * len(result["trials"][0])]
        out += ["| " + " | ".join(str(v) for v in t.values()) + " |" for t in result["trials"]]
    return "\n".join(out) + "\n"


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["rows"]
    names = [row.name for row in rows]
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(11, 5.5))
    ax.bar(x - 0.2, [row.metrics[10].recall for row in rows], 0.4, label="recall@10")
    ax.bar(x + 0.2, [row.metrics[10].ndcg for row in rows], 0.4, label="nDCG@10")
    gp = next(row.metrics[10].recall for row in rows if row.name == "GP-TopFreq")
    ax.axhline(TARGET_RATIO * gp, color="tab:red", linestyle="--", linewidth=1,
               label=f"{TARGET_RATIO} x GP-TopFreq recall@10")
    ax.axhline(PUBLISHED_TIFU["recall@10"], color="black", linestyle=":", linewidth=1,
               label="TIFU-KNN published recall@10")
    ax.set_xticks(x, names, rotation=35, ha="right", fontsize=8)
    ax.set_title(f"Ta-Feng next basket, {result['sizes']['test']:,} test customers")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def as_json(result: dict, info: dict[str, str], seconds: float) -> dict:
    rows = [{"name": r.name, "what": r.what, "fit_s": r.fit_seconds, "rank_s": r.rank_seconds,
             **{f"@{k}": m.as_dict() for k, m in r.metrics.items()}} for r in result["rows"]]
    return {**{k: v for k, v in result.items() if k != "rows"}, "rows": rows, "machine": info, "seconds": seconds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Next-basket protocol on Ta-Feng: baselines and Encore's lists.")
    parser.add_argument("--seed", type=int, default=SEED, help=f"the split's seed (default {SEED})")
    parser.add_argument("--no-search", action="store_true", help="skip the validation search (ModelParams defaults)")
    parser.add_argument("--spread-seeds", type=int, nargs="*", default=[1, 2, 3, 4],
                        help="more split seeds for the spread table (default 1 2 3 4; the option alone: none)")
    parser.add_argument("--reference-json", type=Path, help="directory with the Reality Check's tafeng_*.json")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help=f"downloads (default {DEFAULT_CACHE})")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR,
                        help=f"where next_basket.md, .json and .png go (default {RESULTS_DIR}, the committed ones)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:  # what can fail before hours of work: the outputs, the reference files, the data
        results_dir(args.out)
        if args.reference_json is not None and not args.reference_json.is_dir():
            raise DatasetError(f"--reference-json {args.reference_json} is not a directory")
        data = prepare(ta_feng_frame(args.cache))
    except (DatasetError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    total = 11 + (0 if args.no_search else planned_search_fits()) + len(args.spread_seeds)
    with tqdm(total=total, unit="step", dynamic_ncols=True) as bar:
        result = run(data, args.seed, not args.no_search, bar)
        chosen = ModelParams(algorithm="repeat", **result["chosen"])
        result["spread"] = spread(data, chosen, args.spread_seeds, bar)
    if args.reference_json:
        result["reference"] = reference_check(args.reference_json)
    seconds = time.perf_counter() - started
    info = machine()
    (args.out / "next_basket.md").write_text(markdown(result, info, seconds))
    (args.out / "next_basket.json").write_text(json.dumps(as_json(result, info, seconds), indent=1, default=str))
    plot(result, args.out / "next_basket.png")
    print(markdown(result, info, seconds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
