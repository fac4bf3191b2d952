"""Live reload: edit the config file of a running ``ticker serve`` and watch clients hear of it."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tornado.httpclient
import tornado.websocket

from conftest import TIME_UNIT, ServerProcess
from ticker.config import parse_config
from ticker.errors import ConfigError
from ticker.reload import apply_config
from ticker.server import TickerServer

SYMBOL_TABLES = {
    "AAPL": 'symbol = "AAPL"\nname = "Apple Inc."\nprice = 100.0\nvolatility = 0.2\ndrift = 0.05\n',
    "MSFT": 'symbol = "MSFT"\nname = "Microsoft"\nprice = 200.0\nvolatility = 0.2\ndrift = 0.05\n',
    "NEW": 'symbol = "NEW"\nname = "Newly Listed"\nprice = 10.0\nvolatility = 0.3\ndrift = 0.0\n',
}
TIMEOUT = 10 * TIME_UNIT


def config_text(*symbols: str) -> str:
    text = "[feed]\ntick_interval = 0.02\nseed = 4\n\n[websocket]\nping_interval = 0\n"
    for symbol in symbols:
        text += "\n[[symbols]]\n" + SYMBOL_TABLES[symbol]
    return text


def start(ticker_process: Callable[[str], ServerProcess], tmp_path: Path, text: str):
    server = ticker_process(text)
    server.wait_for_output(r"watching .* for changes")
    return server, tmp_path / "config-0.toml"


def replace_file(path: Path, text: str) -> None:
    """Save the way many editors do: write a new file, then rename it over the old one."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def get_json(server: ServerProcess, path: str) -> Any:
    async def fetch() -> Any:
        client = tornado.httpclient.AsyncHTTPClient()
        response = await client.fetch(f"{server.base_url}{path}", request_timeout=TIMEOUT)
        return json.loads(response.body) if response.body else None

    return fetch()


async def open_websocket(server: ServerProcess) -> tornado.websocket.WebSocketClientConnection:
    url = server.base_url.replace("http://", "ws://") + "/ws"
    connection = await tornado.websocket.websocket_connect(url)
    await connection.write_message(json.dumps({"type": "subscribe", "symbols": ["*"]}))
    return connection


async def next_message(
    connection: tornado.websocket.WebSocketClientConnection, kind: str
) -> dict[str, Any]:
    """Read messages until one of type ``kind``; the ticks read on the way are discarded."""

    async def read() -> dict[str, Any]:
        while True:
            raw = await connection.read_message()
            assert raw is not None, "the server closed the WebSocket"
            message: dict[str, Any] = json.loads(raw)
            if message["type"] == kind:
                return message

    return await asyncio.wait_for(read(), TIMEOUT)


async def symbols_event(server: ServerProcess, ready: asyncio.Future[None]) -> dict[str, Any]:
    """Open an SSE stream, resolve ``ready`` once it is open, and return its first symbols event."""
    buffer = ""
    found: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

    def on_chunk(chunk: bytes) -> None:
        nonlocal buffer
        if not ready.done():
            ready.set_result(None)
        buffer += chunk.decode()
        while "\n\n" in buffer:
            event, buffer = buffer.split("\n\n", 1)
            if event.startswith("event: symbols\n") and not found.done():
                found.set_result(json.loads(event.split("data: ", 1)[1]))

    client = tornado.httpclient.AsyncHTTPClient()
    request = client.fetch(
        f"{server.base_url}/sse", streaming_callback=on_chunk, request_timeout=TIMEOUT * 2
    )
    try:
        return await asyncio.wait_for(found, TIMEOUT)
    finally:
        client.close()
        request.cancel()


async def poll_until_symbols(server: ServerProcess, version: int) -> dict[str, Any]:
    """Long-poll with ``symbols_version`` until a response carries the new symbol list."""
    snapshot = await get_json(server, "/api/snapshot")
    cursor = snapshot["cursor"]
    for _ in range(200):
        body = await get_json(
            server, f"/long-poll?cursor={cursor}&symbols_version={version}&timeout=5"
        )
        if body is not None and "symbols" in body:
            return dict(body)
        if body is not None:
            cursor = body["cursor"]
    raise AssertionError("no long-poll response carried the new symbols")


