"""The OpenAPI paths of the key route, the training history and the reads that describe the store (a
customer's events, an item's record and complements, events per hour or day), merged into
service.http.openapi.spec. The dashboard finds what the service offers in this document."""

from __future__ import annotations

from typing import Any

from recommender.events import EVENT_TYPES
from service.http.limits import EVENT_BUCKETS, MAX_N, MAX_STATS_DAYS, MAX_USER_EVENTS
from service.http.openapi_email import items_schema
from service.http.openapi_retention import FILTERS, ID, NOW, SECURED, USER
from service.store.training_history import TRAININGS_KEPT

ERROR = {"$ref": "#/components/schemas/Error"}
ITEM = {"name": "item_id", "in": "path", "required": True, "schema": ID}
TIME = {"type": "number", "description": "epoch seconds"}
NULLABLE_TIME = {"type": "number", "nullable": True, "description": "epoch seconds; null without events"}


def _query(name: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def _errors(*codes: int) -> dict:
    texts = {400: "Bad parameter", 401: "Missing key", 403: "Wrong key", 404: "Unknown item",
             503: "No model yet, or Redis unavailable"}
    return {str(c): {"description": texts[c], "content": {"application/json": {"schema": ERROR}}} for c in codes}


def _ok(description: str, schema: dict) -> dict:
    return {"200": {"description": description, "content": {"application/json": {"schema": schema}}}}


def _per_type(schema: dict) -> dict:
    return {"type": "object", "properties": {name: schema for name in EVENT_TYPES}}


def item_record_get() -> dict:
    """GET /v1/items/{item_id}: the path is shared with DELETE (openapi.py merges the two)."""
    return {
        "summary": "An item: its catalog record, whether the model knows it, and its events so far",
        "security": SECURED, "parameters": [ITEM],
        "responses": {**_ok("The item", {
            "type": "object", "required": ["item_id", "catalog", "removed", "in_model", "events", "customers"],
            "properties": {
                "item_id": {"type": "string"},
                "catalog": {"type": "object", "nullable": True, "description": "the catalog's fields "
                            "(kind, category, in_stock, created_at, title, ...); null when not in the catalog"},
                "removed": {"type": "boolean", "description": "taken out with DELETE /v1/items/{item_id}"},
                "in_model": {"type": "boolean", "description": "the serving model has a vector for it"},
                "model_version": {"type": "string"},
                "events": _per_type({"type": "integer"}),
                "customers": {"type": "integer", "description": "distinct customers with an event on it "
                              "(impressions not counted)"},
                "first_event_at": NULLABLE_TIME, "last_event_at": NULLABLE_TIME}}),
            **_errors(400, 401, 403, 404, 503)}}


def insight_paths() -> dict[str, Any]:
    return {
        "/v1/key": {"get": {
            "summary": "What the caller's key may do: a client can refuse a wrong key at sign-in and offer "
                       "admin actions to admin keys only",
            "security": SECURED,
            "responses": {**_ok("The key's scopes", {
                "type": "object", "required": ["scopes", "reads_need_a_key"], "properties": {
                    "scopes": {"type": "array", "items": {"type": "string", "enum": ["read", "write", "admin"]}},
                    "reads_need_a_key": {"type": "boolean", "description": "false: RECS_READ_KEYS is empty, "
                                         "read routes answer without a key"}}}),
                "401": {"description": "Missing key", "content": {"application/json": {"schema": ERROR}}},
                "403": {"description": "Not one of the service's keys (also where reads are open)",
                        "content": {"application/json": {"schema": ERROR}}}}}},
        "/v1/model/history": {"get": {
            "summary": "The last trainings (trained, rejected or failed), newest first: holdout metrics, "
                       "duration, outcome",
            "security": SECURED,
            "parameters": [_query("n", {"type": "integer", "minimum": 1, "maximum": TRAININGS_KEPT, "default": 100},
                                  f"trainings (the service keeps the last {TRAININGS_KEPT})")],
            "responses": {**_ok("Trainings", {"type": "object", "required": ["trainings"], "properties": {
                "trainings": {"type": "array", "items": {"type": "object", "properties": {
                    "finished_at": TIME, "seconds": {"type": "number", "description": "wall time of the training"},
                    "reason": {"type": "string", "enum": ["scheduled", "requested"]},
                    "outcome": {"type": "string", "enum": ["trained", "rejected", "failed"]},
                    "message": {"type": "string"}, "version": {"type": "string", "nullable": True},
                    "algorithm": {"type": "string"},
                    "metrics": {"type": "object", "description": "holdout metrics at k = 10 (ndcg, precision, "
                                "recall, ...); empty when there was too little data to hold out"}}}}}}),
                **_errors(400, 401, 403)}}},
        "/v1/users/{user_id}/events": {"get": {
            "summary": "A customer's events, newest first, with the catalog's kind, category and title (every "
                       "event accepted so far; unknown customers get an empty list)",
            "security": SECURED,
            "parameters": [USER, _query("n", {"type": "integer", "minimum": 1, "maximum": MAX_USER_EVENTS,
                                              "default": 100}, "newest events returned")],
            "responses": {**_ok("The events", {"type": "object", "required": ["user_id", "total", "events"],
                                               "properties": {
                "user_id": {"type": "string"}, "total": {"type": "integer", "description": "all their events"},
                "events": {"type": "array", "items": {"type": "object", "properties": {
                    "item_id": {"type": "string"}, "type": {"type": "string", "enum": list(EVENT_TYPES)},
                    "timestamp": TIME, "kind": {"type": "string", "nullable": True},
                    "category": {"type": "string", "nullable": True},
                    "title": {"type": "string", "nullable": True}}}}}}),
                **_errors(400, 401, 403, 503)}}},
        "/v1/items/{item_id}/complements": {"get": {
            "summary": "What buyers of an item also bought (co-purchases, normalised like a cosine) and the "
                       "content they read",
            "security": SECURED,
            "parameters": [ITEM, _query("n", {"type": "integer", "minimum": 1, "maximum": MAX_N, "default": 10},
                                        "complementary products"),
                           _query("content_n", {"type": "integer", "minimum": 0, "maximum": MAX_N, "default": 3},
                                  "content items"), *FILTERS],
            "responses": {**_ok("Complements", {"type": "object", "required": ["item_id", "items", "content"],
                                                "properties": {
                "item_id": {"type": "string"}, "model_version": {"type": "string"},
                "items": items_schema({"via": {"type": "string", "enum": ["co_purchase"]}}), "content": items_schema()}}),
                **_errors(400, 401, 403, 404, 503)}}},
        "/v1/stats/events": {"get": {
            "summary": "Events per type and UTC hour or day over the last `days` days (the current bucket "
                       "included), by event time, for the whole store or one item",
            "security": SECURED,
            "parameters": [
                _query("days", {"type": "integer", "minimum": 1, "maximum": MAX_STATS_DAYS, "default": 7},
                       "days covered"),
                _query("bucket", {"type": "string", "enum": list(EVENT_BUCKETS), "default": "hour"},
                       "bucket width"),
                _query("item_id", ID, "only this item's events (404 if nobody knows it)"), NOW],
            "responses": {**_ok("Counts", {
                "type": "object", "required": ["bucket", "from", "to", "buckets", "counts", "totals"],
                "properties": {
                    "item_id": {"type": "string", "nullable": True}, "bucket": {"type": "string"},
                    "bucket_seconds": {"type": "integer"}, "from": TIME, "to": TIME,
                    "buckets": {"type": "array", "items": {"type": "integer"},
                                "description": "start of each bucket, epoch seconds"},
                    "counts": _per_type({"type": "array", "items": {"type": "integer"}}),
                    "totals": _per_type({"type": "integer"})}}),
                **_errors(400, 401, 403, 404, 503)}}},
    }
