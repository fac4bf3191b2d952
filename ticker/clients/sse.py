"""Client of the Server-Sent Events transport (``/sse``)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

from ticker.clients.base import (
    RESET,
    SNAPSHOT,
    TICKS,
    ClientClosed,
    Event,
    query,
)
from ticker.clients.http import HttpTransportClient, error_from_response


class SseClient(HttpTransportClient):
    name = "sse"

    def __init__(self, base_url: str, key: str | None = None):
        super().__init__(base_url, key)
        self.epoch: str | None = None
        self._chunks: AsyncIterator[bytes] | None = None
        self._buffer = b""

    async def open(
        self, symbols: Sequence[str] | None = None, resume: tuple[str, int] | None = None
    ) -> None:
        headers = {"Accept": "text/event-stream"}
        if resume is not None:
            headers["Last-Event-ID"] = f"{resume[0]}:{resume[1]}"
        target = "/sse" + query(symbols=",".join(symbols) if symbols is not None else None)
        head = await self.connection.request_head(target, headers)
        chunks = self.connection.body_chunks(head)
        if head.status != 200:
            body = b"".join([chunk async for chunk in chunks])
            raise error_from_response(head.status, body)
        self._chunks = chunks

    async def receive(self) -> Event:
        while True:
            fields = await self._next_block()
            if "data" not in fields:
                continue  # a comment (heartbeat) or a retry hint
            kind = fields.get("event", "message")
            data: dict[str, Any] = json.loads(fields["data"])
            if kind == SNAPSHOT or kind == RESET:
                self.epoch = data["epoch"]
            if kind not in (SNAPSHOT, RESET, TICKS):
                continue
            epoch = fields["id"].split(":")[0] if "id" in fields else self.epoch
            assert epoch is not None
            self.epoch = epoch
            return Event(kind, epoch, data["cursor"], data["ticks"], data.get("conflated", 0))

    async def _next_block(self) -> dict[str, str]:
        """Read up to the next blank line and return its fields (the last value of each)."""
        if self._chunks is None:
            raise ClientClosed("not open")
        while b"\n\n" not in self._buffer:
            try:
                chunk = await self._chunks.__anext__()
            except StopAsyncIteration:
                raise ClientClosed("the server ended the event stream") from None
            self._buffer += chunk
        block, self._buffer = self._buffer.split(b"\n\n", 1)
        fields: dict[str, str] = {}
        for line in block.decode("utf-8").split("\n"):
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            fields[name] = value[1:] if value.startswith(" ") else value
        return fields

    async def close(self) -> None:
        # Closing the socket first ends a read in progress, which ends the body generator.
        self.connection.close()
        chunks, self._chunks = self._chunks, None
        if chunks is not None and not getattr(chunks, "ag_running", False):
            await chunks.aclose()  # type: ignore[attr-defined]