@pytest.mark.gen_test(timeout=60 * TIME_UNIT)
async def test_added_symbol_is_announced(ticker_process, tmp_path: Path) -> None:
    server, path = start(ticker_process, tmp_path, config_text("AAPL", "MSFT"))
    websocket = await open_websocket(server)
    await next_message(websocket, "snapshot")
    sse_ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    sse = asyncio.ensure_future(symbols_event(server, sse_ready))
    await asyncio.wait_for(sse_ready, TIMEOUT)
    poll = asyncio.ensure_future(poll_until_symbols(server, version=1))
    seq_before = (await get_json(server, "/api/snapshot"))["cursor"]

    replace_file(path, config_text("AAPL", "MSFT", "NEW"))

    message = await next_message(websocket, "symbols")
    assert message["added"] == ["NEW"]
    assert message["removed"] == []
    assert message["version"] == 2
    assert [entry["symbol"] for entry in message["symbols"]] == ["AAPL", "MSFT", "NEW"]
    assert message["symbols"][2]["name"] == "Newly Listed"
    event = await sse
    assert event["added"] == ["NEW"]
    polled = await poll
    assert polled["symbols_version"] == 2
    assert [entry["symbol"] for entry in polled["symbols"]] == ["AAPL", "MSFT", "NEW"]
    listed = await get_json(server, "/api/symbols")
    assert [entry["symbol"] for entry in listed["symbols"]] == ["AAPL", "MSFT", "NEW"]
    assert listed["version"] == 2

    # The new symbol ticks on the same connection, with seqs that carry on.
    while True:
        ticks = await next_message(websocket, "ticks")
        new = [tick for tick in ticks["ticks"] if tick["symbol"] == "NEW"]
        if new:
            break
    assert new[0]["seq"] > seq_before
    websocket.close()


@pytest.mark.gen_test(timeout=60 * TIME_UNIT)
async def test_removed_symbol_stops(ticker_process, tmp_path: Path) -> None:
    server, path = start(ticker_process, tmp_path, config_text("AAPL", "MSFT"))
    websocket = await open_websocket(server)
    snapshot = await next_message(websocket, "snapshot")
    epoch = snapshot["epoch"]

    path.write_text(config_text("AAPL"), encoding="utf-8")

    message = await next_message(websocket, "symbols")
    assert message["removed"] == ["MSFT"]
    assert [entry["symbol"] for entry in message["symbols"]] == ["AAPL"]
    seqs = []
    for _ in range(20):
        ticks = await next_message(websocket, "ticks")
        assert {tick["symbol"] for tick in ticks["ticks"]} == {"AAPL"}
        seqs.extend(tick["seq"] for tick in ticks["ticks"])
    assert seqs == sorted(set(seqs))
    websocket.close()

    # A client whose filter still names the removed symbol resumes without an error or a reset.
    body = await get_json(
        server, f"/long-poll?cursor={snapshot['cursor']}&epoch={epoch}&symbols=MSFT,AAPL"
    )
    assert "reset" not in body
    assert body["cursor"] > snapshot["cursor"]
    listed = await get_json(server, "/api/symbols")
    assert [entry["symbol"] for entry in listed["symbols"]] == ["AAPL"]
    snapshot_after = await get_json(server, "/api/snapshot")
    assert [tick["symbol"] for tick in snapshot_after["ticks"]] == ["AAPL"]


@pytest.mark.gen_test(timeout=60 * TIME_UNIT)
async def test_changed_setting_applies_next_tick(ticker_process, tmp_path: Path) -> None:
    server, path = start(ticker_process, tmp_path, config_text("AAPL", "MSFT"))
    mark = len(server.lines)
    wide = config_text("AAPL", "MSFT").replace(
        'name = "Apple Inc."', 'name = "Apple Inc."\nspread = 0.05'
    )
    path.write_text(wide, encoding="utf-8")
    await asyncio.to_thread(server.wait_for_output, r"settings changed for AAPL", mark)

    cursor = (await get_json(server, "/api/snapshot"))["cursor"]
    body = await get_json(server, f"/long-poll?cursor={cursor}&symbols=AAPL")
    tick = body["ticks"][0]
    assert tick["ask"] - tick["bid"] >= 0.049 * tick["price"]
    listed = await get_json(server, "/api/symbols")
    assert listed["symbols"][0]["spread"] == 0.05
    assert listed["version"] == 1  # no symbol added or removed


