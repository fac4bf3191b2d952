"""Malformed and hostile requests to every endpoint, each with the response it must get.

For every row, a well-behaved WebSocket client connected at the same time must still receive
every tick, and the hub must be left with that client only. The server must log no warning or
error, which the autouse LogGuard checks.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import replace

import pytest
import tornado.ioloop

from conftest import TIME_UNIT, ManualPublisher, eventually
from hostile import (
    OPCODE_BINARY,
    OPCODE_TEXT,
    RawWebSocket,
    Watcher,
    exchange,
    frame,
    get,
)
from ticker.config import Config
from ticker.server import TickerServer

HEADER_LIMIT = 16384
STALL_TIMEOUT = 0.5 * TIME_UNIT
"""Seconds; the test server's idle connection and body timeouts."""


@pytest.fixture
def server(config: Config, io_loop: tornado.ioloop.IOLoop) -> Iterator[TickerServer]:
    """A server with the default header limit, a small body limit, short timeouts and no feed."""
    hostile_config = replace(
        config,
        server=replace(
            config.server,
            idle_connection_timeout=STALL_TIMEOUT,
            body_timeout=STALL_TIMEOUT,
            max_header_size=HEADER_LIMIT,
            max_body_size=1024,
        ),
        websocket=replace(config.websocket, max_message_size=65536),
    )
    ticker_server = TickerServer(hostile_config, "127.0.0.1", 0)
    ticker_server.start(run_feed=False)
    yield ticker_server
    io_loop.run_sync(ticker_server.stop)


def publish(server: TickerServer, price: float = 100.0) -> None:
    ManualPublisher(server.hub).publish({"AAPL": price, "MSFT": 2 * price, "KO": price / 2})


UNKNOWN_SYMBOLS = ",".join(f"Z{index}" for index in range(2000)).encode()
REPEATED_SYMBOLS = b"AAPL," * 2000 + b"KO"
SOME_REPEATED_SYMBOLS = b"AAPL," * 50 + b"KO"  # within limits.max_symbols_per_subscription

