"""The state that one server shares with its request handlers."""

from __future__ import annotations

import asyncio
import functools
import itertools
from dataclasses import dataclass, field
from typing import Protocol

from ticker.access import AccessControl
from ticker.config import Config
from ticker.feed import Feed
from ticker.hub import Hub
from ticker.stats import Stats


class StreamingConnection(Protocol):
    """A connection that stays open across batches (WebSocket, SSE)."""

    closed: asyncio.Future[None]
    """Resolved once the connection has closed, so that shutdown can wait for it."""


@dataclass
class ServerContext:
    """Handed to every handler through ``initialize``; there is no module-level state."""

    config: Config
    hub: Hub
    open_connections: set[StreamingConnection] = field(default_factory=set)
    stats: Stats = field(default_factory=Stats)
    feed: Feed | None = None
    """The feed publishing into ``hub``, when there is one, for its lag in ``/api/stats``."""
    shutting_down: bool = False
    _client_numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @functools.cached_property
    def access(self) -> AccessControl:
        """The access rules of ``config.access``, with their refusal counters."""
        return AccessControl(self.config.access)

    def new_client_id(self, prefix: str) -> str:
        """Return a short id such as ``ws-7`` for the connection log."""
        return f"{prefix}-{next(self._client_numbers)}"
