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
    A list put in with `keep` is unpacked when it is first read.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        # key -> [the unpacked lists or None until first read, the blob, the entry's size]
        self._entries: OrderedDict[str, list] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> tuple[np.ndarray, np.ndarray] | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        self._entries.move_to_end(key)
        if entry[0] is None:
            entry[0] = unpack(entry[1])
        return entry[0]

    def put(self, key: str, blob: bytes) -> tuple[np.ndarray, np.ndarray]:
        """Keep `blob`'s list under `key` and return it unpacked."""
        lists = unpack(blob)
        self._store(key, blob, lists)
        return lists

    def keep(self, key: str, blob: bytes) -> None:
        """Keep `blob`'s list under `key`, unpacked only if it is read."""
        self._store(key, blob, None)

    def _store(self, key: str, blob: bytes, lists: tuple[np.ndarray, np.ndarray] | None) -> None:
        size = len(blob) + len(key) + ENTRY_OVERHEAD
        if size > self.max_bytes:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self.bytes -= old[2]
        self._entries[key] = [lists, blob, size]
        self.bytes += size
        while self.bytes > self.max_bytes:
            _, (_, _, freed) = self._entries.popitem(last=False)
            self.bytes -= freed

    def clear(self) -> None:
        self._entries.clear()
        self.bytes = 0
