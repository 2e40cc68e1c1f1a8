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

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy loads: implicit is slow with BLAS threads

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from benchmarks.scale import gib, load_average, parse_size, size_label  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
ENGINES = ("implicit", "spark")
FACTORS, ITERATIONS = 64, 15


class TreeRss:
    """Peak RSS of this process and all its descendants (Spark's JVM is a child), sampled every 0.1 s."""

    def __init__(self) -> None:
        self.peak = 0
        self._running = True
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while self._running:
            self.peak = max(self.peak, sum(_rss(pid) for pid in _tree(os.getpid())))
            time.sleep(0.1)

    def stop(self) -> int:
        self._running = False
        self._thread.join()
        return self.peak


def _children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    return children


def _tree(root: int) -> list[int]:
    children, pids, todo = _children(), [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo.extend(children.get(pid, []))
    return pids


def _rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def run_worker(args: argparse.Namespace) -> dict:
    """One engine on one size: generate, split, fit on the training half, evaluate."""
    from benchmarks.synthetic import generate_events
    from recommender.algorithms import ModelParams
    from recommender.evaluation import evaluate, temporal_split
    from recommender.trainers import fit_implicit

    events = generate_events(args.worker, seed=args.seed)
    split = temporal_split(events)
    params = ModelParams(algorithm="als", factors=FACTORS, iterations=ITERATIONS)
    out: dict = {"interactions": args.worker, "engine": args.engine, "load_before": load_average(),
                 "train_events": len(split.train), "test_events": len(split.test)}
    rss = TreeRss()
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
    lines = ["| size | engine | users x items | non-zeros (train) | fit s | JVM start s | nDCG@10 | recall@10 | "
             "coverage | peak RSS GiB | load avg before / after |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in results:
        m = r["metrics"]
        session = f"{r['session_seconds']:.1f}" if "session_seconds" in r else ""
        lines.append(f"| {size_label(r['interactions'])} | {r['engine']} | {r['users']:,} x {r['items']:,} | "
                     f"{r['nnz']:,} | {r['fit_seconds']:.1f} | {session} | {m['ndcg']:.4f} | {m['recall']:.4f} | "
                     f"{m['coverage']:.3f} | {gib(r['peak_rss'])} | {r['load_before']:.1f} / {r['load_after']:.1f} |")
    return "\n".join(lines)


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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
    if args.report_only:
        run = json.loads((args.out / "spark.json").read_text())
    else:
        from tqdm import tqdm

        started = time.perf_counter()
        jobs = [(parse_size(s), e) for s in args.sizes.split(",") if s.strip() for e in args.engines.split(",")]
        results = []
        with tempfile.TemporaryDirectory(prefix="encore-spark-bench-") as tmp:
            for n, engine in (bar := tqdm(jobs, desc="spark vs implicit", unit="fit")):
                bar.set_postfix_str(f"{size_label(n)} {engine}")
                result_path = Path(tmp) / f"{n}-{engine}.json"
                subprocess.run([sys.executable, "-m", "benchmarks.spark", "--worker", str(n), "--engine", engine,
                                "--seed", str(args.seed), "--master", args.master,
                                "--driver-memory", args.driver_memory, "--result", str(result_path)], check=True)
                results.append(json.loads(result_path.read_text()))
        run = {"command": " ".join(["OPENBLAS_NUM_THREADS=1 python -m benchmarks.spark", *argv]),
               "finished": time.strftime("%Y-%m-%d %H:%M"), "cpus": os.cpu_count(), "seed": args.seed,
               "master": args.master, "seconds": time.perf_counter() - started, "results": results}
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "spark.json").write_text(json.dumps(run, indent=1))
    plot(run["results"], args.out)
    text = report(run)
    (args.out / "spark.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
