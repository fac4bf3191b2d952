"""Two server nodes behind nginx (deploy/nginx.conf), fed through Redis: exactly once, any node.

Each test runs one client alone, so nginx's round-robin sends its requests to the two nodes in
turn. Polling clients change node on every request; SSE and WebSocket clients are dropped every
few batches and resume on the other node. Every client must see every seq once, no reset.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from cluster import Cluster, start_cluster
from conftest import TIME_UNIT, wait_for
from ticker.clients.base import RESET, SNAPSHOT, TransportClient
from ticker.clients.http import Head, HttpConnection
from ticker.clients.polling import PollingClient, long_poll_client, short_poll_client
from ticker.clients.reconnect import ReconnectingClient
from ticker.clients.sse import SseClient
from ticker.clients.websocket import WebSocketClient

NODE_HEADER = "x-ticker-node"
TICKS_TO_RECEIVE = 150
DROP_EVERY = 30
"""Ticks an SSE or WebSocket client receives on one connection before the test drops it."""


class NodeLog:
    """The node named by each response, in request order."""

    def __init__(self) -> None:
        self.nodes: list[str] = []

    def record(self, headers: Mapping[str, str]) -> None:
        self.nodes.append(headers.get(NODE_HEADER) or headers.get("X-Ticker-Node") or "?")


class RecordingConnection(HttpConnection):
    def __init__(self, base_url: str, log: NodeLog):
        super().__init__(base_url)
        self.log = log

    async def request_head(self, target: str, headers: Mapping[str, str] | None = None) -> Head:
        head = await super().request_head(target, headers)
        self.log.record(head.headers)
        return head


def polling(make: Callable[[str], PollingClient]) -> Callable[[str, NodeLog], TransportClient]:
    def build(url: str, log: NodeLog) -> TransportClient:
        client = make(url)
        client.connection = RecordingConnection(url, log)
        return client

    return build


def sse(url: str, log: NodeLog) -> TransportClient:
    client = SseClient(url)
    client.connection = RecordingConnection(url, log)
    return client


class RecordingWebSocketClient(WebSocketClient):
    def __init__(self, url: str, log: NodeLog):
        super().__init__(url)
        self.log = log

    async def open(
        self, symbols: Sequence[str] | None = None, resume: tuple[str, int] | None = None
    ) -> None:
        await super().open(symbols, resume)
        assert self.connection is not None
        self.log.record(self.connection.headers)


CLIENTS: dict[str, Callable[[str, NodeLog], TransportClient]] = {
    "longpoll": polling(lambda url: long_poll_client(url, hold=1.0)),
    "poll": polling(lambda url: short_poll_client(url, interval=0.02)),
    "sse": sse,
    "websocket": RecordingWebSocketClient,
}
STREAMING = {"sse", "websocket"}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    started = start_cluster(Path(tmp_path_factory.mktemp("cluster")))
    try:
        yield started
    finally:
        started.stop()


def drop(client: ReconnectingClient) -> None:
    """Close the current connection under the client, as a lost network or node would."""
    connection = getattr(client.client, "connection", None)
    assert connection is not None, "the client has no connection to drop"
    connection.close()


@pytest.mark.parametrize("transport", list(CLIENTS))
@pytest.mark.gen_test(timeout=60 * TIME_UNIT)
async def test_every_tick_once_across_nodes(cluster: Cluster, transport: str) -> None:
    log = NodeLog()
    make = CLIENTS[transport]
    client = ReconnectingClient(lambda: make(cluster.url, log), base_delay=0.02, max_delay=0.2)
    await wait_for(client.open())
    first = await wait_for(client.receive())
    assert first.kind == SNAPSHOT
    seqs: list[int] = []
    drops = 0
    since_drop = 0
    try:
        while len(seqs) < TICKS_TO_RECEIVE:
            event = await wait_for(client.receive(), timeout=10 * TIME_UNIT)
            assert event.kind != RESET, f"{transport} got a reset after seq {seqs[-1:]}"
            assert event.epoch == first.epoch
            received = [tick["seq"] for tick in event.ticks]
            seqs.extend(received)
            since_drop += len(received)
            more = len(seqs) < TICKS_TO_RECEIVE
            if transport in STREAMING and more and since_drop >= DROP_EVERY:
                drop(client)
                drops += 1
                since_drop = 0
    finally:
        await client.close()

    expected = list(range(first.cursor + 1, first.cursor + 1 + len(seqs)))
    assert seqs == expected, f"{transport}: seqs are not {expected[0]}..{expected[-1]} once each"
    nodes = log.nodes
    assert len(set(nodes)) == 2, f"{transport} reached {set(nodes)}, not both nodes"
    # Round-robin with this one client: every request lands on the other node than the last.
    repeats = [index for index in range(1, len(nodes)) if nodes[index] == nodes[index - 1]]
    assert not repeats, f"{transport}: requests {repeats} hit the same node twice: {nodes}"
    if transport in STREAMING:
        assert client.reconnects == drops
        assert len(nodes) == drops + 1
    else:
        assert len(nodes) >= 10, f"{transport} made only {len(nodes)} requests"
