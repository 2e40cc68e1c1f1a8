"""The bounded in-process copy of the hot precomputed lists, by their Redis key."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from service.store.lists import unpack

#: Bytes an in-process entry costs besides its blob and key (two array headers, a tuple, dict slot).
ENTRY_OVERHEAD = 320


class HotLists:
    """Unpacked lists by their Redis key, least recently used evicted first, at most `max_bytes`.

    Keys carry the model version, so an entry can never answer for another model; lists under a
    version never change (a miss computed twice gives the same list), so entries need no expiry.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[str, tuple[np.ndarray, np.ndarray, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> tuple[np.ndarray, np.ndarray] | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        self._entries.move_to_end(key)
        return entry[0], entry[1]

    def put(self, key: str, blob: bytes) -> tuple[np.ndarray, np.ndarray]:
        ids, scores = unpack(blob)
        size = len(blob) + len(key) + ENTRY_OVERHEAD
        if size > self.max_bytes:
            return ids, scores
        old = self._entries.pop(key, None)
        if old is not None:
            self.bytes -= old[2]
        self._entries[key] = (ids, scores, size)
        self.bytes += size
        while self.bytes > self.max_bytes:
            _, (_, _, freed) = self._entries.popitem(last=False)
            self.bytes -= freed
        return ids, scores

    def clear(self) -> None:
        self._entries.clear()
        self.bytes = 0
