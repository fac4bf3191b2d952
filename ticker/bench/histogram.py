"""A bounded latency histogram with log-spaced buckets, for percentiles over millions of samples."""

from __future__ import annotations

import math

MIN_MS = 0.01
MAX_MS = 600_000.0
BUCKETS_PER_DECADE = 200
"""Bucket width is 10**(1/200), about 1.2 %: the relative error of a reported percentile."""


class LatencyHistogram:
    """Counts latencies in ms; memory does not grow with the number of samples."""

    def __init__(self) -> None:
        decades = math.log10(MAX_MS / MIN_MS)
        self.counts = [0] * (int(decades * BUCKETS_PER_DECADE) + 2)
        self.total = 0
        self.max_ms = 0.0
        self.below_zero = 0
        """Samples under 0 ms: a clock offset estimate off by more than the latency itself."""

    def add(self, latency_ms: float) -> None:
        self.total += 1
        if latency_ms > self.max_ms:
            self.max_ms = latency_ms
        if latency_ms < 0:
            self.below_zero += 1
        self.counts[self._index(latency_ms)] += 1

    def _index(self, latency_ms: float) -> int:
        if latency_ms <= MIN_MS:
            return 0
        index = int(math.log10(latency_ms / MIN_MS) * BUCKETS_PER_DECADE) + 1
        return min(index, len(self.counts) - 1)

    def _upper_bound(self, index: int) -> float:
        if index == 0:
            return MIN_MS
        return float(MIN_MS * 10 ** (index / BUCKETS_PER_DECADE))

    def merge(self, other: LatencyHistogram) -> None:
        self.total += other.total
        self.max_ms = max(self.max_ms, other.max_ms)
        self.below_zero += other.below_zero
        for index, count in enumerate(other.counts):
            self.counts[index] += count

    def percentile(self, fraction: float) -> float | None:
        """Return the latency at ``fraction`` (0.99 for p99) as its bucket's upper bound."""
        if self.total == 0:
            return None
        rank = math.ceil(fraction * self.total)
        seen = 0
        for index, count in enumerate(self.counts):
            seen += count
            if seen >= rank:
                return min(self._upper_bound(index), self.max_ms)
        return self.max_ms

    def buckets(self) -> list[tuple[float, int]]:
        """Return (upper bound in ms, count) for every bucket that has samples."""
        return [(self._upper_bound(i), c) for i, c in enumerate(self.counts) if c]
