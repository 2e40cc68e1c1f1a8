"""Request-time filtering of a ranked candidate list, straight to response items: kind, category,
in stock, exclusions, items the user touched since training, removed items, the per-category cap,
items bought since training and not due again moved behind the rest (service.serving.repeats), then
recently shown items moved behind the rest (recommender.retention.fatigue); items the user bought
before carry `"repeat": true` (only with a model that serves them: other lists never hold one). With
explain=true, the final items get their reasons (`add_reasons`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set

import numpy as np

from recommender.explain import because
from recommender.filters import ItemFilter, filter_ranked
from recommender.retention.fatigue import demote
from recommender.retention.ranking import SCORE_DECIMALS
from recommender.sources import FALLBACK
from service.serving.model_state import ServingModel
from service.serving.requests import ListRequest, ListResult, lookup

_INF = float("inf")

#: `because` reasons per item when explain=true.
REASONS = 3


def pick(current: ServingModel, ids: np.ndarray, scores: np.ndarray, req: ListRequest,
          since: set[str], shown: frozenset[str] = frozenset(), waiting: frozenset[str] = frozenset(),
          bought: frozenset[int] = frozenset()) -> list[dict]:
    """Request-time filters over a ranked candidate list, straight to response items; `waiting`
    items, then recently shown items, go behind the rest first (so the category cap applies to the
    final order); `bought` item codes are flagged as repeats.

    Without a category cap this walks the list in Python and stops at n: the same items as
    `finish` then `items_of`, without a dozen array operations per list.
    """
    ids, scores = behind(current, ids, scores, waiting, shown)
    if req.max_per_category is not None:
        return items_of(current, *finish(current, ids, scores, req, since), req.fields, bought)
    exclude = req.exclude | since if since else req.exclude
    skip: set[int] = set()
    if exclude:
        codes = lookup(current.model.item_ids, list(exclude))
        skip = set(codes[codes >= 0].tolist())
    allowed = current.allowed_bytes(req.kind, req.category, req.in_stock_only)
    names, kinds, categories = current.item_fields()
    display = current.display_columns(req.fields) if req.fields else None
    items: list[dict] = []
    n = req.n
    head = 2 * n + len(skip)  # enough unless the filters are strict; then walk the rest too
    for i, s in walk(ids, scores, head):
        # the checks filter_ranked makes: a real index, a finite score, allowed, not excluded
        if i < 0 or not allowed[i] or not -1e30 < s < _INF or i in skip:
            continue
        item = {"item_id": names[i], "score": round(s, SCORE_DECIMALS), "kind": kinds[i], "category": categories[i]}
        if bought and i in bought:
            item["repeat"] = True
        if display:
            for name, values in display:
                item[name] = values[i]
        items.append(item)
        if len(items) == n:
            break
    return items


def finish(current: ServingModel, ids: np.ndarray, scores: np.ndarray, req: ListRequest,
            since: set[str]) -> tuple[np.ndarray, np.ndarray]:
    """Request-time filters over a ranked candidate list."""
    exclude = req.exclude | since if since else req.exclude
    if exclude:
        codes = lookup(current.model.item_ids, list(exclude))
        codes = codes[codes >= 0]
        if len(codes):
            keep = ~np.isin(ids, codes)
            ids, scores = ids[keep], scores[keep]
    mask = current.base_mask(req.kind, req.category, req.in_stock_only)
    return filter_ranked(ids, scores, mask, current.model.attrs.category,
                         ItemFilter(max_per_category=req.max_per_category), req.n)


def ranked(current: ServingModel, ids: np.ndarray, scores: np.ndarray, shown: frozenset[str],
            n: int, fields: tuple[str, ...] = (), waiting: frozenset[str] = frozenset(),
            bought: frozenset[int] = frozenset()) -> list[dict]:
    """A list already filtered (and capped) by the model, waiting then shown items demoted, cut to n."""
    keep = ids >= 0
    ids, scores = behind(current, ids[keep], scores[keep], waiting, shown)
    return items_of(current, ids[:n], scores[:n], fields, bought)


def behind(current: ServingModel, ids: np.ndarray, scores: np.ndarray, waiting: frozenset[str],
           shown: frozenset[str]) -> tuple[np.ndarray, np.ndarray]:
    """`waiting` items behind the others, then shown items behind the unshown (each group in its order)."""
    if waiting:
        ids, scores = demote(ids, scores, codes_of(current, waiting))
    if shown:
        ids, scores = demote(ids, scores, codes_of(current, shown))
    return ids, scores


def codes_of(current: ServingModel, item_ids: frozenset[str]) -> np.ndarray:
    codes = lookup(current.model.item_ids, list(item_ids))
    return codes[codes >= 0]


def items_of(current: ServingModel, ids: np.ndarray, scores: np.ndarray, fields: tuple[str, ...] = (),
             bought: frozenset[int] = frozenset()) -> list[dict]:
    """Response items of model item indices (negative ones skipped): `bought` codes flagged as repeats, and
    the catalog `fields` asked for."""
    names, kinds, categories = current.item_fields()
    items = []
    display = current.display_columns(fields) if fields else ()
    for i, s in zip(ids.tolist(), scores.tolist()):
        if i >= 0:
            item = {"item_id": names[i], "score": round(s, SCORE_DECIMALS), "kind": kinds[i], "category": categories[i]}
            if bought and i in bought:
                item["repeat"] = True
            for name, values in display:
                item[name] = values[i]
            items.append(item)
    return items


def full_filter(current: ServingModel, req: ListRequest, since: Set[str] = frozenset()) -> ItemFilter:
    """The request's filters, plus the user's since-training items and the items taken out of the
    catalog: for the model's own filtered ranking (recommend, popular, similar, the retention blocks)."""
    return ItemFilter(kind=req.kind, category=req.category, in_stock_only=req.in_stock_only,
                      exclude=frozenset(req.exclude | since | current.removed),
                      max_per_category=req.max_per_category)


def walk(ids: np.ndarray, scores: np.ndarray, head: int):
    """(index, score) pairs in rank order, converting the first `head` and the rest only if reached."""
    yield from zip(ids[:head].tolist(), scores[:head].tolist())
    if len(ids) > head:
        yield from zip(ids[head:].tolist(), scores[head:].tolist())


def add_reasons(current: ServingModel, user_ids: Sequence[str], codes: np.ndarray | None,
                results: Sequence[ListResult | None], histories: Mapping[int, dict[str, float]]) -> None:
    """Add `because` (recommender.explain, REASONS per item) to every item of the final lists, in place (CPU
    work: a worker thread, explain=true only); `codes` are the users' codes in the model or None, `histories` the
    events of folded-in users by position:
    known users from their training row, folded-in users from their events, fallback none."""
    model = current.model
    if codes is None:
        codes = lookup(model.user_ids, user_ids)
    for pos, result in enumerate(results):
        if result is None or not result.items:
            continue
        basis = int(codes[pos]) if codes[pos] >= 0 else histories.get(pos)
        if basis is None or result.source == FALLBACK:
            reasons: list[list[str]] = [[] for _ in result.items]
        else:
            item_codes = lookup(model.item_ids, [item["item_id"] for item in result.items])
            reasons = because(model, basis, item_codes, REASONS)
        for item, why in zip(result.items, reasons):
            item["because"] = why