# (id, raw request, expected status or None for "closed without a response", text in the body)
HTTP_CASES = [
    # /api/snapshot
    ("snapshot-percent-ff", get(b"/api/snapshot?symbols=%FF"), 400, "is not UTF-8"),
    ("snapshot-raw-ff", get(b"/api/snapshot?symbols=\xff\xfe"), 400, "is not UTF-8"),
    ("snapshot-bad-utf8", get(b"/api/snapshot?symbols=%C3%28"), 400, "is not UTF-8"),
    ("snapshot-repeated", get(b"/api/snapshot?symbols=AAPL&symbols=KO"), 400, "given 2 times"),
    ("snapshot-empty-names", get(b"/api/snapshot?symbols=,,,"), 400, "invalid symbols ',,,'"),
    ("snapshot-2000-unknown", get(b"/api/snapshot?symbols=" + UNKNOWN_SYMBOLS), 400, "too many symbols: 2000 named"),
    ("snapshot-2000-repeated", get(b"/api/snapshot?symbols=" + REPEATED_SYMBOLS), 400, "too many symbols: 2001 named"),
    ("snapshot-51-repeated", get(b"/api/snapshot?symbols=" + SOME_REPEATED_SYMBOLS), 200, '"cursor":3'),
    ("snapshot-huge-name", get(b"/api/snapshot?symbols=" + b"A" * 15000), 400, "AAAA...'; known symbols"),
    ("snapshot-huge-query", get(b"/api/snapshot?symbols=" + b"A" * 20000), None, ""),
    ("snapshot-control-chars", get(b"/api/snapshot?symbols=%00%01"), 200, '"cursor":3'),
    # /long-poll
    ("long-poll-cursor-nan", get(b"/long-poll?cursor=nan"), 400, "invalid cursor 'nan'"),
    ("long-poll-cursor-negative", get(b"/long-poll?cursor=-1"), 400, "invalid cursor '-1'"),
    ("long-poll-cursor-31-digits", get(b"/long-poll?cursor=" + b"9" * 31), 400, "at most 30 digits"),
    ("long-poll-cursor-huge", get(b"/long-poll?cursor=" + b"9" * 10000), 400, "invalid cursor '999"),
    ("long-poll-cursor-repeated", get(b"/long-poll?cursor=1&cursor=2"), 400, "'cursor' is given 2 times"),
    ("long-poll-cursor-ff", get(b"/long-poll?cursor=%FF"), 400, "is not UTF-8"),
    ("long-poll-timeout-nan", get(b"/long-poll?timeout=nan"), 400, "invalid timeout 'nan'"),
    ("long-poll-timeout-inf", get(b"/long-poll?timeout=inf"), 400, "invalid timeout 'inf'"),
    ("long-poll-timeout-negative", get(b"/long-poll?timeout=-1"), 400, "invalid timeout '-1'"),
    ("long-poll-timeout-exponent", get(b"/long-poll?timeout=1e3"), 400, "invalid timeout '1e3'"),
    ("long-poll-epoch-ff", get(b"/long-poll?cursor=0&timeout=0&epoch=%FF"), 400, "'epoch'"),
    ("long-poll-epoch-repeated", get(b"/long-poll?cursor=0&epoch=a&epoch=b"), 400, "given 2 times"),
    ("long-poll-epoch-huge", get(b"/long-poll?cursor=0&timeout=0&epoch=" + b"E" * 10000), 200, '"reset":true'),
    ("long-poll-2000-symbols", get(b"/long-poll?cursor=0&timeout=0&symbols=" + REPEATED_SYMBOLS), 400, "too many symbols"),
    ("long-poll-51-symbols", get(b"/long-poll?cursor=0&timeout=0&symbols=" + SOME_REPEATED_SYMBOLS), 200, '"cursor":3'),
    # /poll
    ("poll-cursor-letters", get(b"/poll?cursor=abc"), 400, "invalid cursor 'abc'"),
    ("poll-symbols-bad-utf8", get(b"/poll?symbols=%C3%28"), 400, "is not UTF-8"),
    ("poll-ignores-timeout", get(b"/poll?cursor=0&timeout=nan"), 200, '"cursor":3'),
    ("poll-2000-unknown", get(b"/poll?symbols=" + UNKNOWN_SYMBOLS), 400, "too many symbols"),
    # /sse (a valid one is a stream, tested below)
    ("sse-symbols-ff", get(b"/sse?symbols=%FF"), 400, "is not UTF-8"),
    ("sse-symbols-unknown", get(b"/sse?symbols=NOPE"), 400, "unknown symbol 'NOPE'"),
    ("sse-symbols-repeated", get(b"/sse?symbols=KO&symbols=KO"), 400, "given 2 times"),
    ("sse-last-event-id-ff", get(b"/sse?lastEventId=%FF"), 400, "'lastEventId'"),
    # /ws without a proper upgrade
    ("ws-no-upgrade", get(b"/ws"), 400, 'Can "Upgrade" only to "WebSocket".'),
    (
        "ws-no-key",
        get(b"/ws", b"Upgrade: websocket", b"Sec-WebSocket-Version: 13").replace(
            b"Connection: close", b"Connection: Upgrade"
        ),
        400,
        "Missing/Invalid WebSocket headers",
    ),
    # Endpoints without parameters ignore unknown ones, even malformed.
    ("symbols-junk-query", get(b"/api/symbols?x=%FF&x=1"), 200, '"symbols"'),
    ("transports-junk-query", get(b"/api/transports?\xff=\xff"), 200, '"transports"'),
    ("stats-junk-query", get(b"/api/stats?%%%"), 200, '"transports"'),
    ("time-post", get(b"/api/time", b"Content-Length: 0").replace(b"GET", b"POST"), 405, "use GET"),
    ("time-bad-path", get(b"/api/time%FF"), 404, "not found"),
    ("module-junk-query", get(b"/transports/websocket.js?x=%FF"), 200, "export"),
    ("module-unknown", get(b"/transports/nope.js"), 404, "not found"),
    ("index-junk-query", get(b"/?\xff"), 200, "<html"),
    ("static-bad-utf8", get(b"/static/%FF"), 400, "Bad Request"),
    ("static-outside-root", get(b"/static/../config.toml"), 403, "Forbidden"),
    ("static-missing", get(b"/static/nope.js"), 404, "Not Found"),
    # The HTTP layer: Tornado responds with a bare 400 or closes the connection.
    ("garbage-request-line", b"\xff\xfe garbage\r\n\r\n", 400, ""),
    ("header-control-char", get(b"/sse", b"Last-Event-ID: a\x01b"), 400, ""),
    ("huge-header", get(b"/api/time", b"X-Big: " + b"A" * 20000), None, ""),
    ("many-headers", get(b"/api/time", *[b"X-%d: 1" % index for index in range(500)]), 200, "server_time_ms"),
    ("huge-content-length", get(b"/api/time", b"Content-Length: 1000000000"), 400, ""),
    ("bad-content-length", get(b"/api/time", b"Content-Length: abc"), 400, ""),
    ("body-over-limit", get(b"/api/time", b"Content-Length: 2000") + b"x" * 2000, 400, ""),
    # A stalled half-sent request is closed after the idle or body timeout.
    ("stalled-headers", b"GET /api/time HTTP/1.1\r\nHost: 127.0.0.1\r\n", None, ""),
    ("stalled-request-line", b"GET /api/ti", None, ""),
    ("stalled-body", get(b"/api/time", b"Content-Length: 100") + b"abc", None, ""),
]


