from __future__ import annotations

import json
from typing import Any

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPResponse

from conftest import ManualPublisher
from ticker.hub import Hub
from ticker.resources import web_root


@pytest.fixture
def url(http_server: Any, http_port: int):
    return lambda path: f"http://127.0.0.1:{http_port}{path}"


async def fetch(url: str, **kwargs: Any) -> HTTPResponse:
    return await AsyncHTTPClient().fetch(url, raise_error=False, **kwargs)


@pytest.mark.gen_test
async def test_symbols_lists_config(url) -> None:
    response = await fetch(url("/api/symbols"))
    assert response.code == 200
    assert response.headers["Cache-Control"] == "no-store"
    settings = {"mean_interval": 0.01, "spread": 0.0005}
    assert json.loads(response.body) == {
        "symbols": [
            {"symbol": "AAPL", "name": "Apple Inc.", "start_price": 100.0, **settings},
            {"symbol": "MSFT", "name": "Microsoft Corporation", "start_price": 200.0, **settings},
            {"symbol": "KO", "name": "The Coca-Cola Company", "start_price": 50.0, **settings},
        ],
        "version": 1,
        "restricted": False,
        "feed": {"mode": "simulated", "day": None},
    }


@pytest.mark.gen_test
async def test_snapshot_before_any_tick(url, hub: Hub) -> None:
    data = json.loads((await fetch(url("/api/snapshot"))).body)
    assert data == {"epoch": hub.epoch, "cursor": 0, "ticks": []}


@pytest.mark.gen_test
async def test_snapshot_filters_symbols(url, publisher: ManualPublisher, hub: Hub) -> None:
    publisher.publish({"AAPL": 101.0, "MSFT": 201.0, "KO": 51.0})
    publisher.publish({"AAPL": 102.0})
    response = await fetch(url("/api/snapshot?symbols=KO,AAPL"))
    assert response.code == 200
    assert response.headers["Cache-Control"] == "no-store"
    data = json.loads(response.body)
    assert data["cursor"] == 4
    assert data["epoch"] == hub.epoch
    assert [(t["seq"], t["symbol"], t["price"]) for t in data["ticks"]] == [
        (4, "AAPL", 102.0),
        (3, "KO", 51.0),
    ]


@pytest.mark.gen_test
async def test_snapshot_then_poll_is_seamless(url, publisher: ManualPublisher) -> None:
    publisher.publish({"AAPL": 101.0})
    snapshot = json.loads((await fetch(url("/api/snapshot"))).body)
    publisher.publish({"AAPL": 102.0})
    poll = json.loads(
        (await fetch(url(f"/long-poll?cursor={snapshot['cursor']}&epoch={snapshot['epoch']}"))).body
    )
    assert [t["seq"] for t in poll["ticks"]] == [2]


@pytest.mark.gen_test
async def test_snapshot_unknown_symbol_is_400(url) -> None:
    response = await fetch(url("/api/snapshot?symbols=AAPL,ZZZ"))
    assert response.code == 400
    assert "unknown symbol 'ZZZ'" in json.loads(response.body)["error"]


@pytest.mark.gen_test
async def test_dashboard_page_is_served(url) -> None:
    response = await fetch(url("/"))
    assert response.code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.body == (web_root() / "index.html").read_bytes()


@pytest.mark.gen_test
async def test_dashboard_assets_are_served(url) -> None:
    page = (web_root() / "index.html").read_text(encoding="utf-8")
    assert "/static/" in page
    for path in sorted(web_root().rglob("*")):
        if path.is_file():
            relative = path.relative_to(web_root()).as_posix()
            response = await fetch(url(f"/static/{relative}"))
            assert response.code == 200, relative
            assert response.body == path.read_bytes()


def test_dashboard_loads_nothing_from_internet() -> None:
    for path in web_root().rglob("*"):
        if path.suffix in {".html", ".js", ".css"}:
            text = path.read_text(encoding="utf-8")
            for marker in ('src="http', "src='http", 'href="http', "@import url(http", "from 'http", 'from "http'):
                assert marker not in text, f"{path.name} loads {marker!r} from another host"


@pytest.mark.gen_test
async def test_compare_redirects_to_page(url) -> None:
    response = await fetch(url("/compare"), follow_redirects=False)
    assert response.code == 301
    assert response.headers["Location"] == "/static/compare.html"


@pytest.mark.gen_test
async def test_unknown_path_is_json_404(url) -> None:
    response = await fetch(url("/no/such/page"))
    assert response.code == 404
    assert json.loads(response.body) == {"error": "not found: /no/such/page"}


@pytest.mark.gen_test
async def test_missing_static_file_is_404(url) -> None:
    response = await fetch(url("/static/no-such-file.js"))
    assert response.code == 404


@pytest.mark.gen_test
async def test_post_to_api_is_405(url) -> None:
    response = await fetch(url("/api/snapshot"), method="POST", body=b"")
    assert response.code == 405
    assert json.loads(response.body) == {
        "error": "method POST not allowed on /api/snapshot; use GET"
    }
