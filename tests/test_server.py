"""TickerServer as one unit: start, serve, and an orderly stop with live clients."""

from __future__ import annotations

import asyncio
import gc
import json
import socket
import warnings
from dataclasses import replace

import pytest
from tornado.httpclient import AsyncHTTPClient
from tornado.websocket import websocket_connect

from conftest import TIME_UNIT, eventually, wait_for
from test_websocket import open_stalled_client
from ticker.config import Config
from ticker.server import TickerServer


@pytest.mark.gen_test(timeout=30 * TIME_UNIT)
async def test_stop_says_goodbye_to_clients(config: Config) -> None:
    server = TickerServer(config, "127.0.0.1", 0)
    server.start()
    base = server.url.rstrip("/")
    assert server.port > 0

    connection = await websocket_connect(f"ws{base[4:]}/ws")
    await connection.write_message(json.dumps({"type": "subscribe", "symbols": ["*"]}))
    assert json.loads(await wait_for(connection.read_message()))["type"] == "snapshot"
    poll = asyncio.ensure_future(
        AsyncHTTPClient().fetch(f"{base}/long-poll?symbols=KO&timeout=10", raise_error=False)
    )
    # The feed runs, so wait until the poll waits for the next KO tick.
    await eventually(lambda: server.hub.counts().get("longpoll", 0) == 1)

    await server.stop()
    await server.stop()  # idempotent

    # Messages already sent may still be queued; the close follows them.
    while (message := await wait_for(connection.read_message())) is not None:
        assert json.loads(message)["type"] == "ticks"
    assert connection.close_code == 1001
    assert connection.close_reason == "server shutting down"
    connection.close()
    response = await wait_for(poll)
    assert response.code in (503, 200)  # 200 if a KO tick won the race with the stop
    if response.code == 503:
        assert json.loads(response.body) == {"error": "server shutting down"}
        assert response.headers["Retry-After"] == "1"
    assert server.hub.counts() == {}
    stopped_at = server.hub.last_seq
    await asyncio.sleep(5 * config.feed.tick_interval)
    assert server.hub.last_seq == stopped_at  # the feed is stopped


@pytest.mark.gen_test(timeout=30 * TIME_UNIT)
async def test_stop_drops_clients_that_never_answer(config: Config, log_guard) -> None:
    log_guard.expect(r"1 streaming clients did not finish closing within 0.2 s; dropping them")
    config = replace(config, server=replace(config.server, shutdown_timeout=0.2))
    server = TickerServer(config, "127.0.0.1", 0)
    server.start(run_feed=False)
    # Two clients that connect and then never read. The WebSocket close handshake never
    # completes, so that client is dropped; the event stream's end fits in the socket buffer.
    websocket = await open_stalled_client(server.port)
    stream = socket.create_connection(("127.0.0.1", server.port))
    stream.sendall(b"GET /sse HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    await eventually(lambda: server.hub.counts() == {"websocket": 1, "sse": 1})

    await server.stop()  # the test's timeout bounds it
    assert server.context.open_connections == set()
    assert server.context.address_limits.count("websocket", "127.0.0.1") == 0
    websocket.close()
    stream.close()


@pytest.mark.gen_test
async def test_start_on_used_port_raises(config: Config) -> None:
    # Tornado 6.6's bind_sockets leaves the socket that failed to bind to the garbage collector.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            server = TickerServer(config, "127.0.0.1", port)
            with pytest.raises(OSError, match="in use"):
                server.start()
        gc.collect()
    await server.stop()


@pytest.mark.gen_test
async def test_url_brackets_ipv6(config: Config) -> None:
    server = TickerServer(config, "::1", 0)
    server.port = 8888
    assert server.url == "http://[::1]:8888/"


@pytest.mark.gen_test(timeout=30 * TIME_UNIT)
async def test_feed_restart_is_not_a_shutdown(config: Config) -> None:
    server = TickerServer(config, "127.0.0.1", 0)
    server.start(run_feed=False)
    base = server.url.rstrip("/")
    try:
        connection = await websocket_connect(f"ws{base[4:]}/ws")
        await connection.write_message(json.dumps({"type": "subscribe", "symbols": ["*"]}))
        assert json.loads(await wait_for(connection.read_message()))["type"] == "snapshot"
        poll = asyncio.ensure_future(
            AsyncHTTPClient().fetch(f"{base}/long-poll?cursor=0&timeout=10", raise_error=False)
        )
        await eventually(lambda: server.hub.counts() == {"websocket": 1, "longpoll": 1})

        # What a backplane node does when the feed restarts with a new epoch.
        server.hub.restart("new-epoch", 40)

        assert await wait_for(connection.read_message()) is None
        assert connection.close_code == 1012
        assert connection.close_reason == (
            "the feed restarted or its ticks have a gap; resume to get a reset"
        )
        connection.close()
        response = await wait_for(poll)
        assert response.code == 200
        body = json.loads(response.body)
        assert body["reset"] is True
        assert body["epoch"] == "new-epoch"
        assert server.context.stats.transport("websocket").disconnects == {"feed_restart": 1}
    finally:
        await server.stop()
