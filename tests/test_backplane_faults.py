"""Faults with real processes: Redis missing or lost, two feeds, a feed restart, a node killed."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest
import tornado.httpserver
import tornado.netutil
import tornado.websocket

from cluster import (
    BACKPLANE_CONFIG,
    Cluster,
    free_port,
    require_redis_server,
    start_cluster,
    start_feed,
    start_node,
    start_redis,
    stop_process,
    write_config,
)
from conftest import SMALL_CONFIG, TIME_UNIT, ServerProcess, eventually, start_process, wait_for
from ticker.app import make_app, make_hub
from ticker.config import parse_config
from ticker.context import ServerContext
from test_cli import run_ticker
from ticker.backplane.connection import connect
from ticker.backplane.node import BackplaneNode
from ticker.backplane.stream import encode_batch
from ticker.hub import Hub, PriceUpdate
from ticker.clients.base import RESET, SNAPSHOT, TICKS, TransportClient
from ticker.clients.http import HttpConnection
from ticker.clients.polling import long_poll_client, short_poll_client
from ticker.clients.reconnect import ReconnectingClient
from ticker.clients.sse import SseClient
from ticker.clients.websocket import WebSocketClient

T = TypeVar("T")

CLIENTS: dict[str, Callable[[str], TransportClient]] = {
    "websocket": WebSocketClient,
    "sse": SseClient,
    "longpoll": lambda url: long_poll_client(url, hold=1.0),
    "poll": lambda url: short_poll_client(url, interval=0.02),
}


class Started:
    """The processes a test started, stopped at teardown in reverse order."""

    def __init__(self) -> None:
        self.processes: list[ServerProcess] = []

    def add(self, process: ServerProcess) -> ServerProcess:
        self.processes.append(process)
        return process


@pytest.fixture
def started() -> Iterator[Started]:
    processes = Started()
    yield processes
    for process in reversed(processes.processes):
        stop_process(process)


async def off_loop(function: Callable[[], T]) -> T:
    """Run a blocking start or stop in a thread, so that the clients keep receiving."""
    return await asyncio.get_running_loop().run_in_executor(None, function)


class Tracker:
    """One reconnecting client and every seq it received after its first snapshot."""

    def __init__(self, name: str, url: str):
        self.name = name
        self.client = ReconnectingClient(lambda: CLIENTS[name](url), base_delay=0.05, max_delay=0.5)
        self.epochs: list[str] = []
        self.seqs: list[int] = []
        self.resets = 0
        self.start_cursor = 0

    async def open(self) -> None:
        await wait_for(self.client.open())
        first = await wait_for(self.client.receive())
        assert first.kind == SNAPSHOT
        self.epochs.append(first.epoch)
        self.start_cursor = first.cursor

    async def receive_until(self, seq: int, resets: int = 0) -> None:
        """Receive until ``resets`` resets and then a tick at or past ``seq`` arrived."""
        while self.resets < resets or not self.seqs or self.seqs[-1] < seq:
            event = await wait_for(self.client.receive(), timeout=20 * TIME_UNIT)
            if event.kind == RESET:
                self.resets += 1
                self.epochs.append(event.epoch)
                self.seqs = []
                self.start_cursor = event.cursor
                continue
            assert event.kind == TICKS, f"{self.name} got {event.kind}"
            self.seqs.extend(tick["seq"] for tick in event.ticks)

    def assert_exactly_once(self) -> None:
        expected = list(range(self.start_cursor + 1, self.start_cursor + 1 + len(self.seqs)))
        assert self.seqs == expected, f"{self.name}: seqs are not consecutive and unique"


async def latest_cursor(url: str) -> int:
    connection = HttpConnection(url)
    try:
        head, body = await connection.get("/api/snapshot")
    finally:
        connection.close()
    assert head.status == 200
    cursor: int = json.loads(body)["cursor"]
    return cursor


def output(process: ServerProcess) -> str:
    return "".join(process.lines)


@dataclass
class Backplane:
    redis: ServerProcess
    url: str
    config: Path
    feed: ServerProcess
    node: ServerProcess
    trackers: list[Tracker]


async def start_backplane(
    tmp_path: Path, started: Started, config_text: str = BACKPLANE_CONFIG
) -> Backplane:
    """Start Redis, a feed, a node and one client per transport, each with 20 ticks received."""
    require_redis_server()
    redis, url = await off_loop(lambda: start_redis(tmp_path))
    started.add(redis)
    config = write_config(tmp_path, config_text)
    feed = started.add(await off_loop(lambda: start_feed(tmp_path, config, url)))
    node = started.add(await off_loop(lambda: start_node(tmp_path, config, url)))
    trackers = [Tracker(name, node.base_url) for name in CLIENTS]
    for tracker in trackers:
        await tracker.open()
    cursor = await latest_cursor(node.base_url)
    await asyncio.gather(*(tracker.receive_until(cursor + 20) for tracker in trackers))
    return Backplane(redis, url, config, feed, node, trackers)


async def restart_redis(tmp_path: Path, started: Started, backplane: Backplane) -> None:
    """Start an empty Redis on the port of ``backplane``'s, which the test killed."""
    port = int(backplane.url.rsplit(":", 1)[1].split("/")[0])
    started.add((await off_loop(lambda: start_redis(tmp_path, port)))[0])


