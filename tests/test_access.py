"""Access control on a real server: API keys, entitlements, WebSocket origins, CORS, key redaction."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest, HTTPResponse
from tornado.websocket import websocket_connect

from conftest import SMALL_CONFIG, ManualPublisher, eventually, wait_for
from test_sse import open_stream
from ticker.access import AccessControl, redact_uri
from ticker.config import Config, parse_config
from ticker.clients.base import ClientRejected
from ticker.clients.polling import long_poll_client, short_poll_client
from ticker.clients.sse import SseClient
from ticker.clients.websocket import WebSocketClient
from ticker.context import ServerContext

FULL_KEY = "full-key-0123456789abcdef"
NARROW_KEY = "narrow-key-0123456789abcdef"

ACCESS_CONFIG = f"""
[access]
enabled = true
allowed_origins = ["https://allowed.example"]
cors_origins = ["https://cors.example"]

[[access.keys]]
name = "full"
key = "{FULL_KEY}"
symbols = ["*"]

[[access.keys]]
name = "narrow"
key = "{NARROW_KEY}"
symbols = ["AAPL", "KO"]
"""

KEYED_PATHS = [
    "/api/symbols",
    "/api/snapshot",
    "/api/stats",
    "/metrics",
    "/long-poll?timeout=0",
    "/poll",
    "/sse",
]
OPEN_PATHS = ["/", "/api/transports", "/api/time", "/static/compare.html", "/transports/sse.js"]


@pytest.fixture
def config() -> Config:
    return parse_config(SMALL_CONFIG + ACCESS_CONFIG, source="test-config.toml")


@pytest.fixture
def base(http_server: Any, http_port: int) -> str:
    return f"http://127.0.0.1:{http_port}"


async def fetch(url: str, **kwargs: Any) -> HTTPResponse:
    return await AsyncHTTPClient().fetch(url, raise_error=False, **kwargs)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def all_logs() -> Iterator[list[logging.LogRecord]]:
    """Every log record of the test, DEBUG included."""
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Collect(level=logging.DEBUG)
    root = logging.getLogger()
    previous = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    try:
        yield records
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


def formatted(records: list[logging.LogRecord]) -> str:
    return "\n".join(logging.Formatter("%(name)s %(message)s").format(r) for r in records)


# Keys


@pytest.mark.parametrize("path", KEYED_PATHS)
@pytest.mark.gen_test
async def test_missing_key_is_401(base: str, path: str) -> None:
    response = await fetch(base + path)
    assert response.code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="ticker"'
    assert "missing API key" in json.loads(response.body)["error"]


@pytest.mark.parametrize("path", KEYED_PATHS)
@pytest.mark.gen_test
async def test_wrong_key_is_401(base: str, path: str) -> None:
    separator = "&" if "?" in path else "?"
    by_query = await fetch(f"{base}{path}{separator}key=wrong-key-0123456789abcdef")
    by_header = await fetch(base + path, headers=bearer("wrong-key-0123456789abcdef"))
    assert by_query.code == 401
    assert by_header.code == 401
    assert json.loads(by_header.body) == {"error": "invalid API key"}


@pytest.mark.gen_test
async def test_malformed_authorization_is_401(base: str) -> None:
    response = await fetch(base + "/api/symbols", headers={"Authorization": f"Basic {FULL_KEY}"})
    assert response.code == 401
    assert "expected Bearer KEY" in json.loads(response.body)["error"]


@pytest.mark.parametrize("path", OPEN_PATHS)
@pytest.mark.gen_test
async def test_pages_need_no_key(base: str, path: str) -> None:
    response = await fetch(base + path)
    assert response.code == 200


@pytest.mark.gen_test
async def test_key_by_header_or_query(base: str) -> None:
    by_header = await fetch(base + "/api/snapshot", headers=bearer(FULL_KEY))
    by_query = await fetch(f"{base}/api/snapshot?key={FULL_KEY}")
    assert by_header.code == 200
    assert by_query.code == 200


@pytest.mark.gen_test
async def test_metrics_and_healthz_with_key(base: str) -> None:
    assert (await fetch(base + "/metrics", headers=bearer(FULL_KEY))).code == 200
    # No feed runs in this app, so the health check fails, but without asking for a key.
    assert (await fetch(base + "/healthz")).code == 503


def test_find_key_checks_every_key(config: Config) -> None:
    access = AccessControl(config.access)
    found = access.find_key(NARROW_KEY)
    assert found is not None
    assert found.name == "narrow"
    assert access.find_key(NARROW_KEY + "x") is None
    assert access.find_key(NARROW_KEY[:-1]) is None


# Entitlements


@pytest.mark.gen_test
async def test_symbols_lists_entitled_only(base: str) -> None:
    response = await fetch(base + "/api/symbols", headers=bearer(NARROW_KEY))
    listed = json.loads(response.body)
    assert [entry["symbol"] for entry in listed["symbols"]] == ["AAPL", "KO"]
    assert listed["restricted"] is True
    response = await fetch(base + "/api/symbols", headers=bearer(FULL_KEY))
    assert json.loads(response.body)["restricted"] is False


@pytest.mark.gen_test
async def test_all_symbols_means_entitled(base: str, publisher: ManualPublisher) -> None:
    publisher.publish({"AAPL": 101.0, "MSFT": 201.0, "KO": 51.0})
    for query in ["", "?symbols=*"]:
        response = await fetch(f"{base}/api/snapshot{query}", headers=bearer(NARROW_KEY))
        assert response.code == 200
        symbols = {tick["symbol"] for tick in json.loads(response.body)["ticks"]}
        assert symbols == {"AAPL", "KO"}


@pytest.mark.parametrize(
    "path", ["/api/snapshot", "/long-poll?timeout=0&", "/poll?", "/sse?"], ids=str.strip
)
@pytest.mark.gen_test
async def test_symbol_outside_entitlement_is_403(base: str, path: str) -> None:
    path = path if path.endswith(("?", "&")) else path + "?"
    response = await fetch(f"{base}{path}symbols=AAPL,MSFT", headers=bearer(NARROW_KEY))
    assert response.code == 403
    body = json.loads(response.body)
    assert body["symbols"] == ["MSFT"]
    assert "not entitled to MSFT" in body["error"]


@pytest.mark.gen_test
async def test_unknown_symbol_is_403_for_narrow_key(base: str) -> None:
    # A narrow key learns nothing about symbols outside its entitlement, not even that they exist.
    narrow = await fetch(f"{base}/api/snapshot?symbols=ZZZZ", headers=bearer(NARROW_KEY))
    full = await fetch(f"{base}/api/snapshot?symbols=ZZZZ", headers=bearer(FULL_KEY))
    assert narrow.code == 403
    assert "known symbols" not in narrow.body.decode()
    assert full.code == 400


@pytest.mark.gen_test
async def test_long_poll_delivers_entitled_ticks(base: str, publisher: ManualPublisher) -> None:
    publisher.publish({"MSFT": 201.0, "KO": 51.0, "AAPL": 101.0})
    response = await fetch(f"{base}/poll?cursor=0", headers=bearer(NARROW_KEY))
    assert [tick["symbol"] for tick in json.loads(response.body)["ticks"]] == ["KO", "AAPL"]


@pytest.mark.gen_test
async def test_sse_delivers_entitled_ticks(base: str, publisher: ManualPublisher) -> None:
    publisher.publish({"MSFT": 201.0, "KO": 51.0})
    stream = await open_stream(base, f"/sse?key={NARROW_KEY}")
    assert stream.head.status == 200
    await stream.block()  # retry
    snapshot = await stream.event()
    assert [tick["symbol"] for tick in snapshot["data"]["ticks"]] == ["KO"]
    publisher.publish({"MSFT": 202.0})
    publisher.publish({"AAPL": 102.0})
    ticks = await stream.event()
    assert [tick["symbol"] for tick in ticks["data"]["ticks"]] == ["AAPL"]
    await stream.close()


# WebSocket


def ws_url(base: str, query: str = "") -> str:
    return f"ws{base[4:]}/ws{query}"


async def receive(connection: Any) -> dict[str, Any]:
    message = await wait_for(connection.read_message())
    assert isinstance(message, str), f"expected a message, got {message!r}"
    result: dict[str, Any] = json.loads(message)
    return result


@pytest.mark.gen_test
async def test_websocket_without_key_is_401(base: str) -> None:
    with pytest.raises(HTTPClientError, match="401"):
        await websocket_connect(ws_url(base))


@pytest.mark.gen_test
async def test_websocket_key_in_query_or_header(base: str) -> None:
    by_query = await websocket_connect(ws_url(base, f"?key={FULL_KEY}"))
    by_header = await websocket_connect(HTTPRequest(ws_url(base), headers=bearer(FULL_KEY)))
    by_query.close()
    by_header.close()


@pytest.mark.gen_test
async def test_websocket_entitlement(base: str, publisher: ManualPublisher) -> None:
    publisher.publish({"AAPL": 101.0, "MSFT": 201.0, "KO": 51.0})
    connection = await websocket_connect(ws_url(base, f"?key={NARROW_KEY}"))

    await connection.write_message(json.dumps({"type": "subscribe", "symbols": ["MSFT"]}))
    error = await receive(connection)
    assert error["type"] == "error"
    assert "not entitled to MSFT" in error["message"]

    await connection.write_message(json.dumps({"type": "subscribe", "symbols": ["*"]}))
    snapshot = await receive(connection)
    assert snapshot["symbols"] == ["AAPL", "KO"]
    assert {tick["symbol"] for tick in snapshot["ticks"]} == {"AAPL", "KO"}
    publisher.publish({"MSFT": 202.0})
    publisher.publish({"KO": 52.0})
    ticks = await receive(connection)
    assert [tick["symbol"] for tick in ticks["ticks"]] == ["KO"]
    connection.close()


@pytest.mark.parametrize(
    "origin, allowed",
    [
        ("https://allowed.example", True),
        ("https://other.example", False),
        ("https://cors.example", False),  # CORS origins do not extend to WebSockets
    ],
)
@pytest.mark.gen_test
async def test_websocket_origin_check(base: str, origin: str, allowed: bool) -> None:
    request = HTTPRequest(ws_url(base, f"?key={FULL_KEY}"), headers={"Origin": origin})
    if allowed:
        (await websocket_connect(request)).close()
        return
    with pytest.raises(HTTPClientError, match="403"):
        await websocket_connect(request)


@pytest.mark.gen_test
async def test_websocket_same_origin_allowed(base: str) -> None:
    request = HTTPRequest(ws_url(base, f"?key={FULL_KEY}"), headers={"Origin": base})
    (await websocket_connect(request)).close()


@pytest.mark.gen_test
async def test_refused_origin_gets_json(base: str) -> None:
    # The handshake request as an HTTP client sends it, to read the refusal's body.
    response = await fetch(
        f"{base}/ws?key={FULL_KEY}",
        headers={
            "Origin": "https://other.example",
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version": "13",
        },
    )
    assert response.code == 403
    assert "origin https://other.example is not allowed" in json.loads(response.body)["error"]


# CORS


@pytest.mark.parametrize(
    "origin, expected", [("https://cors.example", "https://cors.example"), ("https://other.example", None)]
)
@pytest.mark.gen_test
async def test_cors_allows_listed_origin(base: str, origin: str, expected: str | None) -> None:
    response = await fetch(base + "/api/snapshot", headers={"Origin": origin, **bearer(FULL_KEY)})
    assert response.code == 200
    assert response.headers.get("Access-Control-Allow-Origin") == expected
    assert response.headers["Vary"] == "Origin"


@pytest.mark.gen_test
async def test_cors_headers_on_refusals(base: str) -> None:
    response = await fetch(base + "/api/snapshot", headers={"Origin": "https://cors.example"})
    assert response.code == 401
    assert response.headers["Access-Control-Allow-Origin"] == "https://cors.example"


@pytest.mark.gen_test
async def test_preflight_allowed_origin(base: str) -> None:
    response = await fetch(
        base + "/long-poll",
        method="OPTIONS",
        headers={
            "Origin": "https://cors.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert response.code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "https://cors.example"
    assert "Authorization" in response.headers["Access-Control-Allow-Headers"]
    assert response.headers["Access-Control-Allow-Methods"] == "GET, OPTIONS"


@pytest.mark.gen_test
async def test_preflight_other_origin_is_403(base: str) -> None:
    response = await fetch(
        base + "/long-poll",
        method="OPTIONS",
        headers={"Origin": "https://other.example", "Access-Control-Request-Method": "GET"},
    )
    assert response.code == 403
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "access.cors_origins" in json.loads(response.body)["error"]


# Logs and counters


@pytest.mark.gen_test
async def test_keys_never_logged(base: str, all_logs: list[logging.LogRecord]) -> None:
    wrong = "wrong-key-0123456789abcdef"
    await fetch(f"{base}/api/snapshot?key={FULL_KEY}")
    await fetch(f"{base}/api/snapshot?%6Bey={FULL_KEY}")
    await fetch(f"{base}/api/snapshot?symbols=MSFT&key={NARROW_KEY}")
    await fetch(f"{base}/api/snapshot?key={wrong}")
    await fetch(f"{base}/nowhere?key={wrong}")
    await fetch(base + "/api/snapshot", headers=bearer(wrong))
    connection = await websocket_connect(ws_url(base, f"?key={FULL_KEY}"))
    connection.close()
    with pytest.raises(HTTPClientError):
        await websocket_connect(ws_url(base, f"?key={wrong}"))
    await eventually(lambda: "websocket ws-" in formatted(all_logs))

    text = formatted(all_logs)
    for secret in (FULL_KEY, NARROW_KEY, wrong):
        assert secret not in text
    assert "key=REDACTED" in text


@pytest.mark.gen_test
async def test_refusal_logged_with_client_id(
    base: str, all_logs: list[logging.LogRecord], context: ServerContext
) -> None:
    await fetch(base + "/long-poll?timeout=0")
    refusals = [r.getMessage() for r in all_logs if r.name == "ticker.access"]
    assert len(refusals) == 1
    assert refusals[0].startswith("refused req-")
    client_id = refusals[0].split()[1]
    access_lines = [r.getMessage() for r in all_logs if r.name == "tornado.access"]
    assert any(f" {client_id} " in line for line in access_lines)
    assert context.stats.transport("longpoll").refusals == {"missing_key": 1}
    assert context.access.refusals == {"missing_key": 1}


def test_redact_uri_cuts_every_spelling() -> None:
    assert redact_uri("/sse?key=abc&symbols=A") == "/sse?key=REDACTED&symbols=A"
    assert redact_uri("/sse?symbols=A&%6Bey=abc") == "/sse?symbols=A&key=REDACTED"
    assert redact_uri("/sse?monkey=abc") == "/sse?monkey=abc"
    assert redact_uri("/sse") == "/sse"



@pytest.mark.parametrize("transport", ["websocket", "sse", "longpoll", "poll"])
@pytest.mark.gen_test(timeout=30)
async def test_python_clients_send_key(
    base: str, publisher: ManualPublisher, transport: str
) -> None:
    clients = {
        "websocket": WebSocketClient,
        "sse": SseClient,
        "longpoll": long_poll_client,
        "poll": short_poll_client,
    }
    client = clients[transport](base, key=NARROW_KEY)  # type: ignore[operator]
    await client.open()
    snapshot = await wait_for(client.receive())
    assert {tick["symbol"] for tick in snapshot.ticks} <= {"AAPL", "KO"}
    publisher.publish({"AAPL": 101.0, "MSFT": 201.0})
    event = await wait_for(client.receive())
    assert [tick["symbol"] for tick in event.ticks] == ["AAPL"]
    await client.close()

    refused = clients[transport](base)  # type: ignore[operator]
    with pytest.raises(ClientRejected, match="HTTP 401"):
        await refused.open()
        await wait_for(refused.receive())
    await refused.close()
