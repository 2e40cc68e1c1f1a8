"""Handlers, one module per route group: parse with service.http.params, call serving, ingestion or
training, serialise with service.http.responses."""
