"""Fitting everything a store's lifecycle predictions need, as one record: BG/NBD, Gamma-Gamma, RFM edges."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from recommender.errors import InputError
from recommender.lifecycle.bgnbd import BGNBDParams, fit_bgnbd
from recommender.lifecycle.fitting import FitError
from recommender.lifecycle.gamma_gamma import GammaGammaParams, fit_gamma_gamma
from recommender.lifecycle.predictions import (
    CustomerPredictions,
    LifecycleConfig,
    predict_customers,
)
from recommender.lifecycle.purchases import Purchases
from recommender.lifecycle.segments import RfmEdges, fit_rfm_edges
from recommender.lifecycle.summary import CustomerSummary, summarize

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LifecycleModel:
    """A store's fitted lifecycle models.

    Attributes
    ----------
    as_of : float
        Epoch seconds: the fit saw purchases up to here.
    bgnbd : BGNBDParams
        Times in days.
    gamma_gamma : GammaGammaParams or None
        None when the spend model is unavailable; `spend_unavailable` says why.
    spend_unavailable : str or None
        Why there is no spend model (a sentence), None when there is one.
    rfm : RfmEdges
    config : LifecycleConfig
    """

    as_of: float
    bgnbd: BGNBDParams
    gamma_gamma: GammaGammaParams | None
    spend_unavailable: str | None
    rfm: RfmEdges
    config: LifecycleConfig = LifecycleConfig()

    def predict(self, summary: CustomerSummary) -> CustomerPredictions:
        """Predictions for the summary's customers (its `as_of` may be later than the fit's: the BG/NBD
        expectations need only each customer's own summary)."""
        return predict_customers(summary, self.bgnbd, self.gamma_gamma, self.rfm, self.config)

    def to_dict(self) -> dict:
        """The parameters as plain JSON-ready values."""
        return {"as_of": self.as_of, "bgnbd": self.bgnbd.to_dict(),
                "gamma_gamma": self.gamma_gamma.to_dict() if self.gamma_gamma else None,
                "spend_unavailable": self.spend_unavailable, "rfm_edges": self.rfm.to_dict(),
                "config": self.config.to_dict()}

    @classmethod
    def from_dict(cls, record: dict, config: LifecycleConfig | None = None) -> LifecycleModel:
        """The model that `to_dict` wrote (an artifact keeps it as JSON).

        Parameters
        ----------
        record : dict
            `to_dict`'s output.
        config : LifecycleConfig, optional
            Replaces the recorded settings (a service predicts with the settings in force when it serves).

        Raises
        ------
        InputError
            `record` is not such a record (a key is missing or a value is not a number).
        """
        try:
            bgnbd = record["bgnbd"]
            spend = record["gamma_gamma"]
            edges = record["rfm_edges"]
            return cls(
                as_of=float(record["as_of"]),
                bgnbd=BGNBDParams(float(bgnbd["r"]), float(bgnbd["alpha_days"]), float(bgnbd["a"]),
                                  float(bgnbd["b"]), float(bgnbd["log_likelihood"]), int(bgnbd["customers"])),
                gamma_gamma=None if spend is None else GammaGammaParams(
                    float(spend["p"]), float(spend["q"]), float(spend["gamma"]), float(spend["log_likelihood"]),
                    int(spend["customers"])),
                spend_unavailable=record["spend_unavailable"],
                rfm=RfmEdges(*(tuple(float(v) for v in edges[name]) for name in ("recency_days", "orders", "aov"))),
                config=config or LifecycleConfig(**record["config"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"not a lifecycle model record: {type(exc).__name__}: {exc}") from None


def fit_lifecycle(purchases: Purchases, as_of: float,
                  config: LifecycleConfig = LifecycleConfig()) -> tuple[LifecycleModel, CustomerSummary]:
    """Summarise purchases up to `as_of` and fit BG/NBD, Gamma-Gamma (when spend is known) and RFM edges.

    Parameters
    ----------
    purchases : Purchases
        n purchases; those after `as_of` are left out.
    as_of : float
        Epoch seconds.
    config : LifecycleConfig

    Returns
    -------
    (LifecycleModel, CustomerSummary)
        The model and the summary it was fitted on (predict it with `model.predict(summary)`).

    Raises
    ------
    FitError
        The BG/NBD model cannot be fitted (no customers, nobody bought twice, not identified). A spend model
        that cannot be fitted is not an error: `gamma_gamma` is None and `spend_unavailable` says why.
    InputError
        `as_of` is not finite.
    """
    summary = summarize(purchases, as_of)
    bgnbd = fit_bgnbd(summary.frequency, summary.recency, summary.age)
    gamma_gamma, why = None, None
    if not purchases.has_spend:
        why = "the purchases carry no prices"
    else:
        try:
            gamma_gamma = fit_gamma_gamma(summary.repeat_spend_orders, summary.repeat_spend)
        except FitError as exc:
            why = str(exc)
            log.warning("no spend model: %s", why)
    return LifecycleModel(float(as_of), bgnbd, gamma_gamma, why, fit_rfm_edges(summary), config), summary
