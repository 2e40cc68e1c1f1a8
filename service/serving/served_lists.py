"""The last answer to each hot (list, request) pair, so a page that asks again gets it without
filtering the list and building its items again.

An answer depends on the model version (the cache is emptied when a new model is served), the
request (part of the key), the catalog (its generation must match), the user's since-training
events and recent impressions (the very `UserState` object service.store.mirror holds: a
change to that user replaces the object) and the clock (an impression leaving the fatigue
window changes the order, so an entry lasts until the first one does). Anything else a request
sees is fixed for a model version.

An answer is kept as its items' JSON (one bytes object, embedded in the response as it is), not
as ten item dicts: tens of thousands of small long-lived objects churned by the LRU pinned the
allocator's arenas between the batch route's large transient responses, and the service's RSS
after the serving benchmark rose from 319 to 372 MiB (483 MiB after three rounds).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Mapping
from typing import NamedTuple

import orjson

from recommender.units import SECONDS_PER_DAY
from service.encoding import dumps

FOREVER = float("inf")


class Remembered(NamedTuple):
    """A remembered answer: its items as JSON, and how many there are (for the online tally)."""

    items: orjson.Fragment
    count: int


class _Entry(NamedTuple):
    answer: Remembered
    state: object  # compared by identity, and kept alive here so its id cannot be reused
    generation: int
    until: float


class ServedLists:
    """Bounded LRU of final item lists, kept encoded."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries

    def get(self, key: Hashable, state: object, generation: int, now: float) -> Remembered | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.state is not state or entry.generation != generation or now >= entry.until:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry.answer

    def put(self, key: Hashable, state: object, generation: int, until: float, items: list[dict]) -> Remembered:
        """Remember `items` as the answer to `key` and return it encoded (the response can embed it as it is)."""
        # a copy: orjson's own bytes object keeps its 4 KiB working buffer (783 bytes for ten items)
        return self.put_encoded(key, state, generation, until, memoryview(dumps(items)).tobytes(), len(items))

    def put_encoded(self, key: Hashable, state: object, generation: int, until: float, items: bytes,
                    count: int) -> Remembered:
        """Remember `items`, `count` items already encoded as a JSON array, as the answer to `key`."""
        answer = Remembered(orjson.Fragment(items), count)
        self._entries[key] = _Entry(answer, state, generation, until)
        self._entries.move_to_end(key)
        if len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return answer

    def clear(self) -> None:
        self._entries.clear()


def fatigue_until(shown: Mapping[str, float], now: float, days: float) -> float:
    """When the first impression now inside the fatigue window leaves it (recommender.retention.fatigue):
    until then the set of recently shown items, and so the answer, stays the same."""
    if not shown or days <= 0:
        return FOREVER
    window = days * SECONDS_PER_DAY
    return min((at + window for at in shown.values() if at + window >= now), default=FOREVER)
