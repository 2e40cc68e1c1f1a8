"""Events as the write scripts (service.store.events.write) take them: one row of strings per event, numbers
as Python's repr (so the stream holds exactly the floats parsed), what a click or purchase counts for, and
the KEYS indices of the seen and order keys the scripts check."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from recommender.events import EVENT_TYPES
from recommender.matrix import EventWeights, event_confidence
from service.ingest import EventBatch
from service.store.keys import Keys
from service.store.online import attribution

ATTRIBUTED = ("click", "purchase")  # the event types that count for the response they came from
NONE = "\x02"  # "none" in the scripts' fields: the field pattern skips empty ones
SEP = "\x1f"  # between fields; ids never hold control characters, so it is safe
ORDER_SEP = "\x18"  # between the parts of an event's order data field
_QUANTITY_TEXT = {q: str(q) for q in range(1, 100)}  # the quantities most events have, as text once


class EventRow(NamedTuple):  # a tuple, not a frozen dataclass: 500 rows a request, built field by field
    """One event as the scripts take it: numbers as Python's repr, so the stream holds exactly the
    floats parsed; `counts_for` is the `version|route` a click or purchase counts for; `price` the unit
    price sent (NONE: none), `quantity` its units, `order_key` the key that counts its order once."""

    user: str
    item: str
    kind: str
    stamp: str
    value: str
    weight: str
    event_id: str | None
    recommendation_id: str
    counts_for: str
    price: str = NONE
    quantity: str = "1"
    order_id: str = NONE
    order_key: str | None = None


def event_rows(batch: EventBatch, weights: EventWeights, now: float, online_days: float,
               keys: Keys) -> list[EventRow]:
    """A validated batch as script rows, in order; a click or purchase carrying one of our recent
    recommendation ids (service.store.online.attribution) gets what it counts for."""
    events = batch.events
    n = len(events)
    types = np.asarray(EVENT_TYPES, dtype=object)[events.types]
    confidence = event_confidence(events, EventWeights(**{**weights.to_dict(), "half_life_days": None}), 0.0)
    event_ids = batch.event_ids or [None] * n
    recommendation_ids = batch.recommendation_ids or [None] * n
    prices = [NONE if p != p else repr(p) for p in events.prices.tolist()] if events.prices is not None else None
    quantities = ([_QUANTITY_TEXT.get(q) or str(q) for q in events.quantities.tolist()]
                  if events.quantities is not None else None)
    orders = events.order_ids.tolist() if events.order_ids is not None else None
    rows = []
    priced = prices is not None or quantities is not None or orders is not None
    for k, (user, item, kind, stamp, value, weight, event_id, recommendation_id) in enumerate(zip(
            events.user_ids.tolist(), events.item_ids.tolist(), types.tolist(), events.timestamps.tolist(),
            events.values.tolist(), confidence.tolist(), event_ids, recommendation_ids)):
        counts_for = None
        if recommendation_id is not None and kind in ATTRIBUTED:
            counts_for = attribution(recommendation_id, now, online_days)
        rid = NONE if recommendation_id is None else recommendation_id
        if not priced:
            rows.append(EventRow(user, item, kind, repr(stamp), repr(value), repr(weight), event_id, rid,
                                 NONE if counts_for is None else counts_for))
            continue
        order_id = orders[k] if orders is not None else None
        rows.append(EventRow(
            user, item, kind, repr(stamp), repr(value), repr(weight), event_id, rid,
            NONE if counts_for is None else counts_for, prices[k] if prices is not None else NONE,
            quantities[k] if quantities is not None else "1", NONE if order_id is None else order_id,
            keys.order_seen(counts_for, order_id) if counts_for and order_id and kind == "purchase" else None))
    return rows


def order_key_slots(rows: list[EventRow], first: int) -> tuple[dict[str, int], list[int]]:
    """Order key -> its KEYS index, numbered from `first`, one per distinct attributed order; and each
    row's index (0: none)."""
    found: dict[str, int] = {}
    index = []
    for row in rows:
        index.append(0 if row.order_key is None else found.setdefault(row.order_key, first + len(found)))
    return found, index


def seen_key_slots(keys: Keys, rows: list[EventRow], first: int) -> tuple[dict[str, int], list[int]]:
    """Seen key -> its KEYS index, numbered from `first`, one per distinct client event id; and
    each row's index (0: no id)."""
    found: dict[str, int] = {}
    index = []
    for row in rows:
        if row.event_id is None:
            index.append(0)
        else:
            index.append(found.setdefault(keys.event_seen(row.event_id), first + len(found)))
    return found, index


def order_field(row: EventRow, order_key_slot: int) -> str:
    """An event's order data as one script field: NONE when it has none (so a plain event costs the scripts
    one field), else unit price, quantity, order id (NONE where not given) and its order key's KEYS index."""
    if row.price == NONE and row.quantity == "1" and row.order_id == NONE and not order_key_slot:
        return NONE
    return ORDER_SEP.join((row.price, row.quantity, row.order_id, str(order_key_slot)))
