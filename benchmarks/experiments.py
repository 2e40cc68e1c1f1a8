"""An A/B test through the HTTP API on a synthetic store whose customers click and buy with known
probabilities: does the measured lift's 95% interval cover the true lift, how exact is the split, and what
does an experiment cost the hot path in requests/s?

    OPENBLAS_NUM_THREADS=1 python -m benchmarks.experiments                    # 4,000 customers
    OPENBLAS_NUM_THREADS=1 python -m benchmarks.experiments --users 1000 --rounds 4

The store is recommender.demo's storefront (each customer has two favourite categories). Its customers
click an item shown to them with probability CLICK_FAVOURITE when it is in one of their two most frequent
categories in their history, CLICK_OTHER otherwise, and buy a clicked item with probability BUY: so a list's
true click-through rate and each customer's chance to buy are known from the list itself. The real service
(`python -m service`, RECS_ALGORITHM=als, a private redis-server) runs an experiment of three variants: the
popularity holdout (the control), ALS as the service trains it (`serving`) and a trained ALS variant with 16
factors. Every customer asks for their list once (n=10), clicks and buys at random with those
probabilities, and sends the events with the list's recommendation_id. Then GET /v1/experiments/{name}:

* lift coverage: the true lift of each variant over the control (the mean click probability of the lists
  actually served, and the mean buying probability of the customers) against the measured difference and its
  95% interval;
* the split: each variant's share of exposed customers against its configured share, and the
  sample-ratio chi-square p-value;
* the hot path: two identical services (each with its own redis-server, trained on the same store and sent the
  same events) are driven at once by two wrk processes on the user route (known customers, n=10), in
  `2 * --rounds` time windows; in each window an experiment of the same three variants runs on one of them, on
  the other in the next window. This is done at each load of --rate: a rate (RATE by default) offers that many
  requests/s to each service as independent arrivals, the way a storefront's visitors send them
  (OPEN_CONNECTIONS connections, each waiting an exponentially distributed think time before each request);
  0 (also measured by default) drives closed-loop connections (--connections, CONNECTIONS), each sending its
  next request the moment its answer arrives, so the services run saturated: their capacity. Saturated, the two
  services run on CPUs of their own, apart from wrk, the redis-servers and this script
  (benchmarks.harness.placement): sharing them, each service was preempted by its own clients about once per
  request.
  Both sides of a comparison share the machine's moment (on this shared machine CPU per request moves by 10%
  and more between windows seconds apart); alternating the sides cancels any difference between the two
  services. The overhead is the geometric mean over window pairs of CPU per request with the experiment over
  without, with its 95% interval; an A/A control (the same windows, no experiment on either) measures the
  measurement's own bias.

Writes benchmarks/results/experiments.md and experiments.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
import tempfile
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from recommender.demo import generate_storefront, write_storefront  # first: it sets OPENBLAS_NUM_THREADS=1

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats  # noqa: E402
from tqdm import tqdm  # noqa: E402

from benchmarks.harness.machine import machine  # noqa: E402
from benchmarks.harness.placement import servers_apart  # noqa: E402
from benchmarks.harness.proc import process_memory, profiling, tree_cpu_seconds  # noqa: E402
from benchmarks.harness.processes import BenchError, http  # noqa: E402
from benchmarks.harness.redis_server import running_redis  # noqa: E402
from benchmarks.harness.report import RESULTS, description, md_table, results_dir  # noqa: E402
from benchmarks.harness.service_child import start_service  # noqa: E402
from benchmarks.harness.wrk import require_wrk, run_wrk, write_lua  # noqa: E402
from service.training.job import VARIANT_HORIZON_TRAININGS  # noqa: E402

CLICK_FAVOURITE = 0.12
CLICK_OTHER = 0.02
BUY = 0.3
ADMIN, WRITE = "bench-admin", "bench-write"
NAME = "bench"
VARIANTS = [{"name": "holdout", "share": 0.2, "model": "popularity"},
            {"name": "als", "share": 0.4, "model": "serving"},
            {"name": "als_16", "share": 0.4, "model": {"algorithm": "als", "params": {"factors": 16}}}]
#: The variants with a model of their own, fitted at each training (the others serve the serving model or popularity).
TRAINED = tuple(v["name"] for v in VARIANTS if isinstance(v["model"], dict))
#: The services' training interval (RECS_REFRESH_INTERVAL, seconds; no scheduled training falls in a run).
REFRESH_INTERVAL = 3600.0
#: How far ahead of now the hot path's windows are first defined (seconds), to be trained before they are moved
#: to their times: within the trainings' horizon for trained variants (service.training.job), so each is fitted.
DEFINE_AHEAD = VARIANT_HORIZON_TRAININGS * REFRESH_INTERVAL / 2
EVENT_BATCH = 1000
#: wrk seconds before each measurement: several passes over every hot-path customer, so each answer is remembered.
WARM_SECONDS = 2
#: Seconds of each hot-path window beyond the warm-up and the measurement (half before, half after).
SLOT_MARGIN = 1
#: Seconds between a window's experiment ending and the next window's starting (two "with" windows in a row).
WINDOW_GAP = 0.1
#: Customers the hot-path measurement asks for, in turn (the first by id).
HOT_USERS = 1000
#: Requests/s offered to each service on the hot path (--rate), a third to a half of what one saturated service
#: answers here beside its twin: independent arrivals, so the service's passes are not paced by the generator.
RATE = 2000.0
#: wrk connections per service with a rate: each waits an exponential think time of mean
#: 1000 * OPEN_CONNECTIONS / rate ms before each request (32 ms at RATE, against answers in 1 to 2 ms).
OPEN_CONNECTIONS = 64
#: wrk connections per service with `--rate 0` (closed loop): each sends its next request as soon as the last
#: is answered, so how many are open sets how requests meet in the service's event-loop passes.
CONNECTIONS = 8
#: The issue's bound on an experiment's hot-path overhead (0.05: 5%).
TARGET = 0.05
#: What each hot-path window records per side (see `throughput`).
WINDOW_KEYS = ("rps", "cpu_us", "p50_ms", "p99_ms")


@dataclass(frozen=True)
class Load:
    """How wrk drives each service on the hot path: `connections` connections; with `rate` > 0 (requests/s per
    service) each waits an exponential think time before each request (Poisson-like arrivals at about `rate`),
    with 0 each sends its next request the moment its answer arrives (closed loop), the two services then running
    apart from their clients (`apart`)."""

    connections: int = OPEN_CONNECTIONS
    rate: float = RATE

    @property
    def think_ms(self) -> float:
        """Mean think time per connection in milliseconds (0 in a closed loop)."""
        return 1000.0 * self.connections / self.rate if self.rate > 0 else 0.0

    @property
    def apart(self) -> bool:
        """Whether the services run on CPUs of their own, wrk, redis-server and this script on the others
        (benchmarks.harness.placement): in a closed loop, whose services use all the CPU they get. At an offered
        rate they share every CPU, as the rate is chosen below what each answers beside the other."""
        return self.rate == 0

    def describe(self) -> str:
        plural = "s" if self.connections != 1 else ""
        if self.rate > 0:
            return (f"{self.rate:,.0f} requests/s offered as independent arrivals: {self.connections} connection"
                    f"{plural} each waiting an exponential think time of mean {self.think_ms:.0f} ms")
        return f"closed loop: {self.connections} connection{plural} each sending on as soon as answered"


#: The hot path's loads by default: an offered rate below saturation, and saturated (the capacity).
LOADS = (Load(OPEN_CONNECTIONS, RATE), Load(CONNECTIONS, 0.0))


def favourites(events: pd.DataFrame, catalog: pd.DataFrame) -> dict[str, set[str]]:
    """Each customer's two most frequent categories in their history."""
    category = events["item_id"].map(catalog.set_index("item_id")["category"])
    counts = pd.DataFrame({"user": events["user_id"], "category": category}).value_counts()
    out: dict[str, set[str]] = {}
    for (user, cat), _ in counts.items():
        picked = out.setdefault(user, set())
        if len(picked) < 2:
            picked.add(cat)
    return out


