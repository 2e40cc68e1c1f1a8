"""EASE's fit time and memory against catalog size: where the items x items matrix stops paying.

    OPENBLAS_NUM_THREADS=1 python -m benchmarks.ease_size                        # 1k ... 23,170 items
    OPENBLAS_NUM_THREADS=1 python -m benchmarks.ease_size --items 1000 4000      # a quick look

Per catalog size: the synthetic store of benchmarks.synthetic with that many items and a fixed number
of events (1M by default, 20 per user), built into the training matrix with the library's default
weights, then in this process (benchmarks.scale.Steps: wall and CPU seconds, peak RSS above the
RSS before the step, from the kernel's VmHWM):

* fit: recommender.ease (Gram matrix, Cholesky inverse, B), through Recommender.fit;
* precompute: the top 100 for 10,000 users through Recommender.precompute_indices (what a refresh
  writes to Redis), reported as users per second.

The sizes include recommender.ease.MAX_ITEMS, the limit EASE enforces, and two above it (measured
with the limit lifted), to show what the limit avoids. Writes
benchmarks/results/ease_size.md, ease_size.json and ease_size.png, and prints the table.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy loads

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from benchmarks.quality import machine  # noqa: E402
from benchmarks.scale import GIB, Steps  # noqa: E402
from benchmarks.synthetic import SyntheticSpec, generate  # noqa: E402
from recommender.algorithms import ModelParams  # noqa: E402
from recommender.ease import MAX_ITEMS, MEMORY_BUDGET  # noqa: E402
from recommender.matrix import build_matrix, default_weights  # noqa: E402
from recommender.models import Recommender  # noqa: E402
from benchmarks.harness.report import description

RESULTS = Path(__file__).resolve().parent / "results"
SIZES: tuple[int, ...] = (1_000, 2_000, 4_000, 8_000, 12_000, MAX_ITEMS, 20_000, 23_170)
EVENTS = 1_000_000
PRECOMPUTE_USERS = 10_000
PRECOMPUTE_N = 100


def measure(items: int, events: int, steps: Steps) -> dict:
    """Fit EASE on a synthetic store with `items` items and score PRECOMPUTE_USERS users."""
    spec = SyntheticSpec(interactions=events, users=max(events // 20, 10), items=items, seed=0)
    matrix = build_matrix(generate(spec), default_weights("ease"))
    model = Recommender(ModelParams(algorithm="ease"))
    model.algorithm.max_items = max(items, MAX_ITEMS)  # measure above the limit too
    with steps.step(f"fit {items}") as fit:
        model.fit(matrix)
    users = np.arange(min(PRECOMPUTE_USERS, matrix.shape[0]))
    with steps.step(f"precompute {items}") as precompute:
        model.precompute_indices(users, PRECOMPUTE_N)
    row = {"items": items, "items_seen": int(matrix.shape[1]), "users": int(matrix.shape[0]),
           "events": events, "nnz": int(matrix.matrix.nnz),
           "matrix_bytes": 4 * matrix.shape[1] ** 2,
           "fit_seconds": fit["seconds"], "fit_cpu_seconds": fit["cpu_seconds"],
           "fit_added_rss": fit["peak_rss"] - fit["rss_before"],
           "precompute_users_per_second": len(users) / precompute["seconds"],
           "precompute_added_rss": precompute["peak_rss"] - precompute["rss_before"]}
    del model
    return row


def table(rows: list[dict]) -> str:
    lines = ["| items | float32 B (GiB) | fit s | fit CPU s | fit peak RSS added (GiB) | "
             f"precompute top {PRECOMPUTE_N} (users/s) |",
             "|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['items_seen']:,} | {r['matrix_bytes'] / GIB:.2f} | {r['fit_seconds']:.1f} | "
                     f"{r['fit_cpu_seconds']:.1f} | {r['fit_added_rss'] / GIB:.2f} | "
                     f"{r['precompute_users_per_second']:,.0f} |")
    return "\n".join(lines)


def report(rows: list[dict], info: dict[str, str], seconds: float) -> str:
    return "\n".join([
        "# EASE: fit time and memory against catalog size", "",
        f"`python -m benchmarks.ease_size`, {time.strftime('%Y-%m-%d %H:%M')}: {info['cores']} cores "
        f"({info['cpu']}), numpy {info['numpy']}, OPENBLAS_NUM_THREADS={info['openblas_threads']}; "
        f"whole run {seconds / 60:.1f} min.", "",
        f"Synthetic stores (benchmarks.synthetic) of {rows[0]['events']:,} events each; *items* is the "
        f"catalog that has events. Fit = Gram matrix + float32 Cholesky inverse + B; peak RSS added is "
        f"above the RSS before the fit. The library refuses catalogs above {MAX_ITEMS:,} items "
        f"(recommender.ease.MAX_ITEMS: {MEMORY_BUDGET / GIB:g} GiB of float32).", "",
        table(rows), ""])


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = [r["items_seen"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(x, [r["fit_seconds"] for r in rows], marker="o")
    left.set(xlabel="items", ylabel="fit seconds", title="EASE fit time (1 BLAS thread)")
    right.plot(x, [r["fit_added_rss"] / GIB for r in rows], marker="o", label="fit peak RSS added")
    right.plot(x, [r["matrix_bytes"] / GIB for r in rows], linestyle="dotted", label="float32 items^2")
    right.set(xlabel="items", ylabel="GiB", title="EASE fit memory")
    right.legend()
    for ax in (left, right):
        ax.axvline(MAX_ITEMS, color="grey", linestyle="dashed", linewidth=1)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=description(__doc__))
    parser.add_argument("--items", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--events", type=int, default=EVENTS)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    steps = Steps()
    rows = []
    for items in tqdm(sorted(args.items), unit="size", desc="EASE sizes"):
        rows.append(measure(items, args.events, steps))
        tqdm.write(f"{rows[-1]['items_seen']:,} items: fit {rows[-1]['fit_seconds']:.1f}s, "
                   f"+{rows[-1]['fit_added_rss'] / GIB:.2f} GiB")
    seconds = time.perf_counter() - started
    info = machine()
    args.out.mkdir(parents=True, exist_ok=True)
    text = report(rows, info, seconds)
    (args.out / "ease_size.md").write_text(text + "\n")
    (args.out / "ease_size.json").write_text(json.dumps({"machine": info, "seconds": seconds, "rows": rows},
                                                        indent=2) + "\n")
    plot(rows, args.out / "ease_size.png")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
