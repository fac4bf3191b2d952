"""Browser tests of the dashboard and the compare page in web/, run in Debian's Chromium.

Each test starts the real server with a fast tick interval and loads a page through Playwright.
The transport tests run once per built-in transport, which the pages load from the server's
transport list.
The tests are skipped when /usr/bin/chromium or the playwright package is missing, unless
TICKER_REQUIRE_BROWSER=1 is set (as CI does), in which case they fail.
Playwright never downloads a browser here: it launches the Debian binary by its path.
"""

from __future__ import annotations

import json
import os
import re
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from conftest import ServerProcess, start_server_process

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

# The built-in transports in the default menu order, with the path each one requests.
TRANSPORT_PATHS = {"websocket": "/ws", "sse": "/sse", "longpoll": "/long-poll", "poll": "/poll"}
TRANSPORTS = list(TRANSPORT_PATHS)

COMPARE_PATH = "/static/compare.html"
# A number as the pages format one: optional sign, thousands separators, decimals.
NUMBER = re.compile(r"^[+-]?[\d,]+(\.\d+)?$")

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
    # Symbols with a mean interval of their own update that often on average.
    fast_text = re.sub(
        r"(?m)^mean_interval\s*=.*$", f"mean_interval = {TICK_INTERVAL_SECONDS}", fast_text
    )
    return fast_text


def config_text_enabling(names: list[str]) -> str:
    """Return the fast config with ``transports.enabled`` (the one array-valued ``enabled``) set
    to ``names``."""
    text, count = re.subn(
        r"(?m)^enabled\s*=\s*\[.*$", f"enabled = {json.dumps(names)}", fast_config_text()
    )
    assert count == 1, f"expected one enabled line in {CONFIG_PATH}, found {count}"
    return text


def fetch_transport_list(server: ServerProcess) -> list[dict[str, str]]:
    """Return the entries of the server's ``GET /api/transports``."""
    url = f"{server.base_url}/api/transports"
    with urllib.request.urlopen(url, timeout=5 * TIME_UNIT) as response:
        return json.load(response)["transports"]


def configured_symbols() -> list[str]:
    text = CONFIG_PATH.read_text(encoding="utf-8")
    return re.findall(r'(?m)^symbol\s*=\s*"([^"]+)"', text)


@dataclass
class PageRecord:
    """What the page did while a test ran: network requests, console errors, page loads."""

    urls: list[str] = field(default_factory=list)
    websockets: list[object] = field(default_factory=list)
    websocket_frames_sent: list[str] = field(default_factory=list)
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


@contextmanager
def open_dashboard(
    browser, url: str, prepare: Callable[[object], None] | None = None
) -> Iterator[tuple[object, PageRecord]]:
    """Open ``url`` (dashboard or compare page) in a new context and wait until it is set up.

    ``prepare(page)`` runs before the page loads, for routes that must catch its first requests.
    """
    context = browser.new_context(viewport={"width": 1280, "height": 800}, service_workers="block")
    page = context.new_page()
    record = PageRecord()
    if prepare is not None:
        prepare(page)

    def on_console(message) -> None:
        if message.type == "error":
            record.console_errors.append(f"{message.text} at {message.location}")

    def on_load(_page) -> None:
        record.loads += 1

    def on_websocket(websocket) -> None:
        record.urls.append(websocket.url)
        record.websockets.append(websocket)
        websocket.on("framesent", lambda payload: record.websocket_frames_sent.append(payload))

    page.on("request", lambda request: record.urls.append(request.url))
    page.on("websocket", on_websocket)
    page.on("console", on_console)
    page.on("pageerror", lambda error: record.console_errors.append(f"uncaught: {error}"))
    page.on("load", on_load)
    page.set_default_timeout(UPDATE_TIMEOUT_MS)

    try:
        page.goto(url, wait_until="domcontentloaded")
        page.wait_for_function(
            "() => document.body.dataset.ready === 'true'", timeout=PAGE_LOAD_TIMEOUT_MS
        )
        yield page, record
    finally:
        context.close()


@pytest.fixture
def page_and_record(browser, server):
    with open_dashboard(browser, f"{server.base_url}/") as page_and_record:
        yield page_and_record


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


