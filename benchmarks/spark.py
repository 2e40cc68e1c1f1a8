"""Spark ALS against implicit's ALS on one machine: training time, nDCG@10 and peak memory.

    OPENBLAS_NUM_THREADS=1 python -m benchmarks.spark                 # 1M and 5M interactions
    OPENBLAS_NUM_THREADS=1 python -m benchmarks.spark --sizes 1M      # a quick look

Per size: the synthetic events of benchmarks.synthetic (as benchmarks.scale uses), one temporal split
(recommender.evaluation.temporal_split), then each engine in its own subprocess (so peak RSS is that
engine's alone; for Spark the Python driver plus its JVM) fits ALS with the same ModelParams on the
training half and is scored on the test half by recommender.evaluation.evaluate. Spark runs
`local[N]` with every core (`--master` to change it); its session start (the JVM) is timed apart
from the fit. Writes benchmarks/results/spark.md, spark.json and spark.png, and prints the table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import recommender  # noqa: F401 - first: recommender/__init__.py sets OPENBLAS_NUM_THREADS=1 before numpy loads

from benchmarks.harness.machine import load_average
from benchmarks.harness.proc import PeakTreeRss
from benchmarks.harness.processes import run_worker_process
from benchmarks.harness.report import RESULTS, gib, load_run, md_table, pyplot, run_record, save_run
from benchmarks.synthetic import parse_size, size_label

ENGINES = ("implicit", "spark")
FACTORS, ITERATIONS = 64, 15


def run_worker(args: argparse.Namespace) -> dict:
    """One engine on one size: generate, split, fit on the training half, evaluate."""
    from benchmarks.synthetic import generate_events
    from recommender.algorithms import ModelParams
    from recommender.evaluation import evaluate
    from recommender.splits import temporal_split
    from recommender.trainers import fit_implicit

    events = generate_events(args.worker, seed=args.seed)
    split = temporal_split(events)
    params = ModelParams(algorithm="als", factors=FACTORS, iterations=ITERATIONS)
    out: dict = {"interactions": args.worker, "engine": args.engine, "load_before": load_average(),
                 "train_events": len(split.train), "test_events": len(split.test)}
    rss = PeakTreeRss(os.getpid())
    if args.engine == "implicit":
        started = time.perf_counter()
        model = fit_implicit(split.train, params)
        out["fit_seconds"] = time.perf_counter() - started
    else:
        from recommender.spark_als import SparkALSTrainer

        conf = {"spark.master": args.master, "spark.driver.memory": args.driver_memory, "spark.ui.enabled": "false"}
        with tempfile.TemporaryDirectory(prefix="encore-spark-bench-") as workdir:
            trainer = SparkALSTrainer(workdir=workdir, conf=conf)
            started = time.perf_counter()
            trainer.spark  # noqa: B018 - start the JVM outside the timed fit
            out["session_seconds"] = time.perf_counter() - started
            started = time.perf_counter()
            model = trainer(split.train, params)
            out["fit_seconds"] = time.perf_counter() - started
            trainer.close()
    out["peak_rss"] = rss.stop()
    users, items = model.user_items.shape
    out.update(users=users, items=items, nnz=int(model.user_items.nnz), load_after=load_average())
    out["metrics"] = evaluate(model, split.test).as_dict()
    return out


def table(results: list[dict]) -> str:
    rows = []
    for r in results:
        m = r["metrics"]
        session = f"{r['session_seconds']:.1f}" if "session_seconds" in r else ""
        rows.append((size_label(r["interactions"]), r["engine"], f"{r['users']:,} x {r['items']:,}", f"{r['nnz']:,}",
                     f"{r['fit_seconds']:.1f}", session, f"{m['ndcg']:.4f}", f"{m['recall']:.4f}",
                     f"{m['coverage']:.3f}", gib(r["peak_rss"]), f"{r['load_before']:.1f} / {r['load_after']:.1f}"))
    return md_table(("size", "engine", "users x items", "non-zeros (train)", "fit s", "JVM start s", "nDCG@10",
                     "recall@10", "coverage", "peak RSS GiB", "load avg before / after"), "lllrrrrrrrl", rows)


def comparison(results: list[dict]) -> str:
    by = {(r["interactions"], r["engine"]): r for r in results}
    lines = []
    for n in sorted({r["interactions"] for r in results}):
        if (n, "implicit") in by and (n, "spark") in by:
            imp, spk = by[n, "implicit"], by[n, "spark"]
            lines.append(f"* {size_label(n)}: Spark took {spk['fit_seconds'] / imp['fit_seconds']:.1f}x implicit's "
                         f"time ({spk['fit_seconds']:.0f} s vs {imp['fit_seconds']:.0f} s, plus "
                         f"{spk['session_seconds']:.0f} s to start the JVM) and reached "
                         f"{spk['metrics']['ndcg'] / imp['metrics']['ndcg']:.0%} of its nDCG@10 "
                         f"({spk['metrics']['ndcg']:.4f} vs {imp['metrics']['ndcg']:.4f}); peak RSS "
                         f"{gib(spk['peak_rss'])} vs {gib(imp['peak_rss'])} GiB.")
    return "\n".join(lines)


def plot(results: list[dict], out_dir: Path) -> None:
    plt = pyplot()
    sizes = sorted({r["interactions"] for r in results})
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    width = 0.38
    for offset, engine in zip((-width / 2, width / 2), ENGINES):
        rows = {r["interactions"]: r for r in results if r["engine"] == engine}
        xs = [i + offset for i, n in enumerate(sizes) if n in rows]
        axes[0].bar(xs, [rows[n]["fit_seconds"] for n in sizes if n in rows], width, label=engine)
        axes[1].bar(xs, [rows[n]["metrics"]["ndcg"] for n in sizes if n in rows], width, label=engine)
    for ax, title in zip(axes, ("ALS fit seconds (train half)", "nDCG@10 (temporal split)")):
        ax.set_xticks(range(len(sizes)), [size_label(n) for n in sizes])
        ax.set_title(title)
        ax.legend()
    fig.tight_layout()
    fig.savefig(out_dir / "spark.png", dpi=100)
    plt.close(fig)


def report(run: dict) -> str:
    return "\n\n".join([
        "# Spark ALS vs implicit ALS",
        f"`{run['command']}`, {run['finished']}, {run['cpus']} CPUs, Spark master `{run['master']}`, whole run "
        f"{run['seconds'] / 60:.1f} min. Synthetic data (benchmarks/synthetic.py, seed {run['seed']}), one temporal "
        f"split per size; both engines fit ALS with {FACTORS} factors, {ITERATIONS} iterations and the library's "
        "other defaults (regularization 30, alpha 5, log confidence) on the training half, mapped onto Spark as "
        "recommender/spark_als.py explains, and are scored by recommender.evaluation.evaluate on the test half. "
        "Fit seconds are wall-clock; Spark's include writing the events to Parquet and reading the factors back. "
        "Peak RSS is the process tree (for Spark: the Python driver and its JVM).",
        table(run["results"]), comparison(run["results"]), "![spark vs implicit](spark.png)",
    ]) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Spark ALS vs implicit ALS (see the module docstring).")
    parser.add_argument("--sizes", default="1M,5M", help="comma-separated: 1M,5M or any like 300k")
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--master", default=f"local[{os.cpu_count()}]")
    parser.add_argument("--driver-memory", default="4g", help="Spark driver JVM heap (local mode: all of Spark)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--report-only", action="store_true", help="rewrite spark.md and the plot from spark.json")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--engine", help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)

    if args.worker:
        args.result.write_text(json.dumps(run_worker(args)))
        return
    run = load_run(args.out, "spark") if args.report_only else run_engines(args, argv)
    plot(run["results"], args.out)
    text = report(run)
    (args.out / "spark.md").write_text(text)
    print(text)


def run_engines(args: argparse.Namespace, argv: list[str]) -> dict:
    """One worker process per size and engine; the run record, saved as spark.json."""
    from tqdm import tqdm

    started = time.perf_counter()
    jobs = [(parse_size(s), e) for s in args.sizes.split(",") if s.strip() for e in args.engines.split(",")]
    results = []
    with tempfile.TemporaryDirectory(prefix="encore-spark-bench-") as tmp:
        for n, engine in (bar := tqdm(jobs, desc="spark vs implicit", unit="fit")):
            bar.set_postfix_str(f"{size_label(n)} {engine}")
            results.append(run_worker_process("benchmarks.spark", [
                "--worker", str(n), "--engine", engine, "--seed", str(args.seed), "--master", args.master,
                "--driver-memory", args.driver_memory], Path(tmp) / f"{n}-{engine}.json"))
    run = run_record(" ".join(["OPENBLAS_NUM_THREADS=1 python -m benchmarks.spark", *argv]),
                     time.perf_counter() - started, results, seed=args.seed, master=args.master)
    save_run(args.out, "spark", run)
    return run

if __name__ == "__main__":
    main()
