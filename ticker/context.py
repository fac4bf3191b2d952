"""The state that one server shares with its request handlers."""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
from dataclasses import dataclass, field
from typing import Protocol

import tornado.web

from ticker.access import AccessControl
from ticker.config import Config
from ticker.errors import REFUSED_ADDRESS_LIMIT, REFUSED_SERVER_FULL
from ticker.feed import Feed
from ticker.hub import Hub
from ticker.limits import AddressLimits
from ticker.ratelimit_log import RateLimitedLog
from ticker.stats import Stats

refusal_logger = logging.getLogger("ticker.limits")
NODE_HEADER = "X-Ticker-Node"
CATCH_UP_TIMEOUT = 2.0
"""Seconds a backplane node waits to reach a cursor that another node served first."""
CAPACITY_REFUSALS = (REFUSED_SERVER_FULL, REFUSED_ADDRESS_LIMIT)


class Backplane(Protocol):
    """The stream a server node reads its ticks from, in place of a feed of its own."""

    @property
    def running(self) -> bool:
        """Whether the node still follows the stream (it may be waiting for Redis)."""

    async def catch_up(self, epoch: str, cursor: int, timeout: float) -> None:
        """Wait until the hub has seq ``cursor`` of ``epoch``, or ``timeout`` seconds."""


class StreamingConnection(Protocol):
    """A connection that stays open across batches (WebSocket, SSE)."""

    closed: asyncio.Future[None]
    """Resolved once the connection has closed, so that shutdown can wait for it."""

    def abort(self) -> None:
        """Drop the connection at once, for a client that does not finish closing."""


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
    backplane: Backplane | None = None
    """The stream this node reads, when it serves a backplane's ticks; ``feed`` is then None."""
    node_name: str | None = None
    """This server's name among the nodes behind a load balancer, sent as ``X-Ticker-Node``."""
    address_limits: AddressLimits = field(default_factory=AddressLimits)
    refusal_log: RateLimitedLog = field(default_factory=lambda: RateLimitedLog(refusal_logger))
    _client_numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def catch_up(self, epoch: str | None, cursor: int) -> None:
        """On a backplane node, wait briefly for a cursor that another node has served already.

        Returns at once when there is no backplane or the hub already has ``cursor``. Every
        transport's resume calls it: long-poll, short poll, SSE and WebSocket.
        """
        hub = self.hub
        if self.backplane is not None and epoch == hub.epoch and cursor > hub.last_seq:
            await self.backplane.catch_up(epoch, cursor, CATCH_UP_TIMEOUT)

    def name_node(self, handler: tornado.web.RequestHandler) -> None:
        """Add the ``X-Ticker-Node`` header to ``handler``'s response when the node has a name."""
        if self.node_name is not None:
            handler.set_header(NODE_HEADER, self.node_name)

    @functools.cached_property
    def access(self) -> AccessControl:
        """The access rules of ``config.access``, with their refusal counters."""
        return AccessControl(self.config.access)

    def new_client_id(self, prefix: str) -> str:
        """Return a short id such as ``ws-7`` for the connection log."""
        return f"{prefix}-{next(self._client_numbers)}"

    def refused(self, transport: str, kind: str, client_id: str, address: str, reason: str) -> None:
        """Count a refused connection or request and log it, a few lines per kind at most."""
        self.stats.transport(transport).count_refusal(kind)
        # Running out of capacity is for operators to see; the rest is one client's business.
        level = logging.WARNING if kind in CAPACITY_REFUSALS else logging.INFO
        self.refusal_log.log(
            level,
            f"{transport}:{kind}",
            "%s %s from %s refused: %s",
            transport,
            client_id,
            address,
            reason,
        )
