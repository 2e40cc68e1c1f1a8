"""The serving benchmark's results: per-route medians, targets met or missed, the markdown report
(benchmarks/results/serve.md) and the latency plot (serve_latency.png)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmarks.harness.proc import ProcessMemory
from benchmarks.harness.report import md_table, pyplot
from benchmarks.harness.wrk import WrkResult
from benchmarks.serve_routes import LIST_N, Route


@dataclass
class RouteResult:
    """Every measured run of one route (one per round), with the CPU the server and Redis used."""

    route: Route
    runs: list[WrkResult] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)  # server process CPU per request
    redis_cpu_us: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def median(self, attr: str) -> float:
        return float(statistics.median(getattr(r, attr) for r in self.runs))

    @property
    def rps(self) -> float:
        return self.median("rps")

    def versus(self, bare: RouteResult, attr: str = "rps") -> float:
        """This route's `attr` over the bare app's, round by round, the median of those ratios: each round
        measures the bare app seconds before the route, so a machine that slows down during the run (a
        shared host can halve every rate within a minute) moves both sides of a ratio, not one."""
        return float(statistics.median(getattr(r, attr) / getattr(b, attr) for r, b in zip(self.runs, bare.runs)))

    @property
    def work_rate(self) -> float:
        return self.rps * self.route.per_request


@dataclass
class Target:
    name: str
    wanted: str
    measured: str
    met: bool


#: Read routes judged against the bare Redis GET app of the same run: (route, label, wanted share of its
#: requests/s); each also has p99 at most 2x the bare app's (issue 14).
READ_TARGETS = (("cached", "cached user recommendations", 1.0), ("first_read", "user recommendations, first read", 0.7),
                ("miss", "user recommendations, cache miss", 0.25), ("similar", "similar items", 1.0))


#: The bare Redis GET's fastest round over its slowest beyond which a run's verdicts are not evidence: the machine's
#: speed moved under the run by more than any change a target tells apart.
STEADY_SPREAD = 1.5


def unsteady(results: dict[str, RouteResult]) -> str | None:
    """Why this run's verdicts cannot be trusted (the bare GET's rounds too far apart), or None."""
    rates = [r.rps for r in results["bare_get"].runs]
    if len(rates) < 2 or max(rates) <= STEADY_SPREAD * min(rates):
        return None
    return (f"the machine's speed moved during this run: the bare Redis GET's rounds ran at {min(rates):,.0f} to "
            f"{max(rates):,.0f} req/s (more than {STEADY_SPREAD:g}x apart), so the verdicts below are not evidence "
            "either way; run it again on a quieter machine")


def verdicts(results: dict[str, RouteResult], implicit: dict | None) -> list[Target]:
    """The serving targets, each against a rate measured in the same run (the bare GET, implicit's own)."""
    bare = results["bare_get"]
    out: list[Target] = []
    for key, label, share in READ_TARGETS:
        if key not in results:
            continue
        r = results[key]
        ratio, p99_ratio = r.versus(bare), r.versus(bare, "p99_ms")
        out.append(Target(f"{label}: throughput", f">= {share:g}x the bare Redis GET's req/s",
                          f"{r.rps:,.0f} req/s ({ratio:.2f}x)", ratio >= share))
        out.append(Target(f"{label}: p99", "<= 2x the bare Redis GET's p99",
                          f"{r.median('p99_ms'):.1f} ms ({p99_ratio:.2f}x)", p99_ratio <= 2))
    if "batch" in results and implicit:
        r = results["batch"]
        want = 0.8 * implicit["users_per_s"]
        out.append(Target("batch route", f">= 80% of implicit's batched recommend ({want:,.0f} users/s)",
                          f"{r.work_rate:,.0f} users/s ({r.work_rate / implicit['users_per_s']:.0%})",
                          r.work_rate >= want))
    if "events" in results:
        r = results["events"]
        out.append(Target("event ingestion", ">= 20,000 events/s in batches of 500",
                          f"{r.work_rate:,.0f} events/s", r.work_rate >= 20_000))
    for key, base, share, label in (("events_priced", "events", 0.9, "events with prices"),
                                    ("cached_fields", "cached", 0.8, "user recs with fields")):
        if key in results and base in results:
            r, b = results[key], results[base]
            out.append(Target(label, f">= {share:.0%} of the route without ({share * b.work_rate:,.0f} "
                              f"{b.route.unit}/s)", f"{r.work_rate:,.0f} {r.route.unit}/s "
                              f"({r.work_rate / b.work_rate:.2f}x)", r.work_rate >= share * b.work_rate))
    return out


def table(results: dict[str, RouteResult]) -> str:
    """One row per route: rates, latencies and CPU, each against the bare Redis-GET app."""
    bare = results["bare_get"]
    rows = []
    for r in results.values():
        work = f"{r.work_rate:,.0f}" if r.route.per_request > 1 else ""
        errors = sum(x.non_2xx + x.socket_errors for x in r.runs)
        cpu = f"{statistics.median(r.cpu_us):,.0f}" if r.cpu_us else ""
        redis_cpu = f"{statistics.median(r.redis_cpu_us):,.1f}" if r.redis_cpu_us else ""
        rows.append((r.route.name, f"{r.rps:,.0f}", work, f"{r.versus(bare):.2f}x", f"{r.median('p50_ms'):.2f}",
                     f"{r.median('p95_ms'):.2f}", f"{r.median('p99_ms'):.2f}", f"{r.versus(bare, 'p99_ms'):.2f}x", cpu,
                     redis_cpu, errors))
    return md_table(("route", "req/s", "users or events/s", "vs bare GET", "p50 ms", "p95 ms", "p99 ms",
                     "p99 vs bare GET", "server CPU µs/req", "redis CPU µs/req", "errors"), "lrrrrrrrrrr", rows)


def memory_table(memory: list[ProcessMemory]) -> str:
    return md_table(("process", "pid", "RSS MiB", "PSS MiB", "artifact RSS MiB", "artifact PSS MiB"), "lrrrrr",
                    [(m.role, m.pid, f"{m.rss_mib:,.1f}", f"{m.pss_mib:,.1f}", f"{m.artifact_rss_mib:,.1f}",
                      f"{m.artifact_pss_mib:,.1f}") for m in memory])


def plot(results: dict[str, RouteResult], path: Path, title: str) -> None:
    """Latency percentiles per route (left) and requests/s relative to the bare Redis GET (right)."""
    plt = pyplot()
    names = list(results)
    labels = [results[n].route.name for n in names]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 0.55 * len(names) + 2.2),
                                      gridspec_kw={"width_ratios": [3, 2]})
    y = np.arange(len(names))
    height = 0.26
    for k, (attr, label) in enumerate((("p50_ms", "p50"), ("p95_ms", "p95"), ("p99_ms", "p99"))):
        left.barh(y + (k - 1) * height, [results[n].median(attr) for n in names], height, label=label)
    left.set_yticks(y, labels)
    left.invert_yaxis()
    left.set_xscale("log")
    left.set_xlabel("latency (ms, log scale)")
    left.legend(loc="lower right")
    left.grid(axis="x", which="both", alpha=0.3)
    ratios = [results[n].versus(results["bare_get"]) for n in names]
    right.barh(y, ratios, color=["#888888" if results[n].route.target != "service" else "#3b75af" for n in names])
    right.axvline(1.0, color="black", linewidth=0.8, linestyle="--")
    right.set_yticks(y, [])
    right.invert_yaxis()
    right.set_xscale("log")
    right.set_xlabel("requests/s relative to the bare Redis-GET endpoint (log)")
    for yy, ratio, n in zip(y, ratios, names):
        right.text(ratio, yy, f" {results[n].rps:,.0f}/s", va="center", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def markdown(results: dict[str, RouteResult], targets: list[Target], implicit: dict | None, setup: dict,
             info: dict[str, str], command: str, memory: list[ProcessMemory]) -> str:
    """benchmarks/results/serve.md: the table, memory, routes, implicit's rate, targets and the machine."""
    lines = [
        "# Serving benchmark",
        "",
        f"`{command}`: wrk `-t{setup['threads']} -c{setup['connections']} -d{setup['duration']:g}s --latency` per "
        f"route after a warm-up, {setup['rounds']} round(s) (median shown); every route and both bare endpoints "
        "were measured in this one run, minutes apart, so compare the ratios, not the absolute numbers. A ratio "
        "to the bare Redis GET is the median of the rounds' ratios (each route against the bare GET of its own "
        "round).",
        "",
        f"Model: {setup['algorithm']} on {setup['interactions']:,} synthetic interactions ({setup['users']:,} users x "
        f"{setup['items']:,} items, seed {setup['seed']}); {setup['precomputed']:,} users precomputed "
        f"(RECS_ACTIVE_DAYS={setup['active_days']:g}), {setup['not_precomputed']:,} known users not precomputed.",
        "",
        table(results),
        "",
        "CPU columns: CPU time the server's processes (and redis-server) used during the run, per request; on a",
        "shared machine they move less than requests/s does.",
        "",
        f"Memory after the run, {setup['workers']} worker(s) (`/proc/PID/smaps_rollup`; artifact: the mappings of",
        "the model's .npz, whose arrays are used in place; PSS splits each shared page between its processes):",
        "",
        memory_table(memory),
        "",
        "Routes:",
        "",
    ]
    for r in results.values():
        lines.append(f"- **{r.route.name}**: {r.route.label}." + (" " + " ".join(r.notes) if r.notes else ""))
    if implicit:
        lines += [
            "",
            f"implicit's own batched recommend on the served model: **{implicit['users_per_s']:,.0f} users/s** "
            f"(`model.recommend(userids, user_items[userids], N={LIST_N})` on the artifact the service loaded, "
            f"the batch route's 1,000-user batches, num_threads={implicit['threads']} (0: all cores), "
            f"{implicit['seconds']:.1f} s).",
        ]
    warning = unsteady(results)
    lines += [
        "",
        "## Targets",
        "",
        *([f"**Unsteady run:** {warning}.", ""] if warning else []),
        md_table(("target", "wanted", "measured", ""), "llll",
                 [(t.name, t.wanted, t.measured, "met" if t.met else "**missed**") for t in targets]),
        "",
        "## Machine",
        "",
        f"- CPU: {info['cpu']}, {info['cores']} cores, shared with other work (load average at start "
        f"{setup['load_start']}, at end {info['load']})",
        f"- {info['os']}, Python {info['python']}; {info['packages']}",
        f"- {info['redis']} with AOF on and appendfsync always; {info['wrk']}",
        "- wrk, the service, redis-server and the bare apps all on this machine, over 127.0.0.1",
        "",
        "![latency per route](serve_latency.png)",
        "",
    ]
    return "\n".join(lines)