def _json(method: str, url: str, body: object | None = None, key: str = ADMIN) -> dict:
    status, raw = http(method, url, body, {"Authorization": f"Bearer {key}"})
    if status >= 300:
        raise BenchError(f"{method} {url}: {status} {raw[:300]!r}")
    return json.loads(raw) if raw else {}


def simulate(base: str, users: list[str], taste: dict[str, set[str]], category: dict[str, str], seed: int,
             twin: str | None = None) -> dict:
    """Every customer asks for their list once, clicks and buys with the known probabilities; the true
    expected click-through rate and conversion per variant. The events also go to `twin` (the hot path's
    second service), so both hold the same customers' events since training."""
    rng = np.random.default_rng(seed)
    truth: dict[str, dict[str, float]] = {}
    events: list[dict] = []
    for user in tqdm(users, desc="customers", unit="customer"):
        body = _json("GET", f"{base}/v1/users/{user}/recommendations?n=10")
        variant = body["experiment"]["variant"]
        probs = np.array([CLICK_FAVOURITE if category.get(i["item_id"]) in taste.get(user, ()) else CLICK_OTHER
                          for i in body["items"]])
        t = truth.setdefault(variant, {"impressions": 0, "expected_clicks": 0.0, "customers": 0, "p_buyer": 0.0})
        t["impressions"] += len(probs)
        t["expected_clicks"] += float(probs.sum())
        t["customers"] += 1
        t["p_buyer"] += float(1 - np.prod(1 - probs * BUY))
        for item, p in zip(body["items"], probs):
            if rng.random() < p:
                event = {"user_id": user, "item_id": item["item_id"], "recommendation_id": body["recommendation_id"]}
                events.append({**event, "type": "click"})
                if rng.random() < BUY:
                    events.append({**event, "type": "purchase"})
        if len(events) >= EVENT_BATCH:
            _send(events, base, twin)
            events = []
    if events:
        _send(events, base, twin)
    return {v: {"ctr": t["expected_clicks"] / t["impressions"], "conversion": t["p_buyer"] / t["customers"],
                "customers": t["customers"]} for v, t in truth.items()}


