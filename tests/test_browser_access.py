"""Browser tests of the pages under access control and their Content-Security-Policy.

A server with ``[access]`` enabled serves the dashboard; the page gets its key from ``?key=``
and must work over every transport without one CSP violation. The tests skip or fail like those
in test_browser.py.
"""

from __future__ import annotations

import re
import urllib.request
from urllib.parse import parse_qs, urlsplit

import pytest

from test_browser import (  # noqa: F401 (browser is a fixture)
    COMPARE_PATH,
    TRANSPORTS,
    assert_page_clean,
    browser,
    fast_config_text,
    open_dashboard,
    wait_for_compare_figures,
    wait_for_live,
    wait_for_price_change,
)

KEY = "browser-key-0123456789abcdef"
ENTITLED = ["AAPL", "MSFT"]
KEY_TABLE = f"""
[[access.keys]]
name = "browser"
key = "{KEY}"
symbols = {ENTITLED!r}
""".replace("'", '"')

# Records every CSP violation of the page, from before its first script runs.
WATCH_CSP = """
window.cspViolations = [];
document.addEventListener('securitypolicyviolation', (event) => {
  window.cspViolations.push(`${event.violatedDirective} blocked ${event.blockedURI}`);
});
"""


def watch_csp(page) -> None:
    page.add_init_script(WATCH_CSP)


def csp_violations(page) -> list[str]:
    return page.evaluate("window.cspViolations")


def assert_violation_detected(page, record) -> None:
    """Break the policy on purpose once, to show that the checks above could fail."""
    page.evaluate(
        """() => {
            const script = document.createElement('script');
            script.textContent = 'window.inlineRan = true';
            document.body.append(script);
        }"""
    )
    page.wait_for_function("() => window.cspViolations.length > 0")
    assert page.evaluate("window.inlineRan") is None
    assert any("script-src" in violation for violation in csp_violations(page))
    assert any("Content Security Policy" in error for error in record.console_errors)


def keyed_config_text() -> str:
    """Return the fast config with access control on and one key for ENTITLED."""
    text, count = re.subn(r"(?m)^enabled = false$", "enabled = true", fast_config_text())
    assert count == 1, "expected one 'enabled = false' line, in [access], in config.toml"
    return text + KEY_TABLE


@pytest.fixture
def keyed_server(ticker_process):
    return ticker_process(keyed_config_text())


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_dashboard_with_key_under_csp(browser, keyed_server, transport: str) -> None:  # noqa: F811
    url = f"{keyed_server.base_url}/?key={KEY}&transport={transport}"
    with open_dashboard(browser, url, prepare=watch_csp) as (page, record):
        wait_for_live(page, transport)
        wait_for_price_change(page)

        rows = page.eval_on_selector_all("tr[data-symbol]", "rows => rows.map(r => r.dataset.symbol)")
        assert rows == ENTITLED
        compare_link = urlsplit(page.locator("#compare-link").get_attribute("href"))
        assert parse_qs(compare_link.query)["key"] == [KEY]
        assert csp_violations(page) == []
        assert_page_clean(record)
        assert_violation_detected(page, record)


def test_pages_send_csp(keyed_server) -> None:
    for path in ["/", COMPARE_PATH, "/compare"]:
        with urllib.request.urlopen(keyed_server.base_url + path, timeout=10) as response:
            policy = response.headers["Content-Security-Policy"]
        assert policy.startswith("default-src 'self';"), path
        assert "unsafe" not in policy, path


def test_compare_page_with_key_under_csp(browser, keyed_server) -> None:  # noqa: F811
    url = f"{keyed_server.base_url}{COMPARE_PATH}?key={KEY}"
    with open_dashboard(browser, url, prepare=watch_csp) as (page, record):
        wait_for_compare_figures(page, TRANSPORTS)
        assert page.locator("#symbol-count").text_content() == str(len(ENTITLED))
        assert csp_violations(page) == []
        assert_page_clean(record)


def test_dashboard_without_key_explains(browser, keyed_server) -> None:  # noqa: F811
    with open_dashboard(browser, f"{keyed_server.base_url}/") as (page, record):
        assert page.locator("#status").get_attribute("data-state") == "error"
        text = page.locator("#status-text").text_content()
        assert "missing API key" in text
        assert "?key=YOUR_API_KEY" in text
        # The browser logs the refused request itself; nothing else may fail.
        assert all("401" in error for error in record.console_errors)
