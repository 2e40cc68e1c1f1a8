"""The OpenAPI paths of the experiment routes (A/B tests between models, with a holdout), merged into
service.http.openapi.spec. The dashboard's experiments page finds GET /v1/experiments here."""

from __future__ import annotations

from typing import Any

from recommender.algorithms import ALGORITHMS
from service.experiments.definition import MAX_VARIANTS, MIN_VARIANTS, POPULARITY, ROUTE_FAMILIES, SERVING
from service.http.openapi_retention import ID, SECURED

ERROR = {"$ref": "#/components/schemas/Error"}
NAME = {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}
PATH_NAME = {"name": "name", "in": "path", "required": True, "schema": NAME, "description": "the experiment"}
TIME = {"type": "number", "nullable": True, "description": "epoch seconds"}
MODEL = {"oneOf": [
    {"type": "string", "enum": [SERVING, POPULARITY], "description": f"{SERVING}: the model the service trains and "
     f"serves (model choice; the usual control); {POPULARITY}: the holdout, the store's bestsellers for everyone"},
    {"type": "object", "required": ["algorithm"], "properties": {
        "algorithm": {"type": "string", "enum": list(ALGORITHMS)},
        "params": {"type": "object", "description": "the algorithm's parameters (recommender.algorithms.ModelParams "
                   "names, e.g. factors, regularization, iterations)"},
        "repeat": {"type": "boolean", "description": "lists may hold items the customer bought before (default "
                   "false; true for personal and repeat)"}},
     "description": "one configuration, trained and precomputed at every training while the experiment runs"}]}
VARIANT = {"type": "object", "required": ["name", "share", "model"], "properties": {
    "name": NAME, "share": {"type": "number", "exclusiveMinimum": True, "minimum": 0, "maximum": 1,
                            "description": "share of customers; the shares sum to 1"}, "model": MODEL}}
DEFINITION = {"type": "object", "required": ["variants"], "properties": {
    "variants": {"type": "array", "minItems": MIN_VARIANTS, "maxItems": MAX_VARIANTS, "items": VARIANT},
    "control": {**NAME, "description": "the variant the others are compared with (default: the first)"},
    "routes": {"type": "array", "items": {"type": "string", "enum": list(ROUTE_FAMILIES)},
               "description": "route families split (default: all). lists: a user's list and the batch route; "
                              "email: the email blocks; campaigns: the items of the win-back, back-in-stock and "
                              "browse-abandonment campaigns. At most one experiment splits a family at a time"},
    "salt": {"type": "string", "minLength": 1, "maxLength": 256, "description": "hashed with the user id to assign "
             "variants (default: the name)"},
    "start": {"type": "number", "description": "epoch seconds (default: now)"},
    "end": {"type": "number", "description": "epoch seconds (default: none; runs until stopped)"}}}
EXPERIMENT = {"type": "object", "properties": {
    **DEFINITION["properties"], "name": NAME, "start": TIME, "end": TIME, "created_at": TIME, "stopped_at": TIME,
    "status": {"type": "string", "enum": ["scheduled", "running", "ended"]},
    "promoted": {"type": "string", "nullable": True, "description": "the variant made the default"}}}
ESTIMATE = {"type": "object", "properties": {
    "value": {"type": "number"}, "ci_low": {"type": "number"}, "ci_high": {"type": "number"},
    "difference": {"type": "number", "nullable": True, "description": "this variant's value minus the control's"},
    "difference_ci_low": {"type": "number", "nullable": True}, "difference_ci_high": {"type": "number", "nullable": True},
    "p_value": {"type": "number", "nullable": True, "description": "of the difference from the control (null for the "
                "control): two-proportion z-test for rates, Welch's t-test for revenue per customer"}},
    "description": "95% confidence intervals (Wilson for rates, Student's t for means; the difference's: normal "
                   "approximation with unpooled variances for rates, Welch for means)"}
