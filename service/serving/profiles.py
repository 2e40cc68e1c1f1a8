"""Customer lifecycle on the read path: the serving model's lifecycle fit, a customer's profile, and every
customer's predictions for the audiences and the win-back ranking.

The fit (BG/NBD, Gamma-Gamma and the RFM edges, recommender.lifecycle) is made at every training and kept in
the artifact (`ArtifactInfo.extra[LIFECYCLE]`, service.training.lifecycle). Each customer's summary is
recomputed here from the purchase book (service.serving.purchase_book: every purchase accepted so far) as
of `now`, and predicted with the fitted parameters: the BG/NBD conditional expectations need only the
customer's own frequency, recency and age, so a purchase since the training changes the profile at once.
The churn bands and the discount rate are the serving settings' (RECS_CHURN_MEDIUM, RECS_CHURN_HIGH,
RECS_ANNUAL_DISCOUNT), so changing them needs no retraining.

Rankings (documented in README.md, "Customer lifecycle"):

* value at risk = (1 - p_alive) x value_365d, the predicted 365-day value the store loses if the customer
  has dropped out. The win-back selection by lifecycle lists customers by value at risk, largest first, then
  by 1 - p_alive, largest first, then by customer id. Without a spend model (a store without prices)
  value_365d and value at risk are null and the order is by 1 - p_alive, then customer id.
* audiences (`GET /v1/customers`) list customers by value_365d, largest first (null last), then by p_alive,
  smallest first, then by customer id.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from recommender.artifacts import ArtifactInfo
from recommender.errors import InputError
from recommender.lifecycle import CustomerPredictions, CustomerSummary, LifecycleConfig, LifecycleModel, summarize
from recommender.lifecycle.summary import day_of
from service.errors import LifecycleUnavailable
from service.serving.purchase_book import PurchaseBook

#: The field of an artifact's extra information holding the training's lifecycle record.
LIFECYCLE = "lifecycle"
NOT_FITTED = "not_fitted"


@dataclass(frozen=True)
class StoreLifecycle:
    """The serving model's lifecycle record and, when the fit succeeded, the model to predict with."""

    record: dict | None
    model: LifecycleModel | None

    @classmethod
    def of(cls, info: ArtifactInfo, config: LifecycleConfig) -> StoreLifecycle:
        """The lifecycle of an artifact, predicting with `config` (the serving settings)."""
        record = info.extra.get(LIFECYCLE)
        if not isinstance(record, dict):
            return cls(None, None)
        model = None
        if record.get("status") == "fitted":
            try:
                model = LifecycleModel.from_dict(record["model"], config)
            except (KeyError, InputError):
                model = None
        return cls(record, model)

    @property
    def unavailable(self) -> tuple[str, str] | None:
        """(reason code, sentence) when there is nothing to predict with; None when there is."""
        if self.model is not None:
            return None
        if self.record is None:
            return NOT_FITTED, ("the serving model was trained before lifecycle models were fitted at training: "
                                "they are fitted at the next training")
        return (str(self.record.get("reason") or NOT_FITTED),
                str(self.record.get("message") or "the lifecycle fit of the serving model is unreadable"))

    def require(self) -> LifecycleModel:
        """The model; LifecycleUnavailable (409) when the training could not fit one."""
        if self.model is None:
            raise LifecycleUnavailable(*self.unavailable)
        return self.model

    def status(self) -> dict:
        """What the profile says about the fit: status, when it was made, and why not when it failed."""
        missing = self.unavailable
        return {"status": "fitted" if missing is None else ("failed" if self.record else NOT_FITTED),
                "fitted_at": None if self.record is None else self.record.get("as_of"),
                "reason": None if missing is None else missing[0],
                "message": None if missing is None else missing[1]}


def _number(value: float, digits: int) -> float | None:
    return None if not np.isfinite(value) else round(float(value), digits)


