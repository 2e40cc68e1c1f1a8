"""The whole refresh with model choice on, step by step, on a synthetic store: what model choice
(recommender.selection) adds, and what serving the repeat-aware model costs at 20M events.

    OPENBLAS_NUM_THREADS=1 python -m benchmarks.refresh                      # 1M and 20M events
    OPENBLAS_NUM_THREADS=1 python -m benchmarks.refresh --sizes 1M           # a quick look
    OPENBLAS_NUM_THREADS=1 python -m benchmarks.refresh --report-only        # from refresh.json

Per size, two cases, each in its own process (so peak RSS is the case's alone) against one real
redis-server, on the store of benchmarks.synthetic (the scale benchmark's generator):

* `chosen`: the refresh serves what model choice chose;
* `repeat`: the refresh serves the repeat-aware model whatever the choice (the worst case: its fit and
  precompute are the slowest), model choice still running first;
* `sample` (no refresh): model choice with its default sample and again with its candidates trained on
  every event before the cut (max_train_events=None), the same customers scored, to show what the
  sample changes in the holdout figures.

Steps (wall and CPU seconds, peak RSS, with the kernel's high-water mark reset before each):

* generate: the events (not part of the refresh);
* fold: load the snapshot of the events folded so far, append the newest 1% (what the stream brought
  since the last refresh; reading it from the stream is not measured), save it (service.store.snapshot);
* model choice: `select_model` with the default candidates and the repeat-aware ones (`repeat`,
  `personal`, added when recommender.selection does not list them yet), with its default samples
  (`SCORED_USERS`, `TRAIN_EVENTS`); its report splits it into preparing the holdout, the candidates'
  fits and their scoring;
* final fit: the served model on every event (build_matrix with its weights, then fit);
* precompute: users active in the last 90 days (`Recommender.precompute_indices`, top 100, in chunks of
  5,000 as service.training.job does) and the 50 similar items of every item (`similar_indices`);
* Redis write: both, with `service.store.lists.write_lists`.

The refresh is fold + model choice + final fit + precompute + Redis write; without model choice it
would be the same less the model-choice step. benchmarks.selection measures model choice's added cost
against a refresh training the default ALS, in one process. Writes benchmarks/results/refresh.md and
refresh.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

import recommender  # noqa: F401 - first: recommender/__init__.py sets OPENBLAS_NUM_THREADS=1 before numpy loads

import numpy as np

from benchmarks.harness.machine import load_average, load_averages
from benchmarks.harness.processes import BenchError, run_worker_process
from benchmarks.harness.redis_server import running_redis
from benchmarks.harness.report import GIB, RESULTS, description, gib, load_run, md_table, run_record, save_run
from benchmarks.harness.steps import Steps
from benchmarks.synthetic import parse_size, size_label

#: Refresh cases, and `sample`: model choice with its default sample and on every event before the cut.
CASES = ("chosen", "repeat", "sample")
CHUNK = 5_000  # service.training.job.PRECOMPUTE_CHUNK
TOP_N, SIMILAR_N = 100, 50  # service.settings defaults: precompute_n, similar_n
ACTIVE_DAYS = 90.0
NEW_SHARE = 0.01  # of the events, new since the last refresh
REFRESH_STEPS = ("fold", "model choice", "final fit", "precompute", "redis write")
TARGET_SECONDS = 8 * 60
TARGET_RSS = 6 * GIB


def candidates() -> list:
    """The default candidates, with the repeat-aware ones the service will offer."""
    from recommender.algorithms import ModelParams
    from recommender.selection import Candidate, default_candidates

    pool = default_candidates()
    names = {c.name for c in pool}
    for name in ("repeat", "personal"):
        if name not in names:
            pool.append(Candidate(name, ModelParams(algorithm=name), filter_interacted=False))
    return pool


def served(report, case: str):
    """The Candidate the refresh trains on everything."""
    from recommender.algorithms import ModelParams
    from recommender.selection import Candidate

    if case == "repeat":
        return Candidate("repeat", ModelParams(algorithm="repeat"), filter_interacted=False)
    if report.chosen_candidate is not None:
        return report.chosen_candidate
    return Candidate("personal", ModelParams(algorithm="personal"), filter_interacted=False)  # its baseline won


# -- the worker: one size and case, in its own process --------------------------------------------
def sample_check(args: argparse.Namespace) -> dict:
    """Model choice's holdout figures with and without its training sample (the `sample` case)."""
    from benchmarks.synthetic import SyntheticSpec, generate
    from recommender.selection import select_model

    steps = Steps()
    events = generate(SyntheticSpec.for_interactions(args.events, seed=args.seed))
    out: dict = {"events": args.events, "label": size_label(args.events), "case": "sample",
                 "load_before": load_averages()}
    for name, limit in (("sampled", "default"), ("all events", None)):
        with steps.step(name):
            report = select_model(events, candidates()) if limit == "default" else \
                select_model(events, candidates(), max_train_events=None)
        out[name] = report.as_dict()
    out["steps"], out["load_after"] = steps.results, load_averages()
    return out


