"""Per-client records of a benchmark: exact loss and duplicate counts, and latencies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ticker.bench.histogram import LatencyHistogram
from ticker.clients.base import RESET, TICKS, Event


@dataclass
class Window:
    """The seqs that count: after ``start`` and up to ``end``, once the run has ended."""

    start: int | None = None
    end: int | None = None

    def contains(self, seq: int) -> bool:
        if self.start is None or seq <= self.start:
            return False
        return self.end is None or seq <= self.end


class ClientRecorder:
    """Marks every seq a client receives, so that missing and repeated ticks are exact.

    The marks are one byte per seq from the client's first cursor, so memory grows with the
    ticks of one run (15,000 ticks take 15 kB), not with time spent idle.
    """

    def __init__(self, window: Window, latencies: LatencyHistogram, clock_offset_ms: float):
        self.window = window
        self.latencies = latencies
        self.clock_offset_ms = clock_offset_ms
        self.first_cursor: int | None = None
        self.cursor = 0
        self.marks = bytearray()
        self.resets = 0
        self.events = 0
        self.conflated = 0
        """Ticks the server replaced with newer ones for this client; they are not missing."""

    def record(self, event: Event, received_ms: float) -> None:
        """Account for one event, received at ``received_ms`` on the client's clock."""
        self.events += 1
        if self.first_cursor is None or event.kind == RESET:
            if event.kind == RESET:
                self.resets += 1
            if self.first_cursor is None:
                self.first_cursor = event.cursor
            self.cursor = event.cursor
            return
        if event.kind != TICKS:
            return
        self.conflated += event.conflated
        server_received_ms = received_ms + self.clock_offset_ms
        for tick in event.ticks:
            self._mark(tick, server_received_ms)
        self.cursor = max(self.cursor, event.cursor)

    def _mark(self, tick: dict[str, Any], server_received_ms: float) -> None:
        assert self.first_cursor is not None
        seq = tick["seq"]
        index = seq - self.first_cursor - 1
        if index < 0:
            return
        if index >= len(self.marks):
            self.marks.extend(bytes(index + 1 - len(self.marks) + 1024))
        if self.marks[index] < 255:
            self.marks[index] += 1
        if self.window.contains(seq) and self.marks[index] == 1:
            self.latencies.add(server_received_ms - tick["ts"])

    def tally(self) -> tuple[int, int, int]:
        """Return (expected, delivered, duplicated) over the window; the run must have ended."""
        start, end = self.window.start, self.window.end
        assert start is not None, "the window never opened"
        assert end is not None, "the window never closed"
        if self.first_cursor is None:
            return end - start, 0, 0  # the client never connected, so it missed everything
        expected = delivered = duplicated = 0
        for seq in range(start + 1, end + 1):
            expected += 1
            index = seq - self.first_cursor - 1
            count = self.marks[index] if 0 <= index < len(self.marks) else 0
            if count:
                delivered += 1
                duplicated += count - 1
        return expected, delivered, duplicated
