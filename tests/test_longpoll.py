from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import Any

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPResponse
from tornado.tcpclient import TCPClient

from conftest import TIME_UNIT, ManualPublisher, eventually
from ticker.config import Config, HubConfig
from ticker.hub import Hub
from ticker.server import TickerServer

SHORT_HOLD = 0.2 * TIME_UNIT


@pytest.fixture
def url(http_server: Any, http_port: int):
    def build(path: str) -> str:
        return f"http://127.0.0.1:{http_port}{path}"

    return build


async def fetch(url: str, **kwargs: Any) -> HTTPResponse:
    client = AsyncHTTPClient()
    return await client.fetch(url, raise_error=False, request_timeout=20 * TIME_UNIT, **kwargs)


def body(response: HTTPResponse) -> dict[str, Any]:
    assert response.headers["Content-Type"].startswith("application/json")
    result: dict[str, Any] = json.loads(response.body)
    return result


def waiting(hub: Hub) -> int:
    return hub.counts().get("longpoll", 0)


@pytest.mark.gen_test
async def test_cursor_with_data_answers_at_once(url, publisher: ManualPublisher, hub: Hub) -> None:
    publisher.publish({"AAPL": 101.0, "MSFT": 201.0})
    response = await fetch(url("/long-poll?cursor=0"))
    assert response.code == 200
    assert response.headers["Cache-Control"] == "no-store"
    data = body(response)
    assert data["epoch"] == hub.epoch
    assert data["cursor"] == 2
    assert data["more"] is False
    assert [(t["seq"], t["symbol"], t["price"]) for t in data["ticks"]] == [
        (1, "AAPL", 101.0),
        (2, "MSFT", 201.0),
    ]


@pytest.mark.gen_test
async def test_poll_holds_until_publish(url, publisher: ManualPublisher, hub: Hub) -> None:
    publisher.publish({"AAPL": 101.0})
    pending = asyncio.ensure_future(fetch(url(f"/long-poll?cursor=1&epoch={hub.epoch}")))
    await eventually(lambda: waiting(hub) == 1)
    assert not pending.done()

    publisher.publish({"MSFT": 202.0})
    response = await pending
    assert response.code == 200
    data = body(response)
    assert [t["seq"] for t in data["ticks"]] == [2]
    assert data["cursor"] == 2
    assert waiting(hub) == 0


@pytest.mark.gen_test
async def test_poll_ignores_other_symbols(url, publisher: ManualPublisher, hub: Hub) -> None:
    pending = asyncio.ensure_future(fetch(url("/long-poll?cursor=0&symbols=KO")))
    await eventually(lambda: waiting(hub) == 1)

    publisher.publish({"AAPL": 101.0, "MSFT": 201.0})
    await asyncio.sleep(0)
    assert waiting(hub) == 1  # an AAPL and MSFT batch does not wake a KO poll

    publisher.publish({"KO": 51.0, "AAPL": 102.0})
    data = body(await pending)
    assert [(t["seq"], t["symbol"]) for t in data["ticks"]] == [(3, "KO")]
    assert data["cursor"] == 4


@pytest.mark.gen_test
async def test_timeout_answers_204_with_cursor(url, publisher: ManualPublisher, hub: Hub) -> None:
    publisher.publish({"AAPL": 101.0})
    response = await fetch(url(f"/long-poll?cursor=1&symbols=MSFT&timeout={SHORT_HOLD}"))
    assert response.code == 204
    assert response.body == b""
    assert response.headers["X-Ticker-Epoch"] == hub.epoch
    assert response.headers["X-Ticker-Cursor"] == "1"
    assert waiting(hub) == 0


@pytest.mark.gen_test
async def test_timeout_zero_answers_at_once(url, publisher: ManualPublisher, hub: Hub) -> None:
    response = await fetch(url("/long-poll?timeout=0"))
    assert response.code == 204
    publisher.publish({"AAPL": 101.0})
    response = await fetch(url("/long-poll?cursor=0&timeout=0"))
    assert response.code == 200
    assert [t["symbol"] for t in body(response)["ticks"]] == ["AAPL"]


