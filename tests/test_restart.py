"""Clients of every transport across a server restart: an orderly stop, backoff, a reset."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import SMALL_CONFIG, TIME_UNIT, ServerProcess, start_server_process, wait_for
from ticker.clients.base import RESET, TICKS, ClientClosed, Event, TransportClient
from ticker.clients.polling import long_poll_client, short_poll_client
from ticker.clients.reconnect import ReconnectingClient, backoff_delay
from ticker.clients.sse import SseClient
from ticker.clients.websocket import WebSocketClient

CLIENTS: dict[str, Callable[[str], TransportClient]] = {
    "websocket": WebSocketClient,
    "sse": SseClient,
    "longpoll": lambda base_url: long_poll_client(base_url, hold=1.0),
    "poll": lambda base_url: short_poll_client(base_url, interval=0.02),
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def serve(tmp_path: Path, port: int) -> ServerProcess:
    """Start ``ticker serve`` on ``port`` without blocking the clients' event loop."""
    config = tmp_path / "config.toml"
    config.write_text(SMALL_CONFIG, encoding="utf-8")
    args = ["serve", "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, lambda: start_server_process(args, cwd=tmp_path))


async def next_event(client: TransportClient, kind: str) -> Event:
    """Return the next event of ``kind``, skipping others; bounded by the test's timeout."""
    while True:
        event = await wait_for(client.receive(), timeout=20 * TIME_UNIT)
        if event.kind == kind:
            return event


@pytest.mark.gen_test(timeout=90 * TIME_UNIT)
async def test_clients_carry_on_after_restart(tmp_path: Path) -> None:
    port = free_port()
    server = await serve(tmp_path, port)
    clients = {
        name: ReconnectingClient(lambda make=make: make(server.base_url), 0.05, 0.5)  # type: ignore[misc]
        for name, make in CLIENTS.items()
    }
    restarted: ServerProcess | None = None
    loop = asyncio.get_running_loop()
    try:
        for client in clients.values():
            await client.open()
            first = await next_event(client, TICKS)
        first_epoch = first.epoch

        # An orderly stop with live clients of every transport: exit status 0, in bounded time.
        status = await loop.run_in_executor(None, server.stop)
        assert status == 0
        log = "".join(server.lines)
        assert "ticker stopped" in log
        assert "did not finish closing" not in log

        # While the server is away, every client retries with backoff.
        receiving = {name: asyncio.ensure_future(next_event(c, RESET)) for name, c in clients.items()}
        restarted = await serve(tmp_path, port)
        for name, task in receiving.items():
            reset = await task
            assert reset.epoch != first_epoch, name
            # Told of the reset, the client carries on with the new server's ticks.
            ticks = await next_event(clients[name], TICKS)
            assert ticks.epoch == reset.epoch, name
            assert ticks.cursor > reset.cursor, name
            assert clients[name].reconnects >= 1, name
    finally:
        for client in clients.values():
            await client.close()
        server.kill()
        if restarted is not None:
            assert await loop.run_in_executor(None, restarted.stop) == 0


@pytest.mark.gen_test(timeout=30 * TIME_UNIT)
async def test_gives_up_after_max_attempts() -> None:
    port = free_port()  # nothing listens here
    client = ReconnectingClient(
        lambda: WebSocketClient(f"http://127.0.0.1:{port}"), 0.01, 0.02, max_attempts=3
    )
    client.position = ("epoch", 1)
    client.client = _Broken()
    with pytest.raises(OSError):
        await client.receive()
    assert client.reconnects == 0


class _Broken(WebSocketClient):
    """A client whose connection has just been lost."""

    def __init__(self) -> None:
        super().__init__("http://127.0.0.1:1")

    async def receive(self) -> Event:
        raise ClientClosed("closed with code 1001: server shutting down")


def test_backoff_grows_with_jitter_and_a_cap() -> None:
    assert backoff_delay(0, 0.5, 10.0, lambda: 0.0) == 0.25
    assert backoff_delay(0, 0.5, 10.0, lambda: 0.999) == pytest.approx(0.5, abs=0.001)
    assert backoff_delay(3, 0.5, 10.0, lambda: 0.0) == 2.0
    assert backoff_delay(50, 0.5, 10.0, lambda: 0.0) == 5.0
    assert backoff_delay(50, 0.5, 10.0, lambda: 0.999) <= 10.0