def run_worker(args: argparse.Namespace) -> dict:
    import redis.asyncio as aioredis
    from tqdm import tqdm

    from benchmarks.synthetic import SyntheticSpec, generate
    from recommender.events import EventTable, active_users
    from recommender.matrix import build_matrix
    from recommender.models import Recommender
    from recommender.selection import select_model
    from service.settings import Settings
    from service.store.keys import Keys
    from service.store.lists import write_lists
    from service.store.snapshot import Snapshot, load_snapshot, save_snapshot

    steps = Steps()
    out: dict = {"events": args.events, "label": size_label(args.events), "case": args.case,
                 "load_before": load_averages()}
    spec = SyntheticSpec.for_interactions(args.events, seed=args.seed)
    with steps.step("generate"):
        events = generate(spec)
    out.update(users=spec.users, items=spec.items)

    with tempfile.TemporaryDirectory(prefix="encore-refresh-") as tmp:
        path = Path(tmp) / "snapshot.npz"
        old = len(events) - int(len(events) * NEW_SHARE)
        save_snapshot(Snapshot(events.take(np.arange(old))), path)
        new = events.take(np.arange(old, len(events)))
        del events
        with steps.step("fold"):
            events = EventTable.concat([load_snapshot(path).events, new])
            save_snapshot(Snapshot(events), path)
        out["snapshot_bytes"] = path.stat().st_size
    del new

    pool = candidates()
    with steps.step("model choice") as record, tqdm(total=len(pool), unit="candidate", desc="model choice") as bar:
        report = select_model(events, pool, progress=lambda name: bar.update(1))
    fits = {(c.params, c.event_weights()): report.result(c.name).fit_seconds for c in pool}  # shared fits once
    record.update(prepare_seconds=report.prepare_seconds, fit_seconds=sum(fits.values()), distinct_fits=len(fits),
                  score_seconds=sum(r.score_seconds for r in report.results),
                  baseline_seconds=sum(r.fit_seconds for r in report.results if r.baseline))
    out["report"] = report.as_dict()

    candidate = served(report, args.case)
    out["served"] = candidate.name
    with steps.step("final fit"):
        matrix = build_matrix(events, candidate.event_weights())
        model = Recommender(candidate.params).fit(matrix, events=events)

    with steps.step("precompute") as record:
        active = active_users(events, ACTIVE_DAYS)
        codes = model.user_ids.lookup(active)
        active, codes = active[codes >= 0], codes[codes >= 0]
        del events
        started = time.perf_counter()
        user_lists = [model.precompute_indices(codes[s:s + CHUNK], TOP_N)
                      for s in tqdm(range(0, len(codes), CHUNK), desc="precompute users", unit="chunk")]
        record["users"], record["user_seconds"] = len(codes), time.perf_counter() - started
        started = time.perf_counter()
        items = np.arange(len(model.item_ids))
        item_lists = [model.similar_indices(items[s:s + CHUNK], SIMILAR_N) for s in range(0, len(items), CHUNK)]
        record["items"], record["item_seconds"] = len(items), time.perf_counter() - started

    keys, ttl, version = Keys(), Settings().version_ttl, f"refresh-{out['label']}-{args.case}"
    item_ids = model.item_ids.ids

    async def write() -> dict:
        client = aioredis.Redis(host="127.0.0.1", port=args.redis_port)
        try:
            await client.flushall()
            for chunk, (ids, scores) in enumerate(user_lists):
                users = active[chunk * CHUNK: chunk * CHUNK + len(ids)]
                await write_lists(client, [keys.user_recs(version, u) for u in users], ids, scores, ttl)
            for chunk, (ids, scores) in enumerate(item_lists):
                names = item_ids[chunk * CHUNK: chunk * CHUNK + len(ids)]
                await write_lists(client, [keys.similar(version, i) for i in names], ids, scores, ttl)
            stored = await client.dbsize()
            await client.flushall()
            return {"keys": stored}
        finally:
            await client.aclose()

    with steps.step("redis write") as record:
        record.update(asyncio.run(write()))

    out["steps"] = steps.results
    out["refresh_seconds"] = sum(steps.results[s]["seconds"] for s in REFRESH_STEPS)
    out["refresh_cpu_seconds"] = sum(steps.results[s]["cpu_seconds"] for s in REFRESH_STEPS)
    out["refresh_peak_rss"] = max(steps.results[s]["peak_rss"] for s in REFRESH_STEPS)
    out["load_after"] = load_averages()
    return out


