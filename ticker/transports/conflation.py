"""Conflation for push transports: a client that reads slowly gets the latest prices, not a queue.

A push transport writes a batch at once when the connection has nothing unsent. While an
earlier write is still in the connection's buffer, a batch is held back instead, and a newer
tick for a symbol replaces the held one. So a client's unsent data is at most one message in
the buffer plus one tick per symbol, however slowly it reads. When the buffer empties, the held
ticks go out as one message that carries the count of ticks they replaced.
"""

from __future__ import annotations

from collections.abc import Sequence

from ticker.errors import REASON_SLOW_CONSUMER, REASON_STALLED
from ticker.hub import Tick


class HeldTicks:
    """The latest held-back tick per symbol, and how many ticks they replaced."""

    def __init__(self) -> None:
        self._latest: dict[str, Tick] = {}
        self.cursor = 0
        self.replaced = 0

    def __bool__(self) -> bool:
        return bool(self._latest)

    def __len__(self) -> int:
        return len(self._latest)

    def add(self, cursor: int, ticks: Sequence[Tick]) -> int:
        """Hold ``ticks`` of the batch ending at ``cursor``; return how many held ones they replace."""
        replaced = 0
        for tick in ticks:
            if tick.symbol in self._latest:
                replaced += 1
            self._latest[tick.symbol] = tick
        self.cursor = cursor
        self.replaced += replaced
        return replaced

    def take(self) -> tuple[int, list[Tick], int]:
        """Return and forget the held ticks in seq order, their cursor and the replaced count."""
        ticks = sorted(self._latest.values(), key=lambda tick: tick.seq)
        result = (self.cursor, ticks, self.replaced)
        self._latest.clear()
        self.replaced = 0
        return result


def slow_consumer_reason(
    pending_writes: int,
    max_pending: int,
    unsent_since: float | None,
    now: float,
    timeout: float,
) -> str | None:
    """Return why a client counts as a slow consumer, or None while it keeps up.

    It is slow with ``max_pending`` writes unflushed (replies and replays, which never
    conflate), or when its buffer has held unsent data since ``unsent_since`` for more than
    ``timeout`` seconds.
    """
    if pending_writes >= max_pending:
        return REASON_SLOW_CONSUMER.format(pending=pending_writes)
    if unsent_since is not None and now - unsent_since > timeout:
        return REASON_STALLED.format(seconds=timeout)
    return None
