"""Child processes that must not outlive their parent (training runs, serving workers)."""

from __future__ import annotations

import ctypes
import signal

_PR_SET_PDEATHSIG = 1


def signal_on_parent_death(sig: signal.Signals) -> None:
    """Have the kernel send `sig` to this process when its parent dies (Linux; a no-op elsewhere)."""
    try:
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, sig)
    except (OSError, AttributeError):  # not Linux
        pass