def _send(events: list[dict], *bases: str | None) -> None:
    for base in bases:
        if base is not None:
            _json("POST", f"{base}/v1/events", events, WRITE)


def throughput(wrk: str, base: str, users: list[str], work: Path, seconds: float, label: str, pid: int,
               profile: Path | None = None, load: Load = Load()) -> dict:
    """Requests/s, the service's CPU microseconds per request (steadier than requests/s on a shared machine) and
    wrk's median and 99th-percentile latency (ms), with wrk driving `load`; with `profile`, py-spy's collapsed
    stacks of the service during the measurement go to that directory."""
    script = write_lua(work / f"{label}.lua", "GET", [f"/v1/users/{u}/recommendations?n=10" for u in users],
                       headers={"Authorization": f"Bearer {ADMIN}"}, think_ms=load.think_ms,
                       seed=zlib.crc32(label.encode()))
    run_wrk(wrk, base, script, WARM_SECONDS, threads=1, connections=load.connections)  # every answer remembered
    cpu = tree_cpu_seconds(pid)
    with profiling(profile, pid, f"experiments-{label}", seconds, fmt="raw"):
        result = run_wrk(wrk, base, script, seconds, threads=1, connections=load.connections)
    return {"rps": result.rps, "cpu_us": 1e6 * (tree_cpu_seconds(pid) - cpu) / result.requests,
            "p50_ms": result.p50_ms, "p99_ms": result.p99_ms}


