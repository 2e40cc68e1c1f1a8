"""An experiment's definition: its variants (name, share of customers, model configuration), the route
families it splits, its salt and time window; checked whole, with a BadInput naming the field.

A variant's model is `"serving"` (the model the service trains and serves: model choice, the usual
control), `"popularity"` (the holdout: the store's bestsellers, no personalisation) or an object
`{"algorithm": ..., "params": {...}, "repeat": false}`: one configuration of recommender.algorithms, which
every training also fits and precomputes (service.training.variants). Status follows from the times:
scheduled before `start`, running until `end` or a stop, then ended.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field

from recommender.algorithms import ALGORITHMS, BASKET_ALGORITHMS, ModelParams
from recommender.errors import InputError
from recommender.times import EARLIEST_TIMESTAMP, milliseconds_hint
from recommender.units import SECONDS_PER_DAY
from service.errors import bad_input

#: Variants per experiment, and the names experiments and variants may have: they appear inside
#: recommendation ids and Redis keys, so no dots, bars, braces or slashes.
MAX_VARIANTS = 4
MIN_VARIANTS = 2
NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: Route families an experiment may split; at most one running experiment per family. `lists`: a user's list
#: and the batch route; `email`: the email blocks; `campaigns`: the campaigns whose items come from the model
#: (win-back, back in stock, browse abandonment).
LISTS, EMAIL, CAMPAIGNS = "lists", "email", "campaigns"
ROUTE_FAMILIES = (LISTS, EMAIL, CAMPAIGNS)
SERVING = "serving"
POPULARITY = "popularity"
#: Shares must sum to 1 within this (JSON decimals such as 0.1 + 0.2 are not exact).
SHARE_TOLERANCE = 1e-6
#: How far ahead of now a start or end may lie: a time past it is a unit error (milliseconds), not a plan.
MAX_DAYS_AHEAD = 10 * 366
SCHEDULED, RUNNING, ENDED = "scheduled", "running", "ended"


@dataclass(frozen=True)
class VariantModel:
    """What a variant serves: `kind` SERVING, POPULARITY or "trained" (then `algorithm`, `params`, `repeat`)."""

    kind: str
    algorithm: str | None = None
    params: dict = field(default_factory=dict)
    repeat: bool = False

    def as_dict(self) -> dict | str:
        if self.kind != "trained":
            return self.kind
        return {"algorithm": self.algorithm, "params": dict(self.params), "repeat": self.repeat}

    def model_params(self) -> ModelParams:
        """The configuration as recommender.algorithms takes it (a trained variant only)."""
        return ModelParams(**{**self.params, "algorithm": self.algorithm})


@dataclass(frozen=True)
class Variant:
    name: str
    share: float
    model: VariantModel

    def as_dict(self) -> dict:
        return {"name": self.name, "share": self.share, "model": self.model.as_dict()}


@dataclass(frozen=True)
class Experiment:
    """A stored experiment. Times are epoch seconds; `stopped_at` is set by a stop, `promoted` names the
    variant whose configuration became the default after it."""

    name: str
    variants: tuple[Variant, ...]
    control: str
    routes: tuple[str, ...]
    salt: str
    start: float
    end: float | None = None
    created_at: float = 0.0
    stopped_at: float | None = None
    promoted: str | None = None

    def status(self, now: float) -> str:
        if self.stopped_at is not None or (self.end is not None and now >= self.end):
            return ENDED
        return SCHEDULED if now < self.start else RUNNING

    def ended_at(self) -> float | None:
        """When it stopped splitting (a stop, or its end time); None while it has no end."""
        if self.stopped_at is not None:
            return self.stopped_at if self.end is None else min(self.stopped_at, self.end)
        return self.end

    def variant(self, name: str) -> Variant | None:
        return next((v for v in self.variants if v.name == name), None)

    def as_dict(self, now: float) -> dict:
        return {"name": self.name, "status": self.status(now), "variants": [v.as_dict() for v in self.variants],
                "control": self.control, "routes": list(self.routes), "salt": self.salt, "start": self.start,
                "end": self.end, "created_at": self.created_at, "stopped_at": self.stopped_at,
                "promoted": self.promoted}

    @classmethod
    def from_dict(cls, raw: dict) -> Experiment:
        """A stored record (as_dict's output) back; the store only holds what parse_definition accepted."""
        variants = tuple(Variant(v["name"], float(v["share"]), stored_model(v["model"])) for v in raw["variants"])
        return cls(raw["name"], variants, raw["control"], tuple(raw["routes"]), raw["salt"], float(raw["start"]),
                   raw.get("end"), float(raw.get("created_at") or 0.0), raw.get("stopped_at"), raw.get("promoted"))

    def stopped(self, now: float) -> Experiment:
        return dataclasses.replace(self, stopped_at=now)


def stored_model(raw: dict | str) -> VariantModel:
    """A stored variant model (VariantModel.as_dict's output) back."""
    if isinstance(raw, str):
        return VariantModel(raw)
    return VariantModel("trained", raw["algorithm"], dict(raw.get("params") or {}), bool(raw.get("repeat")))


def check_name(value: object, field_name: str) -> str:
    if not isinstance(value, str) or not NAME.fullmatch(value):
        raise bad_input(f"{field_name} must be 1 to 64 letters, digits, '_' or '-'", "invalid_parameter",
                        field=field_name)
    return value


def parse_definition(name: str, body: object, now: float) -> Experiment:
    """A PUT body as an Experiment, every field checked.

    Parameters
    ----------
    name : str
        The experiment's name (from the path).
    body : object
        The decoded JSON body: `variants` (2 to 4 objects with `name`, `share` in (0, 1], `model`),
        optional `control` (a variant's name; default the first), `routes` (default every family),
        `salt` (default the name), `start` and `end` (epoch seconds; default now and none).
    now : float
        Epoch seconds: the default start and the record's created_at.

    Raises
    ------
    service.errors.BadInput
        a field is missing or wrong; `field` names it (e.g. ``variants[1].share``).
    """
    check_name(name, "name")
    if not isinstance(body, dict):
        raise bad_input("body must be an object with variants", "invalid_body")
    unknown = sorted(set(body) - {"variants", "control", "routes", "salt", "start", "end"})
    if unknown:
        raise bad_input(f"unknown field {unknown[0]!r}", "invalid_parameter", field=unknown[0])
    raw_variants = body.get("variants")
    if not isinstance(raw_variants, list) or not MIN_VARIANTS <= len(raw_variants) <= MAX_VARIANTS:
        raise bad_input(f"variants must be a list of {MIN_VARIANTS} to {MAX_VARIANTS} variants", "invalid_parameter",
                        field="variants")
    variants = tuple(_variant(raw, f"variants[{k}]") for k, raw in enumerate(raw_variants))
    seen: set[str] = set()
    for k, variant in enumerate(variants):
        if variant.name in seen:
            raise bad_input(f"variant name {variant.name!r} is used twice", "invalid_parameter",
                            field=f"variants[{k}].name")
        seen.add(variant.name)
    total = math.fsum(v.share for v in variants)
    if abs(total - 1.0) > SHARE_TOLERANCE:
        raise bad_input(f"the variants' shares must sum to 1, got {total:g}", "invalid_parameter",
                        field="variants")
    control = body.get("control", variants[0].name)
    if control not in seen:
        raise bad_input("control must name one of the variants", "invalid_parameter", field="control")
    routes = body.get("routes", list(ROUTE_FAMILIES))
    if (not isinstance(routes, list) or not routes or any(r not in ROUTE_FAMILIES for r in routes)
            or len(set(routes)) != len(routes)):
        raise bad_input(f"routes must be a non-empty list of distinct route families from: {', '.join(ROUTE_FAMILIES)}",
                        "invalid_parameter", field="routes")
    salt = body.get("salt", name)
    if not isinstance(salt, str) or not 1 <= len(salt) <= 256:
        raise bad_input("salt must be a string of 1 to 256 characters", "invalid_parameter", field="salt")
    start = now if body.get("start") is None else _time(body["start"], "start", now)
    end = None if body.get("end") is None else _time(body["end"], "end", now)
    if end is not None and end <= now:  # an experiment that never splits anything could still be promoted
        raise bad_input("end must be in the future: this experiment would never run", "invalid_parameter",
                        field="end")
    if end is not None and end <= start:
        raise bad_input("end must be after start", "invalid_parameter", field="end")
    return Experiment(name, variants, control, tuple(routes), salt, start, end, created_at=now)


def _time(raw: object, field_name: str, now: float) -> float:
    """`raw` as epoch seconds from EARLIEST_TIMESTAMP to MAX_DAYS_AHEAD after `now` (epoch seconds)."""
    latest = now + MAX_DAYS_AHEAD * SECONDS_PER_DAY
    if (isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw)
            or not EARLIEST_TIMESTAMP <= raw <= latest):
        hint = milliseconds_hint(raw) if isinstance(raw, (int, float)) and math.isfinite(raw) else ""
        raise bad_input(f"{field_name} must be epoch seconds from 1990-01-01 to {MAX_DAYS_AHEAD:,} days ahead{hint}",
                        "invalid_parameter", field=field_name)
    return float(raw)


