"""Connections per client address, so that one address cannot take a transport's capacity."""

from __future__ import annotations

from collections import Counter


class AddressLimits:
    """Counts the connections each (transport, address) has open, and rejects past ``limit``.

    An entry is dropped when its count returns to zero, so the table only contains the addresses
    that have something open.
    """

    def __init__(self) -> None:
        self._open: Counter[tuple[str, str]] = Counter()

    def acquire(self, transport: str, address: str, limit: int) -> bool:
        """Count one more for ``address``; return False, counting nothing, when at ``limit``."""
        key = (transport, address)
        if self._open[key] >= limit:
            return False
        self._open[key] += 1
        return True

    def release(self, transport: str, address: str) -> None:
        key = (transport, address)
        self._open[key] -= 1
        if self._open[key] <= 0:
            del self._open[key]

    def count(self, transport: str, address: str) -> int:
        return self._open.get((transport, address), 0)

    def __len__(self) -> int:
        return len(self._open)
