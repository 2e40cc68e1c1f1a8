"""Sticky, deterministic assignment of customers to an experiment's variants, with no stored table.

A customer's position is the first 8 bytes of BLAKE2b (hashlib, digest size 8) of
`salt + "\\x1f" + user_id` (UTF-8), read as a big-endian unsigned integer and divided by 2**64: a
number in [0, 1) that every process, replica and restart computes alike (Python's own `hash()` is
salted per process, so it would not do). The variants own consecutive slices of [0, 1) in their
defined order, each as wide as its share. A new salt reshuffles everyone; the same salt keeps every
customer where they were, so a customer never switches variant while an experiment runs.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Sequence

import numpy as np

#: 2**64: the hash's range.
_SPAN = float(1 << 64)


def position(salt: str, user_id: str) -> float:
    """The customer's place in [0, 1) for this salt (see the module docstring)."""
    digest = hashlib.blake2b(f"{salt}\x1f{user_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SPAN


def bounds(shares: Sequence[float]) -> np.ndarray:
    """Upper ends of the variants' slices, float64 of shape (len(shares),); the last is exactly 1."""
    ends = np.cumsum(np.asarray(shares, dtype=np.float64))
    ends[-1] = 1.0
    return ends


def assign(salt: str, user_id: str, ends: Sequence[float]) -> int:
    """Index of the variant whose slice holds the customer (`ends` from `bounds`, or its values as a tuple:
    bisect on a tuple costs a fraction of numpy's per-call overhead on the hot path)."""
    return min(bisect.bisect_right(ends, position(salt, user_id)), len(ends) - 1)