# Start-up errors


def test_serve_without_redis_is_clear_error(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    url = f"redis://127.0.0.1:{free_port()}/0"
    args = ["serve", "--config", str(config), "--port", "0", "--backplane", url]
    result = run_ticker(*args, cwd=tmp_path)
    assert result.returncode == 1
    assert f"cannot reach the backplane at {url}" in result.stderr
    assert "Traceback" not in result.stderr


def test_feed_without_redis_is_clear_error(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    url = f"redis://127.0.0.1:{free_port()}/0"
    result = run_ticker("feed", "--config", str(config), "--backplane", url, cwd=tmp_path)
    assert result.returncode == 1
    assert f"cannot reach the backplane at {url}" in result.stderr
    assert "Traceback" not in result.stderr


def test_feed_needs_backplane_url(tmp_path: Path) -> None:
    result = run_ticker("feed", "--config", str(write_config(tmp_path)), cwd=tmp_path)
    assert result.returncode == 2
    assert "ticker feed needs a backplane: pass --backplane URL" in result.stderr


def test_processes_need_backplane(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    result = run_ticker("serve", "--config", str(config), "--port", "0", "--processes", "2", cwd=tmp_path)
    assert result.returncode == 2
    assert "--processes 2 needs a backplane" in result.stderr


def test_invalid_backplane_url_is_usage_error(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    args = ["serve", "--config", str(config), "--backplane", "localhost:6379"]
    result = run_ticker(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert "invalid --backplane: expected a Redis URL" in result.stderr


def test_second_feed_is_refused(tmp_path: Path, started: Started) -> None:
    require_redis_server()
    redis, url = start_redis(tmp_path)
    started.add(redis)
    config = write_config(tmp_path)
    first = started.add(start_feed(tmp_path, config, url))
    result = run_ticker("feed", "--config", str(config), "--backplane", url, cwd=tmp_path)
    assert result.returncode == 1
    assert "another feed (epoch " in result.stderr
    assert "'ticker:feed-lock'" in result.stderr
    # The first feed is unharmed and stops cleanly, releasing the lock for a successor.
    assert first.stop() == 0
    assert "feed stopped after" in output(first)


@pytest.mark.gen_test(timeout=60 * TIME_UNIT)
async def test_node_waits_for_first_batch(tmp_path: Path, started: Started) -> None:
    require_redis_server()
    redis, url = await off_loop(lambda: start_redis(tmp_path))
    started.add(redis)
    config = write_config(tmp_path)
    args = ["serve", "--config", str(config), "--port", "0", "--backplane", url]
    waiting = re.compile(r"stream 'ticker' is empty; waiting for the feed's first batch")
    command = [sys.executable, "-m", "ticker", *args]
    node = started.add(await off_loop(lambda: start_process(command, tmp_path, waiting)))
    # Nothing to serve yet: a node without the feed's epoch does not listen.
    assert "listening on" not in output(node)

    started.add(await off_loop(lambda: start_feed(tmp_path, config, url)))
    await eventually(lambda: "listening on" in output(node), timeout=10 * TIME_UNIT)
    assert "epoch" in output(node)
    assert await off_loop(node.stop) == 0


def test_node_stops_while_waiting(tmp_path: Path, started: Started) -> None:
    require_redis_server()
    redis, url = start_redis(tmp_path)
    started.add(redis)
    args = ["serve", "--config", str(write_config(tmp_path)), "--port", "0", "--backplane", url]
    waiting = re.compile(r"waiting for the feed's first batch")
    node = started.add(start_process([sys.executable, "-m", "ticker", *args], tmp_path, waiting))
    assert node.stop(signal.SIGTERM) == 0
    assert "listening on" not in output(node)


# Running nodes


@pytest.mark.gen_test(timeout=90 * TIME_UNIT)
async def test_feed_restart_resets_clients(tmp_path: Path, started: Started) -> None:
    backplane = await start_backplane(tmp_path, started)
    node, trackers = backplane.node, backplane.trackers

    assert await off_loop(backplane.feed.stop) == 0
    started.add(await off_loop(lambda: start_feed(tmp_path, backplane.config, backplane.url)))
    # The new feed numbers from 1 in a new epoch; every client gets a reset.
    await asyncio.gather(*(tracker.receive_until(30, resets=1) for tracker in trackers))
    for tracker in trackers:
        assert tracker.resets == 1, tracker.name
        assert tracker.epochs[0] != tracker.epochs[1], tracker.name
        tracker.assert_exactly_once()
        await tracker.client.close()
    assert "the feed started epoch" in output(node)


@pytest.mark.gen_test(timeout=90 * TIME_UNIT)
async def test_redis_lost_and_back_without_gap(tmp_path: Path, started: Started) -> None:
    # A history long enough that the feed's queue outlasts the outage.
    long_history = BACKPLANE_CONFIG.replace("history_size = 300", "history_size = 6000")
    backplane = await start_backplane(tmp_path, started, long_history)
    redis, feed, node = backplane.redis, backplane.feed, backplane.node
    trackers = backplane.trackers
    cursor = await latest_cursor(node.base_url)

    redis.kill()
    await eventually(lambda: "lost the backplane" in output(node), timeout=10 * TIME_UNIT)
    await eventually(lambda: "lost the backplane" in output(feed), timeout=10 * TIME_UNIT)
    # The node keeps serving what it has while Redis is away.
    assert await latest_cursor(node.base_url) >= cursor

    await restart_redis(tmp_path, started, backplane)
    await eventually(lambda: "reachable again" in output(node), timeout=20 * TIME_UNIT)
    cursor = await latest_cursor(node.base_url)
    await asyncio.gather(*(tracker.receive_until(cursor + 30) for tracker in trackers))
    for tracker in trackers:
        assert tracker.resets == 0, tracker.name
        tracker.assert_exactly_once()
        await tracker.client.close()
    assert output(node).count("lost the backplane") == 1
    assert "missed seq" not in output(node)


@pytest.mark.gen_test(timeout=90 * TIME_UNIT)
async def test_redis_lost_too_long_declares_gap(tmp_path: Path, started: Started) -> None:
    # The stream, and so the feed's queue, contains at most 10 batches: 0.2 s of ticks.
    short_history = BACKPLANE_CONFIG.replace("history_size = 300", "history_size = 30")
    backplane = await start_backplane(tmp_path, started, short_history)
    feed, node, trackers = backplane.feed, backplane.node, backplane.trackers

    backplane.redis.kill()
    await eventually(lambda: "backplane queue full" in output(feed), timeout=10 * TIME_UNIT)
    await restart_redis(tmp_path, started, backplane)
    await eventually(lambda: "reachable again" in output(node), timeout=20 * TIME_UNIT)

    # The node saw the hole in the seqs and declared it; every client resumes into a reset.
    await asyncio.gather(*(tracker.receive_until(0, resets=1) for tracker in trackers))
    assert "missed seq" in output(node)
    for tracker in trackers:
        assert tracker.resets == 1, tracker.name
        assert tracker.epochs == [tracker.epochs[0]] * 2, tracker.name
        await tracker.client.close()


@pytest.mark.gen_test(timeout=120 * TIME_UNIT)
async def test_node_killed_under_load(tmp_path: Path) -> None:
    cluster: Cluster = await off_loop(lambda: start_cluster(tmp_path))
    try:
        trackers = [Tracker(name, cluster.url) for name in CLIENTS for _ in range(3)]
        for tracker in trackers:
            await tracker.open()
        cursor = await latest_cursor(cluster.url)
        await asyncio.gather(*(tracker.receive_until(cursor + 20) for tracker in trackers))

        victim = cluster.nodes.pop(0)
        await off_loop(victim.kill)
        cluster.stopped.append(victim)
        cursor = await latest_cursor(cluster.url)
        await asyncio.gather(*(tracker.receive_until(cursor + 100) for tracker in trackers))
        for tracker in trackers:
            assert tracker.resets == 0, tracker.name
            tracker.assert_exactly_once()
            await tracker.client.close()
        # The streaming clients on the killed node came back through nginx.
        reconnected = [t.name for t in trackers if t.client.reconnects]
        assert {"sse", "websocket"} <= set(reconnected)
    finally:
        await off_loop(cluster.stop)


@pytest.mark.gen_test(timeout=60 * TIME_UNIT)
async def test_processes_stop_together(tmp_path: Path, started: Started) -> None:
    require_redis_server()
    redis, url = await off_loop(lambda: start_redis(tmp_path))
    started.add(redis)
    config = write_config(tmp_path)
    started.add(await off_loop(lambda: start_feed(tmp_path, config, url)))
    node = started.add(await off_loop(lambda: start_node(tmp_path, config, url, processes=2)))
    await eventually(lambda: output(node).count("listening on") == 2, timeout=10 * TIME_UNIT)
    match = re.search(r"started 2 server processes: (\d+), (\d+)", output(node))
    assert match, output(node)
    children = [int(pid) for pid in match.groups()]

    assert await off_loop(lambda: node.stop(signal.SIGTERM)) == 0
    log = output(node)
    assert log.count("ticker stopped") == 2
    for pid in children:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


# A node in this process, fed by hand through real Redis


@pytest.mark.gen_test(timeout=30 * TIME_UNIT)
async def test_node_catches_up_to_cursor(tmp_path: Path, started: Started) -> None:
    require_redis_server()
    redis, url = await off_loop(lambda: start_redis(tmp_path))
    started.add(redis)
    client = connect(url)
    hub = Hub({"AAPL": 100.0}, history_size=50, max_subscribers=5)
    node = BackplaneNode(connect(url), "ticker", hub, history_entries=50)
    try:
        feed_hub = Hub({"AAPL": 100.0}, history_size=50, max_subscribers=5, epoch="feed-1")

        async def append() -> int:
            batch = feed_hub.publish([PriceUpdate("AAPL", 101.0, 1.0)])
            assert batch is not None
            await client.xadd("ticker", encode_batch("feed-1", batch.ticks))  # type: ignore[arg-type]
            return batch.cursor

        await append()
        await node.start()
        assert hub.last_seq == 1

        # Another node already served seq 2: this one waits for it instead of resetting.
        waiting = asyncio.ensure_future(node.catch_up("feed-1", 2, timeout=10 * TIME_UNIT))
        await asyncio.sleep(0)
        assert not waiting.done()
        assert await append() == 2
        await wait_for(waiting)
        assert hub.last_seq == 2

        # A cursor that never comes ends the wait at the timeout; the caller then resets.
        await wait_for(node.catch_up("feed-1", 99, timeout=0.05))
        assert hub.last_seq == 2
    finally:
        await node.stop()
        await client.aclose()


@pytest.mark.gen_test(timeout=60 * TIME_UNIT)
async def test_websocket_resume_waits_for_node(tmp_path: Path, started: Started) -> None:
    require_redis_server()
    redis, url = await off_loop(lambda: start_redis(tmp_path))
    started.add(redis)
    client = connect(url)
    config = parse_config(SMALL_CONFIG, source="test-config.toml")
    hub = make_hub(config)
    node = BackplaneNode(connect(url), "ticker", hub, history_entries=50)
    feed_hub = Hub({"AAPL": 100.0}, history_size=50, max_subscribers=5, epoch="feed-1")

    async def append() -> None:
        batch = feed_hub.publish([PriceUpdate("AAPL", 101.0, 1.0)])
        assert batch is not None
        await client.xadd("ticker", encode_batch("feed-1", batch.ticks))  # type: ignore[arg-type]

    await append()
    await node.start()
    context = ServerContext(config, hub)
    context.backplane = node
    http_server = tornado.httpserver.HTTPServer(make_app(context))
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    http_server.add_sockets(sockets)
    port = sockets[0].getsockname()[1]
    websocket = await tornado.websocket.websocket_connect(f"ws://127.0.0.1:{port}/ws")
    try:
        # The client saw seq 2 on another node; this node has only seq 1 so far.
        resume = {"type": "subscribe", "symbols": ["*"], "epoch": "feed-1", "cursor": 2}
        await websocket.write_message(json.dumps(resume))
        await eventually(lambda: hub.counts().get("websocket") == 1)
        await append()
        await append()
        # The resume waited for seq 2, so the client gets seq 3 and no reset.
        message = json.loads(await wait_for(websocket.read_message()))
        assert message["type"] == "ticks"
        assert [tick["seq"] for tick in message["ticks"]] == [3]
    finally:
        websocket.close()
        http_server.stop()
        await http_server.close_all_connections()
        await node.stop()
        await client.aclose()
