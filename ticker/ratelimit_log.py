"""A logger wrapper that caps repeated records, so that a flood of bad clients cannot flood the log."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class RateLimitedLog:
    """Log at most ``burst`` records per kind in each ``interval`` seconds.

    Records past the cap are counted, and the first record of the kind in a later interval
    reports how many were suppressed. Kinds are a small fixed set chosen by the caller (such as
    ``"unauthorized"``), never client input, so the per-kind state stays bounded.
    """

    def __init__(
        self,
        logger: logging.Logger,
        interval: float = 60.0,
        burst: int = 10,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.interval = interval
        self.burst = burst
        self.clock = clock
        self._windows: dict[str, tuple[float, int, int]] = {}
        """Per kind: start of the current interval, records logged in it, records suppressed."""

    def log(self, level: int, kind: str, message: str, *args: object) -> None:
        """Log ``message % args`` at ``level`` unless ``kind`` has reached its cap."""
        now = self.clock()
        start, logged, suppressed = self._windows.get(kind, (now, 0, 0))
        if now - start >= self.interval:
            start, logged = now, 0
        if logged >= self.burst:
            self._windows[kind] = (start, logged, suppressed + 1)
            return
        if suppressed:
            message += " (%d similar records suppressed)"
            args = (*args, suppressed)
        self._windows[kind] = (start, logged + 1, 0)
        self.logger.log(level, message, *args)
