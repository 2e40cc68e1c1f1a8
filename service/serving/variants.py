"""Which variant serves a customer's list: the running experiment that splits the list routes, kept in
process (the refresh loop reads the definitions at every poll), and each customer's variant by the
sticky hash (service.experiments.assignment). With no experiment defined this is one attribute check."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from service.experiments.assignment import assign, bounds
from service.experiments.definition import ENDED, RUNNING, Experiment, Variant

LISTS = "lists"


@dataclass(frozen=True)
class Split:
    """One experiment that splits a route family, with its variants' slice ends."""

    experiment: Experiment
    ends: tuple[float, ...]

    @classmethod
    def of(cls, experiment: Experiment) -> Split:
        return cls(experiment, tuple(bounds([v.share for v in experiment.variants]).tolist()))

    def variant_of(self, user_id: str) -> Variant:
        return self.experiment.variants[assign(self.experiment.salt, user_id, self.ends)]


@dataclass(frozen=True)
class Splits:
    """The not-yet-ended experiments of a route family, soonest start first; `running(now)` is the one
    splitting now (definitions never overlap in time on one family: service.experiments.registry)."""

    pending: tuple[Split, ...] = ()

    @classmethod
    def of(cls, experiments: Sequence[Experiment], family: str, now: float) -> Splits:
        kept = sorted((e for e in experiments if family in e.routes and e.status(now) != ENDED),
                      key=lambda e: e.start)
        return cls(tuple(Split.of(e) for e in kept))

    def running(self, now: float) -> Split | None:
        for split in self.pending:
            if split.experiment.status(now) == RUNNING:
                return split
        return None
