"""Soak test: a ticker server on loopback under a few hundred mixed clients for a given time.

Usage: ``python scripts/soak.py --duration 600 --clients 300``

The script starts ``python -m ticker serve`` with a temporary config on a free loopback port and
runs, in this process:

* well-behaved clients of every transport, each on a random set of symbols, that disconnect at
  random moments and resume from their cursor (WebSocket and polls) or last event id (SSE);
* slow readers that open a WebSocket or an SSE stream and then stop reading;
* clients that send malformed HTTP requests and WebSocket messages, and stalled half-sent
  requests;
* one reference client on every symbol, which records the symbol of each seq.

It samples the server's resident memory and ``GET /api/stats`` as it goes. At the end it stops the
clients, prints a summary and checks five things:

* the server logged no ERROR and no traceback;
* its memory after warm-up grew by at most ``--max-rss-growth``;
* the hub's open subscriptions went back to zero;
* no malformed request got a 5xx;
* every well-behaved client received every tick of its symbols exactly once between its
  snapshot (or reset) and its last event.

It exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import re
import signal
import socket
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tornado.websocket import websocket_connect

from ticker.clients.base import RESET, SNAPSHOT, ClientClosed, Event, TransportClient
from ticker.clients.http import HttpConnection
from ticker.clients.polling import long_poll_client, short_poll_client
from ticker.clients.sse import SseClient
from ticker.clients.websocket import WebSocketClient
from ticker.config import load_config
from ticker.resources import default_config_path

LISTENING = re.compile(r"listening on (http://\S+/)")
START_TIMEOUT = 30.0
"""Seconds to wait for the server's "listening on" line."""
DRAIN_TIMEOUT = 15.0
"""Seconds to wait, after the clients stop, for the hub's subscriptions to reach zero."""
POLL_INTERVAL = 0.5
"""Seconds between two short polls of a well-behaved poll client."""

# A share of every client kind, in the order the clients are created.
MIX = [("websocket", 0.30), ("sse", 0.20), ("longpoll", 0.15), ("poll", 0.05), ("slow", 0.15), ("bad", 0.15)]


# The checks that decide the verdict; pure functions so that the tests can feed them a failure.


@dataclass
class Segment:
    """Ticks received between a snapshot (or reset) at ``start`` and the last cursor ``end``."""

    start: int
    end: int


@dataclass
class Record:
    """The ticks and events one well-behaved client received."""

    name: str
    symbols: frozenset[str] | None
    segments: list[Segment] = field(default_factory=list)
    seqs: list[int] = field(default_factory=list)
    resets: int = 0
    reconnects: int = 0
    server_disconnects: int = 0
    conflated: int = 0
    """Ticks the server replaced with newer ones because this client read too slowly."""
    epoch: str | None = None
    symbol_of: dict[int, str] | None = None
    """The symbol of each seq received, kept by the reference client only."""

    def add(self, event: Event) -> None:
        self.epoch = event.epoch
        if event.kind in (SNAPSHOT, RESET):
            if event.kind == RESET:
                self.resets += 1
            self.segments.append(Segment(event.cursor, event.cursor))
            return
        self.seqs.extend(tick["seq"] for tick in event.ticks)
        self.conflated += event.conflated
        if self.symbol_of is not None:
            self.symbol_of.update((tick["seq"], tick["symbol"]) for tick in event.ticks)
        self.segments[-1].end = max(self.segments[-1].end, event.cursor)


def missing_and_repeated(record: Record, symbol_of: dict[int, str]) -> tuple[list[int], list[int]]:
    """Return the seqs the client should have received and did not, and those it got twice.

    ``symbol_of`` maps each seq to its symbol, from the reference client. A seq it lacks below its
    highest is reported as missing, so a gap in the reference fails the run too. Seqs after its
    highest are not checked.
    """
    received = Counter(record.seqs)
    repeated = sorted(seq for seq, count in received.items() if count > 1)
    missing = []
    # The reference client stops with the others, so the last seqs may have no known symbol.
    known_end = max(symbol_of, default=0)
    for segment in record.segments:
        for seq in range(segment.start + 1, min(segment.end, known_end) + 1):
            symbol = symbol_of.get(seq)
            wanted = symbol is None or record.symbols is None or symbol in record.symbols
            if wanted and seq not in received:
                missing.append(seq)
    return missing, repeated


