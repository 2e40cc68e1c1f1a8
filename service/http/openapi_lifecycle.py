"""The OpenAPI parts of the customer lifecycle: the profile and audience paths, the win-back's lifecycle
selection, and GET /v1/model's `lifecycle` (merged into service.http.openapi.spec)."""

from __future__ import annotations

from typing import Any

from recommender.lifecycle import CHURN_BANDS, SEGMENTS
from service.http.limits import MAX_AUDIENCE, MAX_VALUE, MIN_NOW

ID = {"type": "string", "minLength": 1, "maxLength": 256}
ERROR = {"$ref": "#/components/schemas/Error"}
SECURED = [{"bearer": []}]
NDJSON = "application/x-ndjson"
NUMBER = {"type": "number", "nullable": True}
EPOCH = {"type": "number", "nullable": True, "description": "epoch seconds"}
PER_CURRENCY = {"type": "object", "additionalProperties": {"type": "number"}}
UNAVAILABLE = ("409: the serving model has no lifecycle fit (code lifecycle_unavailable; `reason` no_repeat_buyers, "
               "no_customers, not_identified, infinite_mean_spend, not_fitted for a model trained before fits were "
               "kept, or no_spend_model when min_value is asked of a store without prices)")


def _query(name: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def _errors(*codes: int) -> dict:
    texts = {400: "Bad parameter (the error names the field)", 401: "Missing key", 403: "Wrong key",
             404: "Unknown user (code unknown_user): no event and not in the model", 409: UNAVAILABLE,
             503: "No model yet, or Redis unavailable"}
    return {str(c): {"description": texts[c], "content": {"application/json": {"schema": ERROR}}} for c in codes}


NOW = _query("now", {"type": "integer", "minimum": MIN_NOW},
             "epoch seconds the history and predictions are as of (default: the current time), at most the current "
             "time plus one day; purchases after it are left out")
MIN_VALUE = _query("min_value", {"type": "number", "minimum": 0, "maximum": MAX_VALUE},
                   "only customers whose predicted 365-day value (value_365d) is at least this, currency units")
MAX_P_ALIVE = _query("max_p_alive", {"type": "number", "minimum": 0, "maximum": 1},
                     "only customers alive with probability at most this (BG/NBD P(alive)); customers with one "
                     "order have p_alive 1 under BG/NBD")
#: The win-back's lifecycle selection: parameters, and what each row adds.
LAPSED_PARAMS = [
    {**MAX_P_ALIVE, "description": MAX_P_ALIVE["description"] + ". With max_p_alive or min_value the win-back "
     "selects by lifecycle instead of the idle window (not together with min_days or max_days) and lists by value "
     "at risk = (1 - p_alive) x value_365d, largest first, then 1 - p_alive, then user id (without a spend model: "
     "by 1 - p_alive, then user id)"},
    {**MIN_VALUE, "description": MIN_VALUE["description"] + "; selects by lifecycle like max_p_alive"},
]
PREDICTION = {"type": "object", "properties": {
    "p_alive": {"type": "number", "description": "P(alive | x, t_x, T) of the BG/NBD model, 4 decimals"},
    "churn_risk": {"type": "string", "enum": list(CHURN_BANDS), "description": "1 - p_alive against "
                   "RECS_CHURN_MEDIUM and RECS_CHURN_HIGH"},
    "expected_orders_30d": {**NUMBER, "description": "E[orders in the next 30 days | history]"},
    "expected_orders_90d": NUMBER, "expected_orders_365d": NUMBER,
    "next_order_at": {**EPOCH, "description": "epoch seconds by which the next order has a 50% chance (dropout "
                      "counted); null when that never happens within ten years"},
    "expected_order_value": {**NUMBER, "description": "Gamma-Gamma E[spend per order | history]; null without "
                             "a spend model"},
    "value_365d": {**NUMBER, "description": "expected_order_value x expected orders over the next 365 days, "
                   "discounted monthly at RECS_ANNUAL_DISCOUNT; null without a spend model"},
    "value_at_risk": {**NUMBER, "description": "(1 - p_alive) x value_365d"},
    "segment": {"type": "string", "enum": list(SEGMENTS), "description": "RFM segment (README, Customer lifecycle)"},
    "rfm": {"type": "object", "description": "R, F and M scores 1-5 against the store's quintiles at training "
            "(m 0 without prices)", "properties": {"r": {"type": "integer"}, "f": {"type": "integer"},
                                                    "m": {"type": "integer"}}}}}
LAPSED_FIELDS = {name: PREDICTION["properties"][name] for name in ("p_alive", "churn_risk", "value_365d",
                                                                   "value_at_risk")}
REASON = {"type": "object", "nullable": True, "properties": {"reason": {"type": "string"},
                                                             "message": {"type": "string"}}}
STATUS = {"type": "string", "enum": ["fitted", "failed", "not_fitted"],
          "description": "failed: the training could not fit the models to this store (reason, message); "
                         "not_fitted: the model was trained before lifecycle fits were kept"}
PROFILE = {"type": "object", "required": ["user_id", "orders", "revenue", "prediction"], "properties": {
    "user_id": {"type": "string"}, "model_version": {"type": "string"}, "as_of": {"type": "number"},
    "purchases": {"type": "integer", "description": "purchase events up to as_of"},
    "purchases_since_fit": {"type": "integer", "nullable": True, "description": "of those, timed after the "
                            "training's fit (lifecycle.fitted_at): they count in the profile without a retraining"},
    "orders": {"type": "integer", "description": "days with a purchase (UTC): the lifecycle models' orders"},
    "first_order_at": EPOCH, "last_order_at": EPOCH,
    "days_since_last_order": {**NUMBER, "description": "whole days from the last order to as_of"},
    "mean_days_between_orders": {**NUMBER, "description": "days from the first order to the last / repeat "
                                 "orders; null with one order"},
    "revenue": {**PER_CURRENCY, "description": "ISO 4217 code -> price x quantity of the purchases in that currency "
                "(the item's catalog currency, else RECS_CURRENCY); purchases without a price are left out"},
    "aov": {**PER_CURRENCY, "description": "per currency: revenue / orders with a priced purchase in it"},
    "lifecycle": {"type": "object", "description": "the serving model's lifecycle fit", "properties": {
        "status": STATUS, "fitted_at": EPOCH, "reason": {"type": "string", "nullable": True},
        "message": {"type": "string", "nullable": True}}},
    "prediction": {**PREDICTION, "nullable": True, "description": "null without a purchase or a lifecycle fit"},
    "prediction_unavailable": {**REASON, "description": "why prediction is null (reason no_purchases, or the "
                               "fit's reason); null when there is one"}}}
AUDIENCE_LINE = {"type": "object", "required": ["user_id", "orders", "p_alive", "segment"], "properties": {
    "user_id": {"type": "string"}, "model_version": {"type": "string"},
    "orders": {"type": "integer"}, "first_order_at": {"type": "number"}, "last_order_at": {"type": "number"},
    **PREDICTION["properties"]}}
#: GET /v1/model's `lifecycle`.
LIFECYCLE_MODEL = {"type": "object", "description": "the lifecycle models fitted at the training of this model on "
                   "every purchase accepted up to it (times in days)", "properties": {
    "status": STATUS, "as_of": EPOCH, "purchases": {"type": "integer", "nullable": True},
    "customers": {"type": "integer", "nullable": True}, "repeat_buyers": {"type": "integer", "nullable": True},
    "seconds": NUMBER, "reason": {"type": "string", "nullable": True}, "message": {"type": "string", "nullable": True},
    "bgnbd": {"type": "object", "nullable": True, "description": "BG/NBD (Fader, Hardie and Lee 2005): r, "
              "alpha_days, a, b, log_likelihood, customers"},
    "gamma_gamma": {"type": "object", "nullable": True, "description": "Gamma-Gamma (Fader and Hardie 2013): p, q, "
                    "gamma (currency units), log_likelihood, customers, mean_spend; null without prices"},
    "spend_unavailable": {"type": "string", "nullable": True, "description": "why there is no spend model"},
    "rfm_edges": {"type": "object", "nullable": True, "description": "quintile edges of days since the last order, "
                  "orders and AOV"},
    "config": {"type": "object", "nullable": True, "description": "annual_discount, churn_medium, churn_high at "
               "the training (predictions use the serving settings)"},
    "holdout": {"type": "object", "nullable": True, "description": "fit on all but the last holdout_days days, then "
                "the AUC of 1 - p_alive and of days since the last purchase for 'no purchase in those days' "
                "(0.5: chance), over all customers and the repeat buyers (repeat_auc_*); calibration_end, customers, "
                "repeat_buyers, churned_share; or status failed with reason and message"}}}


def lifecycle_paths() -> dict[str, Any]:
    return {
        "/v1/users/{user_id}/profile": {"get": {
            "summary": "A customer's lifecycle profile: orders, revenue per currency, AOV, first and last order, "
                       "mean days between orders, and P(alive), expected orders in 30/90/365 days, the next-order "
                       "date, predicted 365-day value, churn risk and RFM segment",
            "description": "History from every purchase accepted up to `now` (purchases since the training "
                           "included), predicted with the lifecycle fit of the serving model's training. A known "
                           "customer without purchases gets prediction null (reason no_purchases); so does every "
                           "customer when the training could not fit the models (the fit's reason).",
            "security": SECURED,
            "parameters": [{"name": "user_id", "in": "path", "required": True, "schema": ID}, NOW],
            "responses": {"200": {"description": "The profile", "content": {"application/json": {"schema": PROFILE}}},
                          **_errors(400, 401, 403, 404, 503)}}},
        "/v1/customers": {"get": {
            "summary": "Audiences: customers of an RFM segment, worth at least min_value, alive with probability at "
                       "most max_p_alive, by predicted 365-day value (NDJSON stream)",
            "description": "Every filter is optional. Order: value_365d, largest first (null last), then p_alive, "
                           "smallest first, then user id.",
            "security": SECURED,
            "parameters": [_query("segment", {"type": "string", "enum": list(SEGMENTS)}, "only this RFM segment"),
                           MIN_VALUE, MAX_P_ALIVE,
                           _query("n", {"type": "integer", "minimum": 1, "maximum": MAX_AUDIENCE, "default": 1000},
                                  "customers at most"), NOW],
            "responses": {"200": {"description": "One line per customer",
                                  "content": {NDJSON: {"schema": AUDIENCE_LINE}}},
                          **_errors(400, 401, 403, 409, 503)}}},
    }
