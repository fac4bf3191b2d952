"""The default config: no keys needed, WebSockets from the same origin only, no CORS."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect


@pytest.fixture
def base(http_server: Any, http_port: int) -> str:
    return f"http://127.0.0.1:{http_port}"


@pytest.mark.gen_test
async def test_no_key_needed(base: str) -> None:
    response = await AsyncHTTPClient().fetch(base + "/api/symbols", raise_error=False)
    assert response.code == 200
    assert len(json.loads(response.body)["symbols"]) == 3


@pytest.mark.gen_test
async def test_foreign_websocket_origin_is_403(base: str) -> None:
    request = HTTPRequest(f"ws{base[4:]}/ws", headers={"Origin": "https://other.example"})
    with pytest.raises(HTTPClientError, match="403"):
        await websocket_connect(request)


@pytest.mark.gen_test
async def test_same_websocket_origin_allowed(base: str) -> None:
    request = HTTPRequest(f"ws{base[4:]}/ws", headers={"Origin": base})
    (await websocket_connect(request)).close()


@pytest.mark.gen_test
async def test_no_cors_headers(base: str) -> None:
    response = await AsyncHTTPClient().fetch(
        base + "/api/snapshot", headers={"Origin": "https://other.example"}, raise_error=False
    )
    assert response.code == 200
    assert "Access-Control-Allow-Origin" not in response.headers
    preflight = await AsyncHTTPClient().fetch(
        base + "/api/snapshot",
        method="OPTIONS",
        headers={"Origin": "https://other.example", "Access-Control-Request-Method": "GET"},
        raise_error=False,
    )
    assert preflight.code == 403
    assert "Access-Control-Allow-Origin" not in preflight.headers
