from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
from typing import Any

import pytest
from tornado.websocket import WebSocketClientConnection, websocket_connect

from conftest import TIME_UNIT, AdjustableClock, ManualPublisher, eventually, wait_for
from ticker.context import ServerContext
from ticker.hub import Hub
from ticker.transports.websocket import WebSocketHandler


@pytest.fixture
def ws_url(http_server: Any, http_port: int) -> str:
    return f"ws://127.0.0.1:{http_port}/ws"


@pytest.fixture
def connect(ws_url: str):
    """A factory of client connections to ``/ws``; each is closed at teardown."""
    opened: list[WebSocketClientConnection] = []

    async def open_connection() -> WebSocketClientConnection:
        connection = await websocket_connect(ws_url)
        opened.append(connection)
        return connection

    yield open_connection
    for connection in opened:
        connection.close()


async def receive(connection: WebSocketClientConnection) -> dict[str, Any]:
    message = await wait_for(connection.read_message())
    assert isinstance(message, str), f"expected a message, got {message!r}"
    result: dict[str, Any] = json.loads(message)
    return result


async def send(connection: WebSocketClientConnection, message: dict[str, Any]) -> None:
    await connection.write_message(json.dumps(message))


def subscribers(hub: Hub) -> int:
    return hub.counts().get("websocket", 0)


@pytest.mark.gen_test
async def test_subscribe_sends_snapshot_then_ticks(
    connect, publisher: ManualPublisher, hub: Hub
) -> None:
    publisher.publish({"AAPL": 101.0, "MSFT": 201.0, "KO": 51.0})
    connection = await connect()
    await send(connection, {"type": "subscribe", "symbols": ["AAPL", "KO"]})

    snapshot = await receive(connection)
    assert snapshot["type"] == "snapshot"
    assert snapshot["epoch"] == hub.epoch
    assert snapshot["cursor"] == 3
    assert snapshot["symbols"] == ["AAPL", "KO"]
    assert [(t["symbol"], t["price"]) for t in snapshot["ticks"]] == [("AAPL", 101.0), ("KO", 51.0)]

    publisher.publish({"MSFT": 202.0})  # not subscribed: no message
    publisher.publish({"AAPL": 102.0, "MSFT": 203.0})
    ticks = await receive(connection)
    assert ticks == {
        "type": "ticks",
        "cursor": 6,
        "ticks": [ticks["ticks"][0]],
    }
    assert ticks["ticks"][0]["seq"] == 5
    assert ticks["ticks"][0]["symbol"] == "AAPL"
    connection.close()


@pytest.mark.gen_test
async def test_subscribe_all_with_star(
    connect, publisher: ManualPublisher
) -> None:
    connection = await connect()
    await send(connection, {"type": "subscribe", "symbols": ["*"]})
    snapshot = await receive(connection)
    assert snapshot["symbols"] == ["AAPL", "MSFT", "KO"]
    assert snapshot["ticks"] == []  # nothing published yet
    publisher.publish({"AAPL": 101.0, "MSFT": 201.0, "KO": 51.0})
    ticks = await receive(connection)
    assert [t["seq"] for t in ticks["ticks"]] == [1, 2, 3]
    connection.close()


@pytest.mark.gen_test
async def test_unsubscribe_stops_symbols(
    connect, publisher: ManualPublisher
) -> None:
    connection = await connect()
    await send(connection, {"type": "subscribe", "symbols": ["AAPL", "MSFT"]})
    await receive(connection)
    await send(connection, {"type": "unsubscribe", "symbols": ["AAPL"]})
    assert await receive(connection) == {"type": "unsubscribed", "symbols": ["MSFT"]}

    publisher.publish({"AAPL": 101.0})
    publisher.publish({"MSFT": 201.0, "AAPL": 102.0})
    ticks = await receive(connection)
    assert [(t["seq"], t["symbol"]) for t in ticks["ticks"]] == [(2, "MSFT")]

    await send(connection, {"type": "unsubscribe", "symbols": ["*"]})
    assert await receive(connection) == {"type": "unsubscribed", "symbols": []}
    connection.close()


