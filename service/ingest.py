"""Ingestion: validate a whole request of events or catalog items before anything is written
(service.store.events and service.store.catalog write them).

Nothing partial is ever written: one bad record rejects the request, with a BadInput that names its
index and field (service.errors; the HTTP layer makes it a 400).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from recommender.catalog import CATALOG_COLUMNS, Catalog
from recommender.errors import InputError
from recommender.events import (
    EVENT_COLUMNS,
    EVENT_TYPES,
    MAX_PRICE,
    MAX_QUANTITY,
    MAX_REVIEW_VALUE,
    MAX_VALUE,
    ORDER_TYPES,
    EventTable,
)
from recommender.ids import MAX_ID_BYTES, id_problem
from recommender.times import check_timestamps
from service.errors import BadInput, bad_input

MAX_EVENTS = 10_000
MAX_ITEMS = 10_000
_TYPE_CODES = {name: code for code, name in enumerate(EVENT_TYPES)}
_REVIEW = EVENT_TYPES.index("review")
_EXACT = 2 ** 53  # integers beyond this do not convert to float64 the same way everywhere


@dataclass
class EventBatch:
    """A validated request: the events, and the client's event_id and the recommendation_id they
    answer for each (None: not given)."""

    events: EventTable
    event_ids: list[str | None] | None = None  # None when no event in the request carries one
    recommendation_ids: list[str | None] | None = None  # likewise


def parse_batch(payload: object, now: float | None = None) -> EventBatch:
    """JSON (one event object or a list) to an EventBatch; BadInput naming index and field, a timestamp
    outside the plausible range (recommender.times: 1990 to `now` + 1 day) included. `now` (epoch
    seconds, default the clock) is the timestamp of events that give none."""
    events = json_records(payload, "event", MAX_EVENTS)
    for index, event in enumerate(events):
        for name in ("user_id", "item_id", "type"):
            if not isinstance(event.get(name), str):
                raise bad_input(f"events[{index}].{name} is required and must be a string", "invalid_event",
                                  index=index, field=name)
        stamp = event.get("timestamp")
        if stamp is not None and (isinstance(stamp, bool) or not isinstance(stamp, (int, float, str))):
            raise bad_input(f"events[{index}].timestamp must be ISO 8601 or epoch seconds", "invalid_event",
                              index=index, field="timestamp")
        value = event.get("value")
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise bad_input(f"events[{index}].value must be a number", "invalid_event", index=index,
                              field="value")
    event_ids = _optional_ids(events, "event_id")
    recommendation_ids = _optional_ids(events, "recommendation_id")
    order_data = _order_data(events)
    default_timestamp = time.time() if now is None else now
    table = _plain_table(events, default_timestamp)
    try:
        if table is None:
            frame = pd.DataFrame({c: [e.get(c) for e in events] for c in EVENT_COLUMNS}, dtype=object)
            table = EventTable.from_frame(frame, default_timestamp=default_timestamp)
        check_timestamps(table.timestamps, now=default_timestamp)
    except InputError as exc:
        raise located(exc, "event") from None
    # a time after the clock (a store's clock ahead of ours, by up to the day check_timestamps allows) is stored as
    # the time received: the event cannot have happened later, and would stay out of every "until now" count
    np.minimum(table.timestamps, default_timestamp, out=table.timestamps)
    table.prices, table.quantities, table.order_ids = order_data
    return EventBatch(table, event_ids, recommendation_ids)


_ORDER_TYPES = frozenset(ORDER_TYPES)


def _order_data(events: list[dict]) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """The optional `price`, `quantity` and `order_id` of every event, as EventTable's order columns (None
    when no event has one); BadInput naming the event and field. The rules are recommender.events'
    (parse_order_columns), for JSON values: a price is a number from 0 to MAX_PRICE, a quantity an integer
    from 1 to MAX_QUANTITY, an order id an id, and only add_to_cart and purchase events carry them."""
    prices: list[float] | None = None
    quantities: list[int] | None = None
    order_ids: list[str | None] | None = None
    n = len(events)
    for index, event in enumerate(events):
        price, quantity, order_id = event.get("price"), event.get("quantity"), event.get("order_id")
        if price is None and quantity is None and order_id is None:
            continue
        if event["type"] not in _ORDER_TYPES and event["type"] in _TYPE_CODES:  # an unknown type: its own 400
            field = "price" if price is not None else "quantity" if quantity is not None else "order_id"
            raise bad_input(f"events[{index}].{field} is only for {' and '.join(ORDER_TYPES)} events",
                            "invalid_event", index=index, field=field)
        if price is not None:
            kind = type(price)  # exactly int or float: a bool is an int, and not a price
            if not ((kind is float or kind is int) and 0 <= price <= MAX_PRICE):  # NaN fails the range too
                raise bad_input(f"events[{index}].price must be a number from 0 to {MAX_PRICE:g} (the unit price)",
                                "invalid_event", index=index, field="price")
            if prices is None:
                prices = [math.nan] * n
            prices[index] = float(price)
        if quantity is not None:
            if type(quantity) is not int or not 1 <= quantity <= MAX_QUANTITY:
                raise bad_input(f"events[{index}].quantity must be an integer from 1 to {MAX_QUANTITY}",
                                "invalid_event", index=index, field="quantity")
            if quantities is None:
                quantities = [1] * n
            quantities[index] = quantity
        if order_id is not None:
            if not (isinstance(order_id, str) and _valid_id(order_id)):
                raise bad_input(f"events[{index}].order_id must be a non-empty string of at most {MAX_ID_BYTES} "
                                "bytes without control characters", "invalid_event", index=index, field="order_id")
            if order_ids is None:
                order_ids = [None] * n
            order_ids[index] = order_id
    return (None if prices is None else np.array(prices, dtype=np.float64),
            None if quantities is None else np.array(quantities, dtype=np.int32),
            None if order_ids is None else np.array(order_ids, dtype=object))


def _optional_ids(events: list[dict], field: str) -> list[str | None] | None:
    """An optional id field of every event (the client's `event_id` that makes a retried request
    safe, the `recommendation_id` a click answers); 400 for one that is not an id."""
    ids = [event.get(field) for event in events]
    if ids.count(None) == len(ids):
        return None
    for index, value in enumerate(ids):
        if value is not None and not (isinstance(value, str) and _valid_id(value)):
            raise bad_input(f"events[{index}].{field} must be a non-empty string of at most {MAX_ID_BYTES} "
                              "bytes without control characters", "invalid_event", index=index, field=field)
    if field == "event_id":
        _one_event_each(events, ids)
    return ids


def _one_event_each(events: list[dict], event_ids: list[str | None]) -> None:
    """400 when a request gives one event_id to two different events: the second would be taken for a retry of
    the first and dropped (an event id is the store's idempotency key for one event). An exact copy is a retry,
    counted as a duplicate."""
    first: dict[str, int] = {}
    for index, value in enumerate(event_ids):
        if value is None:
            continue
        earlier = first.setdefault(value, index)
        if earlier != index and events[index] != events[earlier]:
            raise bad_input(f"events[{index}].event_id {value!r} is also events[{earlier}]'s, a different event: "
                            "each event needs an id of its own", "invalid_event", index=index, field="event_id")


def _valid_id(value: str) -> bool:
    return id_problem(value) is None


def _number(value: object) -> float | None:
    """A JSON int or float as float64, None when it is not one or would not convert exactly."""
    kind = type(value)
    if kind is float:
        return value if math.isfinite(value) else None  # type: ignore[return-value]
    if kind is int and -_EXACT <= value <= _EXACT:  # type: ignore[operator]
        return float(value)  # type: ignore[arg-type]
    return None


def _plain_table(events: list[dict], default_timestamp: float) -> EventTable | None:
    """What EventTable.from_frame builds from these events, without pandas, when every event is
    plainly valid: ids fine, a known type, the timestamp absent or epoch seconds, the value
    absent or a number. None otherwise: the pandas path then parses ISO 8601 dates and names
    the first bad event exactly as before. (For 500 events this is ten times faster.)
    """
    n = len(events)
    users: list[str] = [""] * n
    items: list[str] = [""] * n
    types = np.empty(n, dtype=np.int8)
    stamps = np.empty(n, dtype=np.float64)
    values = np.empty(n, dtype=np.float64)
    for k, event in enumerate(events):
        user, item, code = event["user_id"], event["item_id"], _TYPE_CODES.get(event["type"])
        if code is None or not _valid_id(user) or not _valid_id(item):
            return None
        stamp, value = event.get("timestamp"), event.get("value")
        stamp = default_timestamp if stamp is None else _number(stamp)
        value = (None if code == _REVIEW else 1.0) if value is None else _number(value)  # a review needs a rating
        if stamp is None or value is None:
            return None
        users[k], items[k], types[k], stamps[k], values[k] = user, item, code, stamp, value
    if not (np.abs(values) <= MAX_VALUE).all():  # would overflow float32: the pandas path names the event
        return None
    single = values.astype(np.float32)
    if ((types == _REVIEW) & ((single < 0) | (single > MAX_REVIEW_VALUE))).any():
        return None
    return EventTable(np.array(users, dtype=object), np.array(items, dtype=object), types, stamps, single)


#: JSON types of the item fields (the library then checks values); created_at and price are numbers, not booleans.
_ITEM_FIELD_TYPES = (("kind", (str,)), ("category", (str,)), ("title", (str,)), ("in_stock", (bool,)),
                     ("created_at", (int, float, str)), ("price", (int, float)), ("currency", (str,)),
                     ("url", (str,)), ("image_url", (str,)), ("brand", (str,)), ("attributes", (dict,)))
_NUMBERS = ("created_at", "price")


def parse_items(payload: object) -> Catalog:
    """A JSON list of item objects to a validated Catalog; BadInput naming index and field."""
    items = json_records(payload, "item", MAX_ITEMS)
    for index, item in enumerate(items):
        if not isinstance(item.get("item_id"), str):
            raise bad_input(f"items[{index}].item_id is required and must be a string", "invalid_item",
                            index=index, field="item_id")
        for name, kinds in _ITEM_FIELD_TYPES:
            value = item.get(name)
            if value is not None and (not isinstance(value, kinds) or (name in _NUMBERS and isinstance(value, bool))):
                raise bad_input(f"items[{index}].{name} has the wrong type", "invalid_item", index=index,
                                field=name)
    frame = pd.DataFrame({c: [i.get(c) for i in items] for c in CATALOG_COLUMNS}, dtype=object)
    try:
        return Catalog.from_frame(frame, check_times=True)
    except InputError as exc:
        raise located(exc, "item") from None


def json_records(payload: object, noun: str, limit: int) -> list[dict]:
    """A JSON body of one object or a list of 1..limit objects, as a list; BadInput otherwise.

    Error codes are `invalid_body`, `too_many_<noun>s` and `invalid_<noun>` (with the index).
    """
    records = [payload] if isinstance(payload, dict) else payload
    if not isinstance(records, list):
        raise bad_input(f"body must be an {noun} object or a list of {noun} objects", "invalid_body")
    if not records:
        raise bad_input(f"no {noun}s in the request", "invalid_body")
    if len(records) > limit:
        raise bad_input(f"at most {limit} {noun}s per request, got {len(records)}", f"too_many_{noun}s")
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise bad_input(f"{noun}s[{index}] must be an object", f"invalid_{noun}", index=index)
    return records


def located(exc: InputError, noun: str) -> BadInput:
    """The library's validation error as BadInput naming the record and field, e.g. events[3].type (the file
    reader's "at row N" left out: the prefix says where, in the request's terms)."""
    where = f"{noun}s" if exc.row is None else f"{noun}s[{exc.row}]" + (f".{exc.field}" if exc.field else "")
    message = str(exc) if exc.row is None else str(exc).replace(f" at row {exc.row}", "")
    return bad_input(f"{where}: {message}", f"invalid_{noun}", index=exc.row, field=exc.field)
