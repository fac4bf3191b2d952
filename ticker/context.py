"""The state that one server shares with its request handlers."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ticker.config import Config
from ticker.hub import Hub

if TYPE_CHECKING:
    from ticker.transports.websocket import WebSocketHandler


@dataclass
class ServerContext:
    """Handed to every handler through ``initialize``; there is no module-level state."""

    config: Config
    hub: Hub
    open_websockets: set[WebSocketHandler] = field(default_factory=set)
    shutting_down: bool = False
    _client_numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def new_client_id(self, prefix: str) -> str:
        """Return a short id such as ``ws-7`` for the connection log."""
        return f"{prefix}-{next(self._client_numbers)}"
