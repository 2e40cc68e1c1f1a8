"""Campaigns under an experiment that splits the campaigns family: each customer's items come from the model of
their variant (the serving model, the popularity holdout, or a trained variant's model).

A campaign (recommender.retention: win-back, back in stock, browse abandonment) is run once per variant with that
variant's model, leaving out the customers the other variants serve (recommender.retention.pairs.LeaveOut), and
the runs' rows are merged back into the campaign's own order, so a split campaign lists the same customers in the
same order as an unsplit one. Selection work is repeated per variant (at most four). No HTTP here.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from recommender.retention.campaigns import CHUNK, CampaignRows
from recommender.retention.pairs import LeaveOut, left_out_mask
from service.serving.model_state import ServingModel
from service.serving.variants import Split, VariantTag

#: Runs one campaign with a model and the customers to leave out.
Campaign = Callable[[ServingModel, LeaveOut], CampaignRows]
#: Sort keys of user ids in the campaign's own order (any comparable numbers), shape (m,) for m ids.
OrderKeys = Callable[[list[str]], np.ndarray]


@dataclass
class SplitCampaign:
    """A campaign's rows (`rows`, as the unsplit campaign gives them: `left_out` counts the contact cap only)
    and each listed customer's variant tag (`tag(user_id)`: None outside experiments)."""

    rows: CampaignRows
    _variant: Callable[[str], int] | None = None
    _tags: list[VariantTag | None] = field(default_factory=list)

    def tag(self, user_id: str) -> VariantTag | None:
        return None if self._variant is None else self._tags[self._variant(user_id)]


def split_campaign(running: Split | None, current: ServingModel, contacted: frozenset[str], campaign: Campaign,
                   order: OrderKeys, chunk: int = CHUNK) -> SplitCampaign:
    """Run `campaign` for every variant of `running` (once with `current` when None) and merge the rows.

    Parameters
    ----------
    running : Split or None
        The experiment splitting the campaigns family now.
    current : ServingModel
        The serving model.
    contacted : frozenset of str
        Customers the contact cap leaves out.
    campaign : Campaign
        `campaign(model, leave_out)` -> CampaignRows; rows are lists of records with a `user_id`.
    order : OrderKeys
        The campaign's order as sort keys, to merge the variants' rows.
    chunk : int
        Customers per list of the merged rows.
    """
    if running is None:
        return SplitCampaign(campaign(current, contacted))
    assigned: dict[str, int] = {}  # each customer hashed once, however many runs ask

    def variant_of(user_id: str) -> int:
        index = assigned.get(user_id)
        if index is None:
            index = assigned[user_id] = running.index_of(user_id)
        return index

    capped = 0
    runs: list[CampaignRows] = []
    tags: list[VariantTag | None] = []
    for k, variant in enumerate(running.experiment.variants):
        def others(user_ids: np.ndarray, k: int = k) -> np.ndarray:
            nonlocal capped
            mine = np.fromiter((variant_of(u) == k for u in user_ids.tolist()), dtype=bool, count=len(user_ids))
            skipped = left_out_mask(user_ids, contacted)
            capped += int((skipped & mine).sum())
            return skipped | ~mine

        model, tag = running.model_of(current, variant)
        tags.append(tag)
        runs.append(campaign(model, others))  # the campaigns apply `others` before returning
    return SplitCampaign(CampaignRows(_merged(runs, order, chunk), capped), variant_of, tags)


def _merged(runs: Sequence[CampaignRows], order: OrderKeys, chunk: int) -> Iterator[list]:
    def keyed(rows: CampaignRows) -> Iterator[tuple]:
        for part in rows:
            keys = order([row.user_id for row in part])
            yield from zip(keys.tolist(), part)

    merged = heapq.merge(*(keyed(rows) for rows in runs), key=lambda pair: pair[0])
    out: list = []
    for _, row in merged:
        out.append(row)
        if len(out) == chunk:
            yield out
            out = []
    if out:
        yield out