RESULTS = {"type": "object", "properties": {
    "from": {"type": "string", "description": "first UTC day counted (YYYY-MM-DD)"},
    "to": {"type": "string", "description": "last UTC day counted"},
    "sample_ratio": {"type": "object", "description": "sample-ratio-mismatch check: chi-square of the exposed "
                     "customers against the configured shares; mismatch when p < 0.001", "properties": {
                         "chi_square": {"type": "number", "nullable": True},
                         "p_value": {"type": "number", "nullable": True}, "mismatch": {"type": "boolean"}}},
    "variants": {"type": "array", "items": {"type": "object", "properties": {
        "variant": NAME, "share": {"type": "number"}, "control": {"type": "boolean"},
        "exposed_customers": {"type": "integer", "description": "distinct customers served one of its lists"},
        "impressions": {"type": "integer"}, "clicks": {"type": "integer"}, "purchases": {"type": "integer"},
        "buyers": {"type": "integer", "description": "exposed customers with an attributed purchase"},
        "buyers_not_exposed": {"type": "integer", "description": "customers with a purchase attributed to the "
                               "variant who it never served (a shared link, a sign-in under another id): not "
                               "counted in conversion or revenue per customer"},
        "revenue": {"type": "object", "additionalProperties": {"type": "number"}, "description": "per currency"},
        "click_through_rate": ESTIMATE,
        "conversion": {**ESTIMATE, "description": "buyers / exposed customers"},
        "revenue_per_customer": {"type": "object", "additionalProperties": ESTIMATE,
                                 "description": "per currency: attributed revenue / exposed customers"}}}}}}


def _errors(*codes: int) -> dict:
    texts = {400: "Bad definition or parameter (the field is named)", 401: "Missing key", 403: "Wrong key",
             404: "No such experiment or variant", 409: "Conflicts with what is stored (started, overlapping, "
             "not ended)", 503: "Redis unavailable"}
    return {str(c): {"description": texts[c], "content": {"application/json": {"schema": ERROR}}} for c in codes}


def _ok(description: str, schema: dict) -> dict:
    return {"200": {"description": description, "content": {"application/json": {"schema": schema}}}}


def experiment_paths() -> dict[str, Any]:
    return {
        "/v1/experiments": {"get": {
            "summary": "Every experiment, oldest definition first, with its status",
            "security": SECURED,
            "responses": {**_ok("The experiments", {"type": "object", "properties": {
                "experiments": {"type": "array", "items": EXPERIMENT}}}), **_errors(401, 403, 503)}}},
        "/v1/experiments/{name}": {
            "put": {
                "summary": "Define an experiment (or redefine one that has not started): admin key",
                "security": SECURED, "parameters": [PATH_NAME],
                "requestBody": {"required": True, "content": {"application/json": {"schema": DEFINITION}}},
                "responses": {**_ok("Stored", EXPERIMENT), **_errors(400, 401, 403, 409, 503)}},
            "get": {
                "summary": "An experiment and its results per variant against the control",
                "security": SECURED, "parameters": [PATH_NAME],
                "responses": {**_ok("The experiment", {**EXPERIMENT, "properties": {
                    **EXPERIMENT["properties"], "results": RESULTS}}), **_errors(400, 401, 403, 404, 503)}}},
        "/v1/experiments/{name}/stop": {"post": {
            "summary": "End an experiment now: every replica stops splitting at its next poll (admin key)",
            "security": SECURED, "parameters": [PATH_NAME],
            "responses": {**_ok("Stopped", EXPERIMENT), **_errors(400, 401, 403, 404, 503)}}},
        "/v1/experiments/{name}/promote/{variant}": {"post": {
            "summary": "Make an ended experiment's variant configuration the default every training uses (admin "
                       "key); promoting a \"serving\" variant returns to model choice as configured",
            "security": SECURED, "parameters": [PATH_NAME, {"name": "variant", "in": "path", "required": True,
                                                            "schema": NAME}],
            "responses": {**_ok("Promoted", EXPERIMENT), **_errors(400, 401, 403, 404, 409, 503)}}},
        "/v1/users/{user_id}/variant": {"get": {
            "summary": "The customer's variant in every running experiment (unknown customers are assigned too)",
            "security": SECURED, "parameters": [{"name": "user_id", "in": "path", "required": True, "schema": ID}],
            "responses": {**_ok("Assignments", {"type": "object", "properties": {
                "user_id": {"type": "string"}, "experiments": {"type": "array", "items": {
                    "type": "object", "properties": {"experiment": NAME, "variant": NAME, "model": MODEL,
                                                     "routes": {"type": "array", "items": {"type": "string"}}}}}}}),
                **_errors(400, 401, 403, 503)}}},
    }
