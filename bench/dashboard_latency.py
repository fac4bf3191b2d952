"""Measure the latency that the dashboard shows for each transport, in a real browser.

Starts ``ticker serve`` on a free loopback port, opens the dashboard in Debian's Chromium through
Playwright once per transport and round, lets it run, and reads the latency panel (last, median
and 99th percentile of receive time minus tick ``ts``) and the ticks per second. Prints each
reading, then the median over the rounds and the long-poll to WebSocket ratio.

    .venv/bin/python bench/dashboard_latency.py --rounds 3 --seconds 20

Needs the test extra (``pip install -e ".[test]"``) and ``/usr/bin/chromium``.
"""

from __future__ import annotations

import argparse
import re
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

REPO_ROOT = Path(__file__).resolve().parent.parent
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
TRANSPORTS = ("websocket", "sse", "longpoll", "poll")
FIELDS = {
    "last_ms": "#latency-last",
    "median_ms": "#latency-median",
    "p99_ms": "#latency-p99",
    "ticks_per_s": "#rate-ticks",
}
LISTENING = re.compile(r"listening on (http://\S+/)")


def start_server(config: Path) -> tuple[subprocess.Popen[str], str]:
    """Run ``ticker serve`` on a free port; return the process and its URL once it listens."""
    process = subprocess.Popen(
        [sys.executable, "-m", "ticker", "serve", "--config", str(config), "--port", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    for line in process.stderr:
        match = LISTENING.search(line)
        if match:
            return process, match.group(1)
    raise SystemExit(f"ticker serve exited with {process.wait()} before listening")


def read_panel(page) -> dict[str, float]:  # type: ignore[no-untyped-def]
    return {name: float(page.inner_text(selector)) for name, selector in FIELDS.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=REPO_ROOT / "config.toml")
    parser.add_argument("--rounds", type=int, default=3, help="readings per transport")
    parser.add_argument("--seconds", type=float, default=20.0, help="run time before a reading")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()

    process, url = start_server(args.config)
    readings: dict[str, list[dict[str, float]]] = {name: [] for name in TRANSPORTS}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=args.chromium, args=CHROMIUM_ARGS
            )
            for round_number in range(1, args.rounds + 1):
                for transport in TRANSPORTS:
                    page = browser.new_page()
                    page.goto(f"{url}?transport={transport}")
                    page.wait_for_selector('#status[data-state="live"]')
                    page.wait_for_timeout(args.seconds * 1000)
                    reading = read_panel(page)
                    page.close()
                    readings[transport].append(reading)
                    figures = "  ".join(f"{key} {value:g}" for key, value in reading.items())
                    print(f"round {round_number} {transport:9s} {figures}", flush=True)
            browser.close()
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(10)

    print(f"\nmedian of {args.rounds} rounds of {args.seconds:g} s, config {args.config.name}:")
    medians: dict[str, dict[str, float]] = {}
    for transport, rows in readings.items():
        medians[transport] = {key: statistics.median(r[key] for r in rows) for key in FIELDS}
        figures = "  ".join(f"{key} {value:g}" for key, value in medians[transport].items())
        print(f"  {transport:9s} {figures}")
    for transport in TRANSPORTS[1:]:
        for key in ("median_ms", "p99_ms"):
            base = medians["websocket"][key]
            ratio = medians[transport][key] / base if base else float("nan")
            print(f"  {transport} / websocket {key}: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    started = time.monotonic()
    status = main()
    print(f"took {time.monotonic() - started:.0f} s")
    sys.exit(status)
