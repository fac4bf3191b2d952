"""Run benchmark clients against a server and measure each transport.

One process runs every client on one event loop. Each client subscribes to all symbols, so it
must see every seq in the measurement window: what it lacks is missing (or conflated, when the
server reports it), what it sees twice is duplicated. A client that loses its connection
reconnects with backoff and resumes from its cursor. The window opens after the warm-up and closes after the duration; clients then get
a few seconds to catch up with the window's last seq before they are closed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ticker.bench.histogram import LatencyHistogram
from ticker.bench.recorder import ClientRecorder, Window
from ticker.bench.server import ServerProcess
from ticker.clients.base import TransportClient
from ticker.clients.http import HttpConnection
from ticker.clients.polling import short_poll_client
from ticker.clients.reconnect import ReconnectingClient
from ticker.transports.registry import discover_transports

logger = logging.getLogger("ticker.bench")

OPEN_BATCH = 50
"""Clients that connect at once; more would overflow the server's listen backlog."""
DRAIN_TIMEOUT = 5.0
CLOCK_SAMPLES = 8


@dataclass
class ClockOffset:
    """Server clock minus client clock, from the round trip with the smallest delay (NTP-style)."""

    offset_ms: float
    uncertainty_ms: float
    """Half the best round trip: the offset is within this of the truth."""


async def estimate_clock_offset(base_url: str, samples: int = CLOCK_SAMPLES) -> ClockOffset:
    connection = HttpConnection(base_url)
    best: tuple[float, float] | None = None
    try:
        for _ in range(samples):
            sent = time.time() * 1000.0
            head, body = await connection.get("/api/time")
            received = time.time() * 1000.0
            if head.status != 200:
                raise RuntimeError(f"GET /api/time returned HTTP {head.status}")
            server_ms = json.loads(body)["server_time_ms"]
            round_trip = received - sent
            offset = server_ms - (sent + received) / 2.0
            if best is None or round_trip < best[0]:
                best = (round_trip, offset)
    finally:
        connection.close()
    assert best is not None
    return ClockOffset(offset_ms=best[1], uncertainty_ms=best[0] / 2.0)


async def get_api_json(base_url: str, path: str, key: str | None) -> dict[str, Any]:
    """Return the JSON body of ``GET path``; raise RuntimeError with the server's reason."""
    connection = HttpConnection(base_url, key)
    try:
        head, body = await connection.get(path)
    finally:
        connection.close()
    if head.status == 200:
        result: dict[str, Any] = json.loads(body)
        return result
    try:
        reason = json.loads(body)["error"]
    except (ValueError, KeyError, TypeError):
        reason = body[:200].decode("utf-8", "replace")
    hint = ""
    if head.status == 401:
        hint = "; the server needs an API key: set TICKER_API_KEY or pass --key"
    raise RuntimeError(f"GET {path} returned HTTP {head.status}: {reason}{hint}")


async def check_key_sees_all(base_url: str, key: str | None) -> None:
    """Raise RuntimeError when ``key`` may see only some symbols, which the counts cannot allow."""
    listed = await get_api_json(base_url, "/api/symbols", key)
    if listed.get("restricted"):
        raise RuntimeError(
            f"the API key may see only {len(listed['symbols'])} symbols, and ticker bench counts "
            'every tick as expected; use a key whose symbols are ["*"]'
        )


async def feed_state(base_url: str, key: str | None = None) -> tuple[float | None, int | None]:
    """Return the feed's last lag in ms and its skipped steps, from ``/api/stats``."""
    stats = await get_api_json(base_url, "/api/stats", key)
    return stats.get("feed_lag_ms"), stats.get("feed_skipped_steps")


async def server_cursor(base_url: str, key: str | None = None) -> int:
    cursor: int = (await get_api_json(base_url, "/api/snapshot", key))["cursor"]
    return cursor


