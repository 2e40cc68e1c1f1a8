"""Handlers of the model routes: what is served and how the last training went; start a training."""

from __future__ import annotations

import asyncio
import json
import time

from aiohttp import web

from service.http.app_keys import REDIS, REDIS_KEYS, REFRESHER, SERVING, SETTINGS
from service.http.auth import ADMIN, READ, requires
from service.http.params import int_param, query
from service.http.responses import json_response
from service.serving.profiles import LIFECYCLE, NOT_FITTED, StoreLifecycle
from service.store import training_state
from service.store.training_history import TRAININGS_KEPT, read_trainings
from service.store.client import REDIS_ERRORS
from service.training.variants import VARIANTS, VARIANTS_SECONDS


@requires(READ)
async def get_model(request: web.Request) -> web.Response:
    """The model this replica serves and the training record, as one consistent snapshot
    (Refresher.model_record): never a finished training's outcome beside the model it replaced."""
    current = request.app[SERVING].current
    next_version = None
    try:
        async with asyncio.timeout(request.app[SETTINGS].redis_read_timeout):  # a hung Redis must not hang it
            status, next_version = await request.app[REFRESHER].model_record(current)
    except REDIS_ERRORS:  # the model is in memory; only the training record is out of reach (TimeoutError too)
        status = {"last_message": "training status unavailable: redis is not answering"}
    training = {
        "running": status.get("running") == "1",
        "last_outcome": status.get("last_outcome"),
        "last_message": status.get("last_message"),
        "last_attempt_at": _float(status.get("last_attempt_at")),
        "last_success_at": _float(status.get("last_success_at")),
        "last_version": status.get("last_version") or None,
        "last_error": status.get("last_error") or None,
        "last_error_at": _float(status.get("last_error_at")),
        "last_metrics": json.loads(status["last_metrics"]) if status.get("last_metrics") else None,
        "load_error": status.get("load_error") or None,
    }
    if current is None:
        return json_response({"version": None, "next_version": next_version, "training": training})
    info = current.info
    return json_response({
        "version": info.version, "algorithm": info.algorithm, "trained_at": info.trained_at,
        "counts": {"users": info.users, "items": info.items, "interactions": info.interactions},
        "params": info.params, "metrics": info.metrics, "next_version": next_version, "training": training,
        "serves_bought_items": current.model.recommends_bought_items,
        "selection": selection_view(info.extra.get("selection")),
        "lifecycle": lifecycle_view(info.extra.get(LIFECYCLE)),
        "variants": ({"versions": info.extra[VARIANTS], "seconds": info.extra.get(VARIANTS_SECONDS)}
                     if info.extra.get(VARIANTS) else None),
    })


def selection_view(report: dict | None) -> dict | None:
    """The artifact's model-choice report (recommender.selection.SelectionReport.as_dict) as GET /v1/model
    shows it: every entry's holdout figures, which one serves and why; None for a model trained without one."""
    if not report:
        return None
    return {
        "chosen": report["chosen"], "reason": report["reason"], "holdout": "time_cut", "k": report["k"],
        "cut_time": report["cut_time"], "train_events": report["train_events"], "test_events": report["test_events"],
        "users_scored": report["users_scored"], "seconds": report["seconds"],
        "candidates": [{
            "name": r["name"], "algorithm": r["algorithm"], "baseline": r["baseline"],
            "serves_bought_items": r["serves_bought_items"], "ndcg": r["ndcg"], "recall": r["recall"],
            "users": r["users"], "fit_seconds": r["fit_seconds"], "refused": r["error"],
            "serving": r["name"] == report["chosen"]} for r in report["results"]],
    }


def lifecycle_view(record: dict | None) -> dict:
    """The artifact's lifecycle record (service.training.lifecycle) as GET /v1/model shows it: the fitted
    BG/NBD and Gamma-Gamma parameters, the RFM edges, the settings and the holdout check, or why the fit
    failed; status "not_fitted" for a model trained before lifecycle fits were stored."""
    if not record:
        return {"status": NOT_FITTED, "reason": NOT_FITTED, "message": StoreLifecycle(None, None).unavailable[1]}
    view = {name: record.get(name) for name in ("status", "as_of", "purchases", "customers", "repeat_buyers",
                                                 "seconds", "reason", "message", "holdout")}
    model = record.get("model") or {}
    for name in ("bgnbd", "gamma_gamma", "spend_unavailable", "rfm_edges", "config"):
        view[name] = model.get(name)
    return view


def _float(raw: str | None) -> float | None:
    return float(raw) if raw else None


@requires(ADMIN)
async def retrain(request: web.Request) -> web.Response:
    app = request.app
    await training_state.request_retrain(app[REDIS], app[REDIS_KEYS], time.time())
    started = app[REFRESHER].start_training("requested")
    if started:
        return json_response({"status": "started"}, status=202)
    return json_response({"status": "already_running", "message": "a training is running: one more starts when it "
                          "ends, with the events accepted by then (requests meanwhile share it)"}, status=202)


@requires(READ)
async def get_training_history(request: web.Request) -> web.Response:
    """The newest `n` trainings (trained, rejected or failed), newest first."""
    n = int_param(query(request).get("n"), "n", 1, TRAININGS_KEPT, 100)
    return json_response({"trainings": await read_trainings(request.app[REDIS], request.app[REDIS_KEYS], n)})