def prediction_view(predictions: CustomerPredictions, row: int) -> dict:
    """One customer's predictions as the API shows them (null where a value is unknown)."""
    p = predictions
    value = p.value_365d[row]
    return {
        "p_alive": _number(p.p_alive[row], 4),
        "churn_risk": str(p.churn_risk[row]),
        "expected_orders_30d": _number(p.expected_orders_30d[row], 4),
        "expected_orders_90d": _number(p.expected_orders_90d[row], 4),
        "expected_orders_365d": _number(p.expected_orders_365d[row], 4),
        "next_order_at": _number(p.next_order_at[row], 0),
        "expected_order_value": _number(p.expected_order_value[row], 2),
        "value_365d": _number(value, 2),
        "value_at_risk": _number((1.0 - p.p_alive[row]) * value, 2),
        "segment": str(p.segment[row]),
        "rfm": {"r": int(p.r_score[row]), "f": int(p.f_score[row]), "m": int(p.m_score[row])},
    }


def _per_currency(spend: np.ndarray, currencies: np.ndarray, days: np.ndarray) -> tuple[dict, dict]:
    """Revenue per currency and AOV per currency (revenue over the order days with a priced purchase in it)."""
    known = np.isfinite(spend)
    revenue, aov = {}, {}
    for currency in sorted(set(currencies[known].tolist())):
        mine = known & (currencies == currency)
        total = float(spend[mine].sum())
        revenue[currency] = round(total, 2)
        aov[currency] = round(total / len(np.unique(days[mine])), 2)
    return revenue, aov


def customer_profile(book: PurchaseBook, lifecycle: StoreLifecycle, user_id: str, now: float) -> dict:
    """A customer's purchase history up to `now` and, when the store's fit allows, their predictions.

    Parameters
    ----------
    book : PurchaseBook
        Every purchase accepted so far.
    lifecycle : StoreLifecycle
        The serving model's fit.
    user_id : str
    now : float
        Epoch seconds; purchases after it are left out, and predictions start from its UTC day.

    Returns
    -------
    dict
        JSON-ready: purchases, orders (purchase days, UTC: recommender.lifecycle.summary), first and last
        order (epoch seconds), days since the last order, mean days between orders (null with one order),
        revenue and AOV per ISO 4217 code, the fit's status, and `prediction` (prediction_view) or null with
        `prediction_unavailable` {"reason", "message"}: reason ``no_purchases`` for a customer without a
        purchase, else the fit's reason when the training could not fit the models.
    """
    purchases, currencies = book.of(user_id)
    kept = purchases.timestamps <= now
    summary = summarize(purchases, now)
    fitted_at = None if lifecycle.record is None else lifecycle.record.get("as_of")
    since_fit = int((purchases.timestamps[kept] > fitted_at).sum()) if fitted_at is not None else None
    profile: dict = {"user_id": user_id, "as_of": now, "lifecycle": lifecycle.status(),
                     "purchases": int(kept.sum()), "purchases_since_fit": since_fit}
    if not len(summary):
        return {**profile, "orders": 0, "first_order_at": None, "last_order_at": None,
                "days_since_last_order": None, "mean_days_between_orders": None, "revenue": {}, "aov": {},
                "prediction": None,
                "prediction_unavailable": {"reason": "no_purchases",
                                           "message": "the customer has no purchase up to as_of"}}
    days = day_of(purchases.timestamps[kept])
    revenue, aov = _per_currency(purchases.spend[kept], currencies[kept], days)
    x = int(summary.frequency[0])
    profile.update({
        "orders": x + 1, "first_order_at": float(summary.first_purchase[0]),
        "last_order_at": float(summary.last_purchase[0]), "days_since_last_order": float(summary.days_since_last[0]),
        "mean_days_between_orders": round(float(summary.recency[0]) / x, 2) if x else None,
        "revenue": revenue, "aov": aov,
    })
    missing = lifecycle.unavailable
    if missing is not None:
        return {**profile, "prediction": None,
                "prediction_unavailable": {"reason": missing[0], "message": missing[1]}}
    return {**profile, "prediction": prediction_view(lifecycle.model.predict(summary), 0),
            "prediction_unavailable": None}


