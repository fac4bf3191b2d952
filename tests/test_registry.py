"""Transport plug-ins: discovery through entry points, selection by config, and the API."""

from __future__ import annotations

import json
import sys
import textwrap
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import AsyncHTTPClient

from ticker.config import Config
from ticker.errors import ConfigError
from ticker.server import TickerServer
from ticker.transports.base import Transport
from ticker.transports.registry import discover_transports, select_transports

BUILT_IN = ["websocket", "sse", "longpoll", "poll"]


def test_builtins_are_discovered() -> None:
    found = discover_transports()
    assert set(BUILT_IN) <= set(found)
    for name in BUILT_IN:
        transport = found[name]
        assert transport.name == name
        assert transport.browser_module.is_file()
        assert transport.module_url == f"/transports/{name}.js"


def test_select_keeps_config_order() -> None:
    found = discover_transports()
    selected = select_transports(found, ["poll", "websocket"], "c.toml")
    assert [t.name for t in selected] == ["poll", "websocket"]


def test_select_unknown_names_key() -> None:
    with pytest.raises(
        ConfigError, match=r"c\.toml: transports\.enabled\[1\]: unknown transport 'carrier-pigeon'"
    ):
        select_transports(discover_transports(), ["sse", "carrier-pigeon"], "c.toml")


def test_server_rejects_unknown_transport(config: Config) -> None:
    bad = replace(config, transports=replace(config.transports, enabled=("websocket", "nope")))
    with pytest.raises(ConfigError, match=r"transports\.enabled\[1\]: unknown transport 'nope'"):
        TickerServer(bad, "127.0.0.1", 0)


PLUGIN_MODULE = '''
from pathlib import Path

from ticker.clients.polling import PollingClient
from ticker.transports.base import Transport
from ticker.transports.longpoll import LongPollHandler


def routes(context):
    return [(r"/slow-poll", LongPollHandler, {"context": context, "transport_name": "slow-poll"})]


TRANSPORT = Transport(
    name="slow-poll",
    label="Slow poll",
    description="Long-poll on another route, registered by a third-party package.",
    routes=routes,
    browser_module=Path(__file__).with_name("slow_poll.js"),
    client=lambda base_url: PollingClient(base_url, "slow-poll", "/slow-poll", 0.0, None),
)
'''


@pytest.fixture
def third_party(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Install a transport package the way pip would: a module plus an entry point."""
    (tmp_path / "demo_transport.py").write_text(PLUGIN_MODULE, encoding="utf-8")
    (tmp_path / "slow_poll.js").write_text("export default class {}\n", encoding="utf-8")
    dist_info = tmp_path / "demo_transport-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: demo-transport\nVersion: 1.0\n", encoding="utf-8"
    )
    (dist_info / "entry_points.txt").write_text(
        textwrap.dedent(
            """
            [ticker.transports]
            slow-poll = demo_transport:TRANSPORT
            """
        ),
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "slow-poll"
    sys.modules.pop("demo_transport", None)


def test_third_party_found_by_entry_point(third_party: str) -> None:
    found = discover_transports()
    assert third_party in found
    assert isinstance(found[third_party], Transport)
    assert set(BUILT_IN) <= set(found)


@pytest.mark.gen_test
async def test_third_party_serves_its_routes(third_party: str, config: Config) -> None:
    enabled = replace(config, transports=replace(config.transports, enabled=("websocket", third_party)))
    server = TickerServer(enabled, "127.0.0.1", 0)
    server.start(run_feed=False)
    base = server.url.rstrip("/")
    client = AsyncHTTPClient()
    try:
        listed = json.loads((await client.fetch(f"{base}/api/transports")).body)
        assert [t["name"] for t in listed["transports"]] == ["websocket", third_party]
        module = await client.fetch(f"{base}/transports/{third_party}.js")
        assert module.body == b"export default class {}\n"
        response = await client.fetch(f"{base}/slow-poll?timeout=0", raise_error=False)
        assert response.code == 204
        stats = json.loads((await client.fetch(f"{base}/api/stats")).body)
        assert stats["transports"][third_party]["no_content"] == 1
    finally:
        await server.stop()


def test_entry_point_not_a_transport(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "broken_transport.py").write_text("TRANSPORT = 42\n", encoding="utf-8")
    dist_info = tmp_path / "broken_transport-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: broken-transport\nVersion: 1.0\n", encoding="utf-8"
    )
    (dist_info / "entry_points.txt").write_text(
        "[ticker.transports]\nbroken = broken_transport:TRANSPORT\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        with pytest.raises(ConfigError, match=r"entry point 'broken' .* is a int, expected"):
            discover_transports()
    finally:
        sys.modules.pop("broken_transport", None)


@pytest.fixture
def only_poll_and_ws(config: Config) -> Config:
    return replace(config, transports=replace(config.transports, enabled=("poll", "websocket")))


@pytest.mark.gen_test
async def test_disabled_transports_are_gone(only_poll_and_ws: Config) -> None:
    server = TickerServer(only_poll_and_ws, "127.0.0.1", 0)
    server.start(run_feed=False)
    base = server.url.rstrip("/")
    client = AsyncHTTPClient()

    async def status(path: str) -> int:
        response = await client.fetch(f"{base}{path}", raise_error=False, request_timeout=5)
        return response.code

    try:
        listed = json.loads((await client.fetch(f"{base}/api/transports")).body)["transports"]
        assert [t["name"] for t in listed] == ["poll", "websocket"]
        assert [t["module"] for t in listed] == ["/transports/poll.js", "/transports/websocket.js"]
        assert all(t["label"] and t["description"] for t in listed)
        assert await status("/poll") == 204
        assert await status("/transports/poll.js") == 200
        assert await status("/sse") == 404
        assert await status("/long-poll?timeout=0") == 404
        assert await status("/transports/sse.js") == 404
    finally:
        await server.stop()


@pytest.mark.gen_test
async def test_module_served_as_javascript(http_server: Any, http_port: int) -> None:
    response = await AsyncHTTPClient().fetch(f"http://127.0.0.1:{http_port}/transports/sse.js")
    assert response.headers["Content-Type"].startswith("text/javascript")
    assert b"export default" in response.body