def wait_for_latency_figures(page, transport: str) -> None:
    """Wait until the panel shows a median and a tick rate measured over ``transport`` alone."""
    page.wait_for_function(
        """transport => {
            const panel = document.getElementById('figures');
            const median = document.getElementById('latency-median').textContent;
            const rate = document.getElementById('rate-ticks').textContent.replaceAll(',', '');
            return panel.dataset.transport === transport
                && /^-?[\\d,]+(\\.\\d+)?$/.test(median)
                && Number(rate) > 0;
        }""",
        arg=transport,
    )


def menu_options(page) -> list[dict[str, str]]:
    return page.eval_on_selector_all(
        "#transport option",
        "options => options.map(o => ({value: o.value, label: o.textContent, title: o.title}))",
    )


def requested_paths(record: PageRecord) -> set[str]:
    return {urlsplit(url).path for url in record.urls}


def assert_page_clean(record: PageRecord) -> None:
    assert record.console_errors == [], "the page logged errors"
    assert record.urls, "no request was recorded, so the request check proves nothing"
    assert record.non_loopback_urls() == [], "the page contacted a host other than loopback"


def parse_number(text: str) -> float:
    """Return the value of a number as the pages format it, such as ``-1,234.5`` or ``+0.25``."""
    assert NUMBER.match(text), f"expected a number, got {text!r}"
    return float(text.replace(",", ""))


def wait_for_clock_estimate(page, after: int = 0) -> None:
    """Wait until the page has made more than ``after`` successful clock offset estimates."""
    page.wait_for_function(
        "after => Number(document.getElementById('clock').dataset.estimates) > after", arg=after
    )


def clock_estimates(page) -> int:
    return int(page.locator("#clock").get_attribute("data-estimates"))


def card_names(page) -> list[str]:
    return page.eval_on_selector_all(".card", "cards => cards.map(c => c.dataset.transport)")


def card_figures(page, transport: str) -> dict[str, str]:
    """Return the text of each figure on the compare card of ``transport``, by figure name."""
    return page.eval_on_selector_all(
        f'.card[data-transport="{transport}"] [data-figure]',
        "elements => Object.fromEntries(elements.map(e => [e.dataset.figure, e.textContent]))",
    )


def wait_for_compare_figures(page, transports: list[str]) -> None:
    """Wait until every card of ``transports`` is live with a numeric p50 and updates/s above 0."""
    page.wait_for_function(
        """transports => transports.every(name => {
            const card = document.querySelector(`.card[data-transport="${name}"]`);
            if (card === null) {
                return false;
            }
            const text = (figure) => card.querySelector(`[data-figure="${figure}"]`).textContent;
            return card.querySelector('.status').dataset.state === 'live'
                && /^-?[\\d,]+(\\.\\d+)?$/.test(text('p50'))
                && Number(text('updates').replaceAll(',', '')) > 0;
        })""",
        arg=transports,
    )


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


def test_menu_lists_server_transports(page_and_record, server) -> None:
    page, record = page_and_record
    listed = fetch_transport_list(server)

    options = menu_options(page)

    assert [entry["name"] for entry in listed] == TRANSPORTS
    assert [option["value"] for option in options] == [entry["name"] for entry in listed]
    assert [option["label"] for option in options] == [entry["label"] for entry in listed]
    assert [option["title"] for option in options] == [entry["description"] for entry in listed]
    assert page.locator("#transport").input_value() == listed[0]["name"]
    assert_page_clean(record)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_transport_updates_prices_and_latency(page_and_record, server, transport: str) -> None:
    page, record = page_and_record
    labels = {entry["name"]: entry["label"] for entry in fetch_transport_list(server)}
    first = page.locator("#transport").input_value()
    wait_for_live(page, first)
    wait_for_all_prices(page)
    rows_before = page.locator("tr[data-symbol]").count()
    page.evaluate("window.loadMarker = 'first load'")
    loads_before = record.loads
    # Every transport, the first one too, is reached by switching in the menu.
    if transport == first:
        other = next(name for name in TRANSPORTS if name != transport)
        page.select_option("#transport", other)
        wait_for_live(page, other)

    page.select_option("#transport", transport)
    wait_for_live(page, transport)
    wait_for_price_change(page)
    wait_for_latency_figures(page, transport)

    assert page.evaluate("window.loadMarker") == "first load"
    assert record.loads == loads_before
    assert page.locator("tr[data-symbol]").count() == rows_before
    assert page.locator("#current-transport").text_content() == labels[transport]
    assert TRANSPORT_PATHS[transport] in requested_paths(record)
    assert f"/transports/{transport}.js" in requested_paths(record)
    assert page.locator("#epoch").text_content() not in ("", "\u2014")
    assert int(page.locator("#latency-samples").text_content()) > 0
    assert_page_clean(record)