def store_predictions(book: PurchaseBook, model: LifecycleModel,
                      now: float) -> tuple[CustomerSummary, CustomerPredictions]:
    """Every customer's summary as of `now` (epoch seconds) and their predictions, n customers in id order.

    Remembered per book for the last (model, UTC day of `now`, purchases up to `now`): the summary depends on
    nothing else (whole days; and as the book never changes, the purchases up to `now` are the same set
    whenever they are as many). Thread-safe.

    Returns
    -------
    (CustomerSummary, CustomerPredictions)
        Both of the same n customers (those with a purchase up to `now`).
    """
    key = (json.dumps(model.to_dict(), sort_keys=True), int(day_of(now)),
           int((book.purchases.timestamps <= now).sum()))
    with book.lock:
        hit = book.memo.get(key)
    if hit is not None:
        return hit
    summary = summarize(book.purchases, now)
    result = (summary, model.predict(summary))
    with book.lock:
        book.memo.clear()
        book.memo[key] = result
    return result


@dataclass(frozen=True)
class Ranked:
    """Selected customers of a store-wide prediction, in their order: `rows` index the summary and predictions."""

    summary: CustomerSummary
    predictions: CustomerPredictions
    rows: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def customer_ids(self) -> np.ndarray:
        return self.summary.customer_ids[self.rows]


def _selected(predictions: CustomerPredictions, segment: str | None, min_value: float | None,
              max_p_alive: float | None) -> np.ndarray:
    keep = np.ones(len(predictions), dtype=bool)
    if segment is not None:
        keep &= predictions.segment == segment
    if min_value is not None:
        keep &= np.nan_to_num(predictions.value_365d, nan=-np.inf) >= min_value
    if max_p_alive is not None:
        keep &= predictions.p_alive <= max_p_alive
    return keep


def _check_value(model: LifecycleModel, min_value: float | None) -> None:
    if min_value is not None and model.gamma_gamma is None:
        raise LifecycleUnavailable("no_spend_model", f"min_value needs predicted values, and this store has no "
                                   f"spend model: {model.spend_unavailable}")


def audience(book: PurchaseBook, model: LifecycleModel, now: float, segment: str | None = None,
             min_value: float | None = None, max_p_alive: float | None = None) -> Ranked:
    """Customers of a segment, worth at least `min_value`, alive with probability at most `max_p_alive`
    (each filter optional), by value_365d (module docstring).

    Parameters
    ----------
    now : float
        Epoch seconds the summaries are as of.
    segment : str, optional
        One of recommender.lifecycle.SEGMENTS.
    min_value : float, optional
        Least value_365d, currency units.
    max_p_alive : float, optional
        Largest P(alive), 0 to 1.

    Raises
    ------
    LifecycleUnavailable
        `min_value` is asked of a model without a spend model (reason ``no_spend_model``).
    """
    _check_value(model, min_value)
    summary, predictions = store_predictions(book, model, now)
    rows = np.flatnonzero(_selected(predictions, segment, min_value, max_p_alive))
    value = np.nan_to_num(predictions.value_365d[rows], nan=-np.inf)
    order = np.lexsort((rows, predictions.p_alive[rows], -value))
    return Ranked(summary, predictions, rows[order])


def value_at_risk_order(book: PurchaseBook, model: LifecycleModel, now: float, min_value: float | None,
                        max_p_alive: float | None) -> Ranked:
    """The win-back selection by lifecycle: p_alive at most `max_p_alive`, value_365d at least `min_value`
    (currency units; each optional), by value at risk (module docstring), as of `now` (epoch seconds).

    Raises
    ------
    LifecycleUnavailable
        `min_value` is asked of a model without a spend model (reason ``no_spend_model``).
    """
    _check_value(model, min_value)
    summary, predictions = store_predictions(book, model, now)
    rows = np.flatnonzero(_selected(predictions, None, min_value, max_p_alive))
    risk = 1.0 - predictions.p_alive[rows]
    at_risk = np.nan_to_num(risk * predictions.value_365d[rows], nan=-np.inf)
    order = np.lexsort((rows, -risk, -at_risk))
    return Ranked(summary, predictions, rows[order])


def audience_line(ranked: Ranked, k: int) -> dict:
    """The k-th selected customer as an audience row: history and predictions."""
    row = int(ranked.rows[k])
    s = ranked.summary
    return {"user_id": str(s.customer_ids[row]), "orders": int(s.orders[row]),
            "first_order_at": float(s.first_purchase[row]), "last_order_at": float(s.last_purchase[row]),
            **prediction_view(ranked.predictions, row)}
