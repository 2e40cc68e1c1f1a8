"""Stable, bidirectional maps between external string ids and matrix row/column indices."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from recommender.errors import InputError

MAX_ID_BYTES = 256
_CONTROL_CHARS = r"[\x00-\x1f\x7f]"
_SURROGATES = "[\ud800-\udfff]"


def validate_ids(values: pd.Series, field: str, rows: np.ndarray | None = None) -> None:
    """Reject empty, over-long or control-character ids (they would break storage and logs), and ids
    that are not valid Unicode text (a lone surrogate, which JSON's \\ud800 escapes can carry).

    `rows`, when given, is the row number of each value (for a column checked only where it is set),
    used in the error; by default a value's position is its row.
    """
    as_str = values.astype(str)

    def first(bad: pd.Series) -> int:
        position = int(np.flatnonzero(bad.to_numpy())[0])
        return position if rows is None else int(rows[position])

    bad = as_str.eq("") | values.isna()
    if bad.any():
        row = first(bad)
        raise InputError(f"{field} is empty at row {row}", row, field)
    surrogate = as_str.str.contains(_SURROGATES, regex=True)
    if surrogate.any():
        row = int(np.flatnonzero(surrogate.to_numpy())[0])
        raise InputError(f"{field} at row {row} is not valid Unicode text (a lone surrogate)", row, field)
    too_long = as_str.str.encode("utf-8").str.len() > MAX_ID_BYTES
    if too_long.any():
        row = first(too_long)
        raise InputError(f"{field} at row {row} is longer than {MAX_ID_BYTES} bytes", row, field)
    control = as_str.str.contains(_CONTROL_CHARS, regex=True)
    if control.any():
        row = first(control)
        raise InputError(f"{field} at row {row} contains control characters", row, field)


class IdMap:
    """Ids in index order; new ids are appended so existing indices never move."""

    def __init__(self, ids: Iterable[str] = ()) -> None:
        self._ids = np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids, dtype=object)
        self._index: pd.Index | None = None

    @classmethod
    def from_values(cls, values: np.ndarray | pd.Series) -> tuple[IdMap, np.ndarray]:
        """Map values to codes, with ids sorted so the same data always gives the same map."""
        return cls().extend(values)

    def extend(self, values: np.ndarray | pd.Series) -> tuple[IdMap, np.ndarray]:
        """Return a map that also knows the new values, and the codes of all values."""
        codes = self.lookup(values)
        unknown = codes < 0
        if not unknown.any():
            return self, codes
        new_ids = np.asarray(pd.unique(np.asarray(values, dtype=object)[unknown]), dtype=object)
        new_ids.sort()
        grown = IdMap(np.concatenate([self._ids, new_ids]))
        return grown, grown.lookup(values)

    def lookup(self, values: np.ndarray | pd.Series | list[str]) -> np.ndarray:
        """Codes of values, -1 where a value is unknown (vectorised hash look-up)."""
        if len(self._ids) == 0:
            return np.full(len(values), -1, dtype=np.int64)
        return self.index.get_indexer(np.asarray(values, dtype=object)).astype(np.int64)

    def get(self, value: str) -> int | None:
        code = int(self.lookup([value])[0])
        return None if code < 0 else code

    @property
    def index(self) -> pd.Index:
        if self._index is None:
            self._index = pd.Index(self._ids, dtype=object)
        return self._index

    @property
    def ids(self) -> np.ndarray:
        return self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def __getitem__(self, code: int) -> str:
        return str(self._ids[code])

    def __contains__(self, value: object) -> bool:
        return isinstance(value, str) and self.get(value) is not None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IdMap) and np.array_equal(self._ids, other._ids)

    def to_bytes(self) -> bytes:
        """Newline-joined UTF-8; ids never contain control characters, so this is lossless."""
        return "\n".join(map(str, self._ids)).encode("utf-8")

    @classmethod
    def from_bytes(cls, blob: bytes) -> IdMap:
        return cls(blob.decode("utf-8").split("\n") if blob else [])