def test_switch_away_closes_websocket(page_and_record) -> None:
    page, record = page_and_record
    wait_for_live(page, "websocket")
    assert record.websockets, "the WebSocket transport never opened a socket"

    page.select_option("#transport", "poll")
    wait_for_live(page, "poll")

    for websocket in record.websockets:
        if not websocket.is_closed():
            websocket.wait_for_event("close", timeout=UPDATE_TIMEOUT_MS)
    assert_page_clean(record)


def test_switch_away_ends_event_stream(page_and_record) -> None:
    page, record = page_and_record
    page.select_option("#transport", "sse")
    wait_for_live(page, "sse")

    with page.expect_event(
        "requestfailed", lambda request: urlsplit(request.url).path == "/sse"
    ) as ended:
        page.select_option("#transport", "longpoll")
    wait_for_live(page, "longpoll")

    # Chromium reports a request that the page cancels as net::ERR_ABORTED.
    assert ended.value.failure == "net::ERR_ABORTED"
    assert_page_clean(record)


def test_enabled_transports_limit_menu(browser, ticker_process) -> None:
    server = ticker_process(config_text_enabling(["websocket", "poll"]))

    # A transport that the server does not offer falls back to the first one it lists.
    with open_dashboard(browser, f"{server.base_url}/?transport=longpoll") as (page, record):
        options = menu_options(page)
        wait_for_live(page, "websocket")

        assert [option["value"] for option in options] == ["websocket", "poll"]
        assert page.locator("#transport").input_value() == "websocket"
        page.select_option("#transport", "poll")
        wait_for_live(page, "poll")
        wait_for_price_change(page)
        assert "/transports/sse.js" not in requested_paths(record)
        assert "/transports/longpoll.js" not in requested_paths(record)
        assert_page_clean(record)


def test_url_picks_transport(browser, server) -> None:
    with open_dashboard(browser, f"{server.base_url}/?transport=sse") as (page, record):
        wait_for_live(page, "sse")
        wait_for_price_change(page)

        assert page.locator("#transport").input_value() == "sse"
        assert "/ws" not in requested_paths(record)
        assert_page_clean(record)


