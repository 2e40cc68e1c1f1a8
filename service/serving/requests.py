"""What the read path is asked and what it answers: a list request (size and filters), a list result
(source and items, or an answer remembered from last time), and the id look-up they share."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import orjson

from recommender.ids import IdMap
from service.serving.served_lists import Remembered

#: Look-ups up to this many ids go through the hash table one by one (no array round trip).
SMALL_LOOKUP = 16


def lookup(ids: IdMap, values: Sequence[str]) -> np.ndarray:
    """Codes of `values` (-1 if unknown); IdMap.lookup, without its array overhead for a few ids."""
    if len(values) > SMALL_LOOKUP or len(ids) == 0:
        return ids.lookup(list(values))
    index = ids.index
    out = np.empty(len(values), dtype=np.int64)
    for k, value in enumerate(values):
        try:
            loc = index.get_loc(value)
        except (KeyError, TypeError):
            loc = -1
        out[k] = loc if isinstance(loc, (int, np.integer)) else -1
    return out


@dataclass(frozen=True)
class ListRequest:
    """What a caller asked for: size and request-time filters."""

    n: int = 10
    kind: str | None = None
    category: str | None = None
    in_stock_only: bool = False
    exclude: frozenset[str] = frozenset()
    max_per_category: int | None = None
    explain: bool = False  # add `because` (the user's items behind each item) to personal lists
    fields: tuple[str, ...] = ()  # catalog fields embedded in each item (recommender.item_fields.DISPLAY_FIELDS)


@dataclass
class ListResult:
    source: str
    items: list[dict]
    remembered: Remembered | None = None  # an answer served from memory (items is then empty)
    #: (variant label `{version}@{experiment}/{variant}`, experiment, variant) when an experiment's variant served it
    variant: tuple[str, str, str] | None = None

    @property
    def count(self) -> int:
        return self.remembered.count if self.remembered is not None else len(self.items)

    @property
    def payload(self) -> list[dict] | orjson.Fragment:
        """The items for a response body (orjson embeds a remembered answer's JSON as it is)."""
        return self.remembered.items if self.remembered is not None else self.items