@pytest.mark.gen_test
async def test_no_cursor_waits_for_next_update(url, publisher: ManualPublisher, hub: Hub) -> None:
    publisher.publish({"AAPL": 101.0})  # already published, so not sent to the new poll
    pending = asyncio.ensure_future(fetch(url("/long-poll")))
    await eventually(lambda: waiting(hub) == 1)
    publisher.publish({"AAPL": 102.0, "KO": 52.0})
    response = await pending
    assert response.code == 200
    data = body(response)
    assert [(t["seq"], t["price"]) for t in data["ticks"]] == [(2, 102.0), (3, 52.0)]


@pytest.mark.gen_test
async def test_tutorial_client_loop(url, publisher: ManualPublisher, hub: Hub) -> None:
    """The classic client: GET, print the JSON on 200, pause briefly on 204, repeat."""
    printed: list[dict[str, Any]] = []
    codes: list[int] = []

    async def tutorial_client(rounds: int) -> None:
        for _ in range(rounds):
            response = await fetch(url(f"/long-poll?timeout={SHORT_HOLD}"))
            codes.append(response.code)
            if response.code == 200:
                printed.append(json.loads(response.body))
            elif response.code == 204:
                await asyncio.sleep(0.01)

    # Round 1 times out; round 2 gets the batch published while it waits.
    client = asyncio.ensure_future(tutorial_client(rounds=2))
    await eventually(lambda: len(codes) == 1)
    await eventually(lambda: waiting(hub) == 1)
    publisher.publish({"MSFT": 205.0})
    await client
    assert codes == [204, 200]
    assert [t["price"] for t in printed[0]["ticks"]] == [205.0]


@pytest.mark.gen_test
async def test_stale_cursor_gets_reset(url, publisher: ManualPublisher, hub: Hub) -> None:
    for step in range(20):  # 60 ticks; the test history keeps 50
        publisher.publish({"AAPL": 100.0 + step, "MSFT": 200.0 + step, "KO": 50.0 + step})
    response = await fetch(url(f"/long-poll?cursor=5&epoch={hub.epoch}&symbols=AAPL,KO"))
    assert response.code == 200
    data = body(response)
    assert data["reset"] is True
    assert data["epoch"] == hub.epoch
    assert data["cursor"] == 60
    assert [(t["symbol"], t["price"]) for t in data["ticks"]] == [("AAPL", 119.0), ("KO", 69.0)]


@pytest.mark.gen_test
async def test_cursor_at_history_edge_is_kept(url, publisher: ManualPublisher, hub: Hub) -> None:
    for step in range(20):
        publisher.publish({"AAPL": 100.0 + step, "MSFT": 200.0 + step, "KO": 50.0 + step})
    # Ticks 11-60 are kept, so cursor 10 still loses nothing.
    data = body(await fetch(url("/long-poll?cursor=10&symbols=KO")))
    assert "reset" not in data
    assert [t["seq"] for t in data["ticks"]] == list(range(12, 61, 3))


@pytest.mark.gen_test
async def test_other_epoch_gets_reset(url, publisher: ManualPublisher, hub: Hub) -> None:
    publisher.publish({"AAPL": 101.0})
    data = body(await fetch(url("/long-poll?cursor=0&epoch=from-a-previous-start")))
    assert data["reset"] is True
    assert data["epoch"] == hub.epoch
    assert data["cursor"] == 1


@pytest.mark.gen_test
async def test_cursor_ahead_gets_reset(url, publisher: ManualPublisher, hub: Hub) -> None:
    publisher.publish({"AAPL": 101.0})
    data = body(await fetch(url("/long-poll?cursor=500")))
    assert data["reset"] is True
    assert data["cursor"] == 1


@pytest.mark.gen_test
async def test_huge_cursor_gets_reset(url, publisher: ManualPublisher) -> None:
    publisher.publish({"AAPL": 101.0})
    data = body(await fetch(url("/long-poll?cursor=" + "9" * 30)))
    assert data["reset"] is True
    assert data["cursor"] == 1


