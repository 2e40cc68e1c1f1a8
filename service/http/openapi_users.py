"""The OpenAPI part of a customer's identity routes: erasure, its state, and merging a visitor into a customer
(merged into service.http.openapi.spec)."""

from __future__ import annotations

from typing import Any

from service.http.openapi_email import ERROR, ID, SECURED

USER = {"name": "user_id", "in": "path", "required": True, "schema": ID}
EPOCH = {"type": "number", "description": "epoch seconds"}
STATES = ["pending", "folded", "done"]


def _errors(*codes: int) -> dict:
    texts = {400: "Bad input (the field is named)", 401: "Missing key", 403: "Wrong key",
             404: "No erasure on record for this id", 413: "Body too large",
             503: "Redis unavailable, or refusing writes (nothing was written)"}
    return {str(c): {"description": texts[c], "content": {"application/json": {"schema": ERROR}}} for c in codes}


def _json(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def users_paths() -> dict[str, Any]:
    erasure = {"type": "object", "required": ["user_id", "state", "requested_at"], "properties": {
        "user_id": {"type": "string"},
        "state": {"type": "string", "enum": STATES, "description": "pending: recorded, what Redis held of them but "
                  "their events is gone, the customer is served as unknown; folded: a training dropped their "
                  "events from the snapshot and the stream; done: a model trained without them serves, older "
                  "artifacts and every mention in Redis are gone"},
        "requested_at": EPOCH, "folded_at": {**EPOCH, "nullable": True}, "done_at": {**EPOCH, "nullable": True}}}
    return {
        "/v1/users/{user_id}": {"delete": {
            "summary": "Erase a customer (GDPR/CCPA): their since-training state, shown set, precomputed lists and "
                       "contact records go at once; their events leave the event stream, the snapshot and every "
                       "model at the next training. Events accepted after this call are a new customer's with the "
                       "same id and are kept. Clicks already counted in the online statistics stay (anonymous). "
                       "Admin key",
            "security": SECURED,
            "parameters": [USER],
            "responses": {"202": {"description": "Recorded and durable; completed by the next training",
                                  "content": _json({"type": "object", "properties": {
                                      "user_id": {"type": "string"}, "state": {"type": "string", "enum": STATES},
                                      "requested_at": EPOCH,
                                      "erased_through": {"type": "string", "description": "the event stream id up "
                                                         "to which the customer's events are erased"}}})},
                          **_errors(400, 401, 403, 503)}}},
        "/v1/users/{user_id}/erasure": {"get": {
            "summary": "The state of a customer's erasure, with its times (the record is kept under a SHA-256 of "
                       "the id, not the id). Admin key",
            "security": SECURED,
            "parameters": [USER],
            "responses": {"200": {"description": "The erasure", "content": _json(erasure)},
                          **_errors(400, 401, 403, 404, 503)}}},
        "/v1/users/{user_id}/merge": {"post": {
            "summary": "Merge an anonymous visitor into this signed-in customer: the visitor's since-training "
                       "events, shown set and contact records move at once, their folded events at the next "
                       "training; repeating it changes nothing. Write key",
            "security": SECURED,
            "parameters": [USER],
            "requestBody": {"required": True, "content": _json({
                "type": "object", "required": ["from"], "properties": {
                    "from": {**ID, "description": "the visitor's user id (not user_id)"}}})},
            "responses": {"202": {"description": "Recorded and durable", "content": _json({
                "type": "object", "properties": {
                    "user_id": {"type": "string"}, "from": {"type": "string"}, "merged_at": EPOCH,
                    "merged_through": {"type": "string", "description": "the event stream id up to which the "
                                       "visitor's events move to the customer"}}})},
                          **_errors(400, 401, 403, 413, 503)}}},
    }
