"""Server-side counters (``/api/stats``) and clock alignment (``/api/time``, WebSocket time)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from tornado.httpclient import AsyncHTTPClient
from tornado.websocket import websocket_connect

from conftest import ManualPublisher, wait_for
from ticker.hub import Hub
from ticker.stats import DELAY_BUCKETS_MS, TransportStats, http_head_size, websocket_frame_size


def test_record_write_counts_and_buckets() -> None:
    stats = TransportStats()
    now = time.monotonic()
    stats.record_write(3, 120, now)
    stats.record_write(0, 40, None)  # a write without ticks adds only bytes
    assert stats.updates == 3
    assert stats.messages == 1
    assert stats.bytes == 160
    assert sum(stats.delay_counts) == 1
    assert len(stats.delay_counts) == len(DELAY_BUCKETS_MS) + 1


def test_old_publish_lands_in_last_bucket() -> None:
    stats = TransportStats()
    stats.record_write(1, 10, time.monotonic() - 5.0)
    assert stats.delay_counts[-1] == 1


def test_frame_size_follows_rfc6455() -> None:
    assert websocket_frame_size(125) == 127
    assert websocket_frame_size(126) == 130
    assert websocket_frame_size(65536) == 65546


def test_head_size_counts_every_byte() -> None:
    head = "HTTP/1.1 204 No Content\r\nA: b\r\nCache-Control: no-store\r\n\r\n"
    assert http_head_size(204, "No Content", [("A", "b"), ("Cache-Control", "no-store")]) == len(head)


@pytest.fixture
def base(http_server: Any, http_port: int) -> str:
    return f"http://127.0.0.1:{http_port}"


async def get_json(url: str) -> dict[str, Any]:
    response = await AsyncHTTPClient().fetch(url)
    assert response.headers["Cache-Control"] == "no-store"
    result: dict[str, Any] = json.loads(response.body)
    return result


@pytest.mark.gen_test
async def test_stats_count_websocket_writes(base: str, hub: Hub, publisher: ManualPublisher) -> None:
    connection = await websocket_connect(base.replace("http", "ws") + "/ws")
    await connection.write_message(json.dumps({"type": "subscribe", "symbols": ["*"]}))
    await wait_for(connection.read_message())
    publisher.publish({"AAPL": 101.0, "KO": 51.0})
    message = await wait_for(connection.read_message())

    stats = await get_json(f"{base}/api/stats")
    websocket = stats["transports"]["websocket"]
    assert websocket["open"] == 1
    assert websocket["requests"] == 1
    assert websocket["updates"] == 2
    assert websocket["messages"] == 1
    assert websocket["bytes"] >= len(message) + 2
    assert sum(bucket["count"] for bucket in websocket["publish_to_write_ms"]) == 1
    assert stats["epoch"] == hub.epoch
    assert stats["cursor"] == 2
    assert stats["feed_lag_ms"] is None  # the test server runs no feed
    assert stats["feed_skipped_steps"] is None
    connection.close()


@pytest.mark.gen_test
async def test_stats_count_polls(base: str, publisher: ManualPublisher) -> None:
    client = AsyncHTTPClient()
    empty = await client.fetch(f"{base}/long-poll?timeout=0", raise_error=False)
    assert empty.code == 204
    publisher.publish({"AAPL": 101.0})
    full = await client.fetch(f"{base}/long-poll?cursor=0")
    await client.fetch(f"{base}/long-poll?cursor=0&epoch=other")  # a reset
    await client.fetch(f"{base}/poll?cursor=1", raise_error=False)

    stats = await get_json(f"{base}/api/stats")
    longpoll = stats["transports"]["longpoll"]
    assert longpoll["requests"] == 3
    assert longpoll["no_content"] == 1
    assert longpoll["resets"] == 1
    assert longpoll["updates"] == 1
    assert longpoll["bytes"] > len(full.body) + len(empty.body)
    poll = stats["transports"]["poll"]
    assert poll["requests"] == 1
    assert poll["no_content"] == 1


@pytest.mark.gen_test
async def test_time_endpoint_reads_server_clock(base: str) -> None:
    before = time.time() * 1000.0
    data = await get_json(f"{base}/api/time")
    after = time.time() * 1000.0
    assert before <= data["server_time_ms"] <= after


@pytest.mark.gen_test
async def test_websocket_time_request(base: str) -> None:
    connection = await websocket_connect(base.replace("http", "ws") + "/ws")
    before = time.time() * 1000.0
    await connection.write_message(json.dumps({"type": "time", "id": 7}))
    reply = json.loads(await wait_for(connection.read_message()))
    after = time.time() * 1000.0
    assert reply["type"] == "time"
    assert reply["id"] == 7
    assert before <= reply["server_time_ms"] <= after
    connection.close()
