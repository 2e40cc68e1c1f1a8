"""Email blocks: every block an email shows one recipient, computed together, each with its own
recommendation id (service.store.online: route `email_<block>`, so clicks and purchases from each block are
attributed to it).

Blocks: `recommended` (the user's list, as the list routes serve it, popular items for unknown users),
`buy_again`, `new_for_you` and `follow_up` (the retention blocks of recommender.retention, on the event
index of service.serving.retention_index). A recipient the model does not know gets each block's fallback
(popular items, the newest items, or an empty list that says why), never an error. No HTTP here; rendering
as HTML: service.serving.email_html.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass

from recommender.retention import buy_again, follow_up, new_for_you
from service.serving.model_state import ServingModel
from service.serving.picking import full_filter
from service.serving.read_path import Serving
from service.serving.requests import ListRequest, ListResult
from service.serving.retention_index import RetentionIndex
from service.serving.variants import Split
from service.store.online import EMAIL_BLOCKS, new_recommendation_id

#: Items created this many days back count as new in the `new_for_you` block.
NEW_DAYS = 30


def block_route(block: str) -> str:
    """The online-statistics route of a block (what its recommendation ids name)."""
    return f"email_{block}"


@dataclass(frozen=True)
class BlockRequest:
    """Which blocks, their size and filters (`req.fields` are embedded in each item), and `now` (epoch
    seconds) placing the retention windows."""

    blocks: tuple[str, ...]
    req: ListRequest
    now: float | None = None


class BlockIds:
    """One recommendation id per block for a response (a batch shares them, like the batch route)."""

    def __init__(self, version: str, blocks: Sequence[str]) -> None:
        self.ids = {block: new_recommendation_id(version, block_route(block)) for block in blocks}


async def recommended_lists(serving: Serving, current: ServingModel, running: Split | None, user_ids: Sequence[str],
                            request: BlockRequest) -> list[ListResult] | None:
    """The `recommended` block of each user (None when not asked for): the read path's lists as dicts
    (never a remembered answer's JSON, which a template cannot read), each from the user's variant while
    `running` (the experiment splitting the email family) runs."""
    if "recommended" not in request.blocks:
        return None
    return await serving.lists_for(current, running, user_ids, request.req)


def user_blocks(current: ServingModel, index: RetentionIndex, user_id: str, recommended: ListResult | None,
                request: BlockRequest, ids: BlockIds, erased: frozenset[str] = frozenset()) -> dict[str, dict]:
    """Every requested block of one recipient, in request order (CPU work: call it in a worker thread);
    `current` is the model the recipient's variant serves (service.serving.variants.models_for). An item
    appears in one block of the email only: the first asked for that holds it (later retention blocks fill up
    with their next items; the `recommended` list, read before, only loses the item). `erased` customers are
    unknown to the model here too (`new_for_you` uses no vector of theirs).

    Returns
    -------
    dict of block name to {"recommendation_id", "source", "items": [dict, ...]}
        `follow_up` also has `purchased` (the purchases it follows). Items are response dicts with the
        catalog fields asked for.
    """
    req = request.req
    now = time.time() if request.now is None else request.now
    base_filter = full_filter(current, req)
    shown: set[str] = set()  # items of the blocks so far
    out: dict[str, dict] = {}
    for block in request.blocks:
        extra: dict = {}
        item_filter = dataclasses.replace(base_filter, exclude=base_filter.exclude | shown) if shown else base_filter
        if block == "recommended":
            assert recommended is not None
            source, items = recommended.source, [i for i in recommended.items if i["item_id"] not in shown]
        elif block == "buy_again":
            found = buy_again(index.history, index.intervals, index.attrs, user_id, now, req.n, item_filter)
            source, items = found.source, [i.to_dict() for i in found.items]
        elif block == "new_for_you":
            found = new_for_you(current.model, index.history, index.attrs, user_id, now, NEW_DAYS, req.n, item_filter,
                                use_vector=user_id not in erased)
            source, items = found.source, [i.to_dict() for i in found.items]
        else:
            found = follow_up(index.history, index.complements, index.attrs, user_id, req.n, 0, item_filter,
                              current.model)
            source, items = found.source, [i.to_dict() for i in found.items]
            extra = {"purchased": [i.to_dict() for i in found.purchased]}
            current.display_by_id(extra["purchased"], req.fields)
        if block != "recommended":
            current.display_by_id(items, req.fields)
        shown.update(i["item_id"] for i in items)
        out[block] = {"recommendation_id": ids.ids[block], "source": source, "items": items, **extra}
    return out


def parse_blocks(raw: object) -> tuple[str, ...] | None:
    """Block names from a comma-separated string or a list, in order, each once; None if one is unknown
    or the value is not a list of strings."""
    names = [n for n in raw.split(",") if n] if isinstance(raw, str) else raw
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n in EMAIL_BLOCKS for n in names):
        return None
    return tuple(dict.fromkeys(names))
