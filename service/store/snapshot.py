"""The persisted interaction snapshot: every event folded so far, and the stream position it reached.

Training folds the Redis stream into this file, fsyncs it, and only then trims the stream,
so an accepted event is always in the stream, the snapshot, or both. Order data (prices, quantities,
order ids) is stored only when some event has it; snapshots written before it existed load without it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recommender.events import EventTable
from recommender.ids import IdMap
from service.store.events.stream import StreamCursor


@dataclass
class Snapshot:
    """Every event folded so far, and where in the stream folding stopped.

    Attributes
    ----------
    events : EventTable
    cursor : StreamCursor
        The newest stream entry folded in, and the stream's generation (an emptied and restarted
        stream has a new one).
    """

    events: EventTable
    cursor: StreamCursor = StreamCursor()  # the newest stream entry folded in, and the stream's generation

    @property
    def last_id(self) -> str:
        """The newest stream id folded in ("0-0" before the first fold)."""
        return self.cursor.last_id


def load_snapshot(path: Path) -> Snapshot | None:
    """The snapshot at `path`, or None when there is no file yet.

    Raises
    ------
    OSError, ValueError, KeyError
        The file cannot be read or is not a snapshot .npz (a torn write cannot happen: saves are atomic).
    """
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as data:
        n = len(data["types"])
        order_ids = None
        if "order_ids" in data.files:  # newline-joined, "" where an event has none (ids are never empty)
            order_ids = np.asarray(IdMap.from_bytes(data["order_ids"].tobytes()).ids if n else np.zeros(0), object)
            order_ids[order_ids == ""] = None
        events = EventTable(
            user_ids=IdMap.from_bytes(data["user_ids"].tobytes()).ids if n else np.zeros(0, object),
            item_ids=IdMap.from_bytes(data["item_ids"].tobytes()).ids if n else np.zeros(0, object),
            types=data["types"], timestamps=data["timestamps"], values=data["values"],
            prices=data["prices"] if "prices" in data.files else None,
            quantities=data["quantities"] if "quantities" in data.files else None,
            order_ids=order_ids,
        )
        generation = str(data["generation"]) if "generation" in data.files else ""  # older snapshots lack it
        return Snapshot(events, StreamCursor(str(data["last_id"]), generation or None))


def save_snapshot(snapshot: Snapshot, path: Path) -> None:
    """Write `snapshot` to `path`, atomically and durably: a temporary file in the same directory,
    fsynced, then renamed over `path` (parent directories are created).

    Raises
    ------
    OSError
        The file cannot be written.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    events = snapshot.events
    optional: dict[str, np.ndarray] = {}
    if events.prices is not None:
        optional["prices"] = events.prices
    if events.quantities is not None:
        optional["quantities"] = events.quantities
    if events.order_ids is not None:
        blob = IdMap(np.where(pd.isna(events.order_ids), "", events.order_ids)).to_bytes()
        optional["order_ids"] = np.frombuffer(blob, dtype=np.uint8)
    with open(tmp, "wb") as handle:
        np.savez(handle, user_ids=np.frombuffer(IdMap(events.user_ids).to_bytes(), dtype=np.uint8),
                 item_ids=np.frombuffer(IdMap(events.item_ids).to_bytes(), dtype=np.uint8),
                 types=events.types, timestamps=events.timestamps, values=events.values,
                 last_id=np.array(snapshot.cursor.last_id),
                 generation=np.array(snapshot.cursor.generation or ""), **optional)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
