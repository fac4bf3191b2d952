"""Limits per client address and per request, on every transport."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from tornado.httpclient import HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

from conftest import SMALL_CONFIG, TIME_UNIT, ManualPublisher, eventually, wait_for
from test_longpoll import body, fetch
from test_sse import open_stream
from ticker.config import Config, parse_config
from ticker.context import ServerContext
from ticker.hub import Hub
from ticker.server import TickerServer

LIMITS = """
[limits]
max_connections_per_address = 2
max_polls_per_address = 2
max_symbols_per_subscription = 2
"""


@pytest.fixture
def config() -> Config:
    return parse_config(SMALL_CONFIG + LIMITS, source="limits.toml")


@pytest.fixture
def base(http_server: Any, http_port: int) -> str:
    return f"http://127.0.0.1:{http_port}"


async def open_ws(base: str, real_ip: str | None = None) -> WebSocketClientConnection:
    headers = {"X-Real-IP": real_ip} if real_ip else {}
    request = HTTPRequest("ws" + base.removeprefix("http") + "/ws", headers=headers)
    return await websocket_connect(request)


async def closed(connection: WebSocketClientConnection) -> tuple[int | None, str | None]:
    """Read until the server closes ``connection``; return the close code and reason."""
    while await wait_for(connection.read_message()) is not None:
        pass
    return connection.close_code, connection.close_reason


@pytest.mark.gen_test(timeout=30 * TIME_UNIT)
async def test_websocket_over_address_limit_closes_1008(
    base: str, hub: Hub, context: ServerContext, log_guard
) -> None:
    log_guard.expect("refused: too many websocket connections from 127.0.0.1: the limit is 2")
    first, second = await open_ws(base), await open_ws(base)
    await eventually(lambda: hub.counts().get("websocket") == 2)

    third = await open_ws(base)
    code, reason = await closed(third)
    assert code == 1008
    assert reason == "too many websocket connections from 127.0.0.1: the limit is 2"
    assert context.stats.transport("websocket").refusals == {"address_limit": 1}
    third.close()

    # A closed connection frees its place for the next one.
    first.close()
    await eventually(lambda: context.address_limits.count("websocket", "127.0.0.1") == 1)
    fourth = await open_ws(base)
    await eventually(lambda: hub.counts().get("websocket") == 2)
    second.close()
    fourth.close()
    await eventually(lambda: len(context.address_limits) == 0)


@pytest.mark.gen_test(timeout=30 * TIME_UNIT)
async def test_sse_over_address_limit_is_429(base: str, hub: Hub, log_guard) -> None:
    log_guard.expect("refused: too many sse connections")
    log_guard.expect(r"429 GET /sse")
    streams = [await open_stream(base, "/sse") for _ in range(2)]
    await eventually(lambda: hub.counts().get("sse") == 2)
    response = await fetch(f"{base}/sse")
    assert response.code == 429
    assert response.headers["Retry-After"] == "1"
    assert body(response)["error"] == (
        "too many sse connections from 127.0.0.1: the limit is 2; retry after 1 s"
    )
    for stream in streams:
        await stream.close()


@pytest.mark.gen_test(timeout=30 * TIME_UNIT)
async def test_waiting_polls_over_address_limit_are_429(
    base: str, hub: Hub, publisher: ManualPublisher, context: ServerContext, log_guard
) -> None:
    log_guard.expect("refused: too many longpoll connections")
    log_guard.expect(r"429 GET /long-poll")
    polls = [asyncio.ensure_future(fetch(f"{base}/long-poll?cursor=0")) for _ in range(2)]
    await eventually(lambda: hub.counts().get("longpoll") == 2)

    response = await fetch(f"{base}/long-poll?cursor=0")
    assert response.code == 429
    assert response.headers["Retry-After"] == "1"
    assert "the limit is 2" in body(response)["error"]

    # A poll that gets its response at once takes no place, so the limit never rejects it.
    publisher.publish({"AAPL": 101.0})
    for poll in polls:
        assert (await poll).code == 200
    assert (await fetch(f"{base}/long-poll?cursor=0")).code == 200
    stats = context.stats.transport("longpoll")
    assert stats.refusals == {"address_limit": 1}
    assert stats.outcomes == {"data": 3, "unavailable": 1}
    assert len(context.address_limits) == 0


@pytest.mark.parametrize("path", ["/long-poll", "/poll", "/sse", "/api/snapshot"])
@pytest.mark.gen_test(timeout=30 * TIME_UNIT)
async def test_too_many_symbols_is_400(base: str, path: str) -> None:
    response = await fetch(f"{base}{path}?symbols=AAPL,MSFT,KO")
    assert response.code == 400
    assert body(response)["error"] == (
        "too many symbols: 3 named, at most 2 per subscription; name fewer, or use * for all"
    )
    if path != "/sse":  # a stream that opens would never end
        assert (await fetch(f"{base}{path}?symbols=*&timeout=0")).code in (200, 204)


@pytest.mark.gen_test(timeout=30 * TIME_UNIT)
async def test_websocket_too_many_symbols_gets_error(
    base: str, hub: Hub, context: ServerContext
) -> None:
    connection = await open_ws(base)
    await connection.write_message(
        json.dumps({"type": "subscribe", "symbols": ["AAPL", "MSFT", "KO"]})
    )
    reply = json.loads(await wait_for(connection.read_message()))
    assert reply == {
        "type": "error",
        "message": "too many symbols: 3 named, at most 2 per subscription; name fewer, or use * for all",
    }
    # The connection stays usable.
    await connection.write_message(json.dumps({"type": "subscribe", "symbols": ["*"]}))
    assert json.loads(await wait_for(connection.read_message()))["type"] == "snapshot"
    assert context.stats.transport("websocket").refusals == {"too_many_symbols": 1}
    connection.close()


XHEADERS = """
[server]
xheaders = true
"""


@pytest.mark.gen_test(timeout=30 * TIME_UNIT)
async def test_proxy_headers_name_each_client() -> None:
    config = parse_config(SMALL_CONFIG + LIMITS + XHEADERS, source="limits.toml")
    server = TickerServer(config, "127.0.0.1", 0)
    server.start(run_feed=False)
    try:
        # Behind a proxy every client shares the proxy's address; X-Real-IP distinguishes them.
        base = server.url.rstrip("/")
        connections = [await open_ws(base, f"192.0.2.{index}") for index in range(3)]
        await eventually(lambda: server.hub.counts().get("websocket") == 3)
        assert server.context.address_limits.count("websocket", "192.0.2.1") == 1
        for connection in connections:
            connection.close()
    finally:
        await server.stop()
