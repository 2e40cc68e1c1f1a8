"""Scale benchmark: ingestion, ALS training, top-100 precompute and the Redis write at 1M, 5M and
20M synthetic interactions, with the peak memory of every step.

    OPENBLAS_NUM_THREADS=1 python -m benchmarks.scale                  # 1M, 5M and 20M (about 15 min)
    OPENBLAS_NUM_THREADS=1 python -m benchmarks.scale --sizes 1M       # a quick look

Each size runs in its own subprocess (so peak RSS is that size's alone) against one real
redis-server on a free loopback port. Per size:

* generate the events (benchmarks.synthetic; not part of the refresh);
* ingestion: `build_matrix` on the EventTable with ALS's default weights (per-user recency included), events per second;
* training: Recommender with ModelParams(algorithm="als", factors=64, iterations=15);
* precompute rate for all users on a random sample: implicit's plain batched
  `model.algorithm.recommend(userids, user_items[userids], N=100)`, `Recommender.recommend_indices`
  (what Refresher.precompute calls today) and `recommender.topn` (1 and 2 threads), same users,
  same run, and whether topn returned the same lists as implicit;
* precompute for all users with topn (in full up to --all-users-max users, else the sampled rate);
* the refresh path: users active in the last --active-days, their top 100 with topn, written to
  Redis with `service.store.lists.write_lists` under version-scoped keys;
* peak RSS of every step (the kernel's high-water mark, reset before each step).

Writes benchmarks/results/scale.md, scale.json, scale_time.png and scale_memory.png.
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

from benchmarks.harness.machine import load_average
from benchmarks.harness.processes import BenchError, run_worker_process
from benchmarks.harness.redis_server import running_redis
from benchmarks.harness.report import GIB, RESULTS, gib, load_run, md_table, pyplot, run_record, save_run
from benchmarks.harness.steps import Steps
from benchmarks.synthetic import parse_size, size_label
from recommender.events import active_users

N = 100
#: The refresh precomputes in chunks of this many users (service.refresh.PRECOMPUTE_CHUNK).
CHUNK = 5_000
#: Steps that make up a refresh of the serving lists (the issue's definition).
REFRESH_STEPS = ("ingest", "train", "active_users", "topn_prepare", "precompute_active", "redis_write")
TARGET_REFRESH_SECONDS = 8 * 60
TARGET_RSS_BYTES = 6 * GIB
TARGET_SPEEDUP = 1.5


# -- the worker: one size, in its own process ---------------------------------------------------
def same_lists(reference_ids: np.ndarray, reference_scores: np.ndarray, ids: np.ndarray,
               scores: np.ndarray, tolerance: float = 1e-4) -> tuple[float, float]:
    """(share of users with exactly the same item set, share whose lists differ only by ties)."""
    identical = tie_only = 0
    for ref, ref_s, got, got_s in zip(reference_ids, reference_scores, ids, scores):
        a, b = set(ref[np.isfinite(ref_s) & (ref_s > -1e30)].tolist()), set(got[got >= 0].tolist())
        if a == b:
            identical += 1
            tie_only += 1
        else:  # only items scored like the last one may swap: their scores agree within tolerance
            boundary = float(np.min(got_s[got >= 0])) if (got >= 0).any() else 0.0
            differing = np.isin(got, list(b - a))
            tie_only += bool(np.all(np.abs(got_s[differing] - boundary) <= tolerance * max(1.0, abs(boundary))))
    users = max(len(reference_ids), 1)
    return identical / users, tie_only / users


def run_worker(args: argparse.Namespace) -> dict:
    import redis.asyncio as aioredis
    from tqdm import tqdm

    from benchmarks.synthetic import SyntheticSpec, generate
    from recommender.algorithms import ModelParams
    from recommender.matrix import build_matrix, default_weights
    from recommender.models import Recommender
    from recommender.topn import ItemScorer
    from service.store.lists import write_lists
    from service.store.keys import Keys
    from service.settings import Settings

    n_events = args.worker
    label = size_label(n_events)
    steps = Steps()
    out: dict = {"interactions": n_events, "label": label, "load_before": load_average()}
    rng = np.random.default_rng(args.seed + 1)

    spec = SyntheticSpec.for_interactions(n_events, seed=args.seed)
    with steps.step("generate"):
        events = generate(spec)
    out.update(users=spec.users, items=spec.items)

    with steps.step("ingest") as record:
        interactions = build_matrix(events, default_weights("als"))  # what the service's ALS training uses
    record["events_per_second"] = n_events / record["seconds"]
    user_items = interactions.matrix
    out.update(matrix_users=user_items.shape[0], matrix_items=user_items.shape[1], nnz=int(user_items.nnz))

    params = ModelParams(algorithm="als", factors=64, iterations=15)
    with steps.step("train"):
        model = Recommender(params).fit(interactions, show_progress=True)
    algorithm = model.algorithm
    n_users = user_items.shape[0]

    # -- precompute rates for all users, on one random sample, same users for everyone -----------
    sample = np.sort(rng.choice(n_users, min(args.sample, n_users), replace=False))
    with steps.step("precompute_implicit", users=len(sample)) as record:
        ref_ids, ref_scores = [], []
        for start in tqdm(range(0, len(sample), CHUNK), desc=f"{label} implicit recommend", unit="chunk",
                          leave=False):
            batch = sample[start:start + CHUNK]
            ids, scores = algorithm.recommend(batch, user_items[batch], N=N)
            ref_ids.append(ids)
            ref_scores.append(scores)
    record["users_per_second"] = len(sample) / record["seconds"]
    ref_ids, ref_scores = np.concatenate(ref_ids), np.concatenate(ref_scores)

    service_sample = sample[: min(args.service_sample, len(sample))]
    with steps.step("precompute_service", users=len(service_sample)) as record:
        for start in tqdm(range(0, len(service_sample), CHUNK), desc=f"{label} recommend_indices",
                          unit="chunk", leave=False):
            model.recommend_indices(service_sample[start:start + CHUNK], N)
    record["users_per_second"] = len(service_sample) / record["seconds"]

    with steps.step("topn_prepare"):
        scorer = ItemScorer(algorithm.item_factors)
    for threads in (1, 2):
        with steps.step(f"precompute_topn_{threads}t", users=len(sample), threads=threads) as record:
            got_ids, got_scores = [], []
            for start in tqdm(range(0, len(sample), CHUNK), desc=f"{label} topn x{threads}", unit="chunk",
                              leave=False):
                batch = sample[start:start + CHUNK]
                ids, scores = scorer.top_n(algorithm.user_factors[batch], user_items[batch], N, threads=threads)
                got_ids.append(ids)
                got_scores.append(scores)
        record["users_per_second"] = len(sample) / record["seconds"]
        record["speedup"] = record["users_per_second"] / steps.results["precompute_implicit"]["users_per_second"]
        record["identical"], record["identical_but_ties"] = same_lists(
            ref_ids, ref_scores, np.concatenate(got_ids), np.concatenate(got_scores))
    threads = 2 if (steps.results["precompute_topn_2t"]["users_per_second"]
                    > steps.results["precompute_topn_1t"]["users_per_second"]) else 1
    out["threads"] = threads
    del ref_ids, ref_scores, got_ids, got_scores

    # -- every user with topn: in full when affordable ------------------------------------------
    if n_users <= args.all_users_max:
        with steps.step("precompute_all_users", users=n_users, threads=threads) as record:
            for start in tqdm(range(0, n_users, CHUNK), desc=f"{label} topn all users", unit="chunk",
                              leave=False):
                stop = min(start + CHUNK, n_users)
                scorer.top_n(algorithm.user_factors[start:stop], user_items[start:stop], N, threads=threads)
        record["users_per_second"] = n_users / record["seconds"]
        record["sampled"] = 0
    else:
        rate = steps.results[f"precompute_topn_{threads}t"]["users_per_second"]
        steps.results["precompute_all_users"] = {"users": n_users, "users_per_second": rate,
                                                 "seconds": n_users / rate, "sampled": 1, "threads": threads}

    # -- the refresh path: active users, their top 100, into Redis --------------------------------
    with steps.step("active_users") as record:
        active = active_users(events, args.active_days)
        codes = model.user_ids.lookup(active)
    record["users"] = len(active)
    del events

    with steps.step("precompute_active", users=len(active), threads=threads) as record:
        lists = []
        for start in tqdm(range(0, len(active), CHUNK), desc=f"{label} topn active users", unit="chunk",
                          leave=False):
            batch = codes[start:start + CHUNK]
            ids, scores = scorer.top_n(algorithm.user_factors[batch], user_items[batch], N, threads=threads)
            lists.append((ids.astype(np.int32), scores))
    record["users_per_second"] = len(active) / max(record["seconds"], 1e-9)

    keys = Keys()
    version = f"scale-{label}"
    ttl = Settings().version_ttl

    async def write() -> dict:
        client = aioredis.Redis(host="127.0.0.1", port=args.redis_port)
        try:
            await client.flushall()
            for chunk, (ids, scores) in enumerate(tqdm(lists, desc=f"{label} redis write", unit="chunk",
                                                       leave=False)):
                users = active[chunk * CHUNK: chunk * CHUNK + len(ids)]
                await write_lists(client, [keys.user_recs(version, u) for u in users], ids, scores, ttl)
            info = await client.info("memory")
            stored = await client.dbsize()
            await client.flushall()
            return {"redis_used_memory": info["used_memory_peak"], "keys": stored}
        finally:
            await client.aclose()

    with steps.step("redis_write", users=len(active)) as record:
        record.update(asyncio.run(write()))
    record["users_per_second"] = len(active) / record["seconds"]

    out["steps"] = steps.results
    out["refresh_seconds"] = sum(steps.results[s]["seconds"] for s in REFRESH_STEPS)
    out["refresh_peak_rss"] = max(steps.results[s]["peak_rss"] for s in REFRESH_STEPS)
    out["refresh_cpu_seconds"] = sum(steps.results[s]["cpu_seconds"] for s in REFRESH_STEPS)
    out["process_peak_rss"] = max(r.get("peak_rss", 0) for r in steps.results.values())
    # the same refresh with today's Refresher.precompute path (Recommender.recommend_indices)
    out["refresh_seconds_service_path"] = (out["refresh_seconds"] - steps.results["precompute_active"]["seconds"]
                                           + len(active) / steps.results["precompute_service"]["users_per_second"])
    out["load_after"] = load_average()
    out["fit_seconds_implicit"] = model.fit_seconds
    return out


# -- the parent: redis-server, one subprocess per size, the report ------------------------------
def rate(value: float) -> str:
    return f"{value:,.0f}"


def table(results: list[dict]) -> str:
    """The summary as markdown: one column per size."""
    def row(name: str, fn) -> list[str]:
        return [name, *(fn(r) for r in results)]

    s = lambda r, step: r["steps"][step]  # noqa: E731
    rows = [
        row("events", lambda r: f"{r['interactions']:,}"),
        row("users x items (matrix)", lambda r: f"{r['matrix_users']:,} x {r['matrix_items']:,}"),
        row("non-zeros", lambda r: f"{r['nnz']:,}"),
        row("ingestion `build_matrix`: events/s", lambda r: rate(s(r, "ingest")["events_per_second"])),
        row("ingestion s", lambda r: f"{s(r, 'ingest')['seconds']:.1f}"),
        row("ALS training s (64 factors, 15 it.)", lambda r: f"{s(r, 'train')['seconds']:.1f}"),
        row("ALS training CPU s (both threads)", lambda r: f"{s(r, 'train')['cpu_seconds']:.1f}"),
        row("precompute users/s, implicit `recommend` (sample)",
            lambda r: f"{rate(s(r, 'precompute_implicit')['users_per_second'])} "
                      f"({s(r, 'precompute_implicit')['users']:,} users)"),
        row("precompute users/s, `Recommender.recommend_indices` (sample)",
            lambda r: f"{rate(s(r, 'precompute_service')['users_per_second'])} "
                      f"({s(r, 'precompute_service')['users']:,} users)"),
        row("precompute users/s, `topn` 1 thread (same sample)",
            lambda r: f"{rate(s(r, 'precompute_topn_1t')['users_per_second'])} "
                      f"(x{s(r, 'precompute_topn_1t')['speedup']:.2f})"),
        row("precompute users/s, `topn` 2 threads (same sample)",
            lambda r: f"{rate(s(r, 'precompute_topn_2t')['users_per_second'])} "
                      f"(x{s(r, 'precompute_topn_2t')['speedup']:.2f})"),
        row("`topn` lists identical to implicit's (ties aside)",
            lambda r: f"{s(r, 'precompute_topn_1t')['identical']:.2%} "
                      f"({s(r, 'precompute_topn_1t')['identical_but_ties']:.2%})"),
        row("all users with implicit `recommend`: s (est. from sample)",
            lambda r: f"{r['matrix_users'] / s(r, 'precompute_implicit')['users_per_second']:.1f}"),
        row("all users with `topn`: s", lambda r: f"{s(r, 'precompute_all_users')['seconds']:.1f}"
            + (" (est. from sample)" if s(r, "precompute_all_users")["sampled"] else "")),
        row("active users (last 90 days)", lambda r: f"{s(r, 'active_users')['users']:,}"),
        row("finding them (recommender.events.active_users, as the refresh does): s",
            lambda r: f"{s(r, 'active_users')['seconds']:.1f}"),
        row("precompute active users with `topn`: s",
            lambda r: f"{s(r, 'precompute_active')['seconds']:.1f} "
                      f"({rate(s(r, 'precompute_active')['users_per_second'])}/s)"),
        row("Redis write of active users' lists: s",
            lambda r: f"{s(r, 'redis_write')['seconds']:.1f} "
                      f"({rate(s(r, 'redis_write')['users_per_second'])}/s)"),
        row("redis-server memory peak GiB", lambda r: gib(s(r, "redis_write")["redis_used_memory"])),
        row("**refresh s** (ingest + train + active users + topn + write)", lambda r: f"**{r['refresh_seconds']:.1f}**"),
        row("refresh CPU s (all threads)", lambda r: f"{r['refresh_cpu_seconds']:.1f}"),
        row("refresh s with `recommend_indices` instead of `topn` (est.)",
            lambda r: f"{r['refresh_seconds_service_path']:.1f}"),
        row("peak RSS GiB: generate", lambda r: gib(s(r, "generate")["peak_rss"])),
        row("peak RSS GiB: ingestion", lambda r: gib(s(r, "ingest")["peak_rss"])),
        row("peak RSS GiB: training", lambda r: gib(s(r, "train")["peak_rss"])),
        row("peak RSS GiB: precompute (implicit / topn)",
            lambda r: f"{gib(s(r, 'precompute_implicit')['peak_rss'])} / "
                      f"{gib(s(r, 'precompute_active')['peak_rss'])}"),
        row("peak RSS GiB: Redis write", lambda r: gib(s(r, "redis_write")["peak_rss"])),
        row("**peak RSS GiB, refresh**", lambda r: f"**{gib(r['refresh_peak_rss'])}**"),
        row("load average before / after", lambda r: f"{r['load_before']:.1f} / {r['load_after']:.1f}"),
    ]
    return md_table(("", *(r["label"] for r in results)), "l" + "r" * len(results), rows)


def where_time_goes(result: dict) -> str:
    parts = {step: result["steps"][step]["seconds"] for step in REFRESH_STEPS}
    total = sum(parts.values())
    return ", ".join(f"{step} {seconds:.0f} s ({seconds / total:.0%})" for step, seconds in parts.items())


def targets(results: list[dict]) -> str:
    biggest = max(results, key=lambda r: r["interactions"])
    refresh, peak = biggest["refresh_seconds"], biggest["refresh_peak_rss"]
    lines = [f"Targets, checked on the {biggest['label']} case:", ""]
    lines.append(f"* whole refresh within {TARGET_REFRESH_SECONDS / 60:.0f} min: {refresh:.0f} s "
                 f"({refresh / 60:.1f} min): {'met' if refresh <= TARGET_REFRESH_SECONDS else 'missed'}")
    lines.append(f"* under {TARGET_RSS_BYTES / GIB:.0f} GiB RSS: {gib(peak)} GiB: "
                 f"{'met' if peak <= TARGET_RSS_BYTES else 'missed'}")
    for r in results:
        one = r["steps"]["precompute_topn_1t"]["speedup"]
        two = r["steps"]["precompute_topn_2t"]["speedup"]
        best = max(one, two)
        lines.append(f"* {r['label']}: precompute at least {TARGET_SPEEDUP}x implicit's batched `recommend`: "
                     f"x{one:.2f} on 1 thread, x{two:.2f} on 2: {'met' if best >= TARGET_SPEEDUP else 'missed'}")
    lines += ["", f"Where the {biggest['label']} refresh time goes: {where_time_goes(biggest)}."]
    return "\n".join(lines)


def plot(results: list[dict], out_dir: Path) -> None:
    plt = pyplot()
    from matplotlib.ticker import FuncFormatter

    x = [r["interactions"] for r in results]
    series = {
        "ingestion (build_matrix)": lambda r: r["steps"]["ingest"]["seconds"],
        "ALS training": lambda r: r["steps"]["train"]["seconds"],
        "precompute all users, implicit (est.)":
            lambda r: r["matrix_users"] / r["steps"]["precompute_implicit"]["users_per_second"],
        "precompute all users, topn": lambda r: r["steps"]["precompute_all_users"]["seconds"],
        "precompute active users, topn": lambda r: r["steps"]["precompute_active"]["seconds"],
        "Redis write (active users)": lambda r: r["steps"]["redis_write"]["seconds"],
        "whole refresh": lambda r: r["refresh_seconds"],
    }
    fig, ax = plt.subplots(figsize=(7.5, 5))
    for name, fn in series.items():
        ax.plot(x, [fn(r) for r in results], marker="o", label=name,
                linewidth=2.5 if name == "whole refresh" else 1.5)
    ax.axhline(TARGET_REFRESH_SECONDS, color="grey", linestyle="--", linewidth=1, label="8 min target")
    ax.set(xscale="log", yscale="log", xlabel="interactions (events)", ylabel="seconds",
           title="Time per step (2 cores, OPENBLAS_NUM_THREADS=1)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_dir / "scale_time.png", dpi=120)
    plt.close(fig)

    memory = {
        "generate (events in memory)": "generate", "ingestion": "ingest", "ALS training": "train",
        "precompute, implicit": "precompute_implicit", "precompute active, topn": "precompute_active",
        "Redis write": "redis_write",
    }
    fig, ax = plt.subplots(figsize=(7.5, 5))
    for name, step in memory.items():
        ax.plot(x, [r["steps"][step]["peak_rss"] / GIB for r in results], marker="o", label=name)
    ax.axhline(TARGET_RSS_BYTES / GIB, color="grey", linestyle="--", linewidth=1, label="6 GiB target")
    ax.set(xscale="log", yscale="log", xlabel="interactions (events)", ylabel="peak RSS during step (GiB)",
           title="Peak memory per step (whole process)")
    plain = FuncFormatter(lambda value, _: f"{value:g}")
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(plain)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_dir / "scale_memory.png", dpi=120)
    plt.close(fig)


def report(run: dict) -> str:
    results, seconds = run["results"], run["seconds"]
    return "\n".join([
        "# Scale", "",
        (f"`{run['command']}`, {run['finished']}, {run['cpus']} CPUs, whole run "
         f"{seconds / 60:.1f} min. Synthetic data (benchmarks/synthetic.py, seed {run['seed']}). "
         "Wall-clock seconds; the machine is shared, so compare rates within one column."), "",
        table(results), "",
        targets(results), "",
        "![time](scale_time.png)", "", "![memory](scale_memory.png)", "",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Scale benchmark (see the module docstring).")
    parser.add_argument("--sizes", default="1M,5M,20M", help="comma-separated: 1M,5M,20M or any like 300k")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sample", type=int, default=20_000,
                        help="users in the sample every precompute method scores (default 20,000)")
    parser.add_argument("--service-sample", type=int, default=5_000,
                        help="users of that sample run through Recommender.recommend_indices (slow)")
    parser.add_argument("--all-users-max", type=int, default=300_000,
                        help="precompute every user with topn when there are at most this many, "
                             "else report the sampled rate")
    parser.add_argument("--active-days", type=float, default=90.0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--report-only", action="store_true",
                        help="only rewrite scale.md and the plots from the scale.json in --out")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--redis-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    args.argv = [a for a in argv]

    if args.worker:
        args.result.write_text(json.dumps(run_worker(args)))
        return 0
    try:
        run = load_run(args.out, "scale") if args.report_only else run_sizes(args)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    plot(run["results"], args.out)
    text = report(run)
    (args.out / "scale.md").write_text(text)
    print(text)
    return 0


def run_sizes(args: argparse.Namespace) -> dict:
    """One worker process per size against one redis-server; the run record, saved as scale.json."""
    started = time.perf_counter()
    sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    results = []
    with (tempfile.TemporaryDirectory(prefix="encore-scale-") as tmp,
          running_redis(Path(tmp) / "redis", durable=False) as redis_server):
        for n in sizes:
            print(f"== {size_label(n)} interactions", file=sys.stderr, flush=True)
            result = run_worker_process("benchmarks.scale", [
                "--worker", str(n), "--redis-port", str(redis_server.port), "--seed", str(args.seed),
                "--sample", str(args.sample), "--service-sample", str(args.service_sample),
                "--all-users-max", str(args.all_users_max), "--active-days", str(args.active_days)],
                Path(tmp) / f"{n}.json")
            results.append(result)
            print(f"   refresh {result['refresh_seconds']:.0f} s ({where_time_goes(result)}), "
                  f"peak RSS {gib(result['refresh_peak_rss'])} GiB", file=sys.stderr, flush=True)
    run = run_record(" ".join(["OPENBLAS_NUM_THREADS=1 python -m benchmarks.scale", *args.argv]),
                     time.perf_counter() - started, results, seed=args.seed)
    save_run(args.out, "scale", run)
    return run

if __name__ == "__main__":
    sys.exit(main())
