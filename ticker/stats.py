"""Server-side counters per transport, cheap enough to leave on.

Recording a write is a few integer additions and one bisect over a short tuple. The counters
only grow; ``GET /api/stats`` reports them with the open connections that the hub counts.
"""

from __future__ import annotations

import bisect
import time
from dataclasses import dataclass, field
from typing import Any

DELAY_BUCKETS_MS = (0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0)
"""Upper bounds of the publish-to-write delay histogram, in ms; a last bucket takes the rest."""


@dataclass
class TransportStats:
    """Counters of one transport since the server started."""

    updates: int = 0
    """Ticks written to clients."""
    messages: int = 0
    """Writes that carried ticks: WebSocket messages, SSE events, poll responses with ticks."""
    bytes: int = 0
    """Bytes written, with WebSocket frame headers and HTTP response headers."""
    requests: int = 0
    """Polls completed, or WebSocket and SSE connections opened."""
    no_content: int = 0
    """Polls that got 204 No Content."""
    resets: int = 0
    conflated: int = 0
    """Ticks replaced by a newer price for the same symbol before they were written."""
    refusals: dict[str, int] = field(default_factory=dict)
    """Connections or requests refused, by kind: ``server_full``, ``address_limit``, ..."""
    disconnects: dict[str, int] = field(default_factory=dict)
    """Connections ended, by kind: ``client``, ``slow_consumer``, ``shutdown``, ..."""
    outcomes: dict[str, int] = field(default_factory=dict)
    """Poll outcomes, by kind: ``data``, ``empty``, ``reset``, ``gone``, ``unavailable``."""
    delay_counts: list[int] = field(default_factory=lambda: [0] * (len(DELAY_BUCKETS_MS) + 1))
    delay_total_ms: float = 0.0
    """Sum of the delays in ``delay_counts``, for the histogram's mean."""

    def record_write(self, updates: int, size: int, oldest_published_at: float | None) -> None:
        """Count one write of ``updates`` ticks in ``size`` bytes.

        ``oldest_published_at`` is the ``time.monotonic()`` publish time of the oldest tick in
        the write, or None for a write without ticks.
        """
        self.bytes += size
        if oldest_published_at is None:
            return
        self.updates += updates
        self.messages += 1
        delay_ms = (time.monotonic() - oldest_published_at) * 1000.0
        self.delay_counts[bisect.bisect_left(DELAY_BUCKETS_MS, delay_ms)] += 1
        self.delay_total_ms += delay_ms

    def count_refusal(self, kind: str) -> None:
        self.refusals[kind] = self.refusals.get(kind, 0) + 1

    def count_disconnect(self, kind: str) -> None:
        self.disconnects[kind] = self.disconnects.get(kind, 0) + 1

    def count_outcome(self, kind: str) -> None:
        self.outcomes[kind] = self.outcomes.get(kind, 0) + 1

    def to_json(self, open_count: int) -> dict[str, Any]:
        buckets: list[dict[str, float | int | None]] = [
            {"le_ms": bound, "count": count}
            for bound, count in zip(DELAY_BUCKETS_MS, self.delay_counts)
        ]
        buckets.append({"le_ms": None, "count": self.delay_counts[-1]})
        return {
            "open": open_count,
            "updates": self.updates,
            "messages": self.messages,
            "bytes": self.bytes,
            "requests": self.requests,
            "no_content": self.no_content,
            "resets": self.resets,
            "conflated": self.conflated,
            "refusals": dict(self.refusals),
            "disconnects": dict(self.disconnects),
            "outcomes": dict(self.outcomes),
            "publish_to_write_ms": buckets,
        }


@dataclass
class Stats:
    """The counters of every transport, created when a transport first records something."""

    transports: dict[str, TransportStats] = field(default_factory=dict)

    def transport(self, name: str) -> TransportStats:
        stats = self.transports.get(name)
        if stats is None:
            stats = self.transports[name] = TransportStats()
        return stats


def http_head_size(status: int, reason: str, headers: list[tuple[str, str]]) -> int:
    """Return the size in bytes of an HTTP/1.1 status line and headers, blank line included."""
    size = len(f"HTTP/1.1 {status} {reason}\r\n") + 2
    for name, value in headers:
        size += len(name) + len(value) + 4
    return size


def websocket_frame_size(payload_bytes: int) -> int:
    """Return the size of an unmasked server frame with ``payload_bytes`` of payload (RFC 6455)."""
    if payload_bytes < 126:
        return payload_bytes + 2
    if payload_bytes < 65536:
        return payload_bytes + 4
    return payload_bytes + 10