def run(n_users: int, wrk_seconds: float, seed: int, rounds: int, profile: Path | None = None,
        loads: Sequence[Load] = LOADS) -> dict:
    wrk = require_wrk()
    with tempfile.TemporaryDirectory(prefix="encore-experiments-") as tmp:
        work = Path(tmp)
        data = generate_storefront(n_users=n_users, n_products=400, n_content=40, seed=seed)
        events_path, catalog_path = write_storefront(data, work / "store")
        events, catalog = pd.read_csv(events_path), pd.read_csv(catalog_path)
        taste, category = favourites(events, catalog), dict(zip(catalog["item_id"], catalog["category"]))
        users = sorted(events["user_id"].unique().tolist())
        settings = {"RECS_ALGORITHM": "als", "RECS_REPEAT": "off", "RECS_BOOTSTRAP_EVENTS": str(events_path),
                    "RECS_BOOTSTRAP_CATALOG": str(catalog_path), "RECS_ADMIN_KEYS": ADMIN, "RECS_WRITE_KEYS": WRITE,
                    "RECS_POLL_INTERVAL": "0.5", "RECS_REFRESH_INTERVAL": str(REFRESH_INTERVAL), "RECS_RATE_LIMIT": "0",
                    "RECS_ACTIVE_DAYS": "3650", "RECS_LOG_LEVEL": "WARNING"}
        twin = work / "twin"  # the second service of the hot-path measurement
        twin.mkdir()
        with running_redis(work / "redis", durable=False) as redis, \
                running_redis(twin / "redis", durable=False) as twin_redis:
            service, base = start_service(work, work / "data", redis.url, settings, 900, "first training")
            other = None
            try:
                other, other_base = start_service(twin, twin / "data", twin_redis.url, settings, 900,
                                                  "first training (twin)")
                memory = {"before": process_memory(service.pid, "before").__dict__}
                first = _json("GET", f"{base}/v1/model")
                _json("PUT", f"{base}/v1/experiments/{NAME}", {"variants": VARIANTS, "control": "holdout"})
                retrain_seconds, served = retrain(base, first["version"])
                time.sleep(2)  # a poll: the definitions and the new model in every process
                truth = simulate(base, users, taste, category, seed, twin=other_base)
                time.sleep(2)  # the online recorder's flush
                results = _json("GET", f"{base}/v1/experiments/{NAME}")
                memory["during"] = process_memory(service.pid, "during").__dict__  # the variant's model mapped too
                _json("POST", f"{base}/v1/experiments/{NAME}/stop")
                twins = [(base, service.pid), (other_base, other.pid)]
                clients = [redis.child.pid, twin_redis.child.pid]
                hot = [{"load": asdict(load),
                        "hot_path": hot_path(wrk, twins, users[:HOT_USERS], work, wrk_seconds, rounds,
                                             profile if i == 0 else None, load=load, tag=f"{i}", clients=clients),
                        "control": hot_path(wrk, twins, users[:HOT_USERS], work, wrk_seconds, rounds, None,
                                            experiment=False, load=load, tag=f"{i}", clients=clients)}
                       for i, load in enumerate(loads)]
                history = _json("GET", f"{base}/v1/model/history?n=5")["trainings"]
            finally:
                service.stop()
                if other is not None:
                    other.stop()
    return {"users": len(users), "truth": truth, "results": results, "loads": hot, "wrk_seconds": wrk_seconds,
            "retrain_seconds": retrain_seconds, "first_training": first["training"],
            "history": history, "events": len(events), "memory": memory,
            "variants_seconds": (served.get("variants") or {}).get("seconds")}


def retrain(base: str, version: str) -> tuple[float, dict]:
    """Ask for a training and wait until the service serves a model other than `version`: (seconds, GET /v1/model)."""
    started = time.perf_counter()
    _json("POST", f"{base}/v1/model/retrain")
    model = _json("GET", f"{base}/v1/model")
    while model["version"] == version:
        time.sleep(0.5)
        model = _json("GET", f"{base}/v1/model")
    return time.perf_counter() - started, model


def hot_path(wrk: str, twins: list[tuple[str, int]], users: list[str], work: Path, seconds: float, rounds: int,
             profile: Path | None, experiment: bool = True, load: Load = Load(), tag: str = "0",
             clients: Sequence[int] = ()) -> dict:
    """The user route's requests/s, CPU per request and latency of the two services `twins` ((base URL, pid)
    each), measured at once by two wrk processes (each driving `load`) in each of `2 * rounds` windows. In window k an
    experiment of the same three variants runs on service k % 2 (one experiment per window, defined DEFINE_AHEAD ahead,
    trained, then moved to its window), so each window compares a service with an experiment to one without at
    the same moment.
    `experiment=False` is the A/A control: the same windows with no experiment on either, service k % 2 taken
    as the "with" side. `tag` names this measurement's experiments and wrk scripts apart from another load's.
    With `load.apart` the windows run with the services on CPUs of their own and the process trees `clients`
    (pids: the redis-servers) with wrk on the others. Medians per side, the windows in order and the placement."""
    slot = WARM_SECONDS + seconds + SLOT_MARGIN
    windows = 2 * rounds
    served: dict = {}
    if experiment:  # defined ahead, trained, then moved to their windows (a scheduled one may be)
        for side, (base, _) in enumerate(twins):
            _define_windows(base, tag, range(side, windows, 2), time.time() + DEFINE_AHEAD, slot)
        for side, (base, _) in enumerate(twins):
            _, model = retrain(base, _json("GET", f"{base}/v1/model")["version"])
            require_trained(model, [f"{NAME}-{tag}-{k}" for k in range(side, windows, 2)])
            served = served or model
        start = time.time() + SLOT_MARGIN
        for side, (base, _) in enumerate(twins):
            _define_windows(base, tag, range(side, windows, 2), start, slot)
    else:
        start = time.time() + SLOT_MARGIN
    runs: list[dict[str, dict]] = []
    placing = servers_apart([pid for _, pid in twins], clients) if load.apart else contextlib.nullcontext()
    with placing as placement, ThreadPoolExecutor(len(twins)) as pool:
        for k in range(windows):
            time.sleep(max(0.0, start + k * slot + SLOT_MARGIN / 2 - time.time()))
            label = f"{tag}-{'ab' if experiment else 'aa'}-{k}"
            measured = [pool.submit(throughput, wrk, base, users, work, seconds, f"{label}-{side}", pid,
                                    profile if k < 2 and experiment and side == k % 2 else None, load)
                        for side, (base, pid) in enumerate(twins)]
            got = [m.result() for m in measured]
            runs.append({"with": got[k % 2], "without": got[1 - k % 2]})
    median = {side: {key: float(np.median([r[side][key] for r in runs])) for key in WINDOW_KEYS}
              for side in ("with", "without")}
    return {"windows": runs, "median": median, "placement": None if placement is None else asdict(placement),
            "variants": sorted((served.get("variants") or {}).get("versions", {}))}


