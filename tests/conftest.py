"""Shared fixtures: a small config, a real hub and app, a manual publisher, and log checks."""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import tornado.web

from ticker.app import make_app, make_hub
from ticker.config import Config, parse_config
from ticker.context import ServerContext
from ticker.hub import Batch, Hub, PriceUpdate

TIME_UNIT = float(os.environ.get("TICKER_TEST_TIME_UNIT", "1.0"))
"""Seconds; every time limit in the tests is a multiple of it, so a slow machine can scale them."""

SMALL_CONFIG = """
[feed]
tick_interval = 0.01
seed = 7

[hub]
history_size = 50

[longpoll]
hold_timeout = 5.0
max_hold_timeout = 10.0
max_ticks_per_response = 20

[websocket]
ping_interval = 0
max_message_size = 1024
max_pending_messages = 4

[[symbols]]
symbol = "AAPL"
name = "Apple Inc."
price = 100.0
volatility = 0.2
drift = 0.05

[[symbols]]
symbol = "MSFT"
name = "Microsoft Corporation"
price = 200.0
volatility = 0.2
drift = 0.05

[[symbols]]
symbol = "KO"
name = "The Coca-Cola Company"
price = 50.0
volatility = 0.1
drift = 0.02
"""

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def config() -> Config:
    return parse_config(SMALL_CONFIG, source="test-config.toml")


class AdjustableClock:
    """``time.monotonic`` plus an offset that a test moves forward instead of waiting."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@pytest.fixture
def clock() -> AdjustableClock:
    return AdjustableClock()


@pytest.fixture
def hub(config: Config, clock: AdjustableClock) -> Hub:
    hub = make_hub(config)
    hub.clock = clock
    return hub


@pytest.fixture
def context(config: Config, hub: Hub) -> ServerContext:
    return ServerContext(config, hub)


@pytest.fixture
def app(context: ServerContext) -> tornado.web.Application:
    return make_app(context)


class ManualPublisher:
    """Publishes chosen prices at chosen moments, in place of the random feed."""

    def __init__(self, hub: Hub):
        self.hub = hub

    def publish(self, prices: Mapping[str, float]) -> Batch:
        ts = time.time() * 1000.0
        batch = self.hub.publish(PriceUpdate(symbol, price, ts) for symbol, price in prices.items())
        assert batch is not None
        return batch


@pytest.fixture
def publisher(hub: Hub) -> ManualPublisher:
    return ManualPublisher(hub)


async def eventually(condition: Callable[[], bool], timeout: float = 5 * TIME_UNIT) -> None:
    """Yield to the event loop until ``condition()`` holds; fail after ``timeout`` seconds.

    For states that no future announces, such as the hub's subscription count after a peer
    vanished. The timeout only bounds a failing test; a passing one returns as soon as it can.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.001)


def wait_for(awaitable: Awaitable[object], timeout: float = 5 * TIME_UNIT) -> Awaitable[object]:
    return asyncio.wait_for(awaitable, timeout)


# Unexpected warnings and errors in the log fail the test that caused them.