@pytest.mark.parametrize(
    ("request_bytes", "status", "text"),
    [case[1:] for case in HTTP_CASES],
    ids=[case[0] for case in HTTP_CASES],
)
@pytest.mark.gen_test(timeout=20 * TIME_UNIT)
async def test_http_hostile_request(
    server: TickerServer, request_bytes: bytes, status: int | None, text: str
) -> None:
    watcher = await Watcher.start(server.port)
    publish(server)

    response = await exchange(server.port, request_bytes)
    assert response.status == status, response
    body = response.body.decode("utf-8", "replace")
    assert text in body
    assert "Traceback" not in body
    if status == 400 and response.head.count(b"application/json"):
        error = json.loads(body)["error"]
        assert len(error) < 200, "a huge value must be cut in the error message"

    publish(server, 101.0)
    await watcher.check_every_tick(server.hub)
    await eventually(lambda: server.hub.counts() == {"websocket": 1})
    watcher.close()


@pytest.mark.gen_test(timeout=20 * TIME_UNIT)
async def test_stalled_request_closed_after_timeout(server: TickerServer) -> None:
    """While one request stalls, others are served, and the stalled one is closed in time."""
    watcher = await Watcher.start(server.port)
    stalled = asyncio.ensure_future(exchange(server.port, b"GET /long-poll?cursor=0 HTTP/1.1\r\n"))

    publish(server)
    served = await exchange(server.port, get(b"/api/time"))
    assert served.status == 200
    await watcher.check_every_tick(server.hub)

    # Without the server's idle timeout, the exchange's own timeout would fail this.
    response = await stalled
    assert response.status is None
    watcher.close()


@pytest.mark.gen_test(timeout=20 * TIME_UNIT)
async def test_sse_junk_last_event_id_resets(server: TickerServer) -> None:
    watcher = await Watcher.start(server.port)
    publish(server)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(get(b"/sse?symbols=KO", b"Last-Event-ID: \xff\xfe:12" + b"9" * 5000))
    stream = await asyncio.wait_for(reader.readuntil(b"event: reset"), 5 * TIME_UNIT)
    assert stream.startswith(b"HTTP/1.1 200")
    writer.close()
    await writer.wait_closed()

    publish(server, 101.0)
    await watcher.check_every_tick(server.hub)
    await eventually(lambda: server.hub.counts() == {"websocket": 1})
    watcher.close()


# WebSocket messages that get an error reply: (id, frame bytes, text in the error message)
TIME_REQUEST = json.dumps({"type": "time", "id": 1}).encode()
WS_ERROR_CASES = [
    ("invalid-json", frame(b"{not json"), "invalid JSON"),
    ("binary", frame(b"\x00\xff", OPCODE_BINARY), "binary messages are not supported"),
    ("json-array", frame(b"[1, 2]"), "expected a JSON object"),
    ("nan-id", frame(b'{"type": "time", "id": NaN}'), "NaN is not JSON"),
    ("huge-number", frame(b'{"type": "time", "id": 1e999}'), "out of range"),
    ("huge-integer", frame(b'{"type": "time", "id": ' + b"9" * 5000 + b"}"), "more than 30 digits"),
    ("deep-nesting", frame(b"[" * 30000 + b"]" * 30000), "nested too deeply"),
    ("deep-symbols", frame(b'{"type": "subscribe", "symbols": ' + b"[" * 500 + b"]" * 500 + b"}"), "invalid symbol"),
    ("unknown-type-list", frame(b'{"type": [1, 2]}'), "unknown message type [1, 2]"),
    ("huge-symbol", frame(b'{"type": "subscribe", "symbols": ["' + b"A" * 60000 + b'"]}'), "AAAA...'"),
    ("negative-cursor", frame(b'{"type": "subscribe", "symbols": ["KO"], "epoch": "e", "cursor": -1}'), "invalid cursor -1"),
    ("float-cursor", frame(b'{"type": "subscribe", "symbols": ["KO"], "epoch": "e", "cursor": 1.5}'), "invalid cursor 1.5"),
    ("lone-surrogate", frame(b'{"type": "subscribe", "symbols": ["\\ud800"]}'), "unknown symbol '\\ud800'"),
]