def resume_positions(
    record: PageRecord, transport: str, first_url: int, first_frame: int
) -> list[tuple[str | None, str | int | None]]:
    """Return the (epoch, cursor) that each request of ``transport`` carried, in order.

    Only requests from ``record.urls[first_url:]`` and WebSocket messages from
    ``record.websocket_frames_sent[first_frame:]`` count. A request without a position gives
    (None, None).
    """
    if transport == "websocket":
        messages = [json.loads(frame) for frame in record.websocket_frames_sent[first_frame:]]
        return [(message.get("epoch"), message.get("cursor")) for message in messages]

    path = TRANSPORT_PATHS[transport]
    queries = [
        parse_qs(urlsplit(url).query)
        for url in record.urls[first_url:]
        if urlsplit(url).path == path
    ]
    if transport == "sse":
        positions: list[tuple[str | None, str | int | None]] = []
        for query in queries:
            if "lastEventId" in query:
                epoch, _, cursor = query["lastEventId"][0].rpartition(":")
                positions.append((epoch, cursor))
            else:
                positions.append((None, None))
        return positions
    return [(query["epoch"][0], query["cursor"][0]) for query in queries]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_server_restart_reconnects(browser, server, tmp_path: Path, transport: str) -> None:
    with open_dashboard(browser, f"{server.base_url}/?transport={transport}") as (page, record):
        wait_for_live(page, transport)
        wait_for_all_prices(page)
        first_epoch = page.locator("#epoch").text_content()
        wait_for_clock_estimate(page)
        estimates_before = clock_estimates(page)
        assert page.locator("#figures").get_attribute("data-stale") == "false"
        url_count, frame_count = len(record.urls), len(record.websocket_frames_sent)

        assert server.stop() == 0

        page.wait_for_function("() => document.getElementById('status').dataset.state === 'reconnecting'")
        assert page.locator("#figures").get_attribute("data-stale") == "true"
        assert "Reconnecting" in page.locator("#status-text").text_content()

        # The same port again, so the page finds the new server at the address it already uses.
        port = urlsplit(server.base_url).port
        config_path = tmp_path / "restart.toml"
        config_path.write_text(fast_config_text(), encoding="utf-8")
        restarted = start_server_process(
            ["serve", "--config", str(config_path), "--host", "127.0.0.1", "--port", str(port)],
            cwd=tmp_path,
        )
        try:
            page.wait_for_function(
                """epoch => document.getElementById('status').dataset.state === 'live'
                    && document.getElementById('epoch').textContent !== epoch""",
                arg=first_epoch,
            )
            wait_for_price_change(page)

            # The offset is estimated again after the reconnect, long before the 60 s timer.
            wait_for_clock_estimate(page, after=estimates_before)

            assert page.locator("#figures").get_attribute("data-stale") == "false"
            assert page.locator("#transport").input_value() == transport
            # The first request after the stop resumes from the old position, and the new
            # server replies with a reset to its own epoch.
            resumed_epoch, resumed_cursor = resume_positions(
                record, transport, url_count, frame_count
            )[0]
            assert resumed_epoch == first_epoch
            assert int(resumed_cursor) > 0
            # Chromium logs each refused connection as a console error, so only uncaught
            # exceptions count here.
            uncaught = [error for error in record.console_errors if error.startswith("uncaught:")]
            assert uncaught == [], "the page raised an exception"
        finally:
            assert restarted.stop() == 0


def test_websocket_resumes_after_drop(browser, server) -> None:
    """A dropped socket resumes from its epoch and cursor and gets the missed ticks, no snapshot."""
    messages: list[list[tuple[str, dict]]] = []
    page_sides = []

    def relay(page_side) -> None:
        log: list[tuple[str, dict]] = []
        messages.append(log)
        page_sides.append(page_side)
        server_side = page_side.connect_to_server()

        def to_server(message: str) -> None:
            log.append(("sent", json.loads(message)))
            server_side.send(message)

        def to_page(message: str) -> None:
            log.append(("received", json.loads(message)))
            page_side.send(message)

        page_side.on_message(to_server)
        server_side.on_message(to_page)

    def route_websockets(page) -> None:
        page.route_web_socket("**/ws", relay)

    url = f"{server.base_url}/?transport=websocket"
    with open_dashboard(browser, url, prepare=route_websockets) as (page, record):
        wait_for_live(page, "websocket")
        wait_for_price_change(page)
        epoch = page.locator("#epoch").text_content()

        page_sides[0].close(code=4000, reason="dropped by the test")
        page.wait_for_function("() => document.getElementById('status').dataset.state === 'reconnecting'")
        page.wait_for_function("() => document.getElementById('status').dataset.state === 'live'")
        wait_for_price_change(page)

        # The relay may have taken a message from the server that never reached the page
        # before the drop, so the page's cursor is one of those relayed, not always the last.
        cursors_before = [body["cursor"] for kind, body in messages[0] if kind == "received"]
        subscribe = messages[1][0][1]
        first_after = next(body for kind, body in messages[1] if kind == "received")
        assert subscribe["type"] == "subscribe"
        assert subscribe["epoch"] == epoch
        assert subscribe["cursor"] in cursors_before
        assert first_after["type"] == "ticks"
        # Every batch carries every symbol, so the replay starts right after the cursor.
        assert first_after["ticks"][0]["seq"] == subscribe["cursor"] + 1
        assert page.locator("#epoch").text_content() == epoch
        assert record.console_errors == [], "the page logged errors"