class LogGuard(logging.Handler):
    """Collects WARNING and ERROR records; a test declares the ones it expects."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.records: list[logging.LogRecord] = []
        # The test configs tick every 10 ms, which a busy 2-core machine cannot always keep up
        # with; the feed's warning about it is unrelated to the code under test.
        self.expected: list[re.Pattern[str]] = [re.compile(r"^feed is .* behind; skipped")]

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def expect(self, pattern: str) -> None:
        """Allow WARNING and ERROR records whose message matches ``pattern``."""
        self.expected.append(re.compile(pattern))

    def matching(self, pattern: str) -> list[str]:
        regex = re.compile(pattern)
        return [r.getMessage() for r in self.records if regex.search(r.getMessage())]

    def unexpected(self) -> list[str]:
        return [
            f"{r.levelname} {r.name}: {r.getMessage()}"
            for r in self.records
            if not any(p.search(r.getMessage()) for p in self.expected)
        ]


@pytest.fixture(autouse=True)
def log_guard() -> Iterator[LogGuard]:
    guard = LogGuard()
    root = logging.getLogger()
    root.addHandler(guard)
    try:
        yield guard
    finally:
        root.removeHandler(guard)
    unexpected = guard.unexpected()
    assert not unexpected, f"unexpected log records: {unexpected}"


# A real `ticker serve` process, for the smoke and browser tests.


@dataclass
class ServerProcess:
    process: subprocess.Popen[str]
    base_url: str
    lines: list[str]
    reader: threading.Thread
    output_changed: threading.Condition = field(default_factory=threading.Condition)
    """Notified by the reader thread after each line it appends to ``lines``."""

    def wait_for_output(
        self, pattern: str, after: int = 0, timeout: float = 10 * TIME_UNIT
    ) -> re.Match[str]:
        """Wait for a line from index ``after`` on that matches ``pattern``; return the match."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.output_changed:
            while True:
                for line in self.lines[after:]:
                    if match := regex.search(line):
                        return match
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no output matching {pattern!r}: {''.join(self.lines)}")
                self.output_changed.wait(remaining)

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 10 * TIME_UNIT) -> int:
        """Send ``signum`` and return the exit status, once all output is read."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            status = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            # Show what the process was doing, then make sure it ends.
            self.process.kill()
            self.process.wait(timeout)
            self.reader.join(timeout)
            raise AssertionError(
                f"{' '.join(map(str, self.process.args))} did not exit within {timeout} s of signal "
                f"{signum}; its output:\n{''.join(self.lines)}"
            ) from None
        self.reader.join(timeout)
        assert self.process.stdout is not None
        self.process.stdout.close()
        return status

    def kill(self) -> None:
        """Stop the process if ``stop`` has not; idempotent."""
        if self.process.stdout is not None and not self.process.stdout.closed:
            self.stop(signal.SIGKILL)


LISTENING = re.compile(r"listening on (http://\S+/)")


def start_server_process(
    args: list[str],
    cwd: Path,
    timeout: float = 15 * TIME_UNIT,
    env: Mapping[str, str] | None = None,
) -> ServerProcess:
    """Run ``python -m ticker ARGS`` and wait for its "listening on URL" log line.

    Raises AssertionError with the output when the process exits or stays silent instead.
    """
    return start_process([sys.executable, "-m", "ticker", *args], cwd, LISTENING, timeout, env)


def start_process(
    command: list[str],
    cwd: Path,
    ready: re.Pattern[str],
    timeout: float = 15 * TIME_UNIT,
    env: Mapping[str, str] | None = None,
) -> ServerProcess:
    """Run ``command`` and wait for an output line that matches ``ready``.

    When ``ready`` has a group, its first group is the process's base URL. Raises
    AssertionError with the output when the process exits or stays silent instead.
    """
    process = subprocess.Popen(
        command,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    lines: list[str] = []
    ready_lines: queue.Queue[str | None] = queue.Queue()
    output_changed = threading.Condition()

    def read_output() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            with output_changed:
                lines.append(line)
                output_changed.notify_all()
            ready_lines.put(line)
        ready_lines.put(None)

    reader = threading.Thread(target=read_output, daemon=True)
    reader.start()
    name = f"ticker {command[3]}" if command[0] == sys.executable else Path(command[0]).name
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        try:
            line = ready_lines.get(timeout=max(0.0, remaining))
        except queue.Empty:
            ServerProcess(process, "", lines, reader).kill()
            raise AssertionError(f"{name} did not start within {timeout} s: {''.join(lines)}")
        if line is None:
            status = ServerProcess(process, "", lines, reader).stop()
            raise AssertionError(f"{name} exited with {status}: {''.join(lines)}")
        match = ready.search(line)
        if match:
            base_url = match.group(1).rstrip("/") if ready.groups else ""
            return ServerProcess(process, base_url, lines, reader, output_changed)


@pytest.fixture
def ticker_process(tmp_path: Path) -> Iterator[Callable[[str], ServerProcess]]:
    """A factory: ``ticker_process(config_text)`` serves that config on a free loopback port."""
    started: list[ServerProcess] = []

    def start(config_text: str) -> ServerProcess:
        path = tmp_path / f"config-{len(started)}.toml"
        path.write_text(config_text, encoding="utf-8")
        server = start_server_process(
            ["serve", "--config", str(path), "--host", "127.0.0.1", "--port", "0"], cwd=tmp_path
        )
        started.append(server)
        return server

    yield start
    for server in started:
        server.kill()
