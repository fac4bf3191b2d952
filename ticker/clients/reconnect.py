"""A client that survives a lost connection or a server restart.

``ReconnectingClient`` wraps one transport's client. When the connection drops or the server
refuses for a while (503, 429), it waits an exponential backoff with jitter, so that many
clients that lost one server do not all return at the same moment, then opens a new connection
that resumes from the last cursor. A server that cannot resume (after a restart, a new epoch)
answers with a reset, which ``receive`` returns like any other event.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Sequence

from ticker.clients.base import ClientRejected, Event, TransportClient

logger = logging.getLogger("ticker.clients")


def backoff_delay(attempt: int, base: float, maximum: float, draw: Callable[[], float]) -> float:
    """Return the delay before reconnect ``attempt`` (0 first): from the upper half of
    ``min(maximum, base * 2 ** attempt)``, drawn with ``draw`` (uniform over [0, 1))."""
    ceiling = min(maximum, base * 2.0 ** min(attempt, 30))
    return ceiling / 2.0 + draw() * ceiling / 2.0


class ReconnectingClient(TransportClient):
    """Receives across reconnects; ``reconnects`` counts them.

    ``max_attempts`` bounds the reconnects in a row before ``receive`` raises the last error;
    None retries until the caller cancels. ClientRejected (the request itself is invalid) is
    never retried.
    """

    def __init__(
        self,
        make_client: Callable[[], TransportClient],
        base_delay: float = 0.5,
        max_delay: float = 10.0,
        max_attempts: int | None = None,
        draw: Callable[[], float] = random.random,
    ):
        self.make_client = make_client
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.max_attempts = max_attempts
        self.draw = draw
        self.client = make_client()
        self.name = self.client.name
        self.symbols: Sequence[str] | None = None
        self.position: tuple[str, int] | None = None
        """The epoch and cursor of the last event, to resume from."""
        self.reconnects = 0
        self._closed_bytes = 0
        self._closed_requests = 0

    async def open(
        self, symbols: Sequence[str] | None = None, resume: tuple[str, int] | None = None
    ) -> None:
        self.symbols = symbols
        self.position = resume
        await self.client.open(symbols, resume)

    async def receive(self) -> Event:
        while True:
            try:
                event = await self.client.receive()
            except (ClientRejected, asyncio.CancelledError):
                raise
            except Exception as exc:
                await self._reconnect(exc)
                continue
            self.position = (event.epoch, event.cursor)
            return event

    async def _reconnect(self, error: Exception) -> None:
        attempt = 0
        while True:
            await self._drop()
            if self.max_attempts is not None and attempt >= self.max_attempts:
                raise error
            delay = backoff_delay(attempt, self.base_delay, self.max_delay, self.draw)
            logger.info(
                "%s client lost its connection (%s); reconnecting in %.2f s",
                self.name,
                error,
                delay,
            )
            attempt += 1
            await asyncio.sleep(delay)
            self.client = self.make_client()
            try:
                await self.client.open(self.symbols, self.position)
            except (ClientRejected, asyncio.CancelledError):
                raise
            except Exception as exc:
                error = exc
                continue
            self.reconnects += 1
            return

    async def _drop(self) -> None:
        self._closed_bytes += self.client.bytes_received
        self._closed_requests += self.client.requests
        try:
            await self.client.close()
        except Exception as exc:  # a broken connection may fail to close too
            logger.debug("closing a lost %s client failed: %s", self.name, exc)
        # Count a client's traffic once, even if it is dropped again.
        self.client = _Closed(self.name)

    @property
    def bytes_received(self) -> int:
        return self._closed_bytes + self.client.bytes_received

    @property
    def requests(self) -> int:
        return self._closed_requests + self.client.requests

    async def close(self) -> None:
        await self.client.close()


class _Closed(TransportClient):
    """Stands in for a dropped client until the next one opens."""

    def __init__(self, name: str):
        self.name = name

    async def open(
        self, symbols: Sequence[str] | None = None, resume: tuple[str, int] | None = None
    ) -> None:
        raise AssertionError("a dropped client is never reopened")

    async def receive(self) -> Event:
        raise AssertionError("a dropped client receives nothing")

    async def close(self) -> None:
        pass