def test_sse_reports_rejected_symbols(page_and_record) -> None:
    """EventSource hides the status code, so the transport requests the URL again with fetch()."""
    page, _record = page_and_record

    states = page.evaluate(
        """async () => {
            const { default: ServerSentEventsTransport } = await import('/transports/sse.js');
            const transport = new ServerSentEventsTransport();
            const failed = new Promise(resolve => transport.onStatus(status => {
                if (status.state === 'error' || status.state === 'reconnecting') {
                    resolve(status);
                }
            }));
            transport.subscribe(['NOPE']);
            transport.connect();
            const status = await failed;
            transport.close();
            return status;
        }"""
    )

    assert states["state"] == "error"
    assert "/sse failed with HTTP 400" in states["reason"]
    assert "NOPE" in states["reason"]


def test_dashboard_shows_clock_offset(page_and_record) -> None:
    page, record = page_and_record
    wait_for_clock_estimate(page)

    offset = parse_number(page.locator("#clock-offset").text_content())
    uncertainty = parse_number(page.locator("#clock-uncertainty").text_content())
    time_requests = [url for url in record.urls if urlsplit(url).path == "/api/time"]

    assert page.locator("#clock").get_attribute("data-state") == "aligned"
    assert uncertainty >= 0
    # Browser and server read the same system clock here, so the true offset is 0 and the
    # estimate may be off by its uncertainty only, plus 2 ms of margin for coarsened timers.
    assert abs(offset) <= uncertainty + 2.0
    assert len(time_requests) >= 8
    assert "/api/time" in page.locator(".hint").text_content()
    assert_page_clean(record)


def test_latency_applies_clock_offset(browser, server) -> None:
    """A server clock 5 s behind the browser's turns loopback latency into about -5 s."""
    skew_ms = 5000.0

    def shift_server_time(route) -> None:
        response = route.fetch()
        body = response.json()
        body["server_time_ms"] -= skew_ms
        route.fulfill(response=response, json=body)

    def route_time(page) -> None:
        page.route("**/api/time", shift_server_time)

    with open_dashboard(browser, f"{server.base_url}/", prepare=route_time) as (page, record):
        wait_for_clock_estimate(page)
        wait_for_latency_figures(page, "websocket")

        offset = parse_number(page.locator("#clock-offset").text_content())
        uncertainty = parse_number(page.locator("#clock-uncertainty").text_content())
        median = parse_number(page.locator("#latency-median").text_content())

        assert -skew_ms - uncertainty - 2.0 <= offset <= -skew_ms + uncertainty + 2.0
        # Loopback latency is a few ms, so the corrected median is the skew plus a little.
        assert -skew_ms - uncertainty - 2.0 <= median <= -skew_ms + uncertainty + 500.0
        assert_page_clean(record)


def test_compare_shows_every_transport(page_and_record, server) -> None:
    page, record = page_and_record
    listed = fetch_transport_list(server)
    names = [entry["name"] for entry in listed]

    page.click("#compare-link")
    page.wait_for_url(f"**{COMPARE_PATH}")
    page.wait_for_function("() => document.body.dataset.ready === 'true'")
    wait_for_compare_figures(page, names)
    wait_for_clock_estimate(page)

    titles = page.eval_on_selector_all(".card-title", "titles => titles.map(t => t.textContent)")
    assert names == TRANSPORTS
    assert card_names(page) == names
    assert titles == [entry["label"] for entry in listed]
    for name in names:
        figures = card_figures(page, name)
        assert parse_number(figures["p50"]) <= parse_number(figures["p90"]), name
        assert parse_number(figures["p90"]) <= parse_number(figures["p99"]), name
        assert parse_number(figures["p99"]) <= parse_number(figures["max"]), name
        assert int(figures["samples"]) > 0, name
        assert re.match(r"^[\d.,]+ (B|kB|MB)$", figures["bytes"]), name
        assert parse_number(figures["bytes"].split()[0]) > 0, name
        assert NUMBER.match(figures["requests"]), name
    # Each poll is a request, and a tick arrives every 0.1 s.
    assert parse_number(card_figures(page, "longpoll")["requests"]) > 0
    assert set(TRANSPORT_PATHS.values()) <= requested_paths(record)
    assert NUMBER.match(page.locator("#clock-offset").text_content())
    assert NUMBER.match(page.locator("#clock-uncertainty").text_content())
    assert "estimate" in page.locator(".legend").text_content()
    assert_page_clean(record)