# -- the report -----------------------------------------------------------------------------------
def _seconds(step: dict) -> str:
    return f"{step['seconds']:.1f} ({step['cpu_seconds']:.1f})"


def table(results: list[dict]) -> str:
    results = [r for r in results if r["case"] != "sample"]
    header = ["", *(f"{r['label']}, serves {r['served']}" + (" (forced)" if r["case"] == "repeat" else "")
                    for r in results)]
    s = lambda r, name: r["steps"][name]  # noqa: E731

    def row(name: str, fn) -> list[str]:
        return [name, *(fn(r) for r in results)]

    rows = [
        row("events; users x items", lambda r: f"{r['events']:,}; {r['users']:,} x {r['items']:,}"),
        row("fold s (CPU s)", lambda r: _seconds(s(r, "fold"))),
        row("**model choice** s (CPU s)", lambda r: f"**{_seconds(s(r, 'model choice'))}**"),
        row("... holdout: cut, samples, maps, relevant items s",
            lambda r: f"{s(r, 'model choice')['prepare_seconds']:.1f}"),
        row("... candidates' fits s (distinct fits)",
            lambda r: f"{s(r, 'model choice')['fit_seconds']:.1f} ({s(r, 'model choice')['distinct_fits']})"),
        row("... scoring (candidates and baselines) s", lambda r: f"{s(r, 'model choice')['score_seconds']:.1f}"),
        row("... events trained on / before the cut; customers scored",
            lambda r: f"{r['report']['train_events']:,} / {r['report']['events_before_cut']:,}; "
                      f"{r['report']['users_scored']:,}"),
        row("final fit s (CPU s)", lambda r: _seconds(s(r, "final fit"))),
        row("precompute s (CPU s)", lambda r: _seconds(s(r, "precompute"))),
        row("... active users; their lists s",
            lambda r: f"{s(r, 'precompute')['users']:,}; {s(r, 'precompute')['user_seconds']:.1f}"),
        row("... items; similar items s",
            lambda r: f"{s(r, 'precompute')['items']:,}; {s(r, 'precompute')['item_seconds']:.1f}"),
        row("Redis write s (CPU s)", lambda r: _seconds(s(r, "redis write"))),
        row("**refresh** s (CPU s)", lambda r: f"**{r['refresh_seconds']:.1f} ({r['refresh_cpu_seconds']:.1f})**"),
        row("refresh without model choice s",
            lambda r: f"{r['refresh_seconds'] - s(r, 'model choice')['seconds']:.1f}"),
        row("**peak RSS GiB, refresh**", lambda r: f"**{gib(r['refresh_peak_rss'])}**"),
        row("peak RSS GiB: fold / model choice / final fit / precompute / write",
            lambda r: " / ".join(gib(s(r, n)["peak_rss"]) for n in REFRESH_STEPS)),
        row("load average (1, 5, 15 min) before; after", lambda r: f"{r['load_before']}; {r['load_after']}"),
    ]
    return md_table(header, "l" + "r" * len(results), rows)


def choices(results: list[dict]) -> str:
    lines = []
    for r in results:
        if r["case"] != "chosen":
            continue
        report = r["report"]
        lines += [f"Model choice at {r['label']} events: **{report['chosen']}** ({report['reason']}).", "",
                  md_table(("entry", "serves own items", "nDCG@10", "recall@10", "fit s", "scoring s", "note"),
                           "llrrrrl",
                           [(e["name"], "no" if e["filter_interacted"] else "yes",
                             "-" if e["ndcg"] is None else f"{e['ndcg']:.4f}",
                             "-" if e["recall"] is None else f"{e['recall']:.4f}",
                             f"{e['fit_seconds']:.1f}", f"{e['score_seconds']:.1f}",
                             "baseline" if e["baseline"] else (e["error"] or "")) for e in report["results"]]), ""]
    return "\n".join(lines)


def targets(results: list[dict]) -> str:
    lines = []
    for r in (r for r in results if r["case"] != "sample"):
        seconds, peak = r["refresh_seconds"], r["refresh_peak_rss"]
        lines.append(f"* {r['label']}, serving {r['served']}: refresh {seconds:.0f} s ({seconds / 60:.1f} min, "
                     f"{r['refresh_cpu_seconds']:.0f} CPU s) against {TARGET_SECONDS / 60:.0f} min: "
                     f"{'met' if seconds <= TARGET_SECONDS else 'missed'}; peak RSS {gib(peak)} GiB against "
                     f"{TARGET_RSS / GIB:.0f} GiB: {'met' if peak <= TARGET_RSS else 'missed'}")
    return "\n".join(lines)


