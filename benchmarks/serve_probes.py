"""What the serving benchmark reads off the running service besides wrk's numbers: its counters,
whether it is idle, its workers, its memory, py-spy profiles, and implicit's own rate on its model."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import time
from pathlib import Path

import psutil

from benchmarks.harness.proc import ProcessMemory, process_memory, process_tree, tree_cpu_seconds
from benchmarks.harness.processes import BenchError, Child, http


def metric_value(text: str, name: str, labels: str = "") -> float:
    """A sample's value in Prometheus text (`name{labels} value`); 0 when absent."""
    pattern = re.escape(name) + (r"\{" + re.escape(labels) + r"\}" if labels else "") + r"\s+([0-9.e+-]+)"
    match = re.search(pattern, text)
    return float(match.group(1)) if match else 0.0


def service_counters(base: str) -> dict[str, float]:
    """Cache counters and the request total, from the service's /metrics."""
    _, body = http("GET", f"{base}/metrics")
    text = body.decode()
    out = {"requests": sum(float(v) for v in re.findall(r"^encore_http_requests_total\{[^}]*\}\s+(\S+)", text,
                                                         flags=re.M))}
    for kind in ("user", "similar"):
        out[f"{kind}_hits"] = metric_value(text, "encore_cache_hits_total", f'kind="{kind}"')
        out[f"{kind}_misses"] = metric_value(text, "encore_cache_misses_total", f'kind="{kind}"')
        out[f"{kind}_hot"] = metric_value(text, "encore_hot_cache_hits_total", f'kind="{kind}"')
    out["user_rendered"] = metric_value(text, "encore_rendered_answers_total")
    out["similar_rendered"] = 0.0  # only users' lists are rendered at training
    return out


def drain(base: str, pid: int, workers: int, timeout: float = 300) -> None:
    """Wait until the service has finished what wrk left queued (aiohttp finishes handlers whose
    client went away), so one route's backlog never runs into the next route's measurement.

    With several workers /metrics shows whichever worker answered, so then wait until the
    processes stop using CPU instead."""
    deadline = time.monotonic() + timeout
    if workers > 1:
        last = tree_cpu_seconds(pid)
        while time.monotonic() < deadline:
            time.sleep(0.5)
            now = tree_cpu_seconds(pid)
            if now - last < 0.03:
                return
            last = now
        raise BenchError(f"the service was still busy {timeout:.0f}s after wrk stopped")
    last = service_counters(base)["requests"]
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = service_counters(base)["requests"]
        if now - last <= 1:  # only our own /metrics request
            return
        last = now
    raise BenchError(f"the service was still busy {timeout:.0f}s after wrk stopped")


def wait_workers(child: Child, base: str, workers: int, timeout: float = 120) -> None:
    """Until `workers` distinct processes answered /healthz with one model version (one ready worker
    makes /readyz answer 200 while another may still be loading)."""
    deadline = time.monotonic() + timeout
    seen: dict[int, str | None] = {}
    while time.monotonic() < deadline:
        child.check_alive()
        body = json.loads(http("GET", f"{base}/healthz", timeout=5)[1])
        seen[body["pid"]] = body["model_version"]
        if len(seen) == workers and len(set(seen.values())) == 1 and None not in seen.values():
            return
        time.sleep(0.05)
    raise BenchError(f"not all {workers} workers served one model after {timeout:.0f}s: {seen}")


def service_memory(pid: int) -> list[ProcessMemory]:
    """The service's processes: the parent (or the only process) and each worker."""
    out = []
    for p in process_tree(pid):
        with contextlib.suppress(psutil.Error):
            command = psutil.Process(p).cmdline()
            if "service" in command and "-m" in command:
                out.append(process_memory(p, "parent" if p == pid and len(out) == 0 else "worker"))
    if len(out) == 1:
        out[0] = dataclasses.replace(out[0], role="single process")
    return out


def implicit_rate(model_path: Path, user_batches: list[list[str]], n: int, min_seconds: float = 3.0) -> dict:
    """Users/s of `algorithm.recommend` (batched, already-liked filtered) on the served model."""
    from recommender.artifacts import load_model

    model, info = load_model(model_path)
    algorithm, user_items = model.algorithm, model.user_items
    batches = [model.user_ids.lookup(batch) for batch in user_batches]
    algorithm.recommend(batches[0], user_items[batches[0]], N=n)  # warm up
    users, began, k = 0, time.perf_counter(), 0
    while True:
        codes = batches[k % len(batches)]
        algorithm.recommend(codes, user_items[codes], N=n, filter_already_liked_items=True)
        users += len(codes)
        k += 1
        elapsed = time.perf_counter() - began
        if elapsed >= min_seconds and k >= 3:
            break
    return {"users_per_s": users / elapsed, "batches": k, "seconds": elapsed,
            "threads": getattr(algorithm, "num_threads", None), "algorithm": info.algorithm,
            "factors": int(getattr(algorithm, "factors", 0) or 0), "users": info.users, "items": info.items,
            "interactions": info.interactions, "version": info.version}
