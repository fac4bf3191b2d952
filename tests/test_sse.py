"""The Server-Sent Events transport on the wire: headers, events, heartbeats, resume, limits."""

from __future__ import annotations

import asyncio
import json
import socket
from dataclasses import replace
from typing import Any

import pytest

from conftest import TIME_UNIT, AdjustableClock, ManualPublisher, eventually, wait_for
from ticker.clients.http import Head, HttpConnection
from ticker.config import Config
from ticker.context import ServerContext
from ticker.hub import Hub
from ticker.server import TickerServer
from ticker.transports.sse import SseHandler


class EventStream:
    """Reads an event stream block by block, keeping comments, as a protocol test needs."""

    def __init__(self, connection: HttpConnection, head: Head):
        self.connection = connection
        self.head = head
        self.chunks = connection.body_chunks(head)
        self.buffer = b""

    async def block(self) -> str:
        while b"\n\n" not in self.buffer:
            self.buffer += await wait_for(self.chunks.__anext__())
        block, self.buffer = self.buffer.split(b"\n\n", 1)
        return block.decode()

    async def close(self) -> None:
        await self.chunks.aclose()  # type: ignore[attr-defined]
        self.connection.close()

    async def event(self) -> dict[str, Any]:
        """Return the next event's fields, skipping comments and the retry hint."""
        while True:
            lines = (await self.block()).split("\n")
            fields = dict(line.split(": ", 1) for line in lines if not line.startswith(":"))
            if "data" in fields:
                return {**fields, "data": json.loads(fields["data"])}


@pytest.fixture
def base(http_server: Any, http_port: int) -> str:
    return f"http://127.0.0.1:{http_port}"


async def open_stream(base: str, target: str, headers: dict[str, str] | None = None) -> EventStream:
    connection = HttpConnection(base)
    head = await connection.request_head(target, headers)
    return EventStream(connection, head)


@pytest.mark.gen_test
async def test_stream_starts_with_retry_and_snapshot(
    base: str, publisher: ManualPublisher, hub: Hub
) -> None:
    publisher.publish({"AAPL": 101.0, "KO": 51.0})
    stream = await open_stream(base, "/sse?symbols=KO")
    assert stream.head.status == 200
    assert stream.head.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert stream.head.headers["cache-control"] == "no-store"
    assert stream.head.headers["x-accel-buffering"] == "no"

    assert await stream.block() == "retry: 2000"
    snapshot = await stream.event()
    assert snapshot["event"] == "snapshot"
    assert snapshot["id"] == f"{hub.epoch}:2"
    assert snapshot["data"]["epoch"] == hub.epoch
    assert [t["symbol"] for t in snapshot["data"]["ticks"]] == ["KO"]

    publisher.publish({"AAPL": 102.0})
    publisher.publish({"KO": 52.0})
    ticks = await stream.event()
    assert ticks["event"] == "ticks"
    assert ticks["id"] == f"{hub.epoch}:4"
    assert ticks["data"] == {"cursor": 4, "ticks": [ticks["data"]["ticks"][0]]}
    assert ticks["data"]["ticks"][0]["seq"] == 4
    await stream.close()
    await eventually(lambda: hub.counts() == {})


@pytest.mark.gen_test
async def test_resume_from_query_parameter(base: str, publisher: ManualPublisher, hub: Hub) -> None:
    publisher.publish({"AAPL": 101.0})
    publisher.publish({"AAPL": 102.0, "MSFT": 202.0})
    stream = await open_stream(base, f"/sse?lastEventId={hub.epoch}:1")
    await stream.block()  # retry
    replay = await stream.event()
    assert replay["event"] == "ticks"
    assert [t["seq"] for t in replay["data"]["ticks"]] == [2, 3]
    await stream.close()


@pytest.mark.gen_test
async def test_empty_event_id_starts_fresh(base: str, publisher: ManualPublisher) -> None:
    publisher.publish({"AAPL": 101.0})
    stream = await open_stream(base, "/sse?lastEventId=")
    await stream.block()
    assert (await stream.event())["event"] == "snapshot"
    await stream.close()


