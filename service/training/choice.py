"""Model choice at every training: the configurations the settings allow, scored on a global time cut
(recommender.selection), the quality gate on the chosen one's holdout nDCG@10, and the chosen
configuration fitted on every event.

RECS_ALGORITHM=auto tries every default candidate (ALS, item-kNN, EASE, the repeat-aware models),
a named algorithm only its own configurations; RECS_REPEAT=on keeps the candidates that serve bought
items, off those that remove them, auto both. Whatever serves has beaten the popularity and
personal-frequency baselines on the holdout, or is that baseline. A model that serves bought items
is saved with its training purchases (recommender.repurchase), which serving needs for the
`"repeat"` flag and for what was bought since training.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from recommender.algorithms import ModelParams
from recommender.artifacts import ArtifactInfo
from recommender.catalog import Catalog
from recommender.errors import InputError
from recommender.events import EventTable
from recommender.matrix import EventWeights
from recommender.models import Recommender
from recommender.repurchase import PurchaseIndex
from recommender.selection import BASELINES, Candidate, SelectionReport, candidates_for, select_model
from recommender.trainers import Fit, fit_implicit
from service.settings import AUTO, Settings

log = logging.getLogger(__name__)
#: What `holdout_metrics` calls its holdout: the gate compares only figures of the same kind.
HOLDOUT = "time_cut"


@dataclass
class Trained:
    """The outcome: the model to serve (None when the gate refused it), its holdout figures, the
    selection report (None when the store was too small to hold anything out) and the refusal."""

    model: Recommender | None
    metrics: dict = field(default_factory=dict)
    selection: SelectionReport | None = None
    rejected: str = ""


def allowed_candidates(settings: Settings) -> list[Candidate]:
    """RECS_ALGORITHM and RECS_REPEAT as a candidate list (Settings.validate has checked it is not empty)."""
    return candidates_for(None if settings.algorithm == AUTO else settings.algorithm, settings.repeats)


def holdout_metrics(report: SelectionReport) -> dict:
    """The chosen entry's holdout figures, as the training record and the artifact keep them."""
    chosen = report.result(report.chosen)
    return {"holdout": HOLDOUT, "k": report.k, "ndcg": chosen.ndcg, "recall": chosen.recall, "users": chosen.users,
            "cut_time": report.cut_time, "chosen": report.chosen}


def gate(metrics: dict, serving: dict | None, max_drop: float, report: SelectionReport | None = None) -> str:
    """Why the new model must not serve, or "" when it may: its nDCG@10 is more than `max_drop` below the
    serving model's on the same holdout.

    Figures of two holdouts are never compared (new customers or a quiet week move every model's score):
    when this training's cut differs from the one the serving model was scored on, the serving model's figure
    is its configuration's (`serving["chosen"]`) as `report` scored it on this training's holdout; when the
    settings no longer allow that configuration, there is no figure to compare and the gate passes.
    """
    if not serving or not metrics or serving.get("holdout") != metrics.get("holdout"):
        return ""
    before, basis = serving.get("ndcg"), "the serving model's"
    if serving.get("cut_time") != metrics.get("cut_time"):  # the same cut: the same test events
        scored = [r for r in report.results if r.name == serving.get("chosen")] if report is not None else []
        if not scored:
            return ""
        before, basis = scored[0].ndcg, f"the serving configuration's ({serving['chosen']}) on this holdout"
    if before and metrics["ndcg"] < before * (1 - max_drop):
        return (f"nDCG@10 {metrics['ndcg']:.4f} ({metrics['chosen']}) is more than {max_drop:.0%} below {basis} "
                f"{before:.4f}")
    return ""


def serving_candidate(info: ArtifactInfo) -> Candidate:
    """The configuration a serving model was trained with (its artifact's params, event weights and whether it
    serves bought items), named as model choice named it: what a training without model choice carries on."""
    return Candidate(str(info.metrics.get("chosen") or info.algorithm), ModelParams.from_dict(info.params),
                     EventWeights(**info.weights), info.filter_interacted)


def _carried(previous: Candidate | None, candidates: list[Candidate], settings: Settings) -> Candidate:
    """What trains when model choice cannot score: the serving model's configuration while the settings still
    allow it (a store that chose once keeps its choice through a burst or a quiet week), else the first."""
    if previous is None:
        return candidates[0]
    allowed = previous.name in BASELINES or any(c.params.algorithm == previous.params.algorithm for c in candidates)
    serves_as_asked = settings.repeats is None or settings.repeats != previous.filter_interacted
    return previous if allowed and serves_as_asked else candidates[0]


def choose_and_train(events: EventTable, catalog: Catalog, settings: Settings, serving: dict | None,
                     fit: Fit = fit_implicit, promoted: Candidate | None = None,
                     previous: Candidate | None = None) -> Trained:
    """Score the allowed candidates, gate the best, and fit it on every event.

    Parameters
    ----------
    events : EventTable
        Every event the model learns from (the snapshot).
    serving : dict, optional
        The serving model's metrics (its artifact's), for the gate.
    fit : Fit
        The trainer (RECS_TRAINER) for the final fit of an ALS configuration; model choice itself
        fits with implicit, and so does the final fit of any other algorithm (Spark fits ALS only).
    promoted : Candidate, optional
        An experiment's variant made the default (POST /v1/experiments/{name}/promote/{variant}): it
        trains unscored instead of model choice, as the experiment measured it online.
    previous : Candidate, optional
        The serving model's configuration (`serving_candidate`): what trains, unscored, when model choice
        cannot score this store's events (too few customers on both sides of the cut); the figures then
        say so (`no_choice`).

    Raises
    ------
    InputError
        the events cannot train any model.
    """
    if promoted is not None:
        log.info("training %s, promoted from an experiment, instead of model choice", promoted.name)
        return Trained(train(events, catalog, promoted, fit), {"chosen": promoted.name, "promoted": True})
    candidates = allowed_candidates(settings)
    try:
        report = select_model(events, candidates, catalog, repeats=settings.repeats)
    except InputError as exc:  # too few customers on both sides of the cut: carry on unscored
        carried = _carried(previous, candidates, settings)
        log.warning("no model choice (%s); training %s without holdout figures", exc, carried.name)
        return Trained(train(events, catalog, carried, fit), {"chosen": carried.name, "no_choice": str(exc)})
    metrics = holdout_metrics(report)
    refused = gate(metrics, serving, settings.max_quality_drop, report)
    if refused:
        return Trained(None, metrics, report, refused)
    return Trained(train(events, catalog, report.chosen_candidate, fit), metrics, report)


def train(events: EventTable, catalog: Catalog, candidate: Candidate, fit: Fit = fit_implicit) -> Recommender:
    """`candidate` fitted on every event, serving as it was scored, with its purchases when it keeps bought items."""
    trainer = fit if candidate.params.algorithm == "als" else fit_implicit
    model = trainer(events, candidate.params, candidate.event_weights(), catalog)
    model.filter_interacted = candidate.filter_interacted
    if model.recommends_bought_items:
        model.purchases = PurchaseIndex.build(events, model.user_ids, model.item_ids)
    return model
