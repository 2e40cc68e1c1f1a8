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
    TRENDING,
    UNKNOWN_USER,
)
from service.http.limits import MAX_AUDIENCE, MAX_DAYS, MAX_HOURS, MAX_N, MAX_VIEWS, MIN_NOW
from service.http.openapi_email import (
    BLOCK_ITEM_FIELDS,
    CAP_HOURS,
    FIELDS_PARAM,
    PURCHASED_FIELDS,
    experiment_tag,
    items_schema,
)
from service.http.openapi_lifecycle import LAPSED_FIELDS, LAPSED_PARAMS
from service.settings import MAX_TRENDING_HOURS

ID = {"type": "string", "minLength": 1, "maxLength": 256}
ERROR = {"$ref": "#/components/schemas/Error"}
SECURED = [{"bearer": []}]
NDJSON = "application/x-ndjson"


def _query(name: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def _errors(*codes: int) -> dict:
    texts = {400: "Bad parameter", 401: "Missing key", 403: "Wrong key", 404: "Unknown item",
             503: "No model yet, or Redis unavailable",
             409: "Win-back by lifecycle (max_p_alive, min_value) when the serving model has no lifecycle fit (code "
                  "lifecycle_unavailable, with its reason)"}
    return {str(c): {"description": texts[c], "content": {"application/json": {"schema": ERROR}}} for c in codes}


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


DRY_RUN = _query("dry_run", {"type": "boolean", "default": False},
                 "count the campaign without sending it: no impressions, experiment exposures or contact-cap "
                 "metric are counted, and lines carry no recommendation_id (the dashboard counts this way)")
CAMPAIGN_ID = {"type": "string", "description": "the response's id for the route campaign_{name} (one per "
               "experiment variant); send it with click and purchase events to attribute them. Listing a "
               "customer counts their items as impressions: fetch without dry_run only what is sent"}


def _with_id(line: dict) -> dict:
    """A campaign line's schema with the recommendation_id every line carries (but with dry_run)."""
    return {**line, "properties": {**line["properties"], "recommendation_id": CAMPAIGN_ID}}


def _campaign(summary: str, window: list[dict], description: str, line: dict, errors: tuple = ()) -> dict:
    """A streaming campaign route: its window and n, then the filters every campaign takes."""
    return {"get": {
        "summary": summary, "security": SECURED, "parameters": [*window, KIND, *FILTERS, NOW, CAP_HOURS, DRY_RUN],
        "responses": {"200": {"description": description, "content": {NDJSON: {"schema": _with_id(line)}}},
                      **_errors(400, 401, 403, *errors, 503)}}}


def retention_paths() -> dict[str, Any]:
    lapsed_line = {"type": "object", "required": ["user_id", "last_active", "source", "items"], "properties": {
        "user_id": {"type": "string"}, "last_active": {"type": "number", "description": "epoch seconds"},
        "model_version": {"type": "string"}, "experiment": experiment_tag("campaign"),
        "source": {"type": "string", "enum": [PERSONALIZED, FALLBACK],
                   "description": "fallback: the model does not know the customer; popular items"},
        "items": items_schema({"new": {"type": "boolean", "description": "created after the customer's last visit"},
                         "repeat": {"type": "boolean", "enum": [True], "description": "present (true) when the "
                                    "customer bought the item before (models that serve bought items only)"}}),
        **{name: {**schema, "description": "selection by lifecycle only: " + schema.get("description", name)}
           for name, schema in LAPSED_FIELDS.items()}}}
    cart_line = {"type": "object", "required": ["user_id", "abandoned", "items"], "properties": {
        "user_id": {"type": "string"},
        "abandoned": items_schema({"carted_at": {"type": "number"}}),
        "items": items_schema()}}
    return {**_campaign_paths(lapsed_line, cart_line), **_trigger_paths(), **_block_paths()}


def _trigger_paths() -> dict[str, Any]:
    """Back in stock, price drop and browse abandonment."""
    restock_line = {"type": "object", "required": ["user_id", "items", "recommended"], "properties": {
        "user_id": {"type": "string"}, "experiment": experiment_tag("campaign"),
        "items": items_schema({"interested_at": {"type": "number", "description": "epoch seconds of the customer's "
                                           "newest interest while the item was out of stock"},
                         "event": {"type": "string", "enum": ["view", "add_to_cart", "notify_me"]}}),
        "recommended": items_schema()}}
    drop_line = {"type": "object", "required": ["user_id", "items"], "properties": {
        "user_id": {"type": "string"},
        "items": items_schema({"old_price": {"type": "number", "description": "unit price at the last view or cart"},
                         "price": {"type": "number", "description": "current unit price"},
                         "drop_pct": {"type": "number", "description": "100 (old_price - price) / old_price; "
                                      "score is drop_pct / 100"},
                         "looked_at": {"type": "number", "description": "epoch seconds of the last view or cart"}})}}
    browse_line = {"type": "object", "required": ["user_id", "items"], "properties": {
        "user_id": {"type": "string"}, "experiment": experiment_tag("campaign"),
        "items": items_schema({"via": {"type": "string", "enum": ["viewed", "similar"]},
                         "views": {"type": "integer", "description": "viewed items: views in the window"},
                         "last_viewed": {"type": "number", "description": "viewed items: epoch seconds"}})}}
    return {
        "/v1/campaigns/back-in-stock": _campaign(
            "Back in stock: customers who viewed, carted or asked to be told (notify_me) about an item while it "
            "was out of stock within the window, now that it is in stock again and they have not bought it "
            "since; with in-stock alternatives from the model's similar items (NDJSON stream)",
            [_query("within_days", {"type": "integer", "minimum": 1, "maximum": MAX_DAYS, "default": 30},
                    "the interest is at most this old"),
             _n(3, "in-stock alternatives per customer")],
            "One line per customer, in user id order", restock_line),
        "/v1/campaigns/price-drop": _campaign(
            "Price drop: customers who viewed or carted an item within the window whose current price is at least "
            "min_drop_pct below its price at their last view or cart, not bought since (NDJSON stream)",
            [_query("min_drop_pct", {"type": "integer", "minimum": 1, "maximum": 100, "default": 10},
                    "the current price is at least this many percent below the one the customer saw"),
             _query("within_days", {"type": "integer", "minimum": 1, "maximum": MAX_DAYS, "default": 30},
                    "the customer's last view or cart is at most this old"),
             _n(3, "dropped items per customer, biggest drop first")],
            "One line per customer, in user id order", drop_line),
        "/v1/campaigns/browse-abandonment": _campaign(
            "Browse abandonment: customers who viewed an item (or items of one category, by=category) at least "
            "min_views times in the last within_hours, the last of those views at least older_than_hours ago, "
            "with no cart or purchase of it after the first; the viewed items, then in-stock similar items "
            "(NDJSON stream)",
            [_query("older_than_hours", {"type": "integer", "minimum": 0, "maximum": MAX_HOURS, "default": 2},
                    "the last counted view is at least this old (the visit is over)"),
             _query("within_hours", {"type": "integer", "minimum": 1, "maximum": MAX_HOURS, "default": 48},
                    "views at most this old count (not below older_than_hours)"),
             _query("min_views", {"type": "integer", "minimum": 1, "maximum": MAX_VIEWS, "default": 2},
                    "views of the item (of the category's items) in the window"),
             _query("by", {"type": "string", "enum": ["item", "category"], "default": "item"},
                    "what the views add up over"),
             _n(3, "items per customer: the viewed ones, then similar ones")],
            "One line per customer, in user id order", browse_line),
        "/v1/items/trending": {"get": {
            "summary": "Trending items: the weighted event rate in the last `hours` against the item's own rate in "
                       "the seven windows before, score = (x - mean) / max(std, 1) (the z-score of "
                       "https://stackoverflow.com/a/826509), from every event accepted (no training waited for)",
            "security": SECURED,
            "parameters": [_query("hours", {"type": "integer", "minimum": 1, "maximum": MAX_TRENDING_HOURS,
                                            "default": 24}, "the window"),
                           _n(10, "list length"), KIND, *FILTERS, NOW],
            "responses": {"200": {"description": "The list", "content": {"application/json": {"schema": {
                "type": "object", "required": ["hours", "now", "source", "items"], "properties": {
                    "hours": {"type": "integer"}, "now": {"type": "number"},
                    "source": {"type": "string", "enum": [TRENDING]},
                    "items": items_schema({"current": {"type": "number", "description": "customers in the window, each "
                                                 "weighted by their strongest event with the item there"},
                                     "baseline": {"type": "number", "description": "the same, averaged over the "
                                                  "seven windows before"}})}}}}},
                **_errors(400, 401, 403, 503)}}},
        "/v1/items/{item_id}/audience": {"get": {
            "summary": "Audience: the customers most likely to want an item, best first (the model's user-item "
                       "score; for an item without a model vector, the customer's share of events in its "
                       "category), leaving out recent buyers unless a repeat purchase is due (NDJSON stream)",
            "security": SECURED,
            "parameters": [{"name": "item_id", "in": "path", "required": True, "schema": ID},
                           _query("n", {"type": "integer", "minimum": 1, "maximum": MAX_AUDIENCE, "default": 1000},
                                  "customers"),
                           _query("exclude_bought_days", {"type": "integer", "minimum": 0, "maximum": MAX_DAYS,
                                                          "default": 90},
                                  "leave out customers who bought the item this many days before now, unless the "
                                  "item's median repurchase interval has passed since (0: keep buyers)"),
                           NOW, CAP_HOURS, DRY_RUN],
            "responses": {"200": {"description": "One line per customer, best first", "content": {NDJSON: {
                "schema": _with_id({"type": "object", "required": ["user_id", "score", "scored_by"], "properties": {
                    "user_id": {"type": "string"}, "score": {"type": "number"},
                    "scored_by": {"type": "string", "enum": ["model", "category"]}}})}}},
                **_errors(400, 401, 403, 404, 503)}}},
    }


def _campaign_paths(lapsed_line: dict, cart_line: dict) -> dict[str, Any]:
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
    }


def _block_paths() -> dict[str, Any]:
    return {
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
                    "purchased": items_schema(PURCHASED_FIELDS),
                    "items": items_schema(BLOCK_ITEM_FIELDS["follow_up"]),
                    "content": items_schema()}}}}},
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
                    "items": items_schema(BLOCK_ITEM_FIELDS["new_for_you"])}}}}},
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
                    "items": items_schema(BLOCK_ITEM_FIELDS["buy_again"])}}}}},
                **_errors(400, 401, 403, 503)}}},
    }
