"""Which variant serves a customer: the running experiment that splits a route family, kept in process (the
refresh loop reads the definitions at every poll), each customer's variant by the sticky hash
(service.experiments.assignment), and the model a variant serves. With no experiment defined this is one
dictionary look-up."""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field

from service.experiments.assignment import assign, bounds
from service.experiments.definition import ENDED, POPULARITY, ROUTE_FAMILIES, RUNNING, SERVING, Experiment, Variant
from service.serving.model_state import ServingModel
from service.store.online import variant_label

#: What a counted variant's answers carry: (version label for recommendation ids and online statistics,
#: experiment name, variant name); service.store.online.variant_label makes the label.
VariantTag = tuple[str, str, str]
#: What a customer's list comes from on the list routes: the model (None for the popularity holdout, whose list
#: the read path keeps itself) and the tag (None: not counted for the experiment).
Choice = tuple["ServingModel | None", "VariantTag | None"]
#: Customers whose variant a Split remembers for the list routes (about 100 bytes each), then it starts over.
ASSIGNED_USERS = 100_000


@dataclass(frozen=True)
class Split:
    """One experiment that splits a route family, with its variants' slice ends."""

    experiment: Experiment
    ends: tuple[float, ...]
    #: tags made so far, by (serving version, variant name): the hot path formats no label
    _tags: dict[tuple[str, str], VariantTag] = field(default_factory=dict, compare=False, repr=False)
    #: customers' variant indices on the list routes, and [the serving model, each variant's Choice beside it],
    #: all weakly referenced (_resolve): a hot request hashes nothing and resolves no variant (choice)
    _assigned: dict[str, int] = field(default_factory=dict, compare=False, repr=False)
    _choices: list = field(default_factory=lambda: [None, ()], compare=False, repr=False)

    @classmethod
    def of(cls, experiment: Experiment) -> Split:
        return cls(experiment, tuple(bounds([v.share for v in experiment.variants]).tolist()))

    def index_of(self, user_id: str) -> int:
        """The position of the customer's variant in the experiment's variants."""
        return assign(self.experiment.salt, user_id, self.ends)

    def variant_of(self, user_id: str) -> Variant:
        return self.experiment.variants[self.index_of(user_id)]

    def choice(self, current: ServingModel, user_id: str) -> Choice:
        """The customer's Choice next to the serving model `current` on the list routes (the hot path: one
        dictionary look-up for a customer seen before)."""
        resolved = self._resolved(current)
        index = self._assigned.get(user_id)
        if index is None:
            if len(self._assigned) >= ASSIGNED_USERS:
                self._assigned.clear()
            index = self._assigned[user_id] = self.index_of(user_id)
        model, tag = resolved[index]
        return (None if model is None else model()), tag

    def choices(self, current: ServingModel) -> tuple[Choice, ...]:
        """Each variant's Choice next to the serving model `current`, in the variants' order."""
        return tuple(((None if model is None else model()), tag) for model, tag in self._resolved(current))

    def _resolved(self, current: ServingModel) -> tuple[tuple[weakref.ref | None, VariantTag | None], ...]:
        """The variants' weakly referenced Choices next to `current`, resolved again only when it changed."""
        ref, resolved = self._choices
        return resolved if ref is not None and ref() is current else self._resolve(current)

    def _resolve(self, current: ServingModel) -> tuple[tuple[weakref.ref | None, VariantTag | None], ...]:
        """The variants' Choices with weak references to their models, kept until the serving model changes
        (weak: a replaced model's memory is never held here; `current` holds its variants' models)."""
        resolved = tuple((None, self.tag(current, v)) if v.model.kind == POPULARITY
                         else _weakly(self.model_of(current, v)) for v in self.experiment.variants)
        self._choices[:] = [weakref.ref(current), resolved]
        return resolved

    def tag(self, current: ServingModel, variant: Variant) -> VariantTag:
        """What `variant`'s answers next to the serving model `current` carry (VariantTag)."""
        key = (current.version, variant.name)
        tag = self._tags.get(key)
        if tag is None:
            if len(self._tags) > 64:  # a few per served version
                self._tags.clear()
            name = self.experiment.name
            tag = self._tags[key] = (variant_label(current.version, name, variant.name), name, variant.name)
        return tag

    def model_of(self, current: ServingModel, variant: Variant) -> tuple[ServingModel, VariantTag | None]:
        """The model `variant` serves next to `current` (the serving model) and its tag; the tag is None for a
        trained variant no training has made yet (the serving model answers, not counted for the experiment).
        The popularity holdout's model is `current.popularity_model()` (routes that need a model: email
        blocks and campaigns; the list routes serve the holdout's list from their own cache)."""
        tag = self.tag(current, variant)
        if variant.model.kind == SERVING:
            return current, tag
        if variant.model.kind == POPULARITY:
            return current.popularity_model(), tag
        trained = current.variants.get(f"{self.experiment.name}/{variant.name}")
        return (current, None) if trained is None else (trained, tag)


@dataclass(frozen=True)
class Splits:
    """The not-yet-ended experiments of a route family, soonest start first; `running(now)` is the one
    splitting now (definitions never overlap in time on one family: service.experiments.registry)."""

    pending: tuple[Split, ...] = ()

    @classmethod
    def of(cls, experiments: Sequence[Experiment], family: str, now: float, previous: Splits | None = None
           ) -> Splits:
        """`previous`: the family's Splits until now, whose Split of an unchanged definition is kept (with what
        it remembers)."""
        kept = sorted((e for e in experiments if family in e.routes and e.status(now) != ENDED),
                      key=lambda e: e.start)
        known = previous.pending if previous is not None else ()
        return cls(tuple(next((s for s in known if s.experiment == e), None) or Split.of(e) for e in kept))

    @classmethod
    def by_family(cls, experiments: Sequence[Experiment], now: float, previous: dict[str, Splits] | None = None
                  ) -> dict[str, Splits]:
        """`Splits` of every route family (service.experiments.definition.ROUTE_FAMILIES); `previous`: as `of`."""
        previous = previous or {}
        return {family: cls.of(experiments, family, now, previous.get(family)) for family in ROUTE_FAMILIES}

    def running(self, now: float) -> Split | None:
        for split in self.pending:
            if split.experiment.start > now:
                return None  # soonest start first: no later one has started either
            if split.experiment.status(now) == RUNNING:
                return split
        return None


def _weakly(chosen: tuple[ServingModel, VariantTag | None]) -> tuple[weakref.ref, VariantTag | None]:
    return weakref.ref(chosen[0]), chosen[1]


def version_label(current: ServingModel, tag: VariantTag | None) -> str:
    """What an answer's recommendation ids and online counters name: the serving version, or the variant's label."""
    return current.version if tag is None else tag[0]


def models_for(running: Split | None, current: ServingModel, user_ids: Sequence[str]
               ) -> list[tuple[ServingModel, VariantTag | None]]:
    """Each customer's model and tag under `running` (every customer: `current`, untagged, when None); a
    variant's model is looked up once however many of its customers there are."""
    if running is None:
        return [(current, None)] * len(user_ids)
    chosen: dict[str, tuple[ServingModel, VariantTag | None]] = {}
    out = []
    for user_id in user_ids:
        variant = running.variant_of(user_id)
        found = chosen.get(variant.name)
        if found is None:
            found = chosen[variant.name] = running.model_of(current, variant)
        out.append(found)
    return out
