"""Prometheus metrics, in a registry per app so tests can run several apps in one process."""

from __future__ import annotations

import time

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("encore_http_requests_total", "HTTP requests", ["route", "method", "status"],
                                registry=r)
        self.latency = Histogram("encore_http_request_seconds", "HTTP request latency", ["route"],
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.cache_hits = Counter("encore_cache_hits_total", "Precomputed lists found in Redis", ["kind"],
                                  registry=r)
        self.cache_misses = Counter("encore_cache_misses_total", "Lists computed on demand", ["kind"], registry=r)
        self.events = Counter("encore_events_ingested_total", "Events accepted and durable", registry=r)
        self.training_seconds = Histogram("encore_training_seconds", "Whole refresh: fold, train, evaluate, "
                                          "precompute", buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800),
                                          registry=r)
        self.trainings = Counter("encore_trainings_total", "Training attempts by outcome", ["outcome"], registry=r)
        self.model_version = Gauge("encore_model_info", "The model version served (value 1)", ["version"],
                                   registry=r)
        self.campaign_left_out = Counter("encore_campaign_customers_left_out_total", "Customers a campaign route "
                                         "selected but left out (reason contact_cap: contacted within cap_hours)",
                                         ["campaign", "reason"], registry=r)
        self.model_loaded_at = Gauge("encore_model_loaded_timestamp_seconds", "When the served model loaded",
                                     registry=r)

    def counter(self, name: str, documentation: str, labels: tuple[str, ...] = ()) -> Counter:
        """A counter in this registry for a part that registers its own (the one already there when
        that part is made again for the same app)."""
        try:
            return Counter(name, documentation, labels, registry=self.registry)
        except ValueError:  # already registered in this registry
            return self.registry._names_to_collectors[name]  # type: ignore[attr-defined,return-value]

    def set_version(self, version: str) -> None:
        self.model_version.clear()
        self.model_version.labels(version=version).set(1)
        self.model_loaded_at.set(time.time())

    def render(self) -> tuple[bytes, str]:
        """The registry in Prometheus' text format, and its content type (without parameters)."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST.split(";")[0]
