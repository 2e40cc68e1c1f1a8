"""The OpenAPI parts of the money and email features: the catalog fields an item may embed (`fields=`),
and the paths of the email blocks and the contact record (merged into service.http.openapi.spec)."""

from __future__ import annotations

from typing import Any

from recommender.item_fields import DISPLAY_FIELDS, MAX_ATTRIBUTES
from service.http.limits import MAX_BATCH_USERS, MAX_N, MIN_NOW
from service.store.contacts import MAX_CAP_HOURS
from service.store.online import EMAIL_BLOCKS

ID = {"type": "string", "minLength": 1, "maxLength": 256}
ERROR = {"$ref": "#/components/schemas/Error"}
SECURED = [{"bearer": []}]
NDJSON = "application/x-ndjson"
URL = {"type": "string", "format": "uri", "maxLength": 2048, "description": "absolute http or https URL"}
ATTRIBUTES = {"type": "object", "maxProperties": MAX_ATTRIBUTES,
              "additionalProperties": {"oneOf": [{"type": "string", "maxLength": 1024}, {"type": "number"},
                                                 {"type": "boolean"}]},
              "description": f"flat: at most {MAX_ATTRIBUTES} keys of up to 64 characters; values strings (up to "
                             "1,024 characters), numbers or booleans"}
#: The catalog's shop fields, as PUT /v1/items takes them.
SHOP_FIELDS = {
    "price": {"type": "number", "minimum": 0, "maximum": 1e12, "description": "unit price, in `currency`"},
    "currency": {"type": "string", "pattern": "^[A-Z]{3}$", "description": "ISO 4217 code (default RECS_CURRENCY)"},
    "url": {**URL, "description": "the product page (absolute http or https URL)"},
    "image_url": {**URL, "description": "the product image (absolute http or https URL)"},
    "brand": {"type": "string", "maxLength": 256},
    "attributes": ATTRIBUTES,
}
#: What `fields=` adds to an item of a response (null where the catalog has no value).
DISPLAY_PROPERTIES = {
    "title": {"type": "string", "nullable": True, "description": "with fields=title"},
    **{name: {**schema, "nullable": True, "description": f"with fields={name}"}
       for name, schema in SHOP_FIELDS.items()},
}
#: What the items of each email block carry beyond the common fields; the block's own route says the same
#: (service.http.openapi_retention). PURCHASED_FIELDS: the follow-up's purchases.
BLOCK_ITEM_FIELDS = {
    "recommended": {"repeat": {"type": "boolean", "enum": [True],
                               "description": "the customer bought the item before (a model that serves bought "
                                              "items only)"}},
    "buy_again": {"purchases": {"type": "integer"}, "last_purchase": {"type": "number"},
                  "interval_days": {"type": "number"}, "interval_source": {"type": "string", "enum": ["own", "item"]}},
    "new_for_you": {"created_at": {"type": "number"},
                    "scored_by": {"type": "string", "enum": ["model", "category", "recency"]}},
    "follow_up": {"via": {"type": "string", "enum": ["co_purchase", "similar"]}},
}
PURCHASED_FIELDS = {"purchased_at": {"type": "number"}}
def item_schema(extra: dict | None = None) -> dict:
    """An item of a list in a response: its id, score, kind and category, then the `extra` properties."""
    return {"type": "object", "required": ["item_id", "score"], "properties": {
        "item_id": {"type": "string"}, "score": {"type": "number"},
        "kind": {"type": "string", "nullable": True}, "category": {"type": "string", "nullable": True},
        **(extra or {})}}


def items_schema(extra: dict | None = None) -> dict:
    """An array of `item_schema(extra)`."""
    return {"type": "array", "items": item_schema(extra)}


FIELDS_PARAM = {"name": "fields", "in": "query", "required": False, "schema": {"type": "string"},
                "description": f"comma-separated catalog fields to embed in each item: {', '.join(DISPLAY_FIELDS)} "
                               "(an unknown name is a 400; without it responses are unchanged)"}
FIELDS_BODY = {"type": "array", "items": {"type": "string", "enum": list(DISPLAY_FIELDS)},
               "description": "catalog fields to embed in each item"}
CAP_HOURS = {"name": "cap_hours", "in": "query", "required": False,
             "schema": {"type": "integer", "minimum": 0, "maximum": MAX_CAP_HOURS},
             "description": "leave out customers contacted (POST /v1/users/{user_id}/contacted) this many hours "
                            "back (default RECS_CONTACT_CAP_HOURS; 0: off); counted in "
                            "encore_campaign_customers_left_out_total"}


