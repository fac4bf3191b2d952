"""Client of the WebSocket transport (``/ws``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

from ticker.clients.http import error_from_response
from ticker.stats import websocket_frame_size
from ticker.clients.base import (
    RESET,
    SNAPSHOT,
    TICKS,
    ClientClosed,
    ClientRejected,
    Event,
    TransportClient,
)


class WebSocketClient(TransportClient):
    name = "websocket"

    def __init__(self, base_url: str, key: str | None = None):
        self.url = "ws" + base_url.removeprefix("http") + "/ws"
        self.headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.connection: WebSocketClientConnection | None = None
        self.epoch: str | None = None
        self._bytes_received = 0
        self._first: Event | None = None

    async def open(
        self, symbols: Sequence[str] | None = None, resume: tuple[str, int] | None = None
    ) -> None:
        try:
            self.connection = await websocket_connect(HTTPRequest(self.url, headers=self.headers))
        except HTTPClientError as exc:
            # The handshake was refused: the response body is the server's JSON error.
            body = exc.response.body if exc.response is not None else b""
            raise error_from_response(exc.code, body or b"") from None
        message: dict[str, Any] = {
            "type": "subscribe",
            "symbols": list(symbols) if symbols is not None else ["*"],
        }
        if resume is not None:
            message["epoch"], message["cursor"] = resume
            self.epoch = resume[0]
        await self.connection.write_message(json.dumps(message))
        if resume is None:
            # Wait for the snapshot here, so that an invalid subscription raises from open().
            self._first = await self._read()
        else:
            self._first = None

    async def receive(self) -> Event:
        if self._first is not None:
            event, self._first = self._first, None
            return event
        return await self._read()

    async def _read(self) -> Event:
        assert self.connection is not None
        while True:
            raw = await self.connection.read_message()
            if isinstance(raw, str):
                # Server messages are ASCII JSON: characters are bytes.
                self._bytes_received += websocket_frame_size(len(raw))
            if raw is None:
                code, reason = self.connection.close_code, self.connection.close_reason
                raise ClientClosed(f"closed with code {code}: {reason}")
            data = json.loads(raw)
            kind = data.get("type")
            if kind == "error":
                raise ClientRejected(data["message"])
            if kind == SNAPSHOT:
                self.epoch = data["epoch"]
                kind = RESET if data.get("reset") else SNAPSHOT
                return Event(kind, data["epoch"], data["cursor"], data["ticks"])
            if kind == TICKS:
                assert self.epoch is not None
                conflated = data.get("conflated", 0)
                return Event(TICKS, self.epoch, data["cursor"], data["ticks"], conflated)

    @property
    def bytes_received(self) -> int:
        return self._bytes_received

    @property
    def requests(self) -> int:
        return 1 if self.connection is not None or self._bytes_received else 0

    async def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None