@dataclass
class TransportRun:
    """The clients of one transport during one measurement."""

    name: str
    window: Window = field(default_factory=Window)
    latencies: LatencyHistogram = field(default_factory=LatencyHistogram)
    clients: list[TransportClient] = field(default_factory=list)
    recorders: list[ClientRecorder] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    bytes_at_start: int = 0
    requests_at_start: int = 0
    server_cpu_percent: float | None = None
    server_peak_rss_mb: float | None = None
    feed_max_lag_ms: float | None = None
    """The largest feed lag seen by sampling ``/api/stats`` once a second while measuring."""
    feed_skipped_steps: int | None = None
    window_seconds: float = 0.0

    def events(self) -> int:
        return sum(recorder.events for recorder in self.recorders)

    def caught_up(self) -> bool:
        end = self.window.end
        assert end is not None
        return all(r.cursor >= end for r, task in zip(self.recorders, self.tasks) if not task.done())

    def bytes_received(self) -> int:
        return sum(client.bytes_received for client in self.clients)

    def requests(self) -> int:
        return sum(client.requests for client in self.clients)

    def result(self) -> dict[str, Any]:
        expected = delivered = duplicated = 0
        for recorder in self.recorders:
            client_expected, client_delivered, client_duplicated = recorder.tally()
            expected += client_expected
            delivered += client_delivered
            duplicated += client_duplicated
        seconds = self.window_seconds
        received_bytes = self.bytes_received() - self.bytes_at_start
        requests = self.requests() - self.requests_at_start
        latency = {
            "p50": self.latencies.percentile(0.50),
            "p90": self.latencies.percentile(0.90),
            "p99": self.latencies.percentile(0.99),
            "p999": self.latencies.percentile(0.999),
            "max": self.latencies.max_ms if self.latencies.total else None,
        }
        return {
            "clients": len(self.clients),
            "failed_clients": len(self.failures),
            "expected": expected,
            "delivered": delivered,
            "missing": expected - delivered,
            "duplicated": duplicated,
            "resets": sum(recorder.resets for recorder in self.recorders),
            "conflated": sum(recorder.conflated for recorder in self.recorders),
            "latency_ms": {k: None if v is None else round(v, 3) for k, v in latency.items()},
            "updates_per_s": round(delivered / seconds, 1) if seconds else None,
            "bytes_per_update": round(received_bytes / delivered, 1) if delivered else None,
            "requests_per_s": round(requests / seconds, 1) if seconds else None,
            "server": {
                "cpu_percent": self.server_cpu_percent,
                "peak_rss_mb": self.server_peak_rss_mb,
                "feed_max_lag_ms": self.feed_max_lag_ms,
                "feed_skipped_steps": self.feed_skipped_steps,
            },
            "failures": self.failures[:5],
            "latency_histogram": [
                [round(upper, 4), count] for upper, count in self.latencies.buckets()
            ],
        }


async def drive(client: TransportClient, recorder: ClientRecorder, failures: list[str]) -> None:
    """Receive until cancelled, recording every event."""
    try:
        while True:
            event = await client.receive()
            recorder.record(event, time.time() * 1000.0)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        failures.append(f"{type(exc).__name__}: {exc}")


def client_factory(
    name: str, poll_interval: float, key: str | None = None
) -> Callable[[str], TransportClient]:
    """Return what makes a client of transport ``name``; a key goes to clients that take one."""
    if name == "poll":
        return lambda base_url: short_poll_client(base_url, poll_interval, key)
    make = discover_transports()[name].client
    if key is None:
        return make
    return lambda base_url: make(base_url, key=key)  # type: ignore[call-arg]


