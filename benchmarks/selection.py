"""What model choice (recommender.selection) adds to a refresh: time and memory on a synthetic store.

    OPENBLAS_NUM_THREADS=1 python -m benchmarks.selection                       # 1M events
    OPENBLAS_NUM_THREADS=1 python -m benchmarks.selection --events 200000

On the synthetic store of benchmarks.synthetic (the scale benchmark's generator), measured in this
process with benchmarks.scale.Steps (wall and CPU seconds, peak RSS above the step's start), the
refresh's CPU work without model choice (RECS_ALGORITHM=als before it was checked against anything)
and with it (RECS_ALGORITHM=auto, the default):

* training: the library-default ALS on every event (build_matrix + fit);
* precompute: its top 100 for the users active in the last 90 days (Recommender.precompute_indices);
* model choice: recommender.selection.select_model with the default candidates on its global time
  cut (the newest 20% of events held out), every candidate trained on the events before the cut and
  scored on the customers with events on both sides;
* training the chosen: the chosen configuration on every event, as the service trains it
  (service.training.choice.train: with its purchase index when it serves bought items);
* precompute the chosen: its top 100 for the same users.

The refresh's added cost is (model choice + training the chosen + precompute the chosen) - (training +
precompute); folding the stream, saving and writing the lists to Redis are the same either way. Writes
benchmarks/results/selection.md and selection.json, and prints the tables.
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
from recommender.events import active_users  # noqa: E402
from recommender.matrix import build_matrix, default_weights  # noqa: E402
from recommender.models import Recommender  # noqa: E402
from recommender.selection import SelectionReport, default_candidates, select_model  # noqa: E402
from service.settings import Settings  # noqa: E402
from service.training.choice import train  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
EVENTS = 1_000_000
#: Lists precomputed per chunk, as service.training.job does.
CHUNK = 5_000
BEFORE = ("training", "precompute")
AFTER = ("model choice", "training the chosen", "precompute the chosen")


def precompute(model: Recommender, users, n: int) -> None:
    codes = model.user_ids.lookup(users)
    codes = codes[codes >= 0]
    for start in tqdm(range(0, len(codes), CHUNK), desc="precompute", unit="chunk", leave=False):
        model.precompute_indices(codes[start:start + CHUNK], n)


def measure(events: int) -> tuple[dict, SelectionReport]:
    spec = SyntheticSpec.for_interactions(events, seed=0)
    table = generate(spec)
    settings = Settings()
    active = active_users(table, settings.active_days)
    steps = Steps()
    with steps.step("training"):
        default = Recommender(ModelParams()).fit(build_matrix(table, default_weights("als")))
    with steps.step("precompute", users=len(active)):
        precompute(default, active, settings.precompute_n)
    del default
    candidates = default_candidates()
    with steps.step("model choice"), tqdm(total=len(candidates), unit="candidate", desc="model choice") as bar:
        report = select_model(table, candidates, progress=lambda name: bar.update(1))
    with steps.step("training the chosen"):
        chosen = train(table, None, report.chosen_candidate)
    with steps.step("precompute the chosen", users=len(active)):
        precompute(chosen, active, settings.precompute_n)
    sizes = {"events": events, "users": spec.users, "items": spec.items, "active_users": len(active)}
    return {"sizes": sizes, "steps": steps.results}, report


def markdown(run: dict, report: SelectionReport, info: dict) -> str:
    steps = run["steps"]
    s = run["sizes"]
    lines = ["# Model choice: added cost", "",
             f"`python -m benchmarks.selection --events {s['events']}`, {time.strftime('%Y-%m-%d %H:%M')}: "
             f"{info['cores']} cores ({info['cpu']}), implicit {info['implicit']}, numpy {info['numpy']}, "
             f"OPENBLAS_NUM_THREADS={info['openblas_threads']}.", "",
             f"Synthetic store: {s['events']:,} events, {s['users']:,} users, {s['items']:,} items; "
             f"{s['active_users']:,} users active in the last 90 days get a precomputed top 100. Holdout: "
             f"{report.train_events:,} events before the cut, {report.test_events:,} after; "
             f"{report.users_scored:,} customers scored at k={report.k}.", "",
             "| refresh | step | wall s | CPU s | peak RSS added (GiB) |", "|---|---|---:|---:|---:|"]
    labels = {"training": "training (default ALS, all events)", "precompute": "precompute (default ALS)",
              "model choice": f"model choice ({len(report.results) - 2} candidates + 2 baselines)",
              "training the chosen": f"training the chosen ({report.chosen}, all events)",
              "precompute the chosen": f"precompute the chosen ({report.chosen})"}
    for refresh, names in (("without model choice", BEFORE), ("with model choice", AFTER)):
        for name in names:
            step = steps[name]
            lines.append(f"| {refresh} | {labels[name]} | {step['seconds']:.1f} | {step['cpu_seconds']:.1f} | "
                         f"{(step['peak_rss'] - step['rss_before']) / GIB:.2f} |")
    before = sum(steps[n]["seconds"] for n in BEFORE)
    after = sum(steps[n]["seconds"] for n in AFTER)
    cpu_added = sum(steps[n]["cpu_seconds"] for n in AFTER) - sum(steps[n]["cpu_seconds"] for n in BEFORE)
    ratio = steps["model choice"]["seconds"] / steps["training"]["seconds"]
    lines += ["", f"Added to the refresh: **{after - before:.1f} s** wall ({cpu_added:.1f} CPU s): {after:.1f} s "
              f"against {before:.1f} s; model choice alone costs {ratio:.1f}x one default training.", "",
              "| entry | serves own items | nDCG@10 | recall@10 | fit s | scoring s | note |",
              "|---|---|---:|---:|---:|---:|---|"]
    for r in report.results:
        ndcg = "-" if r.ndcg is None else f"{r.ndcg:.4f}"
        recall = "-" if r.recall is None else f"{r.recall:.4f}"
        note = "baseline" if r.baseline else (r.error or "")
        lines.append(f"| {r.name} | {'yes' if r.serves_bought_items else 'no'} | {ndcg} | {recall} | "
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