def markdown(run_: dict, info: dict, command: str) -> str:
    results, truth = run_["results"]["results"], run_["truth"]
    rows = []
    for v in results["variants"]:
        for metric, key in (("click-through rate", "click_through_rate"), ("conversion", "conversion")):
            est = v[key]
            true = truth[v["variant"]]["ctr" if key == "click_through_rate" else "conversion"]
            control_true = truth["holdout"]["ctr" if key == "click_through_rate" else "conversion"]
            if v["control"]:
                rows.append([v["variant"], metric, f"{true:.4f}", f"{est['value']:.4f}", "control", "", "", ""])
                continue
            lift = true - control_true
            covered = est["difference_ci_low"] <= lift <= est["difference_ci_high"]
            rows.append([v["variant"], metric, f"{true:.4f}", f"{est['value']:.4f}", f"{lift:+.4f}",
                         f"{est['difference']:+.4f} [{est['difference_ci_low']:+.4f}, {est['difference_ci_high']:+.4f}]",
                         "< 1e-10" if est["p_value"] < 1e-10 else f"{est['p_value']:.2g}",
                         "yes" if covered else "**no**"])
    exposed = sum(v["exposed_customers"] for v in results["variants"])
    split = [[v["variant"], f"{v['share']:.2f}", f"{v['exposed_customers']:,}",
              f"{v['exposed_customers'] / exposed:.4f}" if exposed else "-", f"{v['impressions']:,}",
              f"{v['clicks']:,}", f"{v['purchases']:,}", f"{v['buyers']:,}"] for v in results["variants"]]
    srm = results["sample_ratio"]
    return "\n".join([
        "# Experiments: an A/B test through the HTTP API", "",
        f"`{command}`, {time.strftime('%Y-%m-%d %H:%M')}: {info['cores']} cores ({info['cpu']}), load average "
        f"{info['load']}; {run_['users']:,} customers of the demo storefront, {run_['events']:,} history events.", "",
        f"Customers click an item in one of their two favourite categories with probability {CLICK_FAVOURITE}, "
        f"another with {CLICK_OTHER}, and buy a clicked item with probability {BUY}. True values are those "
        "probabilities averaged over the lists actually served (click-through) and over the customers (chance "
        "to buy at least once).", "",
        md_table(["variant", "metric", "true", "measured", "true lift", "measured lift [95% CI]", "p", "CI covers"],
                 "llrrrrrl", rows), "",
        md_table(["variant", "share", "exposed", "exposed share", "impressions", "clicks", "purchases", "buyers"],
                 "lrrrrrrr", split), "",
        f"Sample-ratio check: chi-square {srm['chi_square']:.3f}, p = {srm['p_value']:.3f} "
        f"({'mismatch' if srm['mismatch'] else 'no mismatch'}).", "",
        f"Hot path: two identical services (a and b, each with its own redis-server, trained on the same store and "
        f"sent the same events), driven at once by two wrk processes (1 thread each) on the user route for "
        f"{HOT_USERS:,} customers in turn, answers remembered, {WARM_SECONDS} s of warm-up and "
        f"{run_['wrk_seconds']:g} s measured per window; in each window an experiment of the same three variants "
        "runs on one service (a in odd windows, b in even ones; the trained variant fitted beforehand), so each "
        "window compares a service with the experiment to one without at the same moment. An A/A control runs the "
        "same windows with no experiment on either. Paired changes are the geometric mean of the windows' "
        "with/without ratios, minus 1, with its 95% confidence interval over window pairs (each holding the "
        "experiment once on each service).", "",
        f"Target: under {TARGET:.0%} overhead on serving requests/s. At an offered rate below saturation every "
        "request is answered, so the cost shows as CPU per request (taken from the machine's spare capacity) and "
        "latency; saturated (closed loop), as requests/s lost and CPU per request. Met at a load when the A/B "
        f"interval of CPU per request ends under {TARGET:+.0%} and that of requests/s starts above "
        f"{-TARGET:+.0%}.", "",
        *(line for measured in run_["loads"] for line in _load_markdown(measured)),
        f"The retrain with the trained variant (ALS with 16 factors fitted and precomputed beside the serving ALS) "
        f"took {run_['retrain_seconds']:.1f} s from the request to the new model served, of which the variant's fit "
        f"and precompute {_seconds(run_['variants_seconds'])}; the trainings (seconds, newest first; the hot path's "
        f"each fit one variant per window's experiment): {', '.join(str(t['seconds']) for t in run_['history'])}.",
        "",
        "Memory of the service process (`/proc/PID/smaps_rollup`; artifact: its mappings of model .npz files) "
        "before the experiment and with the trained variant's model loaded beside the serving model:", "",
        md_table(["", "RSS MiB", "PSS MiB", "artifact RSS MiB", "artifact PSS MiB"], "lrrrr",
                 [[name, *(f"{m[k]:,.1f}" for k in ("rss_mib", "pss_mib", "artifact_rss_mib", "artifact_pss_mib"))]
                  for name, m in run_["memory"].items()]), ""])


