"""Property-based tests: the request and message parsers accept any input without crashing.

Each parser either returns a valid value or raises InvalidRequest with a message that names the
value; no other exception escapes, whatever a client sends. Runs are bounded (``max_examples``)
so that the suite stays fast, and the deadline is off because a loaded CI machine is slow.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tornado.websocket import websocket_connect

from conftest import SMALL_CONFIG, TIME_UNIT
from ticker.app import make_hub
from ticker.config import parse_config
from ticker.errors import InvalidRequest
from ticker.params import (
    MAX_CURSOR_DIGITS,
    parse_cursor,
    parse_event_id,
    parse_message,
    parse_symbol_list,
    parse_symbols,
    parse_timeout,
)
from ticker.server import TickerServer

BOUNDED = settings(max_examples=300, deadline=None)
CONFIG = parse_config(SMALL_CONFIG, source="test-config.toml")
HUB = make_hub(CONFIG)
"""A hub for the parsers only; nothing publishes to it."""
KNOWN = list(HUB.symbols)

# Text that resembles the real values more often than uniform text would.
symbol_names = st.one_of(st.sampled_from([*KNOWN, "*", "", " ", "aapl"]), st.text(max_size=12))
symbol_lists = st.lists(symbol_names, max_size=6).map(",".join)
numbers = st.from_regex(r"-?[0-9]{0,35}(\.[0-9]{0,5})?([eE][-+]?[0-9]{1,3})?", fullmatch=True)
any_text = st.one_of(st.text(max_size=60), numbers, symbol_lists, st.sampled_from(["nan", "inf", "-0", "1_000"]))


def unquote(text: str) -> str:
    return text.replace("\\", "").replace("'", "").replace('"', "")


def assert_names_value(error: InvalidRequest, *candidates: str) -> None:
    """Check that the message quotes one of ``candidates`` (or its start, for a long one)."""
    message = unquote(str(error))
    # The start of each candidate's repr, without its quotes and escapes, which may differ when
    # the message quotes a shortened value.
    starts = [unquote(repr(candidate)[1:12]) for candidate in candidates]
    assert any(start in message for start in starts), (message, starts)
    assert len(message) < 300 + sum(len(name) for name in KNOWN)


@BOUNDED
@given(st.one_of(st.none(), any_text))
def test_parse_symbols_any_text(raw: str | None) -> None:
    try:
        symbols = parse_symbols(raw, HUB)
    except InvalidRequest as error:
        assert raw is not None
        assert_names_value(error, raw, *(name.strip() for name in raw.split(",")))
        return
    assert symbols is None or (symbols and symbols <= set(KNOWN))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=10,
)


@BOUNDED
@given(st.one_of(json_values, st.lists(symbol_names, max_size=6)))
def test_parse_symbol_list_any_value(value: Any) -> None:
    try:
        symbols = parse_symbol_list(value, HUB)
    except InvalidRequest as error:
        items = [item for item in value if isinstance(item, str)] if isinstance(value, list) else []
        message = str(error)
        assert message.startswith(
            ("invalid symbols ", "invalid symbol ", "unknown symbol ", 'missing "symbols"')
        )
        if message.startswith("unknown symbol "):
            assert_names_value(error, *items)
        return
    assert symbols is None or (symbols and symbols <= set(KNOWN))


@BOUNDED
@given(st.one_of(st.none(), any_text))
def test_parse_cursor_any_text(raw: str | None) -> None:
    try:
        cursor = parse_cursor(raw)
    except InvalidRequest as error:
        assert raw is not None
        assert_names_value(error, raw)
        return
    if raw is None:
        assert cursor is None
    else:
        assert cursor is not None and cursor >= 0
        assert len(raw) <= MAX_CURSOR_DIGITS


@BOUNDED
@given(st.one_of(st.none(), any_text))
def test_parse_timeout_any_text(raw: str | None) -> None:
    try:
        timeout = parse_timeout(raw, 25.0, 60.0)
    except InvalidRequest as error:
        assert raw is not None
        assert_names_value(error, raw)
        return
    assert math.isfinite(timeout)
    assert 0.0 <= timeout <= 60.0


epochs = st.text(st.characters(blacklist_characters=":", blacklist_categories=("Zs", "Cc")), min_size=1, max_size=64)


@BOUNDED
@given(st.one_of(st.text(max_size=100), st.builds(lambda e, c: f"{e}:{c}", epochs, st.integers(-5, 10**31))))
def test_parse_event_id_any_text(raw: str) -> None:
    parsed = parse_event_id(raw)
    if parsed is None:
        return
    epoch, cursor = parsed
    raw_epoch, _, raw_cursor = raw.partition(":")
    assert epoch == raw_epoch
    assert cursor == int(raw_cursor)
    assert 1 <= len(epoch) <= 64
    assert ":" not in epoch
    assert 0 <= cursor < 10**MAX_CURSOR_DIGITS


@BOUNDED
@given(epochs.filter(lambda epoch: not any(char.isspace() for char in epoch)), st.integers(0, 10**30 - 1))
def test_event_id_round_trip(epoch: str, cursor: int) -> None:
    assert parse_event_id(f"{epoch}:{cursor}") == (epoch, cursor)


# WebSocket messages: shaped like the protocol's, or arbitrary JSON and text.
message_objects = st.fixed_dictionaries(
    {"type": st.sampled_from(["subscribe", "unsubscribe", "time"]) | json_values},
    optional={
        "symbols": st.lists(symbol_names, max_size=4) | json_values,
        "epoch": st.text(max_size=12) | json_values,
        "cursor": st.integers(-2, 100) | json_values,
        "id": json_values,
    },
)
messages = st.one_of(
    message_objects.map(json.dumps),
    json_values.map(json.dumps),
    st.text(max_size=80),
    st.binary(max_size=40),
)


@BOUNDED
@given(messages)
def test_parse_message_any_input(message: str | bytes) -> None:
    try:
        data = parse_message(message)
    except InvalidRequest as error:
        assert str(error).startswith(("binary messages", "invalid JSON: ", "invalid message "))
        return
    assert isinstance(data, dict)
    # What the parser accepts can be sent back as strict JSON.
    json.dumps(data, allow_nan=False)


REPLY_TYPES = {"error", "snapshot", "ticks", "unsubscribed", "time"}


def strict_json(text: str) -> Any:
    def reject(name: str) -> None:
        raise AssertionError(f"reply contains {name}, which is not JSON")

    return json.loads(text, parse_constant=reject)


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    event_loop = asyncio.new_event_loop()
    yield event_loop
    event_loop.close()


def test_websocket_any_messages(loop: asyncio.AbstractEventLoop) -> None:
    """Any sequence of messages gets only valid replies and leaves the connection usable."""
    server = TickerServer(CONFIG, "127.0.0.1", 0)
    loop.run_until_complete(_start(server))

    async def exchange(batch: list[str | bytes]) -> None:
        connection = await websocket_connect(f"ws://127.0.0.1:{server.port}/ws")
        try:
            for message in batch:
                await connection.write_message(message, binary=isinstance(message, bytes))
            # A time request after the batch: every earlier message got its replies before it.
            await connection.write_message(json.dumps({"type": "time", "id": "end"}))
            while True:
                text = await asyncio.wait_for(connection.read_message(), 5 * TIME_UNIT)
                assert isinstance(text, str), f"connection closed after {batch!r}"
                reply = strict_json(text)
                assert reply["type"] in REPLY_TYPES
                if reply["type"] == "time" and reply["id"] == "end":
                    return
        finally:
            connection.close()

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(messages, min_size=1, max_size=5))
    def check(batch: list[str | bytes]) -> None:
        loop.run_until_complete(exchange(batch))

    try:
        check()
    finally:
        loop.run_until_complete(server.stop())


async def _start(server: TickerServer) -> None:
    server.start(run_feed=False)