@pytest.mark.gen_test
async def test_long_backlog_is_paged(url, publisher: ManualPublisher) -> None:
    for step in range(10):  # 30 ticks; the test config sends 20 per response
        publisher.publish({"AAPL": 100.0 + step, "MSFT": 200.0 + step, "KO": 50.0 + step})
    first = body(await fetch(url("/long-poll?cursor=0")))
    assert [t["seq"] for t in first["ticks"]] == list(range(1, 21))
    assert first["more"] is True
    assert first["cursor"] == 20
    second = body(await fetch(url(f"/long-poll?cursor={first['cursor']}")))
    assert [t["seq"] for t in second["ticks"]] == list(range(21, 31))
    assert second["more"] is False


@pytest.mark.gen_test
async def test_disconnect_while_waiting_cleans_up(http_server, http_port, hub: Hub) -> None:
    stream = await TCPClient().connect("127.0.0.1", http_port)
    await stream.write(b"GET /long-poll?cursor=0 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    await eventually(lambda: waiting(hub) == 1)
    stream.close()
    await eventually(lambda: waiting(hub) == 0)
    assert hub.counts() == {}


@pytest.mark.gen_test
async def test_many_waiters_all_woken(url, publisher: ManualPublisher, hub: Hub) -> None:
    polls = [asyncio.ensure_future(fetch(url("/long-poll?cursor=0"))) for _ in range(10)]
    await eventually(lambda: waiting(hub) == 10)
    publisher.publish({"KO": 55.0})
    responses = await asyncio.gather(*polls)
    assert [r.code for r in responses] == [200] * 10
    assert {r.body for r in responses} == {responses[0].body}
    assert hub.encoded_ticks == 1
    assert waiting(hub) == 0


@pytest.mark.gen_test
async def test_full_hub_answers_503(url, publisher: ManualPublisher, hub: Hub, log_guard) -> None:
    log_guard.expect("refused: server full: 1 clients connected")
    log_guard.expect(r"503 GET /long-poll")
    hub.max_subscribers = 1
    first = asyncio.ensure_future(fetch(url("/long-poll?cursor=0")))
    await eventually(lambda: waiting(hub) == 1)
    response = await fetch(url("/long-poll?cursor=0"))
    assert response.code == 503
    assert response.headers["Retry-After"] == "1"
    assert "server full" in body(response)["error"]
    publisher.publish({"AAPL": 101.0})
    assert (await first).code == 200


BAD_REQUESTS = [
    ("cursor=-1", "invalid cursor '-1'"),
    ("cursor=abc", "invalid cursor 'abc'"),
    ("cursor=1.5", "invalid cursor '1.5'"),
    ("cursor=", "invalid cursor ''"),
    ("cursor=" + "9" * 31, "at most 30 digits"),
    ("cursor=0x10", "invalid cursor '0x10'"),
    ("symbols=NOPE", "unknown symbol 'NOPE'"),
    ("symbols=aapl", "unknown symbol 'aapl'"),
    ("symbols=AAPL,,KO", "invalid symbols 'AAPL,,KO'"),
    ("symbols_version=two", "invalid symbols_version 'two'"),
    ("symbols_version=-1", "invalid symbols_version '-1'"),
    ("timeout=soon", "invalid timeout 'soon'"),
    ("timeout=-1", "invalid timeout '-1'"),
    ("timeout=nan", "invalid timeout 'nan'"),
    ("timeout=inf", "invalid timeout 'inf'"),
    ("timeout=1e3", "invalid timeout '1e3'"),
    ("timeout=1_0", "invalid timeout '1_0'"),
    ("timeout=%2B5", "invalid timeout '+5'"),
]


@pytest.mark.parametrize(("query", "message"), BAD_REQUESTS)
@pytest.mark.gen_test
async def test_bad_request_names_value(url, hub: Hub, query: str, message: str) -> None:
    response = await fetch(url(f"/long-poll?{query}"))
    assert response.code == 400
    assert response.headers["Cache-Control"] == "no-store"
    error = body(response)["error"]
    assert message in error
    assert waiting(hub) == 0


@pytest.mark.gen_test
async def test_wrong_method_is_405(url) -> None:
    response = await fetch(url("/long-poll"), method="POST", body=b"{}")
    assert response.code == 405
    assert "use GET" in body(response)["error"]


# Loss-free delivery against the real feed, on a real server started by TickerServer.


async def poll_until(base: str, start: dict[str, Any], polls: int, symbols: str = "") -> list[int]:
    """Poll ``polls`` times from the snapshot ``start``; return every seq received, in order."""
    seqs: list[int] = []
    cursor, epoch = start["cursor"], start["epoch"]
    query = f"&symbols={symbols}" if symbols else ""
    for _ in range(polls):
        response = await fetch(f"{base}/long-poll?cursor={cursor}&epoch={epoch}{query}")
        assert response.code == 200, response.code
        data = body(response)
        assert "reset" not in data, f"unexpected reset at cursor {cursor}"
        seqs.extend(tick["seq"] for tick in data["ticks"])
        cursor = data["cursor"]
    return seqs


@pytest.mark.gen_test(timeout=60 * TIME_UNIT)
async def test_consecutive_polls_lose_nothing(config: Config, log_guard) -> None:
    log_guard.expect(r"feed is .* behind")  # a 2 ms beat on a busy machine
    fast = replace(
        config,
        hub=HubConfig(history_size=100_000),
        longpoll=replace(config.longpoll, max_ticks_per_response=7),
    )
    fast = replace(fast, feed=replace(fast.feed, tick_interval=0.002))
    server = TickerServer(fast, "127.0.0.1", 0)
    server.start()
    try:
        base = server.url.rstrip("/")
        snapshot = body(await fetch(f"{base}/api/snapshot"))
        every, only_ko = await asyncio.gather(
            poll_until(base, snapshot, polls=250),
            poll_until(base, snapshot, polls=250, symbols="KO"),
        )
    finally:
        await server.stop()

    first = snapshot["cursor"] + 1
    assert every == list(range(first, first + len(every)))  # no gap, no repeat, in order
    expected_ko, _ = server.hub.ticks_after(snapshot["cursor"], frozenset({"KO"}), 100_000)
    assert only_ko == [tick.seq for tick in expected_ko][: len(only_ko)]
    assert len(every) >= 250
    assert len(only_ko) >= 250


def test_hold_timeout_is_clamped() -> None:
    from ticker.params import parse_timeout

    assert parse_timeout("3600", default=25.0, maximum=60.0) == 60.0
    assert parse_timeout(None, default=25.0, maximum=60.0) == 25.0
    assert parse_timeout("0", default=25.0, maximum=60.0) == 0.0
    assert parse_timeout(".5", default=25.0, maximum=60.0) == 0.5
    assert parse_timeout("2.", default=25.0, maximum=60.0) == 2.0


@pytest.mark.gen_test
async def test_waiting_poll_gets_new_symbols(
    url, publisher: ManualPublisher, hub: Hub, context: Any
) -> None:
    publisher.publish({"AAPL": 101.0})
    # The hold outlasts the wait below, so only the announcement can end the poll in time.
    poll = asyncio.ensure_future(
        fetch(url("/long-poll?cursor=1&symbols=KO&symbols_version=1&timeout=10"))
    )
    await eventually(lambda: waiting(hub) == 1)

    new_symbols = (*context.config.symbols[:2], replace(context.config.symbols[0], symbol="NEW"))
    context.config = replace(context.config, symbols=new_symbols)
    hub.update_symbols({entry.symbol: entry.price for entry in new_symbols})

    data = body(await asyncio.wait_for(poll, 2 * TIME_UNIT))
    assert data["ticks"] == []
    assert data["cursor"] == 1
    assert data["symbols_version"] == 2
    assert [entry["symbol"] for entry in data["symbols"]] == ["AAPL", "MSFT", "NEW"]


@pytest.mark.gen_test
async def test_current_symbols_version_omits_list(url, publisher: ManualPublisher) -> None:
    publisher.publish({"AAPL": 101.0})
    data = body(await fetch(url("/long-poll?cursor=0&symbols_version=1")))
    assert data["symbols_version"] == 1
    assert "symbols" not in data
    stale = body(await fetch(url("/long-poll?cursor=0&symbols_version=0")))
    assert [entry["symbol"] for entry in stale["symbols"]] == ["AAPL", "MSFT", "KO"]
    assert [tick["seq"] for tick in stale["ticks"]] == [1]
    empty = await fetch(url("/long-poll?cursor=1&symbols_version=1&timeout=0"))
    assert empty.code == 204
    assert empty.headers["X-Ticker-Symbols-Version"] == "1"
