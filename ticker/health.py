"""``GET /healthz``: whether this server is serving, for load balancers and orchestrators."""

from __future__ import annotations

from ticker.http import JsonHandler


class HealthHandler(JsonHandler):
    """200 with ``{"status": "ok", ...}`` while the feed runs and no shutdown has begun; 503 with
    the reason otherwise. It needs no API key, so that a load balancer can probe it."""

    requires_key = False
    is_probe = True
    """Logged at DEBUG whatever the status (see ticker.http.log_request)."""

    def get(self) -> None:
        context = self.context
        feed = context.feed
        if context.shutting_down:
            self.answer_unhealthy("shutting down")
            return
        if context.backplane is not None:
            if not context.backplane.running:
                self.answer_unhealthy("backplane not followed")
                return
        elif feed is None or not feed.running:
            self.answer_unhealthy("feed not running")
            return
        self.write_json(
            {
                "status": "ok",
                "epoch": context.hub.epoch,
                "cursor": context.hub.last_seq,
                "connections": sum(context.hub.counts().values()),
                # A backplane node has no feed of its own: the feed process measures the lag.
                "feed_lag_ms": round(feed.last_lag * 1000.0, 3) if feed is not None else None,
            }
        )

    def answer_unhealthy(self, status: str) -> None:
        self.set_status(503)
        self.write_json({"status": status})
