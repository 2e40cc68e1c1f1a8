"""Background loops that run until told to stop: a stop event, never cancellation.

redis-py may turn a cancellation that arrives mid-command into a connection error, and a loop written to
survive Redis errors then goes on; `Task.cancel()` followed by `await task` waits forever. So each loop
waits on its stop event between rounds, and stopping means setting it and awaiting the round in progress.
"""

from __future__ import annotations

import asyncio
import contextlib


async def pause(stop: asyncio.Event, seconds: float) -> bool:
    """Wait `seconds`, or less if `stop` is set meanwhile; whether the loop should stop."""
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()