@pytest.mark.parametrize("event_id", ["nonsense", "other-epoch:1", "{epoch}:999"])
@pytest.mark.gen_test
async def test_unusable_event_id_gets_reset(
    base: str, publisher: ManualPublisher, hub: Hub, event_id: str
) -> None:
    publisher.publish({"AAPL": 101.0})
    stream = await open_stream(
        base, "/sse", {"Last-Event-ID": event_id.format(epoch=hub.epoch)}
    )
    await stream.block()
    reset = await stream.event()
    assert reset["event"] == "reset"
    assert reset["data"]["reset"] is True
    assert reset["data"]["cursor"] == 1
    await stream.close()


@pytest.mark.gen_test
async def test_unknown_symbol_is_400(base: str, hub: Hub) -> None:
    connection = HttpConnection(base)
    head, body = await connection.get("/sse?symbols=NOPE")
    assert head.status == 400
    assert "unknown symbol 'NOPE'" in json.loads(body)["error"]
    assert hub.counts() == {}
    connection.close()


@pytest.mark.gen_test(timeout=30 * TIME_UNIT)
async def test_heartbeat_comments(config: Config) -> None:
    quick = replace(config, sse=replace(config.sse, heartbeat_interval=0.05))
    server = TickerServer(quick, "127.0.0.1", 0)
    server.start(run_feed=False)
    try:
        stream = await open_stream(server.url.rstrip("/"), "/sse")
        await stream.block()  # retry
        await stream.event()  # snapshot
        assert await stream.block() == ": heartbeat"
        await stream.close()
    finally:
        await server.stop()


@pytest.mark.gen_test(timeout=30 * TIME_UNIT)
async def test_shutdown_ends_stream(config: Config) -> None:
    server = TickerServer(config, "127.0.0.1", 0)
    server.start(run_feed=False)
    stream = await open_stream(server.url.rstrip("/"), "/sse")
    await stream.block()
    await stream.event()
    await server.stop()
    assert await stream.block() == ": closing: server shutting down"
    with pytest.raises(StopAsyncIteration):
        await stream.block()
    await stream.close()


@pytest.mark.gen_test(timeout=60 * TIME_UNIT)
async def test_stalled_stream_is_conflated_then_ended(
    base: str,
    http_port: int,
    hub: Hub,
    context: ServerContext,
    clock: AdjustableClock,
    publisher: ManualPublisher,
    log_guard,
) -> None:
    log_guard.expect(r"sse sse-\d+ disconnected: client too slow: nothing read for 10 s")
    healthy = await open_stream(base, "/sse")
    await healthy.event()  # snapshot
    received: list[int] = []

    async def read_healthy() -> None:
        while True:
            received.extend(tick["seq"] for tick in (await healthy.event())["data"]["ticks"])

    reader = asyncio.ensure_future(read_healthy())
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # A small receive buffer makes the server's writes back up after a few kilobytes.
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(raw, ("127.0.0.1", http_port))
    await loop.sock_sendall(raw, b"GET /sse HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    await eventually(lambda: hub.counts().get("sse", 0) == 2)
    stalled = max(
        (c for c in context.open_connections if isinstance(c, SseHandler)),
        key=lambda handler: int(handler.client_id.split("-")[1]),
    )
    stats = context.stats.transport("sse")
    published = 0

    def publish(step: int) -> None:
        nonlocal published
        publisher.publish({"AAPL": 100.0 + step / 100, "MSFT": 200.0, "KO": 50.0})
        published += 3

    try:
        for step in range(20_000):  # bounded; the stalled reader's buffers fill long before
            publish(step)
            await asyncio.sleep(0)
            if stats.conflated:
                break
        assert stats.conflated, "the stalled stream's writes never backed up"
        for step in range(2_000):
            publish(step)
            await asyncio.sleep(0)
            assert len(stalled.held) <= 3
            assert stalled.pending_writes <= 1
        assert hub.counts() == {"sse": 2}

        clock.advance(10.5)  # past sse.slow_consumer_timeout
        publish(0)
        await eventually(lambda: hub.counts() == {"sse": 1})
        assert stats.disconnects == {"slow_consumer": 1}
        await eventually(lambda: len(received) == published, timeout=20 * TIME_UNIT)
        assert received == list(range(1, published + 1))
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        await healthy.close()
        raw.close()
