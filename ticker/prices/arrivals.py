"""When each symbol updates next: a random gap around the symbol's own mean interval.

Gaps are drawn from an exponential distribution, so the updates of one symbol form a Poisson
process: busy and quiet symbols tick at visibly different rates, and unevenly. The class is
pure: the random generator is passed in and the caller supplies the clock readings.
"""

from __future__ import annotations

import heapq
import itertools
import random

MAX_LATENESS = 1.0
"""Seconds an update may fall behind before the missed updates are skipped, unless the
symbol's mean interval is longer."""


class Arrivals:
    """The next update time of every symbol, in seconds on the caller's clock."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.mean_intervals: dict[str, float] = {}
        self._due: dict[str, float] = {}
        # Entries whose time no longer matches _due are stale and skipped when popped.
        self._heap: list[tuple[float, int, str]] = []
        self._order = itertools.count()

    def draw_gap(self, symbol: str) -> float:
        """Return a random gap in seconds whose mean is the symbol's mean interval."""
        return self.rng.expovariate(1.0 / self.mean_intervals[symbol])

    def add(self, symbol: str, mean_interval: float, now: float) -> None:
        """Schedule ``symbol``'s first update a random gap after ``now``."""
        self.mean_intervals[symbol] = mean_interval
        self._schedule(symbol, now + self.draw_gap(symbol))

    def set_mean_interval(self, symbol: str, mean_interval: float) -> None:
        """Change the mean of ``symbol``'s gaps from the gap after its next update on."""
        self.mean_intervals[symbol] = mean_interval

    def remove(self, symbol: str) -> None:
        """Stop scheduling ``symbol``; idempotent."""
        self.mean_intervals.pop(symbol, None)
        self._due.pop(symbol, None)

    def next_due(self) -> float | None:
        """Return the earliest update time, or None without symbols."""
        while self._heap:
            due, _order, symbol = self._heap[0]
            if self._due.get(symbol) == due:
                return due
            heapq.heappop(self._heap)
        return None

    def pop_due(self, now: float) -> tuple[list[tuple[str, float]], int]:
        """Take every update due at ``now`` or before, in time order.

        Returns (symbol, scheduled time) pairs, in which a busy symbol may appear more than once,
        and the count of updates skipped. Each symbol's next update is a fresh gap after the
        scheduled time, so late calls keep the rate. When that next time is already
        ``MAX_LATENESS`` or a whole mean interval in the past, whichever is longer, the loop has
        fallen behind: the missed updates are skipped and the next one is drawn from ``now``.
        """
        fired: list[tuple[str, float]] = []
        skipped = 0
        while (due := self.next_due()) is not None and due <= now:
            _due, _order, symbol = heapq.heappop(self._heap)
            fired.append((symbol, due))
            following = due + self.draw_gap(symbol)
            if now - following >= max(MAX_LATENESS, self.mean_intervals[symbol]):
                skipped += 1
                following = now + self.draw_gap(symbol)
            self._schedule(symbol, following)
        return fired, skipped

    def _schedule(self, symbol: str, due: float) -> None:
        self._due[symbol] = due
        heapq.heappush(self._heap, (due, next(self._order), symbol))