@pytest.mark.gen_test
async def test_unsubscribe_from_all_keeps_rest(
    connect
) -> None:
    connection = await connect()
    await send(connection, {"type": "subscribe", "symbols": ["*"]})
    await receive(connection)
    await send(connection, {"type": "unsubscribe", "symbols": ["MSFT"]})
    assert await receive(connection) == {"type": "unsubscribed", "symbols": ["AAPL", "KO"]}
    connection.close()


@pytest.mark.gen_test
async def test_snapshot_and_ticks_meet_without_gap(
    connect, publisher: ManualPublisher
) -> None:
    """Subscribing between two batches: the first ticks message follows the snapshot cursor."""
    connection = await connect()
    publisher.publish({"AAPL": 101.0})
    await send(connection, {"type": "subscribe", "symbols": ["AAPL"]})
    snapshot = await receive(connection)
    publisher.publish({"AAPL": 102.0})
    ticks = await receive(connection)
    assert ticks["ticks"][0]["seq"] == snapshot["cursor"] + 1
    connection.close()


ERROR_CASES = [
    ("not json", "invalid JSON"),
    ("[1, 2]", "expected a JSON object"),
    ('{"type": "dance"}', "unknown message type 'dance'; expected subscribe, unsubscribe or time"),
    ('{"symbols": ["AAPL"]}', "unknown message type None"),
    ('{"type": "subscribe", "symbols": ["NOPE"]}', "unknown symbol 'NOPE'"),
    ('{"type": "subscribe", "symbols": "AAPL"}', "invalid symbols 'AAPL': expected a non-empty list"),
    ('{"type": "subscribe", "symbols": []}', "expected a non-empty list"),
    ('{"type": "subscribe"}', 'missing "symbols"'),
    ('{"type": "subscribe", "symbols": [1]}', "invalid symbol 1"),
    ('{"type": "unsubscribe", "symbols": ["NOPE"]}', "unknown symbol 'NOPE'"),
    ('{"type": "subscribe", "symbols": ["KO"], "cursor": 3}', "invalid epoch None"),
    ('{"type": "subscribe", "symbols": ["KO"], "epoch": "e", "cursor": -1}', "invalid cursor -1"),
    ('{"type": "subscribe", "symbols": ["KO"], "epoch": "e", "cursor": "3"}', "invalid cursor '3'"),
    ('{"type": "subscribe", "symbols": ["KO"], "epoch": 5, "cursor": 3}', "invalid epoch 5"),
]


@pytest.mark.parametrize(("message", "expected"), ERROR_CASES)
@pytest.mark.gen_test
async def test_bad_message_gets_error_reply(
    connect, publisher: ManualPublisher, message: str, expected: str
) -> None:
    connection = await connect()
    await send(connection, {"type": "subscribe", "symbols": ["KO"]})
    await receive(connection)

    await connection.write_message(message)
    reply = await receive(connection)
    assert reply["type"] == "error"
    assert expected in reply["message"]

    # The connection stays usable and the subscription is unchanged.
    publisher.publish({"AAPL": 101.0, "KO": 51.0})
    ticks = await receive(connection)
    assert [t["symbol"] for t in ticks["ticks"]] == ["KO"]
    connection.close()


@pytest.mark.gen_test
async def test_binary_message_gets_error_reply(
    connect
) -> None:
    connection = await connect()
    await connection.write_message(b"\x00\x01", binary=True)
    reply = await receive(connection)
    assert reply == {
        "type": "error",
        "message": "binary messages are not supported; send JSON text",
    }
    connection.close()


@pytest.mark.gen_test
async def test_oversize_message_closes_1009(
    connect, hub: Hub
) -> None:
    connection = await connect()
    await eventually(lambda: subscribers(hub) == 1)
    await connection.write_message(json.dumps({"type": "subscribe", "symbols": ["A" * 2000]}))
    assert await wait_for(connection.read_message()) is None
    assert connection.close_code == 1009
    await eventually(lambda: subscribers(hub) == 0)


