"""What model choice (recommender.selection) adds to a training: time and memory on a synthetic store.

    OPENBLAS_NUM_THREADS=1 python -m benchmarks.selection                       # 1M events
    OPENBLAS_NUM_THREADS=1 python -m benchmarks.selection --events 200000

On the synthetic store of benchmarks.synthetic (the scale benchmark's generator), measured in this
process with benchmarks.scale.Steps (wall and CPU seconds, peak RSS above the step's start):

* training: what a refresh trains today, the library-default ALS on every event (build_matrix + fit);
* model choice: recommender.selection.select_model with the default candidates on its global time
  cut (the newest 20% of events held out), every candidate trained on the events before the cut and
  scored on the customers with events on both sides.

Model choice runs before the chosen model's training, so the refresh's added cost is the model-choice
step. Writes benchmarks/results/selection.md and selection.json, and prints the tables.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy loads

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from tqdm import tqdm  # noqa: E402

from benchmarks.quality import machine  # noqa: E402
from benchmarks.scale import GIB, Steps, size_label  # noqa: E402
from benchmarks.synthetic import SyntheticSpec, generate  # noqa: E402
from recommender.algorithms import ModelParams  # noqa: E402
from recommender.matrix import build_matrix, default_weights  # noqa: E402
from recommender.models import Recommender  # noqa: E402
from recommender.selection import SelectionReport, default_candidates, select_model  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
EVENTS = 1_000_000


def measure(events: int) -> tuple[dict, SelectionReport]:
    spec = SyntheticSpec.for_interactions(events, seed=0)
    table = generate(spec)
    steps = Steps()
    with steps.step("training"):
        Recommender(ModelParams()).fit(build_matrix(table, default_weights("als")))
    candidates = default_candidates()
    with steps.step("model choice"), tqdm(total=len(candidates), unit="candidate", desc="model choice") as bar:
        report = select_model(table, candidates, progress=lambda name: bar.update(1))
    sizes = {"events": events, "users": spec.users, "items": spec.items}
    return {"sizes": sizes, "steps": steps.results}, report


def markdown(run: dict, report: SelectionReport, info: dict) -> str:
    training, choice = run["steps"]["training"], run["steps"]["model choice"]
    s = run["sizes"]
    lines = ["# Model choice: added cost", "",
             f"`python -m benchmarks.selection --events {s['events']}`, {time.strftime('%Y-%m-%d %H:%M')}: "
             f"{info['cores']} cores ({info['cpu']}), implicit {info['implicit']}, numpy {info['numpy']}, "
             f"OPENBLAS_NUM_THREADS={info['openblas_threads']}.", "",
             f"Synthetic store: {s['events']:,} events, {s['users']:,} users, {s['items']:,} items. Holdout: "
             f"{report.train_events:,} events before the cut, {report.test_events:,} after; "
             f"{report.users_scored:,} customers scored at k={report.k}.", "",
             "| step | wall s | CPU s | peak RSS added (GiB) |", "|---|---:|---:|---:|"]
    for name, step in (("training (default ALS, all events)", training), ("model choice", choice)):
        lines.append(f"| {name} | {step['seconds']:.1f} | {step['cpu_seconds']:.1f} | "
                     f"{(step['peak_rss'] - step['rss_before']) / GIB:.2f} |")
    lines += ["", f"Model choice costs {choice['seconds'] / training['seconds']:.1f}x one default training.", "",
              "| entry | serves own items | nDCG@10 | recall@10 | fit s | scoring s | note |",
              "|---|---|---:|---:|---:|---:|---|"]
    for r in report.results:
        ndcg = "-" if r.ndcg is None else f"{r.ndcg:.4f}"
        recall = "-" if r.recall is None else f"{r.recall:.4f}"
        note = "baseline" if r.baseline else (r.error or "")
        lines.append(f"| {r.name} | {'no' if r.filter_interacted else 'yes'} | {ndcg} | {recall} | "
                     f"{r.fit_seconds:.1f} | {r.score_seconds:.1f} | {note} |")
    lines += ["", f"Chosen: **{report.chosen}**: {report.reason}.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=EVENTS)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    print(f"measuring model choice at {size_label(args.events)} events", file=sys.stderr)
    run, report = measure(args.events)
    info = machine()
    text = markdown(run, report, info)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "selection.md").write_text(text + "\n")
    (args.out / "selection.json").write_text(json.dumps({"machine": info, **run, "report": report.as_dict()},
                                                        indent=2, default=float) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