def test_invalid_edit_keeps_running_config(ticker_process, tmp_path: Path) -> None:
    server, path = start(ticker_process, tmp_path, config_text("AAPL", "MSFT"))
    mark = len(server.lines)
    invalid = config_text("AAPL", "MSFT", "NEW").replace("price = 10.0", "price = -1")
    path.write_text(invalid, encoding="utf-8")

    logged = server.wait_for_output(r"invalid config: (.*); the running config stays", mark)
    check = subprocess.run(
        [sys.executable, "-m", "ticker", "check-config", str(path)],
        capture_output=True,
        text=True,
        timeout=30 * TIME_UNIT,
    )
    # The same message as start-up and check-config give.
    assert check.stderr.strip() == f"error: {logged.group(1)}"
    assert "symbols[2].price: expected a positive price, got -1.0" in logged.group(1)

    mark = len(server.lines)
    path.write_text(config_text("AAPL", "MSFT", "NEW"), encoding="utf-8")
    server.wait_for_output(r"symbols changed \(version 2\): added NEW", mark)
    assert server.stop() == 0
    assert "Traceback" not in "".join(server.lines)


def test_sighup_reloads(ticker_process, tmp_path: Path) -> None:
    server, path = start(ticker_process, tmp_path, config_text("AAPL"))
    mark = len(server.lines)
    server.process.send_signal(signal.SIGHUP)
    server.wait_for_output(r"reloading config .* \(SIGHUP\)", mark)
    server.wait_for_output(r"reloaded: symbols unchanged", mark)
    assert server.process.poll() is None
    assert server.stop() == 0


@pytest.mark.gen_test
async def test_mode_change_is_rejected() -> None:
    server = TickerServer(parse_config(config_text("AAPL"), source="running.toml"), "127.0.0.1", 0)
    replay = parse_config('[feed]\nmode = "replay"\n', source="edited.toml")
    with pytest.raises(ConfigError, match=r"edited\.toml: feed\.mode: changing 'simulated'"):
        apply_config(server, replay)
    assert server.config.feed.mode == "simulated"
    assert server.hub.symbols == ("AAPL",)


@pytest.mark.gen_test
async def test_other_sections_wait_for_restart(caplog: pytest.LogCaptureFixture) -> None:
    server = TickerServer(parse_config(config_text("AAPL"), source="running.toml"), "127.0.0.1", 0)
    edited = parse_config(
        config_text("AAPL", "MSFT") + "\n[longpoll]\nhold_timeout = 3.0\n", source="edited.toml"
    )
    with caplog.at_level(logging.INFO, logger="ticker.reload"):
        apply_config(server, edited)
    assert "changes to [longpoll] take effect at the next start" in caplog.text
    assert server.config.longpoll.hold_timeout == 25.0
    assert server.hub.symbols == ("AAPL", "MSFT")
    assert server.context.config is server.config


RESTRICTED_KEY = "restricted-key-0123456789"
FULL_KEY = "full-key-0123456789abcdef"
KEYS = f"""
[access]
enabled = true

[[access.keys]]
name = "restricted"
key = "{RESTRICTED_KEY}"
symbols = ["AAPL"]

[[access.keys]]
name = "full"
key = "{FULL_KEY}"
symbols = ["*"]
"""


@pytest.mark.gen_test(timeout=60 * TIME_UNIT)
async def test_announcement_keeps_entitlement(ticker_process, tmp_path: Path) -> None:
    server, path = start(ticker_process, tmp_path, config_text("AAPL", "MSFT") + KEYS)
    url = server.base_url.replace("http://", "ws://") + "/ws?key="
    connections = {}
    for key in (RESTRICTED_KEY, FULL_KEY):
        connection = await tornado.websocket.websocket_connect(url + key)
        await connection.write_message(json.dumps({"type": "subscribe", "symbols": ["*"]}))
        await next_message(connection, "snapshot")
        connections[key] = connection

    replace_file(path, config_text("AAPL", "MSFT", "NEW") + KEYS)

    full = await next_message(connections[FULL_KEY], "symbols")
    assert full["added"] == ["NEW"]
    assert [entry["symbol"] for entry in full["symbols"]] == ["AAPL", "MSFT", "NEW"]
    # A restricted key hears of the change, but of no symbol outside its entitlement.
    restricted = await next_message(connections[RESTRICTED_KEY], "symbols")
    assert restricted["added"] == []
    assert [entry["symbol"] for entry in restricted["symbols"]] == ["AAPL"]
    for connection in connections.values():
        connection.close()
