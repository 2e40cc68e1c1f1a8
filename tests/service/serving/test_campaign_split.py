"""split_campaign: one run per variant, each with its own model and only its own customers, merged back into the
campaign's order with the contact cap counted once."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recommender.retention.campaigns import CampaignRows
from recommender.retention.pairs import left_out_mask
from service.experiments.definition import Experiment, Variant, VariantModel
from service.serving.campaign_split import split_campaign
from service.serving.variants import Split

EXPERIMENT = Experiment("spring", (Variant("a", 0.3, VariantModel("serving")), Variant("b", 0.7, VariantModel("serving"))),
                        "a", ("campaigns",), "spring", 0.0)
CUSTOMERS = [f"u{k:03d}" for k in range(60)]


@dataclass
class Row:
    user_id: str


@dataclass
class Serving:  # what Split.model_of reads of the serving model for variants that serve it
    version: str = "v1"
    variants: dict = None


def _campaign(seen: list[list[str]]):
    def run(model, skip) -> CampaignRows:
        ids = np.array(CUSTOMERS, dtype=object)
        mask = left_out_mask(ids, skip)
        kept = [Row(u) for u, m in zip(CUSTOMERS, mask) if not m]
        seen.append([r.user_id for r in kept])
        return CampaignRows(iter([kept[i:i + 7] for i in range(0, len(kept), 7)]), int(mask.sum()))
    return run


def _order(user_ids: list[str]) -> np.ndarray:
    return np.array([int(u[1:]) for u in user_ids])


def test_each_variant_runs_for_its_own_customers_and_the_rows_keep_the_campaigns_order():
    split, contacted, seen = Split.of(EXPERIMENT), frozenset({"u001", "u002", "u040"}), []
    result = split_campaign(split, Serving(), contacted, _campaign(seen), _order, chunk=10)
    parts = list(result.rows)
    flat = [row.user_id for part in parts for row in part]
    assert flat == [u for u in CUSTOMERS if u not in contacted] and result.rows.left_out == 3
    assert [len(part) for part in parts[:-1]] == [10] * (len(parts) - 1)
    for name, run in zip(("a", "b"), seen):
        assert run and all(split.variant_of(u).name == name for u in run)
    for user in flat:
        name = split.variant_of(user).name
        assert result.tag(user) == (f"v1@spring/{name}", "spring", name)


def test_without_an_experiment_the_campaign_runs_once_untagged():
    seen = []
    result = split_campaign(None, Serving(), frozenset({"u001"}), _campaign(seen), _order)
    assert len(seen) == 1 and "u001" not in seen[0] and result.rows.left_out == 1 and result.tag("u000") is None


def test_a_function_can_say_whom_a_campaign_leaves_out():
    ids = np.array(["a", "b", "c"], dtype=object)
    assert left_out_mask(ids, lambda users: users == "b").tolist() == [False, True, False]
    assert left_out_mask(ids, {"c"}).tolist() == [False, False, True] and not left_out_mask(ids, ()).any()
