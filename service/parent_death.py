"""Child processes that must not outlive their parent (training runs, serving workers, the embedded
redis-server)."""

from __future__ import annotations

import ctypes
import signal

_PR_SET_PDEATHSIG = 1
try:  # resolved once, here: a forked child about to exec should call it, not load a library
    _prctl = ctypes.CDLL(None).prctl
except (OSError, AttributeError):  # not Linux
    _prctl = None


def signal_on_parent_death(sig: signal.Signals) -> None:
    """Have the kernel send `sig` to this process when its parent dies (Linux; a no-op elsewhere).
    The setting survives exec, so it may be called between fork and exec (Popen's preexec_fn)."""
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, int(sig))
