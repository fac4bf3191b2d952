"""Logging that cannot be flooded: a burst per kind of message, then a count of the rest.

A client that hammers a limit would otherwise write a log line per attempt. ``RateLimitedLog``
lets ``burst`` lines of one kind through per ``interval`` seconds and counts the others; the
next line of that kind that gets through says how many were suppressed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Window:
    started: float
    logged: int = 0
    suppressed: int = 0


class RateLimitedLog:
    def __init__(
        self,
        logger: logging.Logger,
        interval: float = 10.0,
        burst: int = 5,
        clock: Callable[[], float] = time.monotonic,
        max_kinds: int = 64,
    ):
        self.logger = logger
        self.interval = interval
        self.burst = burst
        self.clock = clock
        self.max_kinds = max_kinds
        self._windows: dict[str, _Window] = {}

    def log(self, level: int, kind: str, message: str, *args: object) -> None:
        """Log ``message % args`` at ``level`` unless ``kind`` used up its burst."""
        now = self.clock()
        window = self._windows.get(kind)
        if window is None or now - window.started >= self.interval:
            suppressed = window.suppressed if window is not None else 0
            if window is None and len(self._windows) >= self.max_kinds:
                self._windows.clear()  # kinds are few; this only bounds a misuse
            window = self._windows[kind] = _Window(started=now)
            if suppressed:
                message += " (%d similar messages suppressed)"
                args = (*args, suppressed)
        if window.logged >= self.burst:
            window.suppressed += 1
            return
        window.logged += 1
        self.logger.log(level, message, *args)

    def warning(self, kind: str, message: str, *args: object) -> None:
        self.log(logging.WARNING, kind, message, *args)
