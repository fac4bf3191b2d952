"""A minimal HTTP/1.1 client over one Tornado IOStream.

Tornado's AsyncHTTPClient cannot drop a request in flight, which a client that vanishes
mid-poll must do; this one can (``close``), and it counts every byte read, headers included.
It sends GET requests one at a time on one keep-alive connection.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from tornado.iostream import IOStream, StreamClosedError
from tornado.tcpclient import TCPClient

from ticker.clients.base import ClientClosed, ClientRejected, TransportClient

MAX_HEADER_BYTES = 65536
MAX_BODY_BYTES = 64 * 1024 * 1024


@dataclass
class Head:
    status: int
    headers: dict[str, str]
    """Header names in lower case."""


class HttpConnection:
    """One connection to ``base_url`` (``http://host:port``); ``key`` is sent as a Bearer token."""

    def __init__(self, base_url: str, key: str | None = None):
        parts = urlsplit(base_url)
        if parts.scheme != "http" or parts.hostname is None:
            raise ValueError(f"expected a base URL such as http://127.0.0.1:8888, got {base_url!r}")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.stream: IOStream | None = None
        self.bytes_received = 0
        self.requests = 0
        self.auth_headers = {"Authorization": f"Bearer {key}"} if key else {}

    async def request_head(self, target: str, headers: Mapping[str, str] | None = None) -> Head:
        """Send ``GET target`` and read the status line and headers."""
        if self.stream is None or self.stream.closed():
            try:
                self.stream = await TCPClient().connect(self.host, self.port)
            except OSError as exc:
                # Tornado wraps the socket error (such as "connection refused") in real_error.
                reason = getattr(exc, "real_error", None) or exc
                raise ClientClosed(f"cannot connect to {self.host}:{self.port}: {reason}") from exc
        lines = [f"GET {target} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        all_headers = {**self.auth_headers, **(headers or {})}
        lines += [f"{name}: {value}" for name, value in all_headers.items()]
        self.requests += 1
        try:
            await self.stream.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            raw = await self.stream.read_until(b"\r\n\r\n", max_bytes=MAX_HEADER_BYTES)
        except StreamClosedError as exc:
            raise ClientClosed(f"connection closed before the response to {target}") from exc
        self.bytes_received += len(raw)
        status_line, *header_lines = raw.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        parsed = {}
        for line in header_lines:
            if ":" in line:
                name, value = line.split(":", 1)
                parsed[name.strip().lower()] = value.strip()
        return Head(status, parsed)

    async def body_chunks(self, head: Head) -> AsyncIterator[bytes]:
        """Yield the body of the response whose head was just read, as it arrives."""
        assert self.stream is not None
        try:
            if head.status == 204 or head.status == 304:
                return
            if "content-length" in head.headers:
                length = int(head.headers["content-length"])
                if length > MAX_BODY_BYTES:
                    raise ValueError(f"response body of {length} bytes is too large")
                data = await self.stream.read_bytes(length)
                self.bytes_received += len(data)
                yield data
            elif head.headers.get("transfer-encoding", "").lower() == "chunked":
                # Closing this generator must close the inner one too; otherwise the garbage
                # collector closes it later, in a task that may outlive the event loop.
                async with contextlib.aclosing(self._chunked()) as chunks:
                    async for chunk in chunks:
                        yield chunk
            else:
                data = await self.stream.read_until_close()
                self.bytes_received += len(data)
                yield data
        except StreamClosedError as exc:
            raise ClientClosed("connection closed in the middle of a response") from exc

    async def _chunked(self) -> AsyncGenerator[bytes, None]:
        assert self.stream is not None
        while True:
            size_line = await self.stream.read_until(b"\r\n", max_bytes=1024)
            self.bytes_received += len(size_line)
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                self.bytes_received += len(await self.stream.read_until(b"\r\n"))
                return
            data = await self.stream.read_bytes(size + 2)
            self.bytes_received += len(data)
            yield data[:-2]

    async def get(self, target: str, headers: Mapping[str, str] | None = None) -> tuple[Head, bytes]:
        """Send ``GET target`` and return the head and the whole body."""
        head = await self.request_head(target, headers)
        body = b"".join([chunk async for chunk in self.body_chunks(head)])
        if head.headers.get("connection", "").lower() == "close":
            self.close()
        return head, body

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()
            self.stream = None


def error_from_response(status: int, body: bytes) -> Exception:
    """Turn an error response into ClientRejected or ClientClosed, with its message.

    400, 401 and 403 are ClientRejected, because asking again cannot help; other statuses
    (429, 503) are ClientClosed, which a reconnecting client retries.
    """
    try:
        message = json.loads(body)["error"]
    except (ValueError, KeyError, TypeError):
        message = body[:200].decode("utf-8", "replace")
    if status == 400:
        return ClientRejected(message)
    if status in (401, 403):
        return ClientRejected(f"HTTP {status}: {message}")
    return ClientClosed(f"HTTP {status}: {message}")


class HttpTransportClient(TransportClient):
    """Base of the clients that speak plain HTTP over one ``HttpConnection``."""

    def __init__(self, base_url: str, key: str | None = None):
        self.connection = HttpConnection(base_url, key)

    @property
    def bytes_received(self) -> int:
        return self.connection.bytes_received

    @property
    def requests(self) -> int:
        return self.connection.requests
