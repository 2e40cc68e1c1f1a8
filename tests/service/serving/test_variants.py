"""Split and Splits: the hot path's Choice agrees with the hash and the variant's model, follows the serving
model, forgets customers past its bound, and survives a poll that finds the same definition."""

from __future__ import annotations

from dataclasses import dataclass, field

import gc
import weakref

import pytest

from service.experiments.definition import Experiment, Variant, VariantModel
from service.serving import variants as variants_module
from service.serving.variants import Split, Splits

TRAINED = VariantModel("trained", "als", {"factors": 16})
EXPERIMENT = Experiment("spring", (Variant("holdout", 0.2, VariantModel("popularity")),
                                   Variant("als", 0.4, VariantModel("serving")),
                                   Variant("als_16", 0.4, TRAINED)),
                        "holdout", ("lists",), "spring-salt", 0.0)
CUSTOMERS = [f"u{k:04d}" for k in range(600)]


@dataclass(eq=False)
class Model:  # what Split reads of a serving model: its version and its variants' trained models
    version: str
    variants: dict = field(default_factory=dict)


def test_a_customers_choice_is_their_hashed_variants_model_and_tag():
    split = Split.of(EXPERIMENT)
    trained = Model("v1-als_16")
    current = Model("v1", {"spring/als_16": trained})
    expected = {"holdout": None, "als": current, "als_16": trained}
    for user in CUSTOMERS:
        variant = split.variant_of(user)
        model, tag = split.choice(current, user)
        assert model is expected[variant.name]
        assert tag == (f"v1@spring/{variant.name}", "spring", variant.name)
    assert {split.variant_of(u).name for u in CUSTOMERS} == set(expected)


def test_a_trained_variant_no_training_has_made_yet_serves_the_serving_model_uncounted():
    split, current = Split.of(EXPERIMENT), Model("v1")
    user = next(u for u in CUSTOMERS if split.variant_of(u).name == "als_16")
    assert split.choice(current, user) == (current, None)


def test_the_choices_follow_a_new_serving_model():
    split, user = Split.of(EXPERIMENT), next(u for u in CUSTOMERS if Split.of(EXPERIMENT).variant_of(u).name == "als")
    old, new = Model("v1"), Model("v2")
    assert split.choice(old, user) == (old, ("v1@spring/als", "spring", "als"))
    assert split.choice(new, user) == (new, ("v2@spring/als", "spring", "als"))


def test_remembered_customers_are_bounded_and_still_assigned_by_the_hash(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(variants_module, "ASSIGNED_USERS", 50)
    split, current = Split.of(EXPERIMENT), Model("v1", {"spring/als_16": Model("v1-als_16")})
    for _ in range(2):
        for user in CUSTOMERS:
            assert split.choice(current, user)[1][2] == split.variant_of(user).name
            assert len(split._assigned) <= 50


def test_a_poll_keeps_the_split_of_an_unchanged_definition_and_replaces_a_changed_one():
    first = Splits.by_family([EXPERIMENT], now=10.0)
    again = Splits.by_family([EXPERIMENT], now=11.0, previous=first)
    assert again["lists"].pending[0] is first["lists"].pending[0]
    assert again["lists"].running(11.0) is first["lists"].pending[0]
    stretched = Experiment(**{**EXPERIMENT.__dict__, "end": 100.0})
    changed = Splits.by_family([stretched], now=12.0, previous=again)
    assert changed["lists"].pending[0] is not first["lists"].pending[0]
    assert changed["lists"].pending[0].experiment == stretched
    stopped = Experiment(**{**stretched.__dict__, "stopped_at": 13.0})
    assert Splits.by_family([stopped], now=14.0, previous=changed)["lists"].running(14.0) is None


def test_a_split_never_keeps_a_replaced_serving_model_alive():
    split, user = Split.of(EXPERIMENT), CUSTOMERS[0]
    old = Model("v1", {"spring/als_16": Model("v1-als_16")})
    split.choice(old, user)
    gone = weakref.ref(old)
    del old
    gc.collect()
    assert gone() is None
    new = Model("v2", {"spring/als_16": Model("v2-als_16")})
    assert split.choice(new, user)[1][0].startswith("v2@")
