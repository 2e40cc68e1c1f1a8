"""The HTTP layer: app factory, URL table, handlers per route group, request parameters and limits,
OpenAPI document, auth, rate limiting and the mapping of domain errors to JSON errors."""