@pytest.mark.gen_test
async def test_client_close_unsubscribes(
    connect, hub: Hub, publisher: ManualPublisher
) -> None:
    connections = [await connect() for _ in range(3)]
    await eventually(lambda: subscribers(hub) == 3)
    connections[0].close(1000, "bye")
    await eventually(lambda: subscribers(hub) == 2)
    for connection in connections[1:]:
        connection.close()
    await eventually(lambda: hub.counts() == {})
    publisher.publish({"AAPL": 101.0})  # nothing left to deliver to, and nothing raises


@pytest.mark.gen_test
async def test_full_hub_closes_1013(
    connect, hub: Hub, log_guard
) -> None:
    log_guard.expect("refused: server full")
    hub.max_subscribers = 1
    first = await connect()
    await eventually(lambda: subscribers(hub) == 1)
    second = await connect()
    assert await wait_for(second.read_message()) is None
    assert second.close_code == 1013
    assert second.close_reason is not None and "server full" in second.close_reason
    first.close()


@pytest.mark.gen_test
async def test_each_tick_encoded_once_for_all_clients(
    connect, http_port: int, hub: Hub, publisher: ManualPublisher
) -> None:
    from tornado.httpclient import AsyncHTTPClient

    sockets = [await connect() for _ in range(5)]
    for index, connection in enumerate(sockets):
        symbols = ["*"] if index % 2 else ["AAPL", "KO"]
        await send(connection, {"type": "subscribe", "symbols": symbols})
        await receive(connection)
    client = AsyncHTTPClient()
    polls = [
        asyncio.ensure_future(client.fetch(f"http://127.0.0.1:{http_port}/long-poll?cursor=0"))
        for _ in range(5)
    ]
    await eventually(lambda: hub.counts().get("longpoll", 0) == 5)

    publisher.publish({"AAPL": 101.0, "MSFT": 201.0, "KO": 51.0})
    for connection in sockets:
        assert (await receive(connection))["type"] == "ticks"
    for poll in polls:
        assert (await poll).code == 200
    assert hub.encoded_ticks == 3
    for connection in sockets:
        connection.close()


# A slow consumer: a raw client that completes the handshake and then never reads.


