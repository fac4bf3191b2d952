"""The interface every transport's Python client implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

SNAPSHOT = "snapshot"
TICKS = "ticks"
RESET = "reset"


@dataclass
class Event:
    """One delivery from the server: a snapshot, new ticks, or a reset with a fresh snapshot."""

    kind: str
    epoch: str
    cursor: int
    ticks: list[dict[str, Any]] = field(default_factory=list)
    conflated: int = 0
    """Ticks that the server replaced with these newer ones because the client read slowly."""


class ClientClosed(Exception):
    """The server ended the connection; the message gives its reason when it sent one."""


class ClientRejected(Exception):
    """The server rejected the request; the message is the server's error text."""


class TransportClient(ABC):
    """A client of one transport, receiving ticks for a set of symbols.

    ``open`` starts from a snapshot, or resumes after ``(epoch, cursor)`` so that the first
    events are the ticks missed since then (or a reset when the server cannot replay them).
    ``receive`` returns events in seq order. ``close`` is idempotent and drops the connection at
    once, as a client that vanishes would.
    """

    name: str

    @property
    def bytes_received(self) -> int:
        """Bytes read from the server so far, with HTTP headers and WebSocket framing."""
        return 0

    @property
    def requests(self) -> int:
        """HTTP requests sent so far; a WebSocket counts its one upgrade request."""
        return 0

    @abstractmethod
    async def open(
        self, symbols: Sequence[str] | None = None, resume: tuple[str, int] | None = None
    ) -> None:
        """Connect; ``symbols`` None means all. Raises ClientRejected for invalid symbols."""

    @abstractmethod
    async def receive(self) -> Event:
        """Wait for the next event. Raises ClientClosed when the server ends the connection."""

    @abstractmethod
    async def close(self) -> None:
        """Drop the connection at once; idempotent."""


def query(**params: Any) -> str:
    """Encode the parameters that are not None as a query string, with a leading ``?``."""
    present = {key: value for key, value in params.items() if value is not None}
    return "?" + urlencode(present, safe=",*") if present else ""