def sample_table(results: list[dict]) -> str:
    lines = []
    for r in (r for r in results if r["case"] == "sample"):
        a, b = r["sampled"], r["all events"]
        both = {e["name"]: e for e in b["results"]}
        lines += [f"Model choice at {r['label']} events on its sample ({a['train_events']:,} events before the cut, "
                  f"{r['steps']['sampled']['seconds']:.0f} s, {r['steps']['sampled']['cpu_seconds']:.0f} CPU s) and on "
                  f"all {b['train_events']:,} ({r['steps']['all events']['seconds']:.0f} s, "
                  f"{r['steps']['all events']['cpu_seconds']:.0f} CPU s), the same {a['users_scored']:,} customers "
                  f"scored: chosen **{a['chosen']}** and **{b['chosen']}**.", "",
                  md_table(("entry", "nDCG@10, sample", "nDCG@10, all events", "difference", "fit s, sample",
                            "fit s, all events"), "lrrrrr",
                           [(e["name"], "-" if e["ndcg"] is None else f"{e['ndcg']:.4f}",
                             "-" if both[e["name"]]["ndcg"] is None else f"{both[e['name']]['ndcg']:.4f}",
                             "-" if e["ndcg"] is None else f"{e['ndcg'] - both[e['name']]['ndcg']:+.4f}",
                             f"{e['fit_seconds']:.1f}", f"{both[e['name']]['fit_seconds']:.1f}")
                            for e in a["results"]]), ""]
    return "\n".join(lines)


def report_text(run: dict) -> str:
    return "\n".join([
        "# Refresh with model choice", "",
        f"`{run['command']}`, {run['finished']}, {run['cpus']} CPUs shared with other work, whole run "
        f"{run['seconds'] / 60:.1f} min. Synthetic store (benchmarks/synthetic.py, seed {run['seed']}). Wall seconds "
        "with CPU seconds (all threads) in brackets: on a loaded machine wall time exceeds what the work needs.", "",
        table(run["results"]), "", targets(run["results"]), "", choices(run["results"]), sample_table(run["results"]),
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=description(__doc__))
    parser.add_argument("--sizes", default="1M,20M", help="comma-separated event counts: 1M,20M or any like 300k")
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, of {', '.join(CASES)}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--report-only", action="store_true", help="rewrite refresh.md from refresh.json")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--events", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--case", choices=CASES, help=argparse.SUPPRESS)
    parser.add_argument("--redis-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    if args.worker:
        measure = sample_check if args.case == "sample" else run_worker
        args.result.write_text(json.dumps(measure(args), default=float))
        return 0
    try:
        run = load_run(args.out, "refresh") if args.report_only else run_cases(args, argv)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    text = report_text(run)
    (args.out / "refresh.md").write_text(text + "\n")
    print(text)
    return 0


def run_cases(args: argparse.Namespace, argv: list[str]) -> dict:
    started = time.perf_counter()
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = sorted(set(cases) - set(CASES))
    if unknown:
        raise BenchError(f"unknown case(s) {', '.join(unknown)}; expected {', '.join(CASES)}")
    results = []
    with (tempfile.TemporaryDirectory(prefix="encore-refresh-") as tmp,
          running_redis(Path(tmp) / "redis", durable=False) as redis_server):
        for size in (parse_size(s) for s in args.sizes.split(",") if s.strip()):
            for case in cases:
                print(f"== {size_label(size)} events, case {case} (load {load_average():.1f})", file=sys.stderr,
                      flush=True)
                result = run_worker_process("benchmarks.refresh", [
                    "--worker", "--events", str(size), "--case", case, "--seed", str(args.seed),
                    "--redis-port", str(redis_server.port)], Path(tmp) / f"{size}-{case}.json")
                results.append(result)
                if case != "sample":
                    print(f"   refresh {result['refresh_seconds']:.0f} s, {result['refresh_cpu_seconds']:.0f} CPU s, "
                          f"peak RSS {gib(result['refresh_peak_rss'])} GiB", file=sys.stderr, flush=True)
    run = run_record(" ".join(["OPENBLAS_NUM_THREADS=1 python -m benchmarks.refresh", *argv]),
                     time.perf_counter() - started, results, seed=args.seed)
    save_run(args.out, "refresh", run)
    return run


if __name__ == "__main__":
    sys.exit(main())
