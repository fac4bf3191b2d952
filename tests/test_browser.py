"""Browser tests of the dashboard in web/, run in Debian's Chromium through Playwright.

Each test starts the real server with a fast tick interval and loads the page. The tests are
skipped when /usr/bin/chromium or the playwright package is missing, unless
TICKER_REQUIRE_BROWSER=1 is set (as CI does), in which case they fail.
Playwright never downloads a browser here: it launches the Debian binary by its path.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REQUIRE_BROWSER = os.environ.get("TICKER_REQUIRE_BROWSER") == "1"
CONFIG_PATH = Path(__file__).resolve().parent.parent / "config.toml"
TICK_INTERVAL_SECONDS = 0.1

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
# Schemes that never reach the network. The page uses data: for its empty icon.
LOCAL_SCHEMES = {"data", "blob", "about"}

# Timeouts in ms for page-state waits. Ticks arrive every 0.1 s, so these are generous.
# TICKER_TEST_TIME_UNIT scales them on a slow machine, as it scales the limits in conftest.py.
TIME_UNIT = float(os.environ.get("TICKER_TEST_TIME_UNIT", "1.0"))
PAGE_LOAD_TIMEOUT_MS = 15_000 * TIME_UNIT
UPDATE_TIMEOUT_MS = 10_000 * TIME_UNIT


def _missing_browser_reason() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} not found; install Debian's chromium package"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed"
    return None


MISSING_BROWSER = _missing_browser_reason()


def fast_config_text() -> str:
    """Return config.toml with a tick interval of TICK_INTERVAL_SECONDS."""
    text = CONFIG_PATH.read_text(encoding="utf-8")
    fast_text, count = re.subn(
        r"(?m)^tick_interval\s*=.*$", f"tick_interval = {TICK_INTERVAL_SECONDS}", text
    )
    assert count == 1, f"expected one tick_interval line in {CONFIG_PATH}, found {count}"
    return fast_text


def configured_symbols() -> list[str]:
    text = CONFIG_PATH.read_text(encoding="utf-8")
    return re.findall(r'(?m)^symbol\s*=\s*"([^"]+)"', text)


@dataclass
class PageRecord:
    """What the page did while a test ran: network requests, console errors, page loads."""

    urls: list[str] = field(default_factory=list)
    websockets: list[object] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    loads: int = 0

    def non_loopback_urls(self) -> list[str]:
        found = []
        for url in self.urls:
            parts = urlsplit(url)
            if parts.scheme in LOCAL_SCHEMES:
                continue
            if parts.hostname not in LOOPBACK_HOSTS:
                found.append(url)
        return found


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if MISSING_BROWSER is not None and REQUIRE_BROWSER:
        pytest.fail(f"TICKER_REQUIRE_BROWSER=1 but {MISSING_BROWSER}")
    if MISSING_BROWSER is not None:
        pytest.skip(f"browser tests need Chromium and playwright: {MISSING_BROWSER}")

    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def server(ticker_process):
    return ticker_process(fast_config_text())


@pytest.fixture
def page_and_record(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, service_workers="block")
    page = context.new_page()
    record = PageRecord()

    def on_console(message) -> None:
        if message.type == "error":
            record.console_errors.append(f"{message.text} at {message.location}")

    def on_load(_page) -> None:
        record.loads += 1

    def on_websocket(websocket) -> None:
        record.urls.append(websocket.url)
        record.websockets.append(websocket)

    page.on("request", lambda request: record.urls.append(request.url))
    page.on("websocket", on_websocket)
    page.on("console", on_console)
    page.on("pageerror", lambda error: record.console_errors.append(f"uncaught: {error}"))
    page.on("load", on_load)
    page.set_default_timeout(UPDATE_TIMEOUT_MS)

    page.goto(f"{server.base_url}/", wait_until="domcontentloaded")
    page.wait_for_function(
        "document.body.dataset.ready === 'true'", timeout=PAGE_LOAD_TIMEOUT_MS
    )
    yield page, record
    context.close()


def price_texts(page) -> list[str]:
    return page.eval_on_selector_all(
        "tr[data-symbol] td[data-field=price]", "cells => cells.map(cell => cell.textContent)"
    )


def wait_for_all_prices(page) -> None:
    page.wait_for_function(
        """() => {
            const cells = [...document.querySelectorAll('tr[data-symbol] td[data-field=price]')];
            return cells.length > 0 && cells.every(cell => /\\d/.test(cell.textContent));
        }"""
    )


def wait_for_price_change(page) -> None:
    """Wait until some price cell shows a different text than it does now."""
    page.wait_for_function(
        """before => {
            const cells = [...document.querySelectorAll('tr[data-symbol] td[data-field=price]')];
            return cells.some((cell, index) => cell.textContent !== before[index]);
        }""",
        arg=price_texts(page),
    )


def wait_for_live(page, transport: str) -> None:
    page.wait_for_function(
        """transport =>
            document.getElementById('status').dataset.state === 'live'
            && document.getElementById('current-transport').dataset.transport === transport""",
        arg=transport,
    )


def assert_page_clean(record: PageRecord) -> None:
    assert record.console_errors == [], "the page logged errors"
    assert record.urls, "no request was recorded, so the request check proves nothing"
    assert record.non_loopback_urls() == [], "the page contacted a host other than loopback"


def test_record_flags_non_loopback_hosts() -> None:
    record = PageRecord(
        urls=[
            "http://127.0.0.1:8888/",
            "ws://localhost:8888/ws",
            "http://[::1]:8888/api/symbols",
            "data:,",
            "https://example.com/font.woff2",
            "ws://10.0.0.5/ws",
        ]
    )

    assert record.non_loopback_urls() == ["https://example.com/font.woff2", "ws://10.0.0.5/ws"]


def test_table_lists_configured_symbols(page_and_record) -> None:
    page, record = page_and_record
    symbols = configured_symbols()

    rows = page.eval_on_selector_all("tr[data-symbol]", "rows => rows.map(r => r.dataset.symbol)")

    assert len(symbols) == 12
    assert rows == symbols
    wait_for_all_prices(page)
    assert_page_clean(record)


def test_websocket_updates_prices_and_latency(page_and_record) -> None:
    page, record = page_and_record

    wait_for_live(page, "websocket")
    wait_for_all_prices(page)
    wait_for_price_change(page)
    page.wait_for_function(
        "/^-?[\\d,]+(\\.\\d+)?$/.test(document.getElementById('latency-median').textContent)"
    )

    assert page.locator("#transport").input_value() == "websocket"
    assert any(urlsplit(url).path == "/ws" for url in record.urls), "no WebSocket to /ws opened"
    assert page.locator("#epoch").text_content() not in ("", "\u2014")
    assert int(page.locator("#latency-samples").text_content()) > 0
    assert_page_clean(record)


def test_switch_to_longpoll_without_reload(page_and_record) -> None:
    page, record = page_and_record
    wait_for_live(page, "websocket")
    wait_for_all_prices(page)
    rows_before = page.locator("tr[data-symbol]").count()
    page.evaluate("window.loadMarker = 'first load'")
    loads_before = record.loads

    page.select_option("#transport", "longpoll")
    wait_for_live(page, "longpoll")
    wait_for_price_change(page)

    assert page.evaluate("window.loadMarker") == "first load"
    assert record.loads == loads_before
    assert page.locator("tr[data-symbol]").count() == rows_before
    assert any(
        urlsplit(url).path == "/long-poll" for url in record.urls
    ), "no request to /long-poll was made"
    assert "Long-poll" in page.locator("#current-transport").text_content()
    assert record.websockets, "the WebSocket transport never opened a socket"
    for websocket in record.websockets:
        if not websocket.is_closed():
            websocket.wait_for_event("close", timeout=UPDATE_TIMEOUT_MS)
    assert_page_clean(record)


@pytest.mark.parametrize("transport", ["websocket", "longpoll"])
def test_server_stop_marks_figures_stale(page_and_record, server, transport: str) -> None:
    page, _record = page_and_record
    page.select_option("#transport", transport)
    wait_for_live(page, transport)
    assert page.locator("#figures").get_attribute("data-stale") == "false"

    assert server.stop() == 0

    page.wait_for_function("document.getElementById('status').dataset.state === 'reconnecting'")
    assert page.locator("#figures").get_attribute("data-stale") == "true"
    assert "Reconnecting" in page.locator("#status-text").text_content()
