"""Helpers for the hostile-input tests: raw HTTP and WebSocket exchanges and a watching client.

Library clients refuse to send most of what these tests send (bytes that are not UTF-8, a request
cut off halfway, an unmasked or oversize WebSocket frame), so the requests are written as bytes
on a plain socket.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
from dataclasses import dataclass, field
from typing import Any

from tornado.websocket import WebSocketClientConnection, websocket_connect

from conftest import TIME_UNIT, eventually, wait_for
from ticker.hub import Hub


@dataclass
class RawResponse:
    status: int | None
    """None when the server closed the connection without a response."""
    head: bytes
    body: bytes


async def exchange(port: int, request: bytes, timeout: float = 5 * TIME_UNIT) -> RawResponse:
    """Send ``request`` as it is and read until the server closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        try:
            await writer.drain()
            data = await asyncio.wait_for(reader.read(), timeout)
        except ConnectionResetError:
            # The server closed while a large request was still arriving.
            data = b""
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except ConnectionResetError:
            pass
    if not data:
        return RawResponse(None, b"", b"")
    head, _, body = data.partition(b"\r\n\r\n")
    return RawResponse(int(head.split(b" ", 2)[1]), head, body)


def get(target: bytes, *headers: bytes) -> bytes:
    """Build ``GET target`` that requests the server to close the connection after responding."""
    lines = [b"GET " + target + b" HTTP/1.1", b"Host: 127.0.0.1", *headers, b"Connection: close"]
    return b"\r\n".join(lines) + b"\r\n\r\n"


@dataclass
class Watcher:
    """A well-behaved WebSocket client subscribed to every symbol, recording each seq."""

    connection: WebSocketClientConnection
    seqs: list[int] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, port: int) -> Watcher:
        connection = await websocket_connect(f"ws://127.0.0.1:{port}/ws")
        await connection.write_message(json.dumps({"type": "subscribe", "symbols": ["*"]}))
        snapshot = json.loads(await wait_for(connection.read_message()))
        assert snapshot["type"] == "snapshot"
        watcher = cls(connection, list(range(1, snapshot["cursor"] + 1)))
        watcher.task = asyncio.ensure_future(watcher._read())
        return watcher

    async def _read(self) -> None:
        while True:
            message = await self.connection.read_message()
            if message is None:
                return
            data: dict[str, Any] = json.loads(message)
            self.seqs.extend(tick["seq"] for tick in data["ticks"])

    async def check_every_tick(self, hub: Hub) -> None:
        """Wait until every published seq arrived, then check that none is missing or repeated."""
        await eventually(lambda: bool(self.seqs) and self.seqs[-1] >= hub.last_seq)
        assert self.seqs == list(range(1, hub.last_seq + 1))

    def close(self) -> None:
        self.connection.close()
        if self.task is not None:
            self.task.cancel()


# WebSocket frames (RFC 6455, section 5.2), written and read by hand.

OPCODE_TEXT = 0x1
OPCODE_BINARY = 0x2
OPCODE_CLOSE = 0x8


def frame(payload: bytes, opcode: int = OPCODE_TEXT, masked: bool = True, length: int | None = None) -> bytes:
    """Encode one final frame; ``length`` overrides the declared payload length."""
    declared = len(payload) if length is None else length
    first = bytes([0x80 | opcode])
    mask_bit = 0x80 if masked else 0
    if declared < 126:
        header = first + bytes([mask_bit | declared])
    elif declared < 1 << 16:
        header = first + bytes([mask_bit | 126]) + struct.pack("!H", declared)
    else:
        header = first + bytes([mask_bit | 127]) + struct.pack("!Q", declared)
    if not masked:
        return header + payload
    mask = os.urandom(4)
    return header + mask + bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))


@dataclass
class RawWebSocket:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    @classmethod
    async def connect(cls, port: int) -> RawWebSocket:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16))
        writer.write(
            get(b"/ws", b"Upgrade: websocket", b"Sec-WebSocket-Key: " + key,
                b"Sec-WebSocket-Version: 13").replace(b"Connection: close", b"Connection: Upgrade")
        )
        head = await wait_for(reader.readuntil(b"\r\n\r\n"))
        assert isinstance(head, bytes) and head.startswith(b"HTTP/1.1 101"), head
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def receive(self) -> tuple[int, bytes] | None:
        """Read the next frame as (opcode, payload); None when the connection closed."""
        try:
            first, second = await wait_for(self.reader.readexactly(2))
            length = second & 0x7F
            if length == 126:
                (length,) = struct.unpack("!H", await self.reader.readexactly(2))
            elif length == 127:
                (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
            payload = await self.reader.readexactly(length)
        except (asyncio.IncompleteReadError, ConnectionResetError):
            return None
        return first & 0x0F, payload

    async def close_code(self) -> int | None:
        """Read frames up to the end of the connection; return the close code the server sent."""
        code = None
        while (received := await self.receive()) is not None:
            opcode, payload = received
            if opcode == OPCODE_CLOSE and len(payload) >= 2:
                code = struct.unpack("!H", payload[:2])[0]
        return code

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except ConnectionResetError:
            pass
