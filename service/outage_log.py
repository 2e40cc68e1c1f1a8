"""Warnings that repeat while a dependency is down (every request fails the same way while Redis is away)
logged once per interval per message, with how many were left out, so an outage does not flood the log."""

from __future__ import annotations

import logging
import time
from collections import Counter

#: Seconds between two lines of one repeating warning.
EVERY_SECONDS = 10.0


class OutageLog:
    """`warning` as Logger.warning, at most once per `every` seconds per message template."""

    def __init__(self, logger: logging.Logger, every: float = EVERY_SECONDS) -> None:
        self.logger, self.every = logger, every
        self._last: dict[str, float] = {}
        self._left_out: Counter[str] = Counter()

    def warning(self, msg: str, *args: object) -> None:
        now = time.monotonic()
        last = self._last.get(msg)
        if last is not None and now - last < self.every:
            self._left_out[msg] += 1
            return
        self._last[msg] = now
        left_out = self._left_out.pop(msg, 0)
        if left_out:
            self.logger.warning(msg + " (%d more like it in the last %.0f s not logged)", *args, left_out, self.every)
        else:
            self.logger.warning(msg, *args)
