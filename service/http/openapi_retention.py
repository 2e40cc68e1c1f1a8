"""The OpenAPI paths of the retention routes (merged into service.http.openapi.spec)."""

from __future__ import annotations

from typing import Any

from recommender.sources import (
    CATEGORY_AFFINITY,
    FALLBACK,
    NO_PURCHASES,
    NO_REPEAT_PURCHASES,
    PERSONALIZED,
    PURCHASES,
    UNKNOWN_USER,
)
from service.http.limits import MAX_DAYS, MAX_HOURS, MAX_N, MIN_NOW
from service.http.openapi_email import CAP_HOURS, FIELDS_PARAM
from service.http.openapi_lifecycle import LAPSED_FIELDS, LAPSED_PARAMS

ID = {"type": "string", "minLength": 1, "maxLength": 256}
ERROR = {"$ref": "#/components/schemas/Error"}
SECURED = [{"bearer": []}]
NDJSON = "application/x-ndjson"


def _query(name: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def _errors(*codes: int) -> dict:
    texts = {400: "Bad parameter", 401: "Missing key", 403: "Wrong key", 503: "No model yet, or Redis unavailable",
             409: "Win-back by lifecycle (max_p_alive, min_value) when the serving model has no lifecycle fit (code "
                  "lifecycle_unavailable, with its reason)"}
    return {str(c): {"description": texts[c], "content": {"application/json": {"schema": ERROR}}} for c in codes}


def _item(extra: dict | None = None) -> dict:
    return {"type": "object", "required": ["item_id", "score"], "properties": {
        "item_id": {"type": "string"}, "score": {"type": "number"},
        "kind": {"type": "string", "nullable": True}, "category": {"type": "string", "nullable": True},
        **(extra or {})}}


def _items(extra: dict | None = None) -> dict:
    return {"type": "array", "items": _item(extra)}


NOW = _query("now", {"type": "integer", "minimum": MIN_NOW},
             "epoch seconds the time windows are measured from (default: the current time), at most the "
             "current time plus one day; events after it still count")
FILTERS = [
    _query("category", {"type": "string"}, "only this category"),
    _query("in_stock", {"type": "boolean"}, "only items in stock"),
    _query("exclude", {"type": "string"}, "comma-separated item ids to leave out"),
    _query("max_per_category", {"type": "integer", "minimum": 1, "maximum": MAX_N}, "diversity cap"),
    FIELDS_PARAM,
]
KIND = _query("kind", {"type": "string", "enum": ["product", "content"]}, "only this kind")
USER = {"name": "user_id", "in": "path", "required": True, "schema": ID}


def _n(default: int, what: str) -> dict:
    return _query("n", {"type": "integer", "minimum": 1, "maximum": MAX_N, "default": default}, what)


def _campaign(summary: str, window: list[dict], description: str, line: dict, errors: tuple = ()) -> dict:
    """A streaming campaign route: its window and n, then the filters every campaign takes."""
    return {"get": {
        "summary": summary, "security": SECURED, "parameters": [*window, KIND, *FILTERS, NOW, CAP_HOURS],
        "responses": {"200": {"description": description, "content": {NDJSON: {"schema": line}}},
                      **_errors(400, 401, 403, *errors, 503)}}}


def retention_paths() -> dict[str, Any]:
    lapsed_line = {"type": "object", "required": ["user_id", "last_active", "source", "items"], "properties": {
        "user_id": {"type": "string"}, "last_active": {"type": "number", "description": "epoch seconds"},
        "model_version": {"type": "string"},
        "source": {"type": "string", "enum": [PERSONALIZED, FALLBACK],
                   "description": "fallback: the model does not know the customer; popular items"},
        "items": _items({"new": {"type": "boolean", "description": "created after the customer's last visit"},
                         "repeat": {"type": "boolean", "enum": [True], "description": "present (true) when the "
                                    "customer bought the item before (models that serve bought items only)"}}),
        **{name: {**schema, "description": "selection by lifecycle only: " + schema.get("description", name)}
           for name, schema in LAPSED_FIELDS.items()}}}
    cart_line = {"type": "object", "required": ["user_id", "abandoned", "items"], "properties": {
        "user_id": {"type": "string"},
        "abandoned": _items({"carted_at": {"type": "number"}}),
        "items": _items()}}
    return {
        "/v1/campaigns/lapsed": _campaign(
            "Win-back: every customer whose last activity is min_days..max_days ago, or (max_p_alive, min_value) "
            "whom the lifecycle models find slipping away, by value at risk; with items that fit their history, "
            "new items since their last visit first among equals (NDJSON stream)",
            [_query("min_days", {"type": "integer", "minimum": 0, "maximum": MAX_DAYS, "default": 240},
                    "idle at least this many days"),
             _query("max_days", {"type": "integer", "minimum": 0, "maximum": MAX_DAYS, "default": 365},
                    "idle at most this many days (not below min_days)"),
             *LAPSED_PARAMS, _n(4, "items per customer")],
            "One line per lapsed customer, in user id order (by value at risk when selected by lifecycle)",
            lapsed_line, (409,)),
        "/v1/campaigns/abandoned-carts": _campaign(
            "Abandoned carts: customers whose latest add-to-cart of an item is older_than_hours..within_days old "
            "and was not followed by a purchase of it; the items and complements bought together with them, "
            "never anything bought (NDJSON stream)",
            [_query("older_than_hours", {"type": "integer", "minimum": 0, "maximum": MAX_HOURS, "default": 24},
                    "the cart is at least this old"),
             _query("within_days", {"type": "integer", "minimum": 1, "maximum": MAX_DAYS, "default": 7},
                    "the cart is at most this old"),
             _n(3, "complementary items per customer")],
            "One line per customer, in user id order", cart_line),
        "/v1/users/{user_id}/follow-up": {"get": {
            "summary": "After a purchase: complements of the customer's latest purchases (co-purchases, topped "
                       "up with similar items) and the guides buyers of those items read",
            "security": SECURED,
            "parameters": [USER, _n(4, "complementary items"),
                           _query("content_n", {"type": "integer", "minimum": 0, "maximum": MAX_N, "default": 2},
                                  "content items"), *FILTERS],
            "responses": {"200": {"description": "The block", "content": {"application/json": {"schema": {
                "type": "object", "required": ["user_id", "source", "purchased", "items", "content"],
                "properties": {
                    "user_id": {"type": "string"}, "model_version": {"type": "string"},
                    "source": {"type": "string", "enum": [PURCHASES, NO_PURCHASES, UNKNOWN_USER],
                               "description": "no_purchases / unknown_user: the lists are empty"},
                    "purchased": _items({"purchased_at": {"type": "number"}}),
                    "items": _items({"via": {"type": "string", "enum": ["co_purchase", "similar"]}}),
                    "content": _items()}}}}},
                **_errors(400, 401, 403, 503)}}},
        "/v1/users/{user_id}/new": {"get": {
            "summary": "Items created in the last `days`, ranked by the customer's taste (model vectors; "
                       "category affinity for items too new to have one)",
            "security": SECURED,
            "parameters": [USER, _query("days", {"type": "integer", "minimum": 1, "maximum": MAX_DAYS,
                                                 "default": 30}, "created within this many days"),
                           _n(10, "list length"), KIND, *FILTERS, NOW],
            "responses": {"200": {"description": "The block", "content": {"application/json": {"schema": {
                "type": "object", "required": ["user_id", "source", "items"], "properties": {
                    "user_id": {"type": "string"}, "model_version": {"type": "string"},
                    "source": {"type": "string", "enum": [PERSONALIZED, CATEGORY_AFFINITY, FALLBACK],
                               "description": "category_affinity: the customer has events but no model vector "
                                              "yet; fallback: no events at all, newest first"},
                    "items": _items({"created_at": {"type": "number"},
                                     "scored_by": {"type": "string", "enum": ["model", "category", "recency"]}})}}}}},
                **_errors(400, 401, 403, 503)}}},
        "/v1/users/{user_id}/buy-again": {"get": {
            "summary": "Items the customer bought at least twice, most overdue first (days since the last "
                       "purchase / their usual interval)",
            "security": SECURED,
            "parameters": [USER, _n(10, "list length"), KIND, *FILTERS, NOW],
            "responses": {"200": {"description": "The block", "content": {"application/json": {"schema": {
                "type": "object", "required": ["user_id", "source", "items"], "properties": {
                    "user_id": {"type": "string"},
                    "source": {"type": "string", "enum": [PURCHASES, NO_REPEAT_PURCHASES, UNKNOWN_USER],
                               "description": "no_repeat_purchases / unknown_user: the list is empty"},
                    "items": _items({"purchases": {"type": "integer"}, "last_purchase": {"type": "number"},
                                     "interval_days": {"type": "number"},
                                     "interval_source": {"type": "string", "enum": ["own", "item"]}})}}}}},
                **_errors(400, 401, 403, 503)}}},
    }