def _variant(raw: object, where: str) -> Variant:
    if not isinstance(raw, dict):
        raise bad_input(f"{where} must be an object with name, share and model", "invalid_parameter", field=where)
    unknown = sorted(set(raw) - {"name", "share", "model"})
    if unknown:
        raise bad_input(f"unknown field {unknown[0]!r}", "invalid_parameter", field=f"{where}.{unknown[0]}")
    name = check_name(raw.get("name"), f"{where}.name")
    share = raw.get("share")
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share <= 1:
        raise bad_input("share must be a number in (0, 1]", "invalid_parameter", field=f"{where}.share")
    return Variant(name, float(share), _model(raw.get("model"), f"{where}.model"))


def _model(raw: object, where: str) -> VariantModel:
    if raw in (SERVING, POPULARITY):
        return VariantModel(raw)  # type: ignore[arg-type]
    if not isinstance(raw, dict):
        raise bad_input(f"model must be \"{SERVING}\", \"{POPULARITY}\" or an object with algorithm, params and repeat",
                        "invalid_parameter", field=where)
    unknown = sorted(set(raw) - {"algorithm", "params", "repeat"})
    if unknown:
        raise bad_input(f"unknown field {unknown[0]!r}", "invalid_parameter", field=f"{where}.{unknown[0]}")
    algorithm = raw.get("algorithm")
    if algorithm not in ALGORITHMS:
        raise bad_input(f"algorithm must be one of {', '.join(ALGORITHMS)}", "invalid_parameter",
                        field=f"{where}.algorithm")
    params = raw.get("params", {})
    if not isinstance(params, dict) or "algorithm" in params:
        raise bad_input("params must be an object of the algorithm's parameters", "invalid_parameter",
                        field=f"{where}.params")
    repeat = raw.get("repeat", algorithm in BASKET_ALGORITHMS)
    if not isinstance(repeat, bool):
        raise bad_input("repeat must be true or false", "invalid_parameter", field=f"{where}.repeat")
    if algorithm in BASKET_ALGORITHMS and not repeat:
        raise bad_input(f"{algorithm} always serves bought items: repeat must be true (or left out)",
                        "invalid_parameter", field=f"{where}.repeat")
    known = {f.name for f in dataclasses.fields(ModelParams)} - {"algorithm"}
    unknown = sorted(set(params) - known)
    if unknown:
        raise bad_input(f"unknown parameter {unknown[0]!r}; parameters are {', '.join(sorted(known))}",
                        "invalid_parameter", field=f"{where}.params.{unknown[0]}")
    model = VariantModel("trained", algorithm, params, repeat)
    try:
        model.model_params()
    except (InputError, TypeError, ValueError) as exc:
        raise bad_input(f"bad params for {algorithm}: {exc}", "invalid_parameter", field=f"{where}.params") from None
    return model


def overlapping(new: Experiment, others: list[Experiment]) -> Experiment | None:
    """Another experiment that would split one of `new`'s route families at the same time (their windows
    overlap, a stop ending one's window), or None: at most one runs per family at a time."""
    new_end = new.ended_at()
    for other in others:
        if other.name == new.name or not set(other.routes) & set(new.routes):
            continue
        other_end = other.ended_at()
        if (new_end is None or other.start < new_end) and (other_end is None or new.start < other_end):
            return other
    return None