def rss_growth(samples: Sequence[tuple[float, int]], warmup_end: float) -> tuple[int, int] | None:
    """Return the median RSS of the first third after warm-up and of the last third, in bytes."""
    after = [rss for at, rss in samples if at >= warmup_end]
    if len(after) < 3:
        return None
    third = max(1, len(after) // 3)
    return int(statistics.median(after[:third])), int(statistics.median(after[-third:]))


def log_problems(lines: Sequence[str]) -> list[str]:
    """Return the server log lines at ERROR level and the lines of any traceback."""
    return [line for line in lines if " ERROR " in line or "Traceback" in line]


# The clients.


@dataclass
class Run:
    base_url: str
    port: int
    symbols: list[str]
    rng: random.Random
    mean_session: float
    stop: asyncio.Event
    records: list[Record] = field(default_factory=list)
    reference: Record | None = None
    counts: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def fail(self, message: str) -> None:
        if len(self.failures) < 50:
            self.failures.append(message)
        self.counts["failures"] += 1

    async def pause(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; return False when the run ends meanwhile."""
        try:
            await asyncio.wait_for(self.stop.wait(), seconds)
        except TimeoutError:
            return True
        return False


def make_client(kind: str, base_url: str) -> TransportClient:
    if kind == "websocket":
        return WebSocketClient(base_url)
    if kind == "sse":
        return SseClient(base_url)
    if kind == "longpoll":
        return long_poll_client(base_url)
    return short_poll_client(base_url, interval=POLL_INTERVAL)


async def well_behaved(run: Run, kind: str, record: Record, disconnects: bool) -> None:
    """Receive ticks; drop the connection at random moments and resume from the last cursor."""
    symbols = sorted(record.symbols) if record.symbols is not None else None
    while not run.stop.is_set():
        client = make_client(kind, run.base_url)
        resume = (record.epoch, record.segments[-1].end) if record.epoch is not None else None
        # Opening is not cancelled: a WebSocket handshake cancelled halfway would still
        # complete, and leave a connection that the client can no longer close.
        try:
            await client.open(symbols, resume)
        except Exception as exc:  # noqa: BLE001 - reported below, then the client retries
            if isinstance(exc, ClientClosed):
                record.server_disconnects += 1
            else:
                run.fail(f"{record.name}: open failed: {type(exc).__name__}: {exc}")
            await client.close()
            if not await run.pause(1.0):
                return
            continue
        receiving = asyncio.ensure_future(receive_all(client, record))
        session = run.rng.expovariate(1 / run.mean_session) if disconnects else None
        stopping = asyncio.ensure_future(run.stop.wait())
        await asyncio.wait([receiving, stopping], timeout=session, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()

        # An event the cancelled task had read but not recorded is replayed on resume.
        closed_by_client = not receiving.done()
        receiving.cancel()
        await client.close()
        try:
            await receiving
        except asyncio.CancelledError:
            pass
        except ClientClosed:
            if not closed_by_client:
                record.server_disconnects += 1
        except Exception as exc:  # noqa: BLE001 - any other failure is reported, not hidden
            if not closed_by_client:
                run.fail(f"{record.name}: {type(exc).__name__}: {exc}")
        record.reconnects += 1
        run.counts["client reconnects"] += 1
        if not await run.pause(run.rng.uniform(0.0, 1.0)):
            return


async def receive_all(client: TransportClient, record: Record) -> None:
    while True:
        record.add(await client.receive())


async def slow_reader(run: Run) -> None:
    """Open a WebSocket or an SSE stream, then never read; reconnect after a while."""
    loop = asyncio.get_running_loop()
    while not run.stop.is_set():
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.setblocking(False)
        try:
            await loop.sock_connect(raw, ("127.0.0.1", run.port))
            if run.rng.random() < 0.5:
                key = base64.b64encode(os.urandom(16)).decode()
                request = (
                    "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                    f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                    "Sec-WebSocket-Version: 13\r\n\r\n"
                )
                subscribe = json.dumps({"type": "subscribe", "symbols": ["*"]}).encode()
                mask = os.urandom(4)
                masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(subscribe))
                frame = bytes([0x81, 0x80 | len(subscribe)]) + mask + masked
                # The frame may follow the request at once: the server reads it after the upgrade.
                await loop.sock_sendall(raw, request.encode() + frame)
            else:
                await loop.sock_sendall(raw, b"GET /sse HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            run.counts["slow readers opened"] += 1
            # Long enough for the server's send buffer to fill, so that its slow-consumer rule
            # applies: at 10 batches/s a few minutes of ticks exceed a few megabytes.
            await run.pause(run.rng.uniform(30.0, 300.0))
        except OSError as exc:
            run.fail(f"slow reader: {exc}")
        finally:
            raw.close()
        if not await run.pause(run.rng.uniform(0.0, 2.0)):
            return


BAD_REQUESTS = [
    b"GET /long-poll?cursor=nan HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"GET /long-poll?timeout=-1&cursor=1&cursor=2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"GET /poll?symbols=%FF HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"GET /sse?symbols=NOPE HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"GET /api/snapshot?symbols=" + b"Z," * 3000 + b"Z HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"GET /api/time HTTP/1.1\r\nHost: x\r\nX-Big: " + b"A" * 40000 + b"\r\n\r\n",
    b"\xff\xfe not http\r\n\r\n",
    b"GET /static/../config.toml HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"GET /api/time HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\n",
    # Half-sent: the server closes it after server.idle_connection_timeout or body_timeout.
    b"GET /long-poll?cursor=0 HTTP/1.1\r\nHost: x\r\n",
    b"GET /api/time HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc",
]
BAD_MESSAGES: list[str | bytes] = [
    "{not json",
    b"\x00\xff",
    '{"type": "time", "id": NaN}',
    "[" * 20000 + "]" * 20000,
    '{"type": "subscribe", "symbols": ["NOPE"]}',
    '{"type": "subscribe", "symbols": ["KO"], "epoch": "x", "cursor": -5}',
]


async def bad_client(run: Run) -> None:
    """Send malformed requests and messages; none may get a 5xx or a traceback."""
    while not run.stop.is_set():
        if run.rng.random() < 0.7:
            await send_bad_request(run, run.rng.choice(BAD_REQUESTS))
        else:
            await send_bad_messages(run)
        if not await run.pause(run.rng.uniform(0.2, 2.0)):
            return


async def send_bad_request(run: Run, request: bytes) -> None:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", run.port)
    except OSError as exc:
        run.fail(f"bad request: cannot connect: {exc}")
        return
    try:
        writer.write(request)
        await writer.drain()
        response = await asyncio.wait_for(reader.read(), 60.0)
    except (ConnectionResetError, BrokenPipeError):
        response = b""  # the server closed a request it would not read to the end
    except TimeoutError:
        run.fail(f"bad request held open for 60 s: {request[:60]!r}")
        response = b""
    finally:
        writer.close()
    run.counts["bad requests"] += 1
    if response.startswith(b"HTTP/1.1 5") or b"Traceback" in response:
        run.fail(f"bad request {request[:60]!r} got {response[:200]!r}")


async def send_bad_messages(run: Run) -> None:
    connection = await websocket_connect(run.base_url.replace("http", "ws", 1) + "/ws")
    try:
        for message in run.rng.sample(BAD_MESSAGES, 3):
            await connection.write_message(message, binary=isinstance(message, bytes))
            reply = await asyncio.wait_for(connection.read_message(), 10.0)
            run.counts["bad messages"] += 1
            if not isinstance(reply, str) or json.loads(reply).get("type") != "error":
                run.fail(f"bad message {str(message)[:60]!r} got {reply!r:.200}")
    except (TimeoutError, OSError) as exc:
        run.fail(f"bad message: {type(exc).__name__}: {exc}")
    finally:
        connection.close()


# The server process and the measurements.


def write_config(directory: Path, tick_interval: float, seed: int) -> tuple[Path, list[str]]:
    """Write a config with the shipped symbols, a fast feed and short request timeouts."""
    shipped = load_config(default_config_path())
    lines = [
        "[server]",
        'host = "127.0.0.1"',
        "port = 0",
        "idle_connection_timeout = 5.0",
        "body_timeout = 5.0",
        "[feed]",
        f"tick_interval = {tick_interval}",
        "time_scale = 60.0",
        f"seed = {seed}",
        "[hub]",
        "history_size = 20000",
        "[websocket]",
        "ping_interval = 10.0",
        "ping_timeout = 10.0",
        # Below the ping timeout, so that stalled readers meet the slow-consumer rule.
        "slow_consumer_timeout = 5.0",
        "[sse]",
        "slow_consumer_timeout = 5.0",
        # Every soak client comes from 127.0.0.1, which the per-address defaults would refuse.
        "[limits]",
        "max_connections_per_address = 10000",
        "max_polls_per_address = 10000",
    ]
    for entry in shipped.symbols:
        lines += [
            "[[symbols]]",
            f"symbol = {json.dumps(entry.symbol)}",
            f"name = {json.dumps(entry.name)}",
            f"price = {entry.price}",
            f"volatility = {entry.volatility}",
            f"drift = {entry.drift}",
        ]
    path = directory / "soak.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, list(shipped.symbol_names())


@dataclass
class Server:
    process: asyncio.subprocess.Process
    base_url: str
    lines: list[str]
    reader: asyncio.Task[None]


async def start_server(config_path: Path) -> Server:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ticker", "serve", "--config", str(config_path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    lines: list[str] = []
    listening: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def read_log() -> None:
        assert process.stdout is not None
        async for raw in process.stdout:
            line = raw.decode("utf-8", "replace")
            lines.append(line)
            match = LISTENING.search(line)
            if match and not listening.done():
                listening.set_result(match.group(1).rstrip("/"))
        if not listening.done():
            listening.set_exception(RuntimeError("server exited:\n" + "".join(lines)))

    reader = asyncio.ensure_future(read_log())
    base_url = await asyncio.wait_for(listening, START_TIMEOUT)
    return Server(process, base_url, lines, reader)


def read_rss(pid: int) -> int:
    """Return the resident set size of process ``pid`` in bytes, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS in /proc/{pid}/status")


async def fetch_stats(base_url: str) -> dict[str, Any]:
    connection = HttpConnection(base_url)
    try:
        head, body = await connection.get("/api/stats")
    finally:
        connection.close()
    if head.status != 200:
        raise RuntimeError(f"GET /api/stats returned {head.status}")
    result: dict[str, Any] = json.loads(body)
    return result


def open_subscriptions(stats: dict[str, Any]) -> int:
    return sum(transport["open"] for transport in stats["transports"].values())


async def sample(run: Run, pid: int, interval: float, started: float,
                 rss: list[tuple[float, int]], opened: list[tuple[float, int]]) -> None:
    while await run.pause(interval):
        at = time.monotonic() - started
        rss.append((at, read_rss(pid)))
        opened.append((at, open_subscriptions(await fetch_stats(run.base_url))))


# The run.


async def soak(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="ticker-soak-") as directory:
        config_path, symbols = write_config(Path(directory), args.tick_interval, args.seed)
        server = await start_server(config_path)
        try:
            return await load(args, server, symbols)
        finally:
            if server.process.returncode is None:
                server.process.kill()
                await server.process.wait()


async def load(args: argparse.Namespace, server: Server, symbols: list[str]) -> int:
    """Run the clients against ``server``, stop it, and report."""
    rng = random.Random(args.seed)
    pid = server.process.pid
    port = int(server.base_url.rsplit(":", 1)[1])
    run = Run(server.base_url, port, symbols, rng, args.mean_session, asyncio.Event())
    print(f"server {server.base_url} (pid {pid}); {args.clients} clients for {args.duration:.0f} s")

    started = time.monotonic()
    tasks: list[asyncio.Task[None]] = []
    run.reference = Record("reference", None, symbol_of={})
    tasks.append(asyncio.ensure_future(well_behaved(run, "websocket", run.reference, disconnects=False)))
    kinds = [kind for kind, share in MIX for _ in range(round(share * args.clients))]
    for index, kind in enumerate(kinds):
        if kind == "slow":
            tasks.append(asyncio.ensure_future(slow_reader(run)))
        elif kind == "bad":
            tasks.append(asyncio.ensure_future(bad_client(run)))
        else:
            chosen = None if rng.random() < 0.3 else frozenset(rng.sample(symbols, rng.randint(1, 4)))
            record = Record(f"{kind}-{index}", chosen)
            run.records.append(record)
            tasks.append(asyncio.ensure_future(well_behaved(run, kind, record, disconnects=True)))
        await asyncio.sleep(0.01)  # spread the connection attempts over a few seconds

    rss: list[tuple[float, int]] = []
    opened: list[tuple[float, int]] = []
    sampler = asyncio.ensure_future(sample(run, pid, args.sample_interval, started, rss, opened))
    await run.pause(args.duration)
    run.stop.set()
    await sampler
    await asyncio.gather(*tasks)

    # Every client has closed its connections; the hub must let go of them all.
    drained_at = time.monotonic() + DRAIN_TIMEOUT
    remaining = open_subscriptions(await fetch_stats(run.base_url))
    while remaining and time.monotonic() < drained_at:
        await asyncio.sleep(0.2)
        remaining = open_subscriptions(await fetch_stats(run.base_url))
    final_stats = await fetch_stats(run.base_url)

    server.process.send_signal(signal.SIGTERM)
    status = await server.process.wait()
    await server.reader
    if args.log is not None:
        args.log.write_text("".join(server.lines), encoding="utf-8")
    if args.json is not None:
        samples = {"rss_bytes": rss, "open_subscriptions": opened}
        args.json.write_text(json.dumps(samples) + "\n", encoding="utf-8")
    return report(args, run, server, status, rss, opened, remaining, final_stats)


def report(args: argparse.Namespace, run: Run, server: Server, status: int,
           rss: list[tuple[float, int]], opened: list[tuple[float, int]], remaining: int,
           final_stats: dict[str, Any]) -> int:
    """Print the figures and the verdict of each check; return the exit status."""
    failed: list[str] = []
    assert run.reference is not None and run.reference.symbol_of is not None
    symbol_of = run.reference.symbol_of
    conflated = 0
    for record in [run.reference, *run.records]:
        missing, repeated = missing_and_repeated(record, symbol_of)
        conflated += record.conflated
        # Ticks that the server replaced and reported as conflated are not lost; any others are.
        if len(missing) > record.conflated or repeated:
            failed.append(
                f"{record.name}: {len(missing)} ticks missing (first {missing[:5]}), "
                f"{len(repeated)} repeated (first {repeated[:5]})"
            )
    problems = log_problems(server.lines)
    if problems:
        failed.append(f"server log has {len(problems)} ERROR or traceback lines: {problems[:3]}")
    if remaining:
        still_open = {
            name: transport["open"]
            for name, transport in final_stats["transports"].items()
            if transport["open"]
        }
        failed.append(
            f"{remaining} hub subscriptions still open {DRAIN_TIMEOUT:.0f} s after the clients "
            f"left: {still_open}"
        )
    if status != 0:
        failed.append(f"server exited with status {status}")
    failed.extend(run.failures)

    warmup_end = min(args.warmup, args.duration / 2)
    growth = rss_growth(rss, warmup_end)
    if growth is None:
        failed.append("too few memory samples after warm-up; run longer or sample more often")
    else:
        early, late = growth
        if late > early * (1 + args.max_rss_growth):
            failed.append(f"memory grew from {early / 2**20:.1f} MiB to {late / 2**20:.1f} MiB after warm-up")

    ticks = len(run.reference.seqs)
    received = sum(len(record.seqs) for record in run.records)
    warnings = Counter(
        re.sub(r"[a-z]+-\d+|\d+(\.\d+)?", "N", line.split(": ", 1)[-1].strip())
        for line in server.lines if " WARNING " in line
    )
    print(f"duration            {args.duration:.0f} s, tick interval {args.tick_interval} s")
    print(f"ticks published     {final_stats['cursor']} (reference client received {ticks})")
    print(f"well-behaved        {len(run.records)} clients, {received} ticks received, "
          f"{sum(r.reconnects for r in run.records)} reconnects, "
          f"{sum(r.server_disconnects for r in run.records)} closed by the server, "
          f"{sum(r.resets for r in run.records)} resets, {conflated} conflated")
    for name, count in sorted(run.counts.items()):
        print(f"{name:<20}{count}")
    if growth is not None:
        print(f"server RSS          {growth[0] / 2**20:.1f} MiB after warm-up ({warmup_end:.0f} s), "
              f"{growth[1] / 2**20:.1f} MiB at the end, peak {max(r for _, r in rss) / 2**20:.1f} MiB")
    print(f"open subscriptions  peak {max((n for _, n in opened), default=0)}, "
          f"{remaining} after the clients left")
    for message, count in warnings.most_common(5):
        print(f"server warning      {count} x {message[:100]}")
    for message in failed:
        print(f"FAIL {message}")
    print("FAIL" if failed else "PASS")
    return 1 if failed else 0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load (default 60)")
    parser.add_argument("--clients", type=int, default=300, help="clients at once (default 300)")
    parser.add_argument("--tick-interval", type=float, default=0.1, help="seconds between batches (default 0.1)")
    parser.add_argument("--warmup", type=float, default=60.0,
                        help="seconds before memory counts as warmed up, at most half the duration (default 60)")
    parser.add_argument("--sample-interval", type=float, default=2.0, help="seconds between samples (default 2)")
    parser.add_argument("--mean-session", type=float, default=30.0,
                        help="mean seconds a well-behaved client stays connected (default 30)")
    parser.add_argument("--max-rss-growth", type=float, default=0.1,
                        help="largest allowed RSS growth after warm-up, as a fraction (default 0.1)")
    parser.add_argument("--log", type=Path, help="file to write the server's log to")
    parser.add_argument(
        "--json", type=Path, help="file to write the samples to: [seconds, value] pairs of RSS "
        "in bytes and of open hub subscriptions"
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed of the clients and the feed")
    return parser.parse_args(argv)


def main() -> None:
    sys.exit(asyncio.run(soak(parse_args())))


if __name__ == "__main__":
    main()