async def open_clients(
    run: TransportRun,
    base_url: str,
    count: int,
    offset: ClockOffset,
    poll_interval: float,
    key: str | None = None,
) -> None:
    make_client = client_factory(run.name, poll_interval, key)

    async def open_one() -> None:
        client = ReconnectingClient(lambda: make_client(base_url))
        recorder = ClientRecorder(run.window, run.latencies, -offset.offset_ms)
        run.clients.append(client)
        run.recorders.append(recorder)
        try:
            await client.open()
        except Exception as exc:
            run.failures.append(f"open failed: {type(exc).__name__}: {exc}")
            run.tasks.append(asyncio.ensure_future(asyncio.sleep(0)))
            return
        run.tasks.append(asyncio.ensure_future(drive(client, recorder, run.failures)))

    for first in range(0, count, OPEN_BATCH):
        await asyncio.gather(*(open_one() for _ in range(first, min(count, first + OPEN_BATCH))))


async def close_clients(run: TransportRun) -> None:
    for task in run.tasks:
        task.cancel()
    await asyncio.gather(*run.tasks, return_exceptions=True)
    for client in run.clients:
        try:
            await client.close()
        except Exception as exc:  # a client that already failed may fail to close too
            logger.debug("closing a %s client failed: %s", run.name, exc)


class Progress:
    """One status line on standard error, rewritten in place on a terminal."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last_print = 0.0

    def show(self, text: str) -> None:
        now = time.monotonic()
        if self.tty:
            sys.stderr.write("\r" + text.ljust(100)[:100])
            sys.stderr.flush()
        elif now - self.last_print >= 5.0:
            sys.stderr.write(text + "\n")
            self.last_print = now

    def done(self) -> None:
        if self.tty:
            sys.stderr.write("\n")


async def measure(
    runs: Sequence[TransportRun],
    base_url: str,
    warmup: float,
    duration: float,
    server: ServerProcess | None,
    progress: Progress,
    key: str | None = None,
) -> None:
    """Warm up, measure for ``duration`` seconds, and let the clients catch up."""
    await wait_showing(runs, warmup, "warm-up", progress)

    start_cursor = await server_cursor(base_url, key)
    for run in runs:
        run.window.start = start_cursor
        run.bytes_at_start = run.bytes_received()
        run.requests_at_start = run.requests()
    cpu_start = server.cpu_seconds() if server else None
    started = time.monotonic()
    _lag, skipped_start = await feed_state(base_url, key)
    lags: list[float] = []

    async def sample_lag() -> None:
        lag, _skipped = await feed_state(base_url, key)
        if lag is not None:
            lags.append(lag)

    await wait_showing(runs, duration, "measuring", progress, every_second=sample_lag)
    _lag, skipped_end = await feed_state(base_url, key)

    end_cursor = await server_cursor(base_url, key)
    seconds = time.monotonic() - started
    cpu_percent = None
    if server is not None and cpu_start is not None:
        cpu_percent = round(100.0 * (server.cpu_seconds() - cpu_start) / seconds, 1)
    for run in runs:
        run.window.end = end_cursor
        run.window_seconds = seconds
        run.server_cpu_percent = cpu_percent
        run.server_peak_rss_mb = round(server.peak_rss_mb(), 1) if server else None
        run.feed_max_lag_ms = max(lags, default=None)
        if skipped_start is not None and skipped_end is not None:
            run.feed_skipped_steps = skipped_end - skipped_start

    deadline = time.monotonic() + DRAIN_TIMEOUT
    while not all(run.caught_up() for run in runs) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


async def wait_showing(
    runs: Sequence[TransportRun],
    seconds: float,
    phase: str,
    progress: Progress,
    every_second: Callable[[], Awaitable[None]] | None = None,
) -> None:
    started = time.monotonic()
    while (elapsed := time.monotonic() - started) < seconds:
        counts = "  ".join(
            f"{run.name} {len(run.clients) - len(run.failures)} clients {run.events()} events"
            for run in runs
        )
        progress.show(f"{phase} {elapsed:4.0f}/{seconds:.0f} s  {counts}")
        if every_second is not None:
            await every_second()
        await asyncio.sleep(max(0.0, min(1.0, seconds - (time.monotonic() - started))))