def _load_markdown(measured: dict) -> list[str]:
    """The hot path at one load: medians, the paired changes with the target's verdict, and the windows."""
    load, hot, control = Load(**measured["load"]), measured["hot_path"], measured["control"]
    with_, without = hot["median"]["with"], hot["median"]["without"]
    met = "**met**" if target_met(hot) else "**not met**"
    runs = [[str(k + 1), "ab"[k % 2], *(f"{w[side][key]:,.{digits}f}" for w in (ab, aa) for side in ("with", "without")
                                        for key, digits in (("rps", 0), ("cpu_us", 0), ("p99_ms", 2)))]
            for k, (ab, aa) in enumerate(zip(hot["windows"], control["windows"]))]
    return [
        f"### {load.describe().capitalize()}", "",
        f"{len(hot['windows'])} windows, {len(hot['variants'])} trained variants. Medians: {without['rps']:,.0f} "
        f"requests/s, {without['cpu_us']:,.0f} us of a service's CPU per request and latency p50 "
        f"{without['p50_ms']:.2f} ms, p99 {without['p99_ms']:.2f} ms "
        f"without the experiment; {with_['rps']:,.0f}, {with_['cpu_us']:,.0f} us, {with_['p50_ms']:.2f} ms and "
        f"{with_['p99_ms']:.2f} ms with. {_placement_text(hot.get('placement'))}Target {met} at this load.", "",
        md_table(["", "CPU per request", "requests/s", "latency p50", "latency p99"], "lrrrr",
                 [[name, *(_interval(paired_change(h, key)) for key in ("cpu_us", "rps", "p50_ms", "p99_ms"))]
                  for name, h in (("A/B", hot), ("A/A", control))]), "",
        md_table(["window", "experiment on", *(f"{kind} {side}: {column}" for kind in ("A/B", "A/A")
                                               for side in ("with", "without")
                                               for column in ("requests/s", "CPU us/request", "p99 ms"))],
                 "ll" + "r" * 12, runs), ""]


def _placement_text(placement: dict | None) -> str:
    """Where the services ran, for a load's summary (nothing when they shared every CPU)."""
    if placement is None:
        return ""
    def cpus(ids: list[int]) -> str:
        return f"CPU{'s' if len(ids) > 1 else ''} {', '.join(map(str, ids))}"
    return (f"The services ran on {cpus(placement['servers'])}, wrk, the redis-servers and this script on "
            f"{cpus(placement['clients'])}. ")


