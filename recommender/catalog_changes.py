"""Past catalog writes (an item going out of stock, a price change), kept as a file so a store's stock and price
history can be replayed into a fresh service (the demo: service.training.job's bootstrap).

The file is JSON lines, one write per line, oldest first: `{"changed_at": epoch seconds, "items": [catalog
records as Catalog.to_jsonl writes them]}`; each write replaces the items it lists, like PUT /v1/items.
"""

from __future__ import annotations

import json
from pathlib import Path

from recommender.catalog import Catalog
from recommender.errors import InputError


def write_catalog_changes(changes: list[tuple[float, Catalog]], path: str | Path) -> None:
    """Write `changes` ((epoch seconds, the items written then), oldest first) to `path`."""
    with open(path, "w", encoding="utf-8") as out:
        for at, catalog in changes:
            items = [json.loads(line) for line in catalog.to_jsonl().decode().splitlines()]
            out.write(json.dumps({"changed_at": float(at), "items": items}) + "\n")


def read_catalog_changes(path: str | Path) -> list[tuple[float, Catalog]]:
    """The writes of a file `write_catalog_changes` made, oldest first.

    Raises
    ------
    InputError
        A line is not such a write (its line number given), or the writes are not in time order.
    """
    out: list[tuple[float, Catalog]] = []
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                at, items = float(record["changed_at"]), record["items"]
                catalog = Catalog.from_jsonl("\n".join(json.dumps(i) for i in items).encode())
            except (ValueError, KeyError, TypeError) as exc:
                raise InputError(f"{path}: line {number} is not a catalog write: {exc}") from None
            if out and at < out[-1][0]:
                raise InputError(f"{path}: line {number} is older than the line before it")
            out.append((at, catalog))
    return out