@pytest.mark.parametrize(
    ("data", "expected"), [case[1:] for case in WS_ERROR_CASES], ids=[case[0] for case in WS_ERROR_CASES]
)
@pytest.mark.gen_test(timeout=20 * TIME_UNIT)
async def test_websocket_bad_message_gets_error(
    server: TickerServer, data: bytes, expected: str
) -> None:
    watcher = await Watcher.start(server.port)
    client = await RawWebSocket.connect(server.port)
    await client.send(data)
    received = await client.receive()
    assert received is not None
    opcode, payload = received
    assert opcode == OPCODE_TEXT
    reply = json.loads(payload)
    assert reply["type"] == "error"
    assert expected in reply["message"]
    assert len(reply["message"]) < 300

    # The connection still works, and the watcher missed nothing.
    await client.send(frame(TIME_REQUEST))
    received = await client.receive()
    assert received is not None
    assert json.loads(received[1])["type"] == "time"
    publish(server)
    await watcher.check_every_tick(server.hub)
    await client.close()
    await eventually(lambda: server.hub.counts() == {"websocket": 1})
    watcher.close()


@pytest.mark.gen_test(timeout=20 * TIME_UNIT)
async def test_websocket_thousands_of_symbols(server: TickerServer) -> None:
    client = await RawWebSocket.connect(server.port)
    symbols = json.dumps(["AAPL", "KO"] * 3000)
    await client.send(frame(b'{"type": "subscribe", "symbols": %s}' % symbols.encode()))
    received = await client.receive()
    assert received is not None
    assert json.loads(received[1])["message"].startswith("too many symbols: 6000 named")
    # Repeated names within the limit are one subscription to each.
    symbols = json.dumps(["AAPL", "KO"] * 25)
    await client.send(frame(b'{"type": "subscribe", "symbols": %s}' % symbols.encode()))
    received = await client.receive()
    assert received is not None
    assert json.loads(received[1])["symbols"] == ["AAPL", "KO"]
    await client.close()


# Frames that break the protocol end the connection: (id, frame bytes, close code or None)
WS_CLOSE_CASES = [
    # The payload is cut short: the server must close on the declared length alone (and a
    # server that closes while a client is still sending resets the connection, which would
    # lose the close frame).
    ("oversize-frame", frame(b"x" * 100, length=70000), 1009),
    ("oversize-declared-length", frame(b"x" * 10, length=(1 << 63) - 1), 1009),
    ("invalid-utf8-text", frame(b'{"type": "\xff"}'), None),
    ("long-control-frame", frame(b"x" * 200, opcode=0x9), None),
    ("reserved-opcode", frame(TIME_REQUEST, opcode=0x3), None),
]


@pytest.mark.parametrize(
    ("data", "code"), [case[1:] for case in WS_CLOSE_CASES], ids=[case[0] for case in WS_CLOSE_CASES]
)
@pytest.mark.gen_test(timeout=20 * TIME_UNIT)
async def test_websocket_bad_frame_closes(
    server: TickerServer, data: bytes, code: int | None
) -> None:
    watcher = await Watcher.start(server.port)
    client = await RawWebSocket.connect(server.port)
    await eventually(lambda: server.hub.counts() == {"websocket": 2})
    await client.send(data)
    assert await client.close_code() == code
    await client.close()

    await eventually(lambda: server.hub.counts() == {"websocket": 1})
    publish(server)
    await watcher.check_every_tick(server.hub)
    watcher.close()
