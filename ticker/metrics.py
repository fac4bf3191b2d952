"""``GET /metrics``: the server's counters in the Prometheus text format.

A collector reads the counters that the transports keep (ticker.stats), the hub's open
subscriptions, the feed's lag and the access refusals at scrape time, so recording stays a few
integer additions and nothing is counted twice. Each application gets its own registry, so
that several servers in one process (as in the tests) never share metrics.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import prometheus_client
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from ticker.context import ServerContext
from ticker.http import JsonHandler
from ticker.stats import DELAY_BUCKETS_MS, TransportStats


class TickerCollector(Collector):
    """Builds every ``ticker_*`` metric from one server's context when scraped."""

    def __init__(self, context: ServerContext) -> None:
        self.context = context

    def collect(self) -> Iterator[Metric]:
        context = self.context
        open_counts = context.hub.counts()
        transports = dict(context.stats.transports)
        for name in open_counts:
            transports.setdefault(name, TransportStats())

        connections = GaugeMetricFamily(
            "ticker_connections",
            "Open WebSockets and SSE streams, or long-polls waiting now, per transport.",
            labels=["transport"],
        )
        for name in transports:
            connections.add_metric([name], open_counts.get(name, 0))
        yield connections

        yield from self.transport_counters(transports)
        yield self.delay_histogram(transports)
        yield from self.feed_metrics()

        refusals = CounterMetricFamily(
            "ticker_access_refusals",
            "Requests refused by access control on any endpoint, by reason.",
            labels=["reason"],
        )
        for reason, count in sorted(context.access.refusals.items()):
            refusals.add_metric([reason], count)
        yield refusals

    def transport_counters(self, transports: Mapping[str, TransportStats]) -> Iterator[Metric]:
        plain = {
            "updates": ("ticker_updates", "Ticks written to clients."),
            "messages": ("ticker_messages", "Writes that carried ticks."),
            "bytes": ("ticker_sent_bytes", "Bytes written, with framing and HTTP headers."),
            "requests": ("ticker_requests", "Polls answered, or streams and sockets opened."),
            "no_content": ("ticker_poll_no_content", "Polls answered 204 No Content."),
            "resets": ("ticker_resets", "Resets sent: gaps declared with a fresh snapshot."),
            "conflated": (
                "ticker_conflated_ticks",
                "Ticks replaced by a newer price of the same symbol before they were written.",
            ),
        }
        for attribute, (name, documentation) in plain.items():
            family = CounterMetricFamily(name, documentation, labels=["transport"])
            for transport, stats in transports.items():
                family.add_metric([transport], getattr(stats, attribute))
            yield family

        by_kind = {
            "refusals": ("ticker_refusals", "Connections or requests refused, by reason.", "reason"),
            "disconnects": ("ticker_disconnects", "Connections ended, by reason.", "reason"),
            "outcomes": ("ticker_poll_outcomes", "How polls ended, by outcome.", "outcome"),
        }
        for attribute, (name, documentation, label) in by_kind.items():
            family = CounterMetricFamily(name, documentation, labels=["transport", label])
            for transport, stats in transports.items():
                counts: dict[str, int] = getattr(stats, attribute)
                for kind, count in sorted(counts.items()):
                    family.add_metric([transport, kind], count)
            yield family

    def delay_histogram(self, transports: Mapping[str, TransportStats]) -> Metric:
        histogram = HistogramMetricFamily(
            "ticker_publish_to_write_seconds",
            "Delay from a tick's publish to its write, per write and counting its oldest tick.",
            labels=["transport"],
        )
        for transport, stats in transports.items():
            buckets: list[tuple[str, float]] = []
            cumulative = 0
            for bound_ms, count in zip(DELAY_BUCKETS_MS, stats.delay_counts):
                cumulative += count
                buckets.append((repr(bound_ms / 1000.0), cumulative))
            buckets.append(("+Inf", cumulative + stats.delay_counts[-1]))
            histogram.add_metric([transport], buckets, stats.delay_total_ms / 1000.0)
        return histogram

    def feed_metrics(self) -> Iterator[Metric]:
        feed = self.context.feed
        if feed is None:
            return
        yield GaugeMetricFamily(
            "ticker_feed_lag_seconds",
            "How late the feed's last step ran after its scheduled time.",
            value=feed.last_lag,
        )
        yield CounterMetricFamily(
            "ticker_feed_skipped_steps",
            "Steps the feed skipped because it fell a whole interval behind.",
            value=feed.skipped_steps,
        )
        yield CounterMetricFamily(
            "ticker_feed_steps", "Steps the feed has published.", value=feed.steps
        )


def make_registry(context: ServerContext) -> CollectorRegistry:
    """Return a new registry that contains only the collector of ``context``."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(TickerCollector(context))
    return registry


class MetricsHandler(JsonHandler):
    """``GET /metrics``: every ``ticker_*`` metric in the Prometheus text format.

    With ``access.enabled`` it takes any valid key, which a Prometheus scrape config sends with
    ``authorization: {credentials_file: ...}``; errors are JSON like every other endpoint's.
    """

    def initialize(  # type: ignore[override]
        self, context: ServerContext, registry: CollectorRegistry
    ) -> None:
        super().initialize(context)
        self.registry = registry

    def get(self) -> None:
        self.set_header("Content-Type", prometheus_client.CONTENT_TYPE_LATEST)
        self.finish(prometheus_client.generate_latest(self.registry))