def target_met(hot: dict) -> bool:
    """Whether the hot path's A/B windows show the overhead under TARGET: the paired interval of CPU per request
    ends under +TARGET and that of requests/s starts above -TARGET (False with fewer than 2 window pairs)."""
    cpu_high, rps_low = paired_change(hot, "cpu_us")[2], paired_change(hot, "rps")[1]
    return cpu_high < TARGET and rps_low > -TARGET


def paired_change(hot: dict, key: str) -> tuple[float, float, float]:
    """The "with" side's `key` relative to the "without" side's, measured at once in each window: the geometric
    mean of the windows' with/without ratios, minus 1, and its 95% confidence interval (Student's t over window
    pairs 1-2, 3-4, ...: a pair holds the experiment once on each service, so what differs between the two
    services cancels in it; scipy.stats). NaN bounds with fewer than 2 pairs."""
    logs = [math.log(w["with"][key] / w["without"][key]) for w in hot["windows"]]
    pairs = [(logs[k] + logs[k + 1]) / 2 for k in range(0, len(logs) - 1, 2)]
    mean = float(np.mean(pairs))
    if len(pairs) < 2:
        return math.expm1(mean), math.nan, math.nan
    half = float(stats.t.ppf(0.975, len(pairs) - 1) * np.std(pairs, ddof=1) / math.sqrt(len(pairs)))
    return math.expm1(mean), math.expm1(mean - half), math.expm1(mean + half)


def _interval(change: tuple[float, float, float]) -> str:
    estimate, low, high = change
    return f"{estimate:+.1%} [{low:+.1%}, {high:+.1%}]"


def require_trained(model: dict, experiments: Iterable[str]) -> None:
    """Raise BenchError unless the served model (`GET /v1/model`) has every TRAINED variant of `experiments`: a
    window whose variant no training fitted would serve the serving model in its place, uncounted."""
    versions = (model.get("variants") or {}).get("versions") or {}
    missing = [name for e in experiments for v in TRAINED if (name := f"{e}/{v}") not in versions]
    if missing:
        raise BenchError(f"model {model['version']} has no trained variant {', '.join(missing[:3])}"
                         f"{' and more' if len(missing) > 3 else ''} ({len(versions)} trained)")


def _define_windows(base: str, tag: str, windows: Iterable[int], start: float, slot: float) -> None:
    """One experiment of VARIANTS per window k of `windows`, named NAME-tag-k, from `start + k * slot` (epoch
    seconds)."""
    for k in windows:
        window = {"start": start + k * slot, "end": start + (k + 1) * slot - WINDOW_GAP}
        _json("PUT", f"{base}/v1/experiments/{NAME}-{tag}-{k}", {"variants": VARIANTS, "control": "holdout",
                                                                  **window})


def _seconds(value: object) -> str:
    """`variants_seconds` as the training recorded it (a number, or seconds per variant)."""
    if isinstance(value, dict):
        return ", ".join(f"{name} {float(v):.1f} s" for name, v in value.items())
    return "not recorded" if value is None else f"{float(value):.1f} s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=description(__doc__))
    parser.add_argument("--users", type=int, default=4000)
    parser.add_argument("--wrk-seconds", type=float, default=3, help="each hot-path measurement")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=10, help="hot-path windows with and without an experiment")
    parser.add_argument("--rate", type=float, nargs="+", default=[load.rate for load in LOADS],
                        help="the hot path's loads: requests/s offered to each service as independent arrivals "
                        f"({OPEN_CONNECTIONS} connections with think times), 0 for closed-loop connections")
    parser.add_argument("--connections", type=int, default=CONNECTIONS,
                        help="wrk's closed-loop connections per service (--rate 0)")
    parser.add_argument("--profile", type=Path, help="py-spy record the service on each hot-path run into this "
                        "directory (collapsed stacks)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if min(args.rate) < 0:
        parser.error("--rate must be at least 0")
    if args.connections < 1:
        parser.error("--connections must be at least 1")
    loads = [Load(OPEN_CONNECTIONS, rate) if rate > 0 else Load(args.connections, 0.0) for rate in args.rate]
    command = "python -m benchmarks.experiments " + " ".join(argv if argv is not None else sys.argv[1:])
    run_ = run(args.users, args.wrk_seconds, args.seed, args.rounds, args.profile, loads)
    info = machine()
    text = markdown(run_, info, command.strip())
    out = results_dir(args.out)
    (out / "experiments.md").write_text(text)
    (out / "experiments.json").write_text(json.dumps({"machine": info, **run_}, indent=1, default=float))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