async def open_stalled_client(port: int) -> socket.socket:
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # A small receive buffer makes the server's writes back up after a few kilobytes.
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(raw, ("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    await loop.sock_sendall(raw, request.encode())
    response = b""
    while b"\r\n\r\n" not in response:
        response += await loop.sock_recv(raw, 1)  # byte by byte, so no frame is read
    assert response.startswith(b"HTTP/1.1 101"), response
    await loop.sock_sendall(raw, masked_text_frame({"type": "subscribe", "symbols": ["*"]}))
    return raw


def masked_text_frame(message: dict[str, Any]) -> bytes:
    """Encode ``message`` as a client's text frame of less than 64 KiB."""
    payload = json.dumps(message).encode()
    if len(payload) < 126:
        head = bytes([0x81, 0x80 | len(payload)])
    else:
        head = bytes([0x81, 0x80 | 126]) + len(payload).to_bytes(2, "big")
    mask = os.urandom(4)
    masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
    return head + mask + masked


def newest_handler(context: ServerContext) -> WebSocketHandler:
    """The WebSocket connection opened last, which the tests below open stalled."""
    handlers = [c for c in context.open_connections if isinstance(c, WebSocketHandler)]
    return max(handlers, key=lambda handler: int(handler.client_id.split("-")[1]))


def read_seqs(connection: WebSocketClientConnection, received: list[int]) -> asyncio.Future[None]:
    """Collect every seq that ``connection`` receives, until it closes."""

    async def read() -> None:
        while True:
            message = await connection.read_message()
            if message is None:
                return
            data = json.loads(message)
            if data["type"] == "ticks":
                received.extend(tick["seq"] for tick in data["ticks"])

    return asyncio.ensure_future(read())


@pytest.mark.gen_test(timeout=60 * TIME_UNIT)
async def test_stalled_client_is_conflated_then_disconnected(
    connect,
    http_port: int,
    hub: Hub,
    context: ServerContext,
    clock: AdjustableClock,
    publisher: ManualPublisher,
    log_guard,
) -> None:
    log_guard.expect(r"client too slow: nothing read for 10 s")
    healthy = await connect()
    await send(healthy, {"type": "subscribe", "symbols": ["*"]})
    await receive(healthy)
    received: list[int] = []
    reader = read_seqs(healthy, received)
    stalled = await open_stalled_client(http_port)
    await eventually(lambda: subscribers(hub) == 2)
    handler = newest_handler(context)
    stats = context.stats.transport("websocket")

    price = 100.0
    published = 0

    def publish() -> None:
        nonlocal price, published
        price += 0.01
        publisher.publish({"AAPL": price, "MSFT": 2 * price, "KO": price / 2})
        published += 3

    # Bounded: the stalled client's socket buffers fill after a few hundred kilobytes.
    for _ in range(20_000):
        publish()
        await asyncio.sleep(0)  # let the server flush writes to the healthy client
        if stats.conflated:
            break
    assert stats.conflated, "the stalled client's writes never backed up"
    # From now on the server keeps at most one tick per symbol for the stalled client, whatever is published.
    for _ in range(2_000):
        publish()
        await asyncio.sleep(0)
        assert len(handler.held) <= 3
        assert handler.pending_writes <= 1
    assert subscribers(hub) == 2

    clock.advance(10.5)  # past websocket.slow_consumer_timeout
    publish()
    await eventually(lambda: subscribers(hub) == 1)
    assert stats.disconnects == {"slow_consumer": 1}
    assert len(log_guard.matching("client too slow")) == 1

    # The healthy client still got every tick, in order.
    await eventually(lambda: len(received) == published, timeout=20 * TIME_UNIT)
    assert received == list(range(1, published + 1))
    healthy.close()
    reader.cancel()
    stalled.close()


@pytest.mark.gen_test(timeout=60 * TIME_UNIT)
async def test_unread_replies_disconnect_client(
    http_server: Any, http_port: int, hub: Hub, context: ServerContext, log_guard
) -> None:
    log_guard.expect(r"client too slow: 4 messages pending")
    stalled = await open_stalled_client(http_port)
    await eventually(lambda: subscribers(hub) == 1)
    # A client that requests the time without reading the replies: each reply waits unsent.
    loop = asyncio.get_running_loop()
    try:
        for _ in range(20_000):  # bounded; the server gives up after a few hundred kilobytes
            await loop.sock_sendall(stalled, masked_text_frame({"type": "time", "id": "x" * 900}))
            await asyncio.sleep(0)
            if not subscribers(hub):
                break
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server closed the connection before all requests went out
    await eventually(lambda: subscribers(hub) == 0)
    assert context.stats.transport("websocket").disconnects == {"slow_consumer": 1}
    stalled.close()


@pytest.mark.gen_test(timeout=30 * TIME_UNIT)
async def test_dead_peer_dropped_by_ping(config) -> None:
    from dataclasses import replace

    from ticker.server import TickerServer

    pinging = replace(
        config, websocket=replace(config.websocket, ping_interval=0.1, ping_timeout=0.1)
    )
    server = TickerServer(pinging, "127.0.0.1", 0)
    server.start()
    # The stalled client never reads, so it never replies to a ping with a pong.
    stalled = await open_stalled_client(server.port)
    try:
        await eventually(lambda: subscribers(server.hub) == 1)
        await eventually(lambda: subscribers(server.hub) == 0, timeout=10 * TIME_UNIT)
    finally:
        stalled.close()
        await server.stop()


def test_app_applies_websocket_settings(app) -> None:
    assert app.settings["websocket_ping_interval"] is None  # 0 in the test config: no pings
    assert app.settings["websocket_max_message_size"] == 1024


@pytest.mark.gen_test
async def test_same_filter_shares_one_message(connect, publisher: ManualPublisher) -> None:
    connections = [await connect() for _ in range(3)]
    for connection in connections:
        await send(connection, {"type": "subscribe", "symbols": ["*"]})
        await receive(connection)
    batch = publisher.publish({"AAPL": 101.0, "KO": 51.0})
    texts = {await wait_for(connection.read_message()) for connection in connections}
    assert len(texts) == 1
    assert batch.select(None).rendered["websocket"] in texts