def test_compare_lists_enabled_transports_only(browser, ticker_process) -> None:
    server = ticker_process(config_text_enabling(["websocket", "poll"]))

    with open_dashboard(browser, f"{server.base_url}{COMPARE_PATH}") as (page, record):
        wait_for_compare_figures(page, ["websocket", "poll"])

        assert card_names(page) == ["websocket", "poll"]
        assert "/transports/sse.js" not in requested_paths(record)
        assert "/transports/longpoll.js" not in requested_paths(record)
        assert "/sse" not in requested_paths(record)
        assert "/long-poll" not in requested_paths(record)
        assert_page_clean(record)


def test_traffic_estimates_follow_wire_formats(page_and_record) -> None:
    page, record = page_and_record

    sizes = page.evaluate(
        """async () => {
            const traffic = await import('/static/js/transports/traffic.js');
            const response = new Response('{}', {
                status: 200,
                statusText: 'OK',
                headers: { 'Content-Type': 'application/json' },
            });
            return {
                frames: [0, 125, 126, 65535, 65536].map(traffic.webSocketFrameBytes),
                utf8: traffic.utf8ByteLength('\\u00e9\\u20ac'),
                event: traffic.serverSentEventBytes(
                    { type: 'ticks', lastEventId: 'e:5', data: '{"a":1}' }),
                headers: traffic.estimateHeaderBytes(response),
            };
        }"""
    )

    # RFC 6455: 2 header bytes, plus 2 from 126 payload bytes or 8 from 65,536.
    assert sizes["frames"] == [2, 127, 130, 65539, 65546]
    assert sizes["utf8"] == 5
    assert sizes["event"] == len('event: ticks\nid: e:5\ndata: {"a":1}\n\n')
    assert sizes["headers"] == len("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n")
    assert_page_clean(record)


def test_windows_stay_bounded(page_and_record) -> None:
    page, record = page_and_record

    result = page.evaluate(
        """async () => {
            const { LatencyWindow } = await import('/static/js/latency.js');
            const { CounterRates } = await import('/static/js/rate.js');
            const latency = new LatencyWindow({ maxSamples: 10, maxAgeMs: 1000 });
            for (let i = 0; i < 25; i += 1) {
                latency.add(1000 + i, 1000);
            }
            const rates = new CounterRates({ windowMs: 5000, maxEvents: 4, now: 0 });
            for (let i = 0; i < 9; i += 1) {
                rates.add({ bytes: 100 }, 4000 + i);
            }
            return {
                kept: latency.sortedLatencies(0, 1030),
                summary: latency.summary(2, 1030),
                pending: latency.summary(null, 1030),
                aged: latency.sortedLatencies(0, 2100).length,
                rates: rates.summary(['bytes'], 4010),
            };
        }"""
    )

    # The last 10 of 25 samples, with latencies 15 to 24 ms before the 2 ms offset.
    assert result["kept"] == list(range(15, 25))
    assert result["summary"]["count"] == 10
    assert result["summary"]["medianMs"] == 21.5
    assert result["summary"]["p50Ms"] == 21
    assert result["summary"]["p90Ms"] == 25
    assert result["summary"]["maxMs"] == 26
    assert result["pending"]["count"] == 10
    assert result["pending"]["medianMs"] is None
    assert result["aged"] == 0
    # Four events of 100 bytes kept, and a rate is taken over one second at least.
    assert result["rates"]["bytes"] == 400
    assert_page_clean(record)


def test_histogram_buckets_are_log_spaced(page_and_record) -> None:
    page, record = page_and_record

    result = page.evaluate(
        """async () => {
            const histogram = await import('/static/js/histogram.js');
            return {
                edges: histogram.BUCKET_EDGES_MS,
                buckets: [-3, 0.05, 0.1, 1.5, 999, 10000].map(histogram.bucketIndex),
                counts: histogram.countBuckets([0.01, 1, 1.9, 20000]),
                labels: [0, 9, 13, 16].map(histogram.describeBucket),
            };
        }"""
    )

    ratios = [high / low for low, high in zip(result["edges"], result["edges"][1:])]
    assert all(2 <= ratio <= 2.5 for ratio in ratios), ratios
    # Below 0.1 ms (negative values too) is bucket 0, and 10 s or more is the last bucket.
    assert result["buckets"] == [0, 0, 1, 4, 12, 16]
    assert len(result["counts"]) == len(result["edges"]) + 1
    assert result["counts"][0] == 1
    assert result["counts"][4] == 2
    assert result["counts"][-1] == 1
    assert result["labels"] == ["< 0.1 ms", "50\u2013100 ms", "1\u20132 s", "\u2265 10 s"]
    assert_page_clean(record)


