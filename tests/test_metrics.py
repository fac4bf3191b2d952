"""GET /metrics and GET /healthz on real servers, read with prometheus_client's own parser."""

from __future__ import annotations

import json
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest, HTTPResponse
from tornado.websocket import websocket_connect

from conftest import TIME_UNIT, ManualPublisher, eventually, wait_for
from ticker.config import Config
from ticker.context import ServerContext
from ticker.server import TickerServer

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def base(http_server: Any, http_port: int) -> str:
    return f"http://127.0.0.1:{http_port}"


async def fetch(url: str, **kwargs: Any) -> HTTPResponse:
    return await AsyncHTTPClient().fetch(url, raise_error=False, **kwargs)


async def scrape(base: str) -> Samples:
    """Return every sample of ``GET /metrics`` by name and sorted labels."""
    response = await fetch(base + "/metrics")
    assert response.code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.body.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


@pytest.mark.gen_test
async def test_websocket_traffic_in_metrics(
    base: str, publisher: ManualPublisher, context: ServerContext
) -> None:
    connection = await websocket_connect(f"ws{base[4:]}/ws")
    await connection.write_message(json.dumps({"type": "subscribe", "symbols": ["*"]}))
    await wait_for(connection.read_message())  # snapshot
    publisher.publish({"AAPL": 101.0, "MSFT": 201.0})
    await wait_for(connection.read_message())
    await eventually(lambda: context.stats.transport("websocket").messages == 1)

    samples = await scrape(base)
    assert value(samples, "ticker_connections", transport="websocket") == 1
    assert value(samples, "ticker_updates_total", transport="websocket") == 2
    assert value(samples, "ticker_messages_total", transport="websocket") == 1
    stats = context.stats.transport("websocket")
    assert value(samples, "ticker_sent_bytes_total", transport="websocket") == stats.bytes
    assert value(samples, "ticker_requests_total", transport="websocket") == 1
    histogram_count = value(samples, "ticker_publish_to_write_seconds_count", transport="websocket")
    assert histogram_count == 1
    assert value(
        samples, "ticker_publish_to_write_seconds_bucket", transport="websocket", le="+Inf"
    ) == 1
    assert value(samples, "ticker_publish_to_write_seconds_sum", transport="websocket") >= 0
    connection.close()
    await eventually(lambda: context.hub.counts() == {})
    assert value(await scrape(base), "ticker_connections", transport="websocket") == 0


@pytest.mark.gen_test
async def test_poll_outcomes_and_resets(base: str, publisher: ManualPublisher) -> None:
    await fetch(base + "/poll?cursor=0")  # nothing published yet: 204
    await fetch(base + "/poll?cursor=0&epoch=other")  # another epoch: reset
    samples = await scrape(base)
    assert value(samples, "ticker_poll_no_content_total", transport="poll") == 1
    assert value(samples, "ticker_resets_total", transport="poll") == 1
    assert value(samples, "ticker_requests_total", transport="poll") == 2


@pytest.mark.gen_test
async def test_kinds_become_labels(base: str, context: ServerContext) -> None:
    # The transports record these kinds; the exporter passes on whichever kinds appear.
    stats = context.stats.transport("sse")
    stats.count_disconnect("slow_consumer")
    stats.count_disconnect("slow_consumer")
    stats.count_refusal("server_full")
    stats.count_outcome("data")
    stats.conflated += 3
    samples = await scrape(base)
    assert value(samples, "ticker_disconnects_total", transport="sse", reason="slow_consumer") == 2
    assert value(samples, "ticker_refusals_total", transport="sse", reason="server_full") == 1
    assert value(samples, "ticker_poll_outcomes_total", transport="sse", outcome="data") == 1
    assert value(samples, "ticker_conflated_ticks_total", transport="sse") == 3


@pytest.mark.gen_test
async def test_access_refusals_in_metrics(base: str) -> None:
    foreign = HTTPRequest(f"ws{base[4:]}/ws", headers={"Origin": "https://other.example"})
    with pytest.raises(HTTPClientError, match="403"):
        await websocket_connect(foreign)
    samples = await scrape(base)
    assert value(samples, "ticker_access_refusals_total", reason="origin") == 1
    assert value(samples, "ticker_refusals_total", transport="websocket", reason="origin") == 1


@pytest.mark.gen_test(timeout=30 * TIME_UNIT)
async def test_servers_keep_separate_metrics(config: Config) -> None:
    first = TickerServer(config, "127.0.0.1", 0)
    second = TickerServer(config, "127.0.0.1", 0)
    first.start()
    second.start(run_feed=False)
    try:
        await eventually(lambda: first.feed.steps > 0)
        first_samples = await scrape(first.url.rstrip("/"))
        second_samples = await scrape(second.url.rstrip("/"))
        assert value(first_samples, "ticker_feed_steps_total") >= 1
        assert value(first_samples, "ticker_feed_lag_seconds") >= 0
        assert value(second_samples, "ticker_feed_steps_total") == 0
    finally:
        await first.stop()
        await second.stop()


@pytest.mark.gen_test(timeout=30 * TIME_UNIT)
async def test_healthz_follows_feed_and_shutdown(config: Config) -> None:
    server = TickerServer(config, "127.0.0.1", 0)
    server.start()
    base = server.url.rstrip("/")
    try:
        response = await fetch(base + "/healthz")
        assert response.code == 200
        body = json.loads(response.body)
        assert body["status"] == "ok"
        assert body["epoch"] == server.hub.epoch

        await server.feed.stop()
        response = await fetch(base + "/healthz")
        assert response.code == 503
        assert json.loads(response.body) == {"status": "feed not running"}

        # stop() sets this first, before it stops accepting.
        server.context.shutting_down = True
        response = await fetch(base + "/healthz")
        assert response.code == 503
        assert json.loads(response.body) == {"status": "shutting down"}
    finally:
        await server.stop()
