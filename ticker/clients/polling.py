"""Clients of the polling transports: long-poll (``/long-poll``) and short poll (``/poll``)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from ticker.clients.base import (
    RESET,
    SNAPSHOT,
    TICKS,
    Event,
    query,
)
from ticker.clients.http import HttpTransportClient, error_from_response


class PollingClient(HttpTransportClient):
    """Polls ``path`` from a cursor; a 204 moves the cursor to the one in its headers.

    ``interval`` is the pause after an empty response, in seconds (0 for long-polling, where the
    server holds the request). ``hold`` is sent as ``timeout`` when it is not None.
    """

    def __init__(
        self,
        base_url: str,
        name: str,
        path: str,
        interval: float,
        hold: float | None,
        key: str | None = None,
    ):
        self.name = name
        self.path = path
        self.interval = interval
        self.hold = hold
        super().__init__(base_url, key)
        self.symbols: str | None = None
        self.epoch: str | None = None
        self.cursor: int | None = None
        self._pending_snapshot: Event | None = None

    async def open(
        self, symbols: Sequence[str] | None = None, resume: tuple[str, int] | None = None
    ) -> None:
        self.symbols = ",".join(symbols) if symbols is not None else None
        if resume is not None:
            self.epoch, self.cursor = resume
            return
        data = await self._get_json(f"/api/snapshot{query(symbols=self.symbols)}")
        self._pending_snapshot = self._event(SNAPSHOT, data)

    async def receive(self) -> Event:
        if self._pending_snapshot is not None:
            event, self._pending_snapshot = self._pending_snapshot, None
            return event
        while True:
            target = self.path + query(
                cursor=self.cursor, epoch=self.epoch, symbols=self.symbols, timeout=self.hold
            )
            head, body = await self.connection.get(target)
            if head.status == 200:
                data = json.loads(body)
                return self._event(RESET if data.get("reset") else TICKS, data)
            if head.status == 204:
                if head.headers.get("x-ticker-epoch") == self.epoch:
                    self.cursor = int(head.headers["x-ticker-cursor"])
                if self.interval:
                    await asyncio.sleep(self.interval)
                continue
            raise error_from_response(head.status, body)

    async def _get_json(self, target: str) -> dict[str, Any]:
        head, body = await self.connection.get(target)
        if head.status != 200:
            raise error_from_response(head.status, body)
        result: dict[str, Any] = json.loads(body)
        return result

    def _event(self, kind: str, data: dict[str, Any]) -> Event:
        self.epoch = data["epoch"]
        self.cursor = data["cursor"]
        return Event(kind, data["epoch"], data["cursor"], data["ticks"])

    async def close(self) -> None:
        self.connection.close()


def long_poll_client(
    base_url: str, hold: float | None = None, key: str | None = None
) -> PollingClient:
    return PollingClient(base_url, "longpoll", "/long-poll", interval=0.0, hold=hold, key=key)


def short_poll_client(
    base_url: str, interval: float = 0.05, key: str | None = None
) -> PollingClient:
    return PollingClient(base_url, "poll", "/poll", interval=interval, hold=None, key=key)