def row_symbols(page) -> list[str]:
    return page.eval_on_selector_all("tr[data-symbol]", "rows => rows.map(r => r.dataset.symbol)")


def cell_text(page, symbol: str, field_name: str) -> str:
    return page.locator(f'tr[data-symbol="{symbol}"] td[data-field="{field_name}"]').inner_text()


def test_rows_show_quote_and_range(page_and_record) -> None:
    page, record = page_and_record
    page.wait_for_function(
        """() => /\\d/.test(document.querySelector('tr[data-symbol=AAPL] td[data-field=range]')
            .textContent)"""
    )
    # Read the row's cells in one step, so that they belong to the same tick.
    cells = page.eval_on_selector(
        "tr[data-symbol=AAPL]",
        """row => Object.fromEntries([...row.cells].map(c => [c.dataset.field, c.textContent]))""",
    )
    low, high = (parse_number(part) for part in cells["range"].split("–"))
    price, bid, ask = (parse_number(cells[name]) for name in ("price", "bid", "ask"))
    assert bid < ask
    assert bid <= price <= ask
    assert low <= price <= high
    assert page.locator("#feed-mode").inner_text() == "simulated prices"
    assert_page_clean(record)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_rows_follow_config_edits(browser, ticker_process, tmp_path: Path, transport: str) -> None:
    text = fast_config_text()
    server = ticker_process(text)
    server.wait_for_output(r"watching .* for changes")
    path = tmp_path / "config-0.toml"
    symbols = configured_symbols()
    # Drop KO, the last table, and add a symbol in its place.
    ko_table = text[text.index('[[symbols]]\nsymbol = "KO"') :]
    new_table = ko_table.replace('"KO"', '"NEW"').replace("The Coca-Cola Company", "Newly Listed")
    edited = text.replace(ko_table, new_table)
    expected = [*symbols[:-1], "NEW"]

    with open_dashboard(browser, f"{server.base_url}/?transport={transport}") as (page, record):
        wait_for_live(page, transport)
        wait_for_all_prices(page)
        assert row_symbols(page) == symbols

        path.write_text(edited, encoding="utf-8")
        page.wait_for_function(
            "expected => JSON.stringify([...document.querySelectorAll('tr[data-symbol]')]"
            ".map(r => r.dataset.symbol)) === JSON.stringify(expected)",
            arg=expected,
        )
        page.wait_for_function(
            "() => /\\d/.test(document.querySelector('tr[data-symbol=NEW] td[data-field=price]')"
            ".textContent)"
        )
        assert cell_text(page, "NEW", "name") == "Newly Listed"
        assert page.locator("#symbol-count").inner_text() == str(len(expected))

        path.write_text(text, encoding="utf-8")
        page.wait_for_function(
            "expected => JSON.stringify([...document.querySelectorAll('tr[data-symbol]')]"
            ".map(r => r.dataset.symbol)) === JSON.stringify(expected)",
            arg=symbols,
        )
        assert page.locator("#status").get_attribute("data-state") == "live"
        assert_page_clean(record)


def test_replay_shows_trading_day(browser, ticker_process) -> None:
    server = ticker_process('[feed]\nmode = "replay"\nreplay_day_seconds = 1.0\nseed = 3\n')
    with open_dashboard(browser, f"{server.base_url}/") as (page, record):
        wait_for_live(page, "websocket")
        assert row_symbols(page) == ["AAPL", "FB", "GOOG", "IBM", "MSFT"]
        page.wait_for_function(
            "() => /^replaying 2012-0[3-9]-\\d\\d$/.test(document.getElementById('feed-mode')"
            ".textContent)"
        )
        first_day = page.locator("#feed-mode").inner_text()
        # One trading day a second: the next day follows.
        page.wait_for_function(
            "day => document.getElementById('feed-mode').textContent !== day", arg=first_day
        )
        # AAPL traded between about 420 and 705 dollars in the file's year.
        assert 400 < parse_number(cell_text(page, "AAPL", "price")) < 710
        assert_page_clean(record)
