"""The one settings object, read from environment variables; every setting has a safe default."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from recommender.lifecycle import LifecycleConfig


class SettingsError(ValueError):
    """An environment variable holds a value the service cannot use."""


def _keys(raw: str) -> tuple[str, ...]:
    return tuple(k.strip() for k in raw.split(",") if k.strip())


@dataclass(frozen=True)
class Settings:
    """Field names map to env vars: `port` is RECS_PORT, `redis_url` is REDIS_URL."""

    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1  # processes serving the port (python -m service --workers N overrides)
    redis_url: str | None = None  # unset: start an embedded redis-server on a unix socket
    redis_cluster: bool = False  # REDIS_URL names one node of a Redis Cluster (or use redis+cluster://)
    redis_read_timeout: float = 1.0  # a request's Redis read waits this long, then the in-memory model answers
    allow_eviction: bool = False  # start even when Redis's maxmemory-policy (allkeys-*) can evict the event stream
    data_dir: Path = Path("data/service")
    model_dir: Path | None = None  # default: <data_dir>/models
    refresh_interval: float = 3600.0
    poll_interval: float = 5.0
    max_quality_drop: float = 0.2
    write_keys: tuple[str, ...] = ()
    admin_keys: tuple[str, ...] = ()
    read_keys: tuple[str, ...] = ()
    algorithm: str = "auto"  # model choice over every candidate (recommender.selection), or one algorithm's
    repeat: str = "auto"  # serve bought items? auto: as the holdout says at each training; on; off
    trainer: str = "implicit"  # "spark": fit ALS with pyspark.ml (recommender.spark_als)
    precompute_n: int = 100
    similar_n: int = 50
    active_days: float = 90.0  # precompute users with events in this many days before training
    cache_ttl: float = 86400.0  # on-demand cache entries
    since_training_ttl: float = 30 * 86400.0  # per-user events since training, for filtering and fold-in
    event_id_ttl: float = 86400.0  # how long a client's event_id is remembered to drop a retried copy
    fatigue_days: float = 14.0  # items shown to a customer this recently go behind unshown ones (0: off)
    online_days: float = 7.0  # clicks and purchases count for a response served at most this many days before
    lock_ttl: float = 900.0
    max_body_bytes: int = 1024 * 1024
    rate_limit: float = 500.0  # requests per second per key (0 disables); token bucket in Redis
    rate_limit_burst: float = 1000.0
    max_batch_body_bytes: int = 16 * 1024 * 1024  # 100,000 user ids do not fit in 1 MiB
    bootstrap_events: Path | None = None  # seed the snapshot from this file when there is none
    bootstrap_catalog: Path | None = None
    bootstrap_catalog_changes: Path | None = None  # past catalog writes replayed before bootstrap_catalog (stock and price history)
    train_on_start: bool = True
    log_level: str = "INFO"
    key_prefix: str = "encore"
    currency: str = "USD"  # ISO 4217 code of catalog prices that name no currency
    template_dir: Path | None = None  # email block templates that replace the shipped ones (service/templates)
    link_param: str = "rid"  # query parameter carrying the recommendation_id on every email-block link
    contact_cap_hours: float = 16.0  # campaigns leave out customers contacted this recently (0: off)
    fallback: str = "popular"  # what customers the model cannot place get: popular (all time) or trending
    trending_hours: float = 24.0  # the trending fallback's window (hours), compared with the 7 before it
    annual_discount: float = 0.10  # yearly discount rate of predicted customer value (recommender.lifecycle)
    churn_medium: float = 0.5  # churn risk is medium from this 1 - p_alive on
    churn_high: float = 0.8  # and high from this one on

    @property
    def cluster(self) -> bool:
        from service.store.client import names_cluster

        return self.redis_cluster or bool(self.redis_url and names_cluster(self.redis_url))

    @property
    def models_path(self) -> Path:
        return self.model_dir or self.data_dir / "models"

    @property
    def version_ttl(self) -> int:
        """Keys of old model versions expire; keep them while a slow replica may still read them."""
        return int(max(3 * self.refresh_interval, 86400))

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        values: dict[str, object] = {}
        for f in fields(cls):
            name = ENV_NAMES[f.name]
            raw = env.get(name)
            if raw is None or raw == "":
                continue
            try:
                values[f.name] = _convert(f.type, raw)
            except ValueError:
                raise SettingsError(f"{name}={raw!r} is not a valid {f.type}") from None
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        from recommender.algorithms import ALGORITHMS

        if self.algorithm != AUTO and self.algorithm not in ALGORITHMS:
            raise SettingsError(f"RECS_ALGORITHM must be {AUTO} or one of {', '.join(ALGORITHMS)}")
        if self.repeat not in REPEAT_MODES:
            raise SettingsError(f"RECS_REPEAT must be one of {', '.join(REPEAT_MODES)}, not {self.repeat!r}")
        self.validate_candidates()
        self.validate_trainer()
        if not 0 <= self.max_quality_drop <= 1:
            raise SettingsError("RECS_MAX_QUALITY_DROP must be between 0 and 1")
        if self.fatigue_days < 0:
            raise SettingsError("RECS_FATIGUE_DAYS must be 0 or more")
        if self.cluster and not self.redis_url:
            raise SettingsError("RECS_REDIS_CLUSTER=1 needs REDIS_URL (a node of the cluster)")
        if "{" in self.key_prefix or "}" in self.key_prefix:
            raise SettingsError("RECS_KEY_PREFIX must not contain braces (Redis Cluster hash tags)")
        self.validate_email()
        self.validate_lifecycle()
        self.validate_numbers()
        if self.log_level.upper() not in LOG_LEVELS:
            raise SettingsError(f"RECS_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, not {self.log_level!r}")
        if self.redis_url is not None:
            from redis.connection import parse_url

            from service.store.client import CLUSTER_SCHEMES, plain_url

            schemes = (*REDIS_SCHEMES, *CLUSTER_SCHEMES)
            if self.redis_url.split("://", 1)[0] not in schemes:
                raise SettingsError(f"REDIS_URL must start with one of {', '.join(s + '://' for s in schemes)}")
            try:  # a bad port, host or option, as redis-py would find at the first connection
                parse_url(plain_url(self.redis_url))
            except ValueError as exc:
                raise SettingsError(f"REDIS_URL is not a valid Redis URL: {exc}") from None

    def validate_numbers(self) -> None:
        """Every number finite, and within what the service can use (a Redis TTL is whole seconds, at least 1)."""
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise SettingsError(f"{ENV_NAMES[f.name]} must be a finite number")
        for name in POSITIVE:
            if getattr(self, name) <= 0:
                raise SettingsError(f"{ENV_NAMES[name]} must be positive")
        for name in WHOLE_SECONDS:
            if not 1 <= getattr(self, name) <= MAX_TTL_SECONDS:
                raise SettingsError(f"{ENV_NAMES[name]} must be from 1 to {MAX_TTL_SECONDS} (seconds, ten years; "
                                    "Redis keeps keys for whole seconds)")
        for name in ("precompute_n", "similar_n"):
            if getattr(self, name) > MAX_LIST_LENGTH:
                raise SettingsError(f"{ENV_NAMES[name]} must be at most {MAX_LIST_LENGTH}")
        if not 0 <= self.port <= 65535:
            raise SettingsError("RECS_PORT must be from 0 (any free port) to 65535")
        if self.rate_limit < 0:
            raise SettingsError("RECS_RATE_LIMIT must be 0 (off) or more")
        if self.rate_limit > 0 and self.rate_limit_burst < 1:
            raise SettingsError("RECS_RATE_LIMIT_BURST must be at least 1 (one request) when RECS_RATE_LIMIT is on")

    def validate_email(self) -> None:
        """The money and email settings: a real currency, a usable link parameter, a sane cap."""
        import re

        from recommender.item_fields import is_currency_code
        from service.store.contacts import MAX_CAP_HOURS

        if not is_currency_code(self.currency):
            raise SettingsError(f"RECS_CURRENCY={self.currency!r} is not an ISO 4217 code (like USD or EUR)")
        if not re.fullmatch(r"[A-Za-z0-9_.~-]{1,64}", self.link_param):
            raise SettingsError("RECS_LINK_PARAM must be 1 to 64 letters, digits or _.~- (a plain query parameter)")
        if not 0 <= self.contact_cap_hours <= MAX_CAP_HOURS:
            raise SettingsError(f"RECS_CONTACT_CAP_HOURS must be from 0 to {MAX_CAP_HOURS}")
        if self.fallback not in FALLBACKS:
            raise SettingsError(f"RECS_FALLBACK must be one of {', '.join(FALLBACKS)}, not {self.fallback!r}")
        if not 1 <= self.trending_hours <= MAX_TRENDING_HOURS:
            raise SettingsError(f"RECS_TRENDING_HOURS must be from 1 to {MAX_TRENDING_HOURS}")
        if self.template_dir is not None and not self.template_dir.is_dir():
            raise SettingsError(f"RECS_TEMPLATE_DIR={str(self.template_dir)!r} is not a directory")

    @property
    def lifecycle_config(self) -> LifecycleConfig:
        """RECS_ANNUAL_DISCOUNT and the churn thresholds as recommender.lifecycle takes them (LifecycleConfig)."""
        from recommender.lifecycle import LifecycleConfig

        return LifecycleConfig(self.annual_discount, self.churn_medium, self.churn_high)

    def validate_lifecycle(self) -> None:
        """A usable discount rate and churn thresholds in order."""
        from recommender.errors import InputError

        if not 0 <= self.annual_discount <= 10:
            raise SettingsError("RECS_ANNUAL_DISCOUNT must be a yearly rate from 0 to 10 (0.10 is 10% a year)")
        try:
            self.lifecycle_config
        except InputError:
            raise SettingsError("RECS_CHURN_MEDIUM and RECS_CHURN_HIGH need 0 <= medium <= high <= 1") from None

    @property
    def repeats(self) -> bool | None:
        """RECS_REPEAT as recommender.selection takes it: None (decide from the holdout), True or False."""
        return {AUTO: None, "on": True, "off": False}[self.repeat]

    def validate_candidates(self) -> None:
        """Some configuration must be left to train: `repeat` and `personal` always serve bought items."""
        from recommender.errors import InputError
        from recommender.selection import candidates_for

        try:
            candidates_for(None if self.algorithm == AUTO else self.algorithm, self.repeats)
        except InputError as exc:
            raise SettingsError(f"RECS_ALGORITHM={self.algorithm} with RECS_REPEAT={self.repeat}: {exc}") from None

    def validate_trainer(self) -> None:
        """Spark is optional: say at start, not at the first training, when it cannot run."""
        import importlib.util

        from recommender.trainers import TRAINERS

        if self.trainer not in TRAINERS:
            raise SettingsError(f"RECS_TRAINER must be one of {', '.join(TRAINERS)}")
        if self.trainer == "spark" and self.algorithm != "als":
            raise SettingsError("RECS_TRAINER=spark trains ALS only: set RECS_ALGORITHM=als")
        if self.trainer == "spark" and importlib.util.find_spec("pyspark") is None:
            raise SettingsError("RECS_TRAINER=spark needs pyspark and Java: pip install 'encore[spark]'")


#: Settings that must be above 0, and TTLs that must be at least one second.
POSITIVE = ("refresh_interval", "poll_interval", "precompute_n", "similar_n", "max_body_bytes", "max_batch_body_bytes",
            "online_days", "active_days", "workers", "redis_read_timeout")
WHOLE_SECONDS = ("cache_ttl", "since_training_ttl", "event_id_ttl", "lock_ttl")
#: The longest TTL (ten years: Redis takes far more, but a larger value is a typo) and precomputed list.
MAX_TTL_SECONDS = 10 * 365 * 86400
MAX_LIST_LENGTH = 10_000
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
#: What REDIS_URL may start with besides the cluster schemes (service.store.client.CLUSTER_SCHEMES): redis-py's.
REDIS_SCHEMES = ("redis", "rediss", "unix")
#: RECS_FALLBACK's values, and the longest trending window (hours: eight windows of 30 days).
FALLBACKS = ("popular", "trending")
MAX_TRENDING_HOURS = 720
#: RECS_ALGORITHM's value for model choice over every candidate, and RECS_REPEAT's values.
AUTO = "auto"
REPEAT_MODES: tuple[str, ...] = (AUTO, "on", "off")


def _convert(kind: object, raw: str) -> object:
    kind = str(kind)
    if "tuple" in kind:
        return _keys(raw)
    if "bool" in kind:
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(raw)
    if "Path" in kind:
        return Path(raw)
    if kind.startswith("int"):
        return int(raw)
    if kind.startswith("float"):
        return float(raw)
    return raw


ENV_NAMES: dict[str, str] = {f.name: "RECS_" + f.name.upper() for f in fields(Settings)}
ENV_NAMES["redis_url"] = "REDIS_URL"
