"""The OpenAPI 3 document; a test checks that it lists exactly the routes in service.http.routes."""

from __future__ import annotations

from typing import Any

from recommender.sources import FALLBACK, IN_MEMORY_MODEL, PERSONALIZED, SIMILAR
from service.http.limits import MAX_BATCH_USERS, MAX_N, MAX_SHOWN_ITEMS, MAX_STATS_DAYS
from service.ingest import MAX_ITEMS
from service.http.openapi_insight import insight_paths, item_record_get
from service.http.openapi_experiments import experiment_paths
from service.http.openapi_email import (
    DISPLAY_PROPERTIES,
    FIELDS_BODY,
    FIELDS_PARAM,
    SHOP_FIELDS,
    email_paths,
    experiment_tag,
    item_schema,
)
from service.http.openapi_lifecycle import LIFECYCLE_MODEL, lifecycle_paths
from service.http.openapi_users import users_paths
from service.http.openapi_retention import retention_paths

ID = {"type": "string", "minLength": 1, "maxLength": 256,
      "description": "at most 256 bytes in UTF-8 (so fewer characters outside ASCII), not empty or only whitespace, "
                     "no control characters"}
ERROR = {"$ref": "#/components/schemas/Error"}


def _json(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def _errors(*codes: int) -> dict:
    texts = {400: "Bad input", 401: "Missing key", 403: "Wrong key", 404: "Not found",
             409: "Conflicts with what is stored", 413: "Body too large", 503: "No model yet"}
    return {str(c): {"description": texts[c], "content": _json(ERROR)} for c in codes}


#: The 503 of a write route: Redis refused the write (`write_refused`, with a `reason`: out_of_memory,
#: persistence_error, read_only, too_few_replicas) or is away (`unavailable`); nothing was written.
WRITE_503 = {"503": {"description": "Nothing written: Redis refused the write (code write_refused, with a reason: "
                                    "out_of_memory, persistence_error such as a full disk under the AOF, read_only, "
                                    "too_few_replicas) or is away (code unavailable); retry after Retry-After seconds",
                     "headers": {"Retry-After": {"schema": {"type": "integer"}}}, "content": _json(ERROR)}}


def _query(name: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


LIST_PARAMS = [
    _query("n", {"type": "integer", "minimum": 1, "maximum": MAX_N, "default": 10}, "list length"),
    _query("kind", {"type": "string", "enum": ["product", "content"]}, "only this kind"),
    _query("category", {"type": "string"}, "only this category"),
    _query("in_stock", {"type": "boolean"}, "only items in stock"),
    _query("exclude", {"type": "string"}, "comma-separated item ids to leave out"),
    _query("max_per_category", {"type": "integer", "minimum": 1, "maximum": MAX_N}, "diversity cap"),
    FIELDS_PARAM,
]
SECURED = [{"bearer": []}]
READY = {"type": "object", "properties": {
    "ready": {"type": "boolean"}, "model": {"type": "boolean"}, "redis": {"type": "boolean"},
    "writes_refused": {"type": "string", "nullable": True,
                       "description": "why Redis refuses writes now (e.g. persistence_error: its disk is full); reads "
                                      "still work, so the process stays ready"},
    "events_durable": {"type": "boolean", "nullable": True,
                       "description": "Redis keeps an append-only file: an accepted event survives a restart"},
    "redis_settings": {"type": "object", "nullable": True, "description": "maxmemory_policy, appendonly, "
                       "appendfsync (null where CONFIG is not allowed), aof_write_failing"},
    "warnings": {"type": "array", "items": {"type": "string"},
                 "description": "what the Redis settings may lose (eviction, no AOF, appendfsync everysec)"}}}
EXPLAIN = _query("explain", {"type": "boolean"}, "add `because` to each item: up to 3 of the user's own items "
                 "that contributed most to it (empty for popularity fallback items)")
RECOMMENDATION_ID = {"type": "string", "description": "id of this response; send it with click and purchase "
                     "events (`recommendation_id`) to attribute them (GET /v1/stats/online). Under an experiment "
                     "its version part is `{model version}@{experiment}/{variant}`, and a batch gives each "
                     "result its variant's id"}
PER_CURRENCY = {"type": "object", "additionalProperties": {"type": "number"}}
REPEAT = ("present (true) when the customer bought the item before, at training or since: only a model that "
          "serves bought items (GET /v1/model `serves_bought_items`) lists them; a storefront can label them "
          "\"buy again\"")
SELECTION = {"type": "object", "nullable": True, "description": "model choice at the training of this model "
             "(null: too few customers on both sides of the time cut, or an older model)", "properties": {
                 "chosen": {"type": "string", "description": "the entry that serves"},
                 "reason": {"type": "string", "description": "why it serves"},
                 "holdout": {"type": "string", "enum": ["time_cut"], "description": "every entry trained on the "
                             "events before cut_time and was scored on what each customer did after it"},
                 "k": {"type": "integer"}, "cut_time": {"type": "number", "description": "epoch seconds"},
                 "train_events": {"type": "integer"}, "test_events": {"type": "integer"},
                 "users_scored": {"type": "integer"}, "seconds": {"type": "number"},
                 "candidates": {"type": "array", "items": {"type": "object", "properties": {
                     "name": {"type": "string"}, "algorithm": {"type": "string"},
                     "baseline": {"type": "boolean", "description": "popularity or personal frequency: a "
                                  "candidate must beat every baseline to serve"},
                     "serves_bought_items": {"type": "boolean"},
                     "ndcg": {"type": "number", "nullable": True, "description": "nDCG@k on the holdout"},
                     "recall": {"type": "number", "nullable": True, "description": "recall@k on the holdout"},
                     "users": {"type": "integer", "description": "customers scored"},
                     "fit_seconds": {"type": "number"},
                     "refused": {"type": "string", "nullable": True, "description": "why it could not train "
                                 "(then ndcg and recall are null)"},
                     "serving": {"type": "boolean"}}}}}}
ONLINE_COUNTS = {"impressions": {"type": "integer", "description": "items served"},
                 "clicks": {"type": "integer"}, "click_through_rate": {"type": "number"},
                 "purchases": {"type": "integer", "description": "purchases carrying a recommendation_id"},
                 "orders": {"type": "integer", "description": "distinct order_ids among those purchases, plus "
                            "purchases without one (each counted once, retries included)"},
                 "revenue": {**PER_CURRENCY, "description": "ISO 4217 code -> sum of price x quantity of those "
                             "purchases (never summed across currencies)"},
                 "aov": {**PER_CURRENCY, "description": "per currency: revenue / orders (average order value)"},
                 "revenue_per_mille": {**PER_CURRENCY, "description": "per currency: revenue per 1,000 items "
                                       "served"}}


#: What every keyed operation may answer when RECS_RATE_LIMIT is set (service.http.auth).
RATE_LIMITED = {"429": {"description": "Too many requests for this key (RECS_RATE_LIMIT, RECS_RATE_LIMIT_BURST), "
                                       "or too many refused for their key from this address (code rate_limited); "
                                       "retry after Retry-After seconds",
                        "headers": {"Retry-After": {"schema": {"type": "integer"}}}, "content": _json(ERROR)}}


def spec() -> dict[str, Any]:
    """The OpenAPI 3 document of every route; each keyed operation also documents the rate limit's 429."""
    document = _document()
    for operations in document["paths"].values():
        for operation in operations.values():
            if operation.get("security"):
                operation["responses"].update(RATE_LIMITED)
    return document


def _document() -> dict[str, Any]:
    items_list = {"type": "array", "items": {"$ref": "#/components/schemas/ScoredItem"}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "Encore recommendations", "version": "1.0.0"},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {
                    "type": "object", "required": ["code", "message"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                                   "field": {"type": "string", "description": "the parameter or field at fault"},
                                   "index": {"type": "integer", "description": "the record at fault in a list "
                                             "(an event, an item), counted from 0"}}}}},
                "ScoredItem": item_schema({
                    "because": {"type": "array", "items": {"type": "string"}, "description": "with explain=true: "
                                "the user's items behind this one, most first"},
                    "repeat": {"type": "boolean", "enum": [True], "description": REPEAT}, **DISPLAY_PROPERTIES}),
                "Event": {"type": "object", "required": ["user_id", "item_id", "type"], "properties": {
                    "user_id": ID, "item_id": ID,
                    "type": {"type": "string", "enum": ["view", "click", "add_to_cart", "purchase", "review",
                                                        "impression", "notify_me"],
                             "description": "impression: the item was shown to the user (no preference; "
                             "demotes it in their lists for RECS_FATIGUE_DAYS); notify_me: the user asked to be "
                             "told when the (out-of-stock) item is back (weight 0 in training; "
                             "/v1/campaigns/back-in-stock)"},
                    "timestamp": {"oneOf": [{"type": "number"}, {"type": "string", "format": "date-time"}]},
                    "value": {"type": "number", "nullable": True, "description": "review: the star rating, 0 to 5, "
                              "required; other types: a weight, default 1"},
                    "event_id": {**ID, "description": "optional client id: an event whose id was stored in the "
                                 "last RECS_EVENT_ID_TTL seconds is not stored again, so retries are safe"},
                    "recommendation_id": {**ID, "description": "the recommendation_id of the response the event "
                                          "came from: a click or purchase counts for its model version and route"},
                    "price": {"type": "number", "minimum": 0, "maximum": 1e12, "description": "add_to_cart and "
                              "purchase only: unit price, in the item's catalog currency (RECS_CURRENCY if none); a "
                              "purchase without one takes the catalog's price when it is stored"},
                    "quantity": {"type": "integer", "minimum": 1, "maximum": 1000000, "default": 1,
                                 "description": "add_to_cart and purchase only: units"},
                    "order_id": {**ID, "description": "add_to_cart and purchase only: the order; an order counts "
                                 "once in the online statistics however many lines it has"}}},
                "Item": {"type": "object", "required": ["item_id"], "properties": {
                    "item_id": ID, "kind": {"type": "string", "enum": ["product", "content"]},
                    "category": {"type": "string"}, "in_stock": {"type": "boolean"},
                    "created_at": {"oneOf": [{"type": "number"}, {"type": "string", "format": "date-time"}]},
                    "title": {"type": "string", "nullable": True}, **SHOP_FIELDS}},
                "UserList": {"type": "object", "required": ["user_id", "source", "items"], "properties": {
                    "user_id": {"type": "string"}, "model_version": {"type": "string"},
                    "recommendation_id": RECOMMENDATION_ID,
                    "experiment": experiment_tag("list"),
                    "source": {"type": "string", "enum": [PERSONALIZED, FALLBACK, IN_MEMORY_MODEL],
                               "description": "in_memory_model: Redis could not be read, so the list comes from "
                               "the in-process model alone, without the user's events since training"},
                    "items": items_list}},
            },
        },
        "paths": {
            **retention_paths(),  # service.retention_openapi: campaigns and per-customer blocks
            **insight_paths(),  # service.http.openapi_insight: key scopes, training history, store reads
            **email_paths(),  # service.http.openapi_email: email blocks, contacts
            **lifecycle_paths(),  # service.http.openapi_lifecycle: customer profiles and audiences
            **users_paths(),  # service.http.openapi_users: erasure, merge
            **experiment_paths(),  # service.http.openapi_experiments: A/B tests between models
            "/v1/users/{user_id}/recommendations": {"get": {
                "summary": "A user's recommendations (popularity fallback for unknown users)",
                "security": SECURED,
                "parameters": [{"name": "user_id", "in": "path", "required": True, "schema": ID}, *LIST_PARAMS,
                               EXPLAIN],
                "responses": {"200": {"description": "Recommendations", "content": _json(
                    {"$ref": "#/components/schemas/UserList"})}, **_errors(400, 401, 403, 503)}}},
            "/v1/items/{item_id}/similar": {"get": {
                "summary": "Items similar to an item (customers who bought this also bought)",
                "security": SECURED,
                "parameters": [{"name": "item_id", "in": "path", "required": True, "schema": ID}, *LIST_PARAMS],
                "responses": {"200": {"description": "Similar items", "content": _json({
                    "type": "object", "required": ["item_id", "source", "items"], "properties": {
                        "item_id": {"type": "string"}, "model_version": {"type": "string"},
                        "recommendation_id": RECOMMENDATION_ID,
                        "source": {"type": "string", "enum": [SIMILAR, IN_MEMORY_MODEL]}, "items": items_list}})},
                    **_errors(400, 401, 403, 404, 503)}}},
            "/v1/recommendations/batch": {"post": {
                "summary": "Recommendations for many users (JSON, or NDJSON with Accept: application/x-ndjson)",
                "description": "Both formats are streamed a chunk of 1,000 users at a time (chunked transfer), every "
                               "list from one model: 100,000 users at n=100 never sit in memory. Bad input is found "
                               "before the 200 header; after it only the connection can fail.",
                "security": SECURED,
                "requestBody": {"required": True, "content": _json({
                    "type": "object", "required": ["user_ids"], "properties": {
                        "user_ids": {"type": "array", "items": ID, "minItems": 1, "maxItems": MAX_BATCH_USERS},
                        "n": {"type": "integer", "minimum": 1, "maximum": MAX_N},
                        "kind": {"type": "string", "enum": ["product", "content"]},
                        "category": {"type": "string"}, "in_stock": {"type": "boolean"},
                        "exclude": {"type": "array", "items": {"type": "string"}},
                        "max_per_category": {"type": "integer", "minimum": 1, "maximum": MAX_N},
                        "explain": {"type": "boolean"}, "fields": FIELDS_BODY}})},
                "responses": {"200": {"description": "One list per user, in input order", "content": {
                    "application/json": {"schema": {"type": "object", "required": ["results"], "properties": {
                        "model_version": {"type": "string"}, "recommendation_id": RECOMMENDATION_ID,
                        "results": {"type": "array", "items": {"$ref": "#/components/schemas/UserList"}}}}},
                    "application/x-ndjson": {"schema": {"$ref": "#/components/schemas/UserList"}}}},
                    **_errors(400, 401, 403, 413, 503)}}},
            "/v1/users/{user_id}/shown": {"post": {
                "summary": "Items just shown to the user (stored as impression events): they go behind unshown "
                           "items in the user's lists for RECS_FATIGUE_DAYS",
                "security": SECURED,
                "parameters": [{"name": "user_id", "in": "path", "required": True, "schema": ID}],
                "requestBody": {"required": True, "content": _json({
                    "type": "object", "required": ["item_ids"], "properties": {
                        "item_ids": {"type": "array", "items": ID, "minItems": 1, "maxItems": MAX_SHOWN_ITEMS}}})},
                "responses": {"202": {"description": "Recorded and durable", "content": _json({
                    "type": "object", "required": ["user_id", "shown"], "properties": {
                        "user_id": {"type": "string"}, "shown": {"type": "integer"}}})},
                    **_errors(400, 401, 403, 413), **WRITE_503}}},
            "/v1/stats/online": {"get": {
                "summary": "Served items, clicks, click-through rate, attributed purchases, orders and revenue "
                           "(per currency, with AOV and revenue per mille) per model version and route, summed over "
                           "the last `days` UTC days (today included)",
                "security": SECURED,
                "parameters": [_query("days", {"type": "integer", "minimum": 1, "maximum": MAX_STATS_DAYS, "default": 7},
                                      "days to sum")],
                "responses": {"200": {"description": "Online counters", "content": _json({
                    "type": "object",
                    "required": ["days", "total", "by_version_and_route", "by_version", "by_route", "by_day"],
                    "properties": {
                        "days": {"type": "integer"}, "from": {"type": "string", "format": "date"},
                        "to": {"type": "string", "format": "date"},
                        "total": {"type": "object", "properties": ONLINE_COUNTS},
                        "by_version_and_route": {"type": "array", "items": {"type": "object", "properties": {
                            "model_version": {"type": "string"}, "route": {"type": "string"}, **ONLINE_COUNTS}}},
                        "by_version": {"type": "array", "items": {"type": "object", "properties": {
                            "model_version": {"type": "string"}, **ONLINE_COUNTS}}},
                        "by_route": {"type": "array", "items": {"type": "object", "properties": {
                            "route": {"type": "string"}, **ONLINE_COUNTS}}},
                        "by_day": {"type": "array", "description": "per UTC day and model version, oldest first",
                                   "items": {"type": "object", "properties": {
                                       "date": {"type": "string", "format": "date"},
                                       "model_version": {"type": "string"}, **ONLINE_COUNTS}}}}})},
                    **_errors(400, 401, 403)}}},
            "/v1/events": {"post": {
                "summary": "Record events; 202 once durable. One bad event rejects the whole request.",
                "security": SECURED,
                "requestBody": {"required": True, "content": _json({"oneOf": [
                    {"$ref": "#/components/schemas/Event"},
                    {"type": "array", "items": {"$ref": "#/components/schemas/Event"}, "minItems": 1,
                     "maxItems": 10000}]})},
                "responses": {"202": {"description": "Accepted and durable", "content": _json({
                    "type": "object", "required": ["accepted", "duplicates"], "properties": {
                        "accepted": {"type": "integer"},
                        "duplicates": {"type": "integer", "description": "events whose event_id was stored "
                                       "before (a retry); skipped, not stored twice"}}})},
                    **_errors(400, 401, 403, 413), "409": {
                        "description": "An event_id an earlier request stored for a different event (another "
                                       "customer, item or type; code event_id_reused, with the event's index); "
                                       "nothing of the request was stored", "content": _json(ERROR)},
                    **WRITE_503}}},
            "/v1/items": {"put": {
                "summary": "Upsert catalog items", "security": SECURED,
                "requestBody": {"required": True, "content": _json({"oneOf": [
                    {"type": "array", "items": {"$ref": "#/components/schemas/Item"}, "minItems": 1,
                     "maxItems": MAX_ITEMS}, {"$ref": "#/components/schemas/Item"}]})},
                "responses": {"200": {"description": "Upserted", "content": _json({
                    "type": "object", "properties": {"upserted": {"type": "integer"}}})},
                    **_errors(400, 401, 403, 413), **WRITE_503}}},
            "/v1/items/{item_id}": {"get": item_record_get(), "delete": {
                "summary": "Take an item out of every list, until a catalog upsert of it adds it back",
                "security": SECURED,
                "parameters": [{"name": "item_id", "in": "path", "required": True, "schema": ID}],
                "responses": {"200": {"description": "Removed", "content": _json({
                    "type": "object", "properties": {"item_id": {"type": "string"}, "removed": {"type": "boolean"}}})},
                    **_errors(400, 401, 403, 404), **WRITE_503}}},
            "/v1/model": {"get": {
                "summary": "The served model, its offline metrics and the last training's outcome",
                "description": "The model the answering process serves and the training record, read together "
                               "with the version pointer as one snapshot: once another replica's training moved "
                               "the pointer, a process still loading that model shows the record as it stood for "
                               "the model it serves, and names the next one in `next_version`.",
                "security": SECURED,
                "responses": {"200": {"description": "Model", "content": _json({"type": "object", "properties": {
                    "version": {"type": "string", "nullable": True}, "algorithm": {"type": "string"},
                    "trained_at": {"type": "number"}, "counts": {"type": "object"}, "params": {"type": "object"},
                    "metrics": {"type": "object", "description": "the serving entry's holdout figures (holdout, k, "
                                "ndcg, recall, users, cut_time, chosen): RECS_MAX_QUALITY_DROP compares them"},
                    "next_version": {"type": "string", "nullable": True,
                                     "description": "the version the pointer names, while this process has not "
                                                    "loaded it yet (within a poll interval); null otherwise"},
                    "training": {"type": "object", "description": "the training record (times in epoch seconds)",
                                 "properties": {
                        "running": {"type": "boolean", "description": "a training holds the lock now"},
                        "last_outcome": {"type": "string", "nullable": True,
                                         "enum": ["trained", "rejected", "failed", "skipped", None],
                                         "description": "how the last training ended (rejected: the quality gate "
                                                        "kept the serving model; skipped: another replica trains)"},
                        "last_message": {"type": "string", "nullable": True},
                        "last_attempt_at": {"type": "number", "nullable": True},
                        "last_success_at": {"type": "number", "nullable": True},
                        "last_version": {"type": "string", "nullable": True,
                                         "description": "the version the last successful training produced"},
                        "last_error": {"type": "string", "nullable": True,
                                       "description": "why the last training that did not train failed or was "
                                                      "rejected"},
                        "last_error_at": {"type": "number", "nullable": True},
                        "last_metrics": {"type": "object", "nullable": True,
                                         "description": "the last training's holdout figures and model choice"},
                        "load_error": {"type": "string", "nullable": True,
                                       "description": "why this replica could not load the model the pointer "
                                                      "names, if it could not"}}},
                    "serves_bought_items": {"type": "boolean", "description": "lists may hold items the customer "
                                            "had before (flagged repeat); else they are removed"},
                    "selection": SELECTION, "lifecycle": LIFECYCLE_MODEL,
                    "variants": {"type": "object", "nullable": True, "description": "experiments' trained variants "
                                 "fitted and precomputed with this model: `versions` ({experiment}/{variant} to its "
                                 "model version) and `seconds` (what they added to the training); null without any",
                                 "properties": {"versions": {"type": "object",
                                                             "additionalProperties": {"type": "string"}},
                                                "seconds": {"type": "number"}}}}})},
                    **_errors(401, 403)}}},
            "/v1/model/retrain": {"post": {
                "summary": "Start a training now", "security": SECURED,
                "responses": {"202": {"description": "Started; or already running, and then one more training "
                                      "follows it (requests meanwhile share that one)", "content": _json({
                    "type": "object", "properties": {
                        "status": {"type": "string", "enum": ["started", "already_running"]},
                        "message": {"type": "string"}}})}, **_errors(401, 403),
                    **WRITE_503}}},
            "/healthz": {"get": {"summary": "Process alive", "responses": {"200": {
                "description": "Alive; which process answered (`--workers N`) and the model version it serves",
                "content": _json({"type": "object", "properties": {
                    "status": {"type": "string"}, "pid": {"type": "integer"},
                    "model_version": {"type": "string", "nullable": True}}})}}}},
            "/readyz": {"get": {"summary": "Model loaded and Redis answering", "responses": {
                "200": {"description": "Ready", "content": _json(READY)},
                "503": {"description": "Not ready", "content": _json(READY)}}}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {
                "description": "Prometheus text format", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
            "/openapi.json": {"get": {"summary": "This document", "responses": {"200": {
                "description": "OpenAPI 3", "content": _json({"type": "object"})}}}},
        },
    }
