"""Stable, bidirectional maps between external string ids and matrix row/column indices.

A code is an id's position in the map (int64, 0-based); -1 means "not in the map". Maps only grow
by appending, so a code, once given, keeps naming the same id (model artifacts, precomputed lists
and the service's caches rely on it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np
import pandas as pd

from recommender.errors import InputError

MAX_ID_BYTES = 256
#: What no id may hold: C0 controls, DEL and C1 controls (U+0080 to U+009F); they break storage, logs and CSV.
CONTROL_CHARS = r"[\x00-\x1f\x7f-\x9f]"
_CONTROL = re.compile(CONTROL_CHARS)
_SURROGATE = re.compile("[\ud800-\udfff]")


def id_problem(value: str) -> str | None:
    """What is wrong with one id (a user, item or event id), or None when it is a good one: empty, only
    whitespace, a control character (CONTROL_CHARS), longer than MAX_ID_BYTES bytes in UTF-8, or a lone
    surrogate (not valid Unicode text). The same rule as `validate_ids`, for one value."""
    if not value or value.isspace():
        return "is empty or only whitespace"
    if _CONTROL.search(value):
        return "contains control characters"
    if value.isascii():
        return None if len(value) <= MAX_ID_BYTES else f"is longer than {MAX_ID_BYTES} bytes"
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        return "is not valid Unicode text (a lone surrogate)"
    return None if size <= MAX_ID_BYTES else f"is longer than {MAX_ID_BYTES} bytes"


def validate_ids(values: pd.Series, field: str, rows: np.ndarray | None = None) -> None:
    """Reject empty, over-long or control-character ids (they would break storage and logs), and ids
    that are not valid Unicode text (a lone surrogate, which JSON's \\ud800 escapes can carry).

    Parameters
    ----------
    values : pandas.Series
        The ids of one input column, in row order.
    field : str
        The column's name, for the error.
    rows : numpy.ndarray, optional
        int, shape (len(values),): the row number of each value (for a column checked only where it
        is set), used in the error; by default a value's position is its row.

    Raises
    ------
    InputError
        The first bad row: a missing, empty or whitespace-only id, one longer than MAX_ID_BYTES bytes in
        UTF-8, one holding a control character (CONTROL_CHARS) or a lone surrogate; `row` and `field`
        name it.
    """
    surrogate = _lone_surrogates(values)  # before astype(str): Arrow-backed strings cannot hold one
    if surrogate.any():
        row = int(np.flatnonzero(surrogate)[0])
        row = row if rows is None else int(rows[row])
        raise InputError(f"{field} at row {row} is not valid Unicode text (a lone surrogate)", row, field)
    as_str = values.astype(str)

    def first(bad: pd.Series) -> int:
        position = int(np.flatnonzero(bad.to_numpy())[0])
        return position if rows is None else int(rows[position])

    bad = as_str.str.strip().eq("") | values.isna()
    if bad.any():
        row = first(bad)
        raise InputError(f"{field} is empty or only whitespace at row {row}", row, field)
    too_long = as_str.str.encode("utf-8").str.len() > MAX_ID_BYTES
    if too_long.any():
        row = first(too_long)
        raise InputError(f"{field} at row {row} is longer than {MAX_ID_BYTES} bytes", row, field)
    control = as_str.str.contains(CONTROL_CHARS, regex=True)
    if control.any():
        row = first(control)
        raise InputError(f"{field} at row {row} contains control characters", row, field)


def _lone_surrogates(values: pd.Series) -> np.ndarray:
    """bool, shape (len(values),): which values are Python strings holding a lone surrogate (U+D800 to
    U+DFFF). Strings stored by Arrow (pandas' str dtype with pyarrow installed) are valid UTF-8 and
    cannot hold one, and pyarrow refuses a pattern that names them, so only Python strings are searched."""
    if getattr(values.dtype, "storage", None) == "pyarrow":
        return np.zeros(len(values), dtype=bool)
    return np.fromiter((isinstance(v, str) and not v.isascii() and _SURROGATE.search(v) is not None
                        for v in values.to_numpy(dtype=object)), dtype=bool, count=len(values))


class IdMap:
    """Ids in index order; new ids are appended so existing indices never move.

    Parameters
    ----------
    ids : iterable of str
        The ids, code 0 first; they must be distinct (not checked).
    """

    def __init__(self, ids: Iterable[str] = ()) -> None:
        self._ids = np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids, dtype=object)
        self._index: pd.Index | None = None

    @classmethod
    def from_values(cls, values: np.ndarray | pd.Series) -> tuple[IdMap, np.ndarray]:
        """Map values to codes, with ids sorted so the same data always gives the same map.

        Returns
        -------
        (IdMap, numpy.ndarray)
            The map of the distinct values, and int64 codes of `values`, shape (len(values),).
        """
        return cls().extend(values)

    def extend(self, values: np.ndarray | pd.Series) -> tuple[IdMap, np.ndarray]:
        """Return a map that also knows the new values, and the codes of all values.

        Parameters
        ----------
        values : numpy.ndarray or pandas.Series
            Ids, shape (n,); duplicates allowed.

        Returns
        -------
        (IdMap, numpy.ndarray)
            This map when every value is known, else a new map with the unknown values appended
            (sorted); and int64 codes of `values` in it, shape (n,).
        """
        codes = self.lookup(values)
        unknown = codes < 0
        if not unknown.any():
            return self, codes
        new_ids = np.asarray(pd.unique(np.asarray(values, dtype=object)[unknown]), dtype=object)
        new_ids.sort()
        grown = IdMap(np.concatenate([self._ids, new_ids]))
        return grown, grown.lookup(values)

    def lookup(self, values: np.ndarray | pd.Series | list[str]) -> np.ndarray:
        """Codes of values, -1 where a value is unknown (vectorised hash look-up).

        Parameters
        ----------
        values : array-like of str
            Shape (n,).

        Returns
        -------
        numpy.ndarray
            int64, shape (n,).
        """
        if len(self._ids) == 0:
            return np.full(len(values), -1, dtype=np.int64)
        return self.index.get_indexer(np.asarray(values, dtype=object)).astype(np.int64)

    def get(self, value: str) -> int | None:
        """The code of one id, or None when it is not in the map."""
        code = int(self.lookup([value])[0])
        return None if code < 0 else code

    @property
    def index(self) -> pd.Index:
        """The ids as a pandas Index (built on first use): the hash table look-ups go through."""
        if self._index is None:
            self._index = pd.Index(self._ids, dtype=object)
        return self._index

    @property
    def ids(self) -> np.ndarray:
        """object array of str, shape (len(self),): the id of each code."""
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
        """Newline-joined UTF-8; ids never contain control characters, so this is lossless (`from_bytes`)."""
        return "\n".join(map(str, self._ids)).encode("utf-8")

    @classmethod
    def from_bytes(cls, blob: bytes) -> IdMap:
        """The map `to_bytes` wrote (b"" is the empty map)."""
        return cls(blob.decode("utf-8").split("\n") if blob else [])
