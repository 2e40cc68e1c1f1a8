"""The lifecycle models at every training: BG/NBD, Gamma-Gamma and the RFM edges fitted on every purchase
accepted up to the training time (the folded snapshot), with the holdout check, as the record the artifact
keeps (`ArtifactInfo.extra[LIFECYCLE]`, read by service.serving.profiles and shown by GET /v1/model).

A store where the models cannot be fitted (no purchases, nobody bought on two different days, a fit the
data do not determine) trains its recommender as usual: the record then says `"status": "failed"` with the
reason (recommender.lifecycle.FitError.reason) and a sentence, and the lifecycle routes answer with them.
"""

from __future__ import annotations

import logging
import time

from recommender.errors import InputError
from recommender.events import EventTable
from recommender.lifecycle import FitError, LifecycleConfig, Purchases, fit_lifecycle, holdout_check
from recommender.lifecycle.holdout import HOLDOUT_DAYS

log = logging.getLogger(__name__)


def _failure(exc: InputError) -> dict:
    return {"status": "failed", "reason": exc.reason if isinstance(exc, FitError) else "invalid_input",
            "message": str(exc)}


def lifecycle_record(events: EventTable, as_of: float, config: LifecycleConfig,
                     holdout_days: int = HOLDOUT_DAYS) -> dict:
    """Fit the lifecycle models on the purchase events up to `as_of` and check them on the last days.

    Parameters
    ----------
    events : EventTable
        Every event accepted so far; its purchase events are used (spend = price x quantity).
    as_of : float
        The training time, epoch seconds.
    config : LifecycleConfig
        The settings in force (recorded; serving predicts with its own).
    holdout_days : int
        Days held out by the holdout check.

    Returns
    -------
    dict
        JSON-ready: `status` ("fitted" or "failed"), `as_of`, `purchases`, `seconds`; when fitted `model`
        (LifecycleModel.to_dict), `customers`, `repeat_buyers` and `holdout` (HoldoutCheck.to_dict, or
        {"status": "failed", "reason", "message"} when the calibration part cannot be fitted); when failed
        `reason` and `message`. Never raises for the data: a fit that fails is a record that says why.
    """
    started = time.perf_counter()
    purchases = Purchases.from_events(events)
    record: dict = {"as_of": float(as_of), "purchases": len(purchases)}
    try:
        model, summary = fit_lifecycle(purchases, as_of, config)
    except InputError as exc:
        log.warning("no lifecycle models at this training: %s", exc)
        return {**record, **_failure(exc), "seconds": time.perf_counter() - started}
    try:
        holdout = holdout_check(purchases, as_of, holdout_days, config).to_dict()
    except InputError as exc:
        holdout = _failure(exc)
    log.info("lifecycle models fitted on %d customers (%d repeat buyers)", len(summary),
             int((summary.frequency > 0).sum()))
    return {**record, "status": "fitted", "model": model.to_dict(), "customers": len(summary),
            "repeat_buyers": int((summary.frequency > 0).sum()), "holdout": holdout,
            "seconds": time.perf_counter() - started}