def _query(name: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def _errors(*codes: int) -> dict:
    texts = {400: "Bad input", 401: "Missing key", 403: "Wrong key", 413: "Body too large",
             503: "No model yet, or Redis unavailable"}
    return {str(c): {"description": texts[c], "content": {"application/json": {"schema": ERROR}}} for c in codes}


def experiment_tag(family: str) -> dict:
    """The `experiment` field of an answer an experiment's variant gave (route family `family`)."""
    return {"type": "object", "properties": {"name": {"type": "string"}, "variant": {"type": "string"}},
            "description": f"present while an experiment splits the {family} routes: the variant whose model gave "
                           "this answer (its recommendation ids name it too); the customer counts as exposed to it"}


def email_paths() -> dict[str, Any]:
    def items(extra: dict) -> dict:
        return items_schema({**extra, **DISPLAY_PROPERTIES})

    def block(name: str) -> dict:
        purchased = {"purchased": {**items(PURCHASED_FIELDS), "description": "the purchases it follows"}}
        return {"type": "object", "required": ["recommendation_id", "source", "items"], "properties": {
            "recommendation_id": {"type": "string", "description": "this block's id (route email_<block>): send it "
                                  "with click and purchase events; links in format=html carry it as RECS_LINK_PARAM"},
            "source": {"type": "string", "description": "what the block is based on, as the block's own route says "
                       "(fallback and unknown_user for customers the model does not know)"},
            "items": items(BLOCK_ITEM_FIELDS[name]), **(purchased if name == "follow_up" else {})}}

    blocks = {"type": "object", "properties": {name: block(name) for name in EMAIL_BLOCKS}}
    line = {"type": "object", "required": ["user_id", "model_version"], "properties": {
        "user_id": {"type": "string"}, "model_version": {"type": "string"}, "experiment": experiment_tag("email"),
        "blocks": blocks,
        "html": {"type": "string", "description": "format=html: the recipient's fragment"},
        "recommendation_ids": {"type": "object", "additionalProperties": {"type": "string"},
                               "description": "format=html: each block's id"}}}
    blocks_param = _query("blocks", {"type": "string", "default": ",".join(EMAIL_BLOCKS)},
                          f"comma-separated, in the order to show: {', '.join(EMAIL_BLOCKS)}")
    filters = [
        _query("n", {"type": "integer", "minimum": 1, "maximum": MAX_N, "default": 4}, "items per block"),
        _query("kind", {"type": "string", "enum": ["product", "content"]}, "only this kind"),
        _query("category", {"type": "string"}, "only this category"),
        _query("in_stock", {"type": "boolean"}, "only items in stock"),
        _query("exclude", {"type": "string"}, "comma-separated item ids to leave out"),
        _query("max_per_category", {"type": "integer", "minimum": 1, "maximum": MAX_N}, "diversity cap"),
        FIELDS_PARAM,
        _query("format", {"type": "string", "enum": ["json", "html"], "default": "json"},
               "html: an email-safe HTML fragment (tables, inline styles, escaped catalog text, image alt text)"),
        _query("now", {"type": "integer", "minimum": MIN_NOW},
               "epoch seconds placing the retention blocks' windows"),
    ]
    return {
        "/v1/users/{user_id}/email-block": {"get": {
            "summary": "Every requested block for one email recipient, each with its own recommendation_id; "
                       "customers the model does not know get the fallback blocks",
            "security": SECURED,
            "parameters": [{"name": "user_id", "in": "path", "required": True, "schema": ID}, blocks_param, *filters],
            "responses": {"200": {"description": "The blocks", "content": {
                "application/json": {"schema": {**line, "required": ["user_id", "model_version", "blocks"]}},
                "text/html": {"schema": {"type": "string"}}}},
                **_errors(400, 401, 403, 503)}}},
        "/v1/email-blocks/batch": {"post": {
            "summary": "The email blocks of up to 100,000 recipients, streamed as NDJSON a chunk at a time",
            "security": SECURED,
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["user_ids"], "properties": {
                    "user_ids": {"type": "array", "items": ID, "minItems": 1, "maxItems": MAX_BATCH_USERS},
                    "blocks": {"type": "array", "items": {"type": "string", "enum": list(EMAIL_BLOCKS)}},
                    "n": {"type": "integer", "minimum": 1, "maximum": MAX_N},
                    "kind": {"type": "string", "enum": ["product", "content"]}, "category": {"type": "string"},
                    "in_stock": {"type": "boolean"}, "exclude": {"type": "array", "items": {"type": "string"}},
                    "max_per_category": {"type": "integer", "minimum": 1, "maximum": MAX_N},
                    "fields": FIELDS_BODY, "format": {"type": "string", "enum": ["json", "html"]},
                    "now": {"type": "integer", "minimum": MIN_NOW}}}}}},
            "responses": {"200": {"description": "One line per recipient, in input order",
                                  "content": {NDJSON: {"schema": line}}},
                          **_errors(400, 401, 403, 413, 503)}}},
        "/v1/users/{user_id}/contacted": {"post": {
            "summary": "A message was just sent to the customer: the campaign routes leave them out for "
                       "cap_hours (RECS_CONTACT_CAP_HOURS)",
            "security": SECURED,
            "parameters": [{"name": "user_id", "in": "path", "required": True, "schema": ID}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["campaign"], "properties": {
                    "channel": {"type": "string", "maxLength": 64, "default": "email"},
                    "campaign": {"type": "string", "maxLength": 64}}}}}},
            "responses": {"202": {"description": "Recorded and durable", "content": {"application/json": {
                "schema": {"type": "object", "properties": {
                    "user_id": {"type": "string"}, "channel": {"type": "string"}, "campaign": {"type": "string"},
                    "contacted_at": {"type": "number", "description": "epoch seconds"}}}}}},
                **_errors(400, 401, 403, 413)}}},
    }
