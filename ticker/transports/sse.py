"""Server-Sent Events transport: ``GET /sse?symbols=A,B``, one event per published batch.

Every event's id is ``<epoch>:<cursor>``, which a browser's EventSource sends back as
``Last-Event-ID`` when it reconnects, so the stream resumes from the hub's history without loss.
A client may also pass the id as the ``lastEventId`` query parameter. Comment lines keep idle
proxies from closing a quiet stream, and ``X-Accel-Buffering: no`` asks nginx not to buffer it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import tornado.ioloop
import tornado.iostream

from ticker.access import key_note
from ticker.api import render_symbols_change, snapshot_body
from ticker.clients.sse import SseClient
from ticker.context import ServerContext
from ticker.errors import (
    DISCONNECTED_CLIENT,
    DISCONNECTED_LOST,
    DISCONNECTED_RESTART,
    DISCONNECTED_SHUTDOWN,
    DISCONNECTED_SLOW,
    REASON_ADDRESS_LIMIT,
    REASON_FEED_RESTARTED,
    REASON_SHUTDOWN,
    REFUSED_ADDRESS_LIMIT,
    REFUSED_BAD_REQUEST,
    REFUSED_SERVER_FULL,
    REFUSED_SHUTDOWN,
    HubFull,
    InvalidRequest,
    LimitExceeded,
)
from ticker.hub import Batch, Selection, Subscription, SymbolChange, Symbols, Tick, encode_ticks
from ticker.http import JsonHandler
from ticker.params import parse_event_id, parse_symbols
from ticker.resources import web_root
from ticker.transports.base import Route, Transport
from ticker.transports.conflation import HeldTicks, slow_consumer_reason

logger = logging.getLogger("ticker.transports.sse")

NAME = "sse"
RETRY_AFTER_SECONDS = 1


class SseHandler(JsonHandler):
    """``GET /sse``: a ``text/event-stream`` of ``snapshot``, ``ticks`` and ``reset`` events."""

    subscription: Subscription | None = None
    address: str | None = None
    """The client address while it counts against the per-address limit."""
    transport_name = NAME

    async def get(self) -> None:
        hub = self.context.hub
        self.client_id = self.context.new_client_id("sse")
        self.stats = self.context.stats.transport(NAME)
        peer = self.request.remote_ip or "unknown"
        limits = self.context.config.limits
        try:
            symbols = parse_symbols(
                self.get_query_argument("symbols", None),
                hub,
                self.grant.symbols,
                limits.max_symbols_per_subscription,
            )
        except LimitExceeded as exc:
            self.context.refused(NAME, exc.kind, self.client_id, peer, str(exc))
            self.reject(400, str(exc))
            return
        except InvalidRequest as exc:
            self.stats.count_refusal(REFUSED_BAD_REQUEST)
            self.reject(400, str(exc))
            return
        # An empty id, as EventSource sends before any event had one, means a fresh start.
        last_event_id = (
            self.request.headers.get("Last-Event-ID")
            or self.get_query_argument("lastEventId", None)
            or None
        )
        resume = parse_event_id(last_event_id) if last_event_id is not None else None
        if resume is not None:
            await self.context.catch_up(*resume)
        if self.context.shutting_down:
            self.refuse(503, REFUSED_SHUTDOWN, REASON_SHUTDOWN)
            return
        if not self.context.address_limits.acquire(
            NAME, peer, limits.max_connections_per_address
        ):
            reason = REASON_ADDRESS_LIMIT.format(
                transport=NAME, address=peer, limit=limits.max_connections_per_address
            )
            self.refuse(429, REFUSED_ADDRESS_LIMIT, reason)
            return
        self.address = peer

        loop = asyncio.get_running_loop()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.pending_writes = 0
        self.sent_events = 0
        self.held = HeldTicks()
        self.unsent_since: float | None = None
        self.end_reason: str | None = None
        self.end_kind = DISCONNECTED_LOST
        try:
            self.subscription = hub.subscribe(self, symbols, NAME, self.client_id)
        except HubFull as exc:
            self.release_address()
            self.refuse(503, REFUSED_SERVER_FULL, f"server full: {exc}")
            return

        self.set_header("Content-Type", "text/event-stream; charset=utf-8")
        self.set_header("X-Accel-Buffering", "no")
        self.context.open_connections.add(self)
        self.stats.requests += 1
        self.opened_at = loop.time()
        logger.info(
            "sse %s connected from %s%s", self.client_id, peer, key_note(self.grant.key_name)
        )

        # The first events and the subscription are set up in one step of the event loop, so
        # the first live batch follows them with no gap and no repeat.
        retry_ms = round(self.context.config.sse.retry_interval * 1000)
        self.send_raw(f"retry: {retry_ms}\n\n")
        self.send_start(symbols, last_event_id)
        heartbeat = tornado.ioloop.PeriodicCallback(
            self.send_heartbeat, self.context.config.sse.heartbeat_interval * 1000
        )
        heartbeat.start()
        try:
            await self.closed
        finally:
            heartbeat.stop()
            self.end_stream()

    def refuse(self, status: int, kind: str, reason: str) -> None:
        """Respond ``status`` with ``Retry-After``, counting and logging the refusal."""
        self.context.refused(NAME, kind, self.client_id, self.request.remote_ip or "", reason)
        self.set_header("Retry-After", str(RETRY_AFTER_SECONDS))
        self.reject(status, f"{reason}; retry after {RETRY_AFTER_SECONDS} s")

    def release_address(self) -> None:
        if self.address is not None:
            self.context.address_limits.release(NAME, self.address)
            self.address = None

    def send_start(self, symbols: Symbols, last_event_id: str | None) -> None:
        """Send a snapshot, the ticks missed since ``last_event_id``, or a reset."""
        hub = self.context.hub
        if last_event_id is None:
            cursor, ticks = hub.snapshot(symbols)
            self.send_event("snapshot", cursor, snapshot_body(hub.epoch, cursor, encode_ticks(ticks)))
            return
        resume = parse_event_id(last_event_id)
        if resume is not None and resume[0] == hub.epoch and hub.has_cursor(resume[1]):
            cursor = resume[1]
            limit = self.context.config.longpoll.max_ticks_per_response
            while True:
                ticks, next_cursor = hub.ticks_after(cursor, symbols, limit)
                if not ticks:
                    return
                data = ticks_data(next_cursor, encode_ticks(ticks))
                self.send_event("ticks", next_cursor, data, ticks)
                cursor = next_cursor

        logger.info(
            "sse %s: reset because event id %r cannot be resumed",
            self.client_id,
            last_event_id[:80],
        )
        self.stats.resets += 1
        cursor, ticks = hub.snapshot(symbols)
        data = snapshot_body(hub.epoch, cursor, encode_ticks(ticks), reset=True)
        self.send_event("reset", cursor, data)

    def deliver(self, batch: Batch, selection: Selection) -> None:
        """Write the batch now, or hold its ticks back while an earlier write is unsent."""
        if self.check_slow():
            return
        if self.unsent() or self.held:
            self.stats.conflated += self.held.add(batch.cursor, selection.ticks)
            if not self.unsent():
                self.send_held()
            return
        text = selection.rendered.get(NAME)
        if text is None:
            text = self.event_text("ticks", batch.cursor, ticks_data(batch.cursor, selection.json))
            selection.rendered[NAME] = text
        self.send_text_event(text, selection.ticks)

    def send_held(self) -> None:
        cursor, ticks, replaced = self.held.take()
        self.send_event("ticks", cursor, ticks_data(cursor, encode_ticks(ticks), replaced), ticks)

    def unsent(self) -> bool:
        """Return whether the connection's buffer still contains data that the client has not read."""
        stream = getattr(self.request.connection, "stream", None)
        return stream is not None and stream.writing()

    def check_slow(self) -> bool:
        """End the stream of a slow consumer and return True, or return False."""
        settings = self.context.config.sse
        reason = slow_consumer_reason(
            self.pending_writes,
            settings.max_pending_messages,
            self.unsent_since,
            self.context.hub.clock(),
            settings.slow_consumer_timeout,
        )
        if reason is None:
            return False
        self.end(reason, DISCONNECTED_SLOW)
        return True

    def event_text(self, event: str, cursor: int, data: str) -> str:
        return f"event: {event}\nid: {self.context.hub.epoch}:{cursor}\ndata: {data}\n\n"

    def send_event(self, event: str, cursor: int, data: str, ticks: Sequence[Tick] = ()) -> None:
        """Send one event; ``ticks`` are the new ticks it carries, for the counters."""
        self.send_text_event(self.event_text(event, cursor, data), ticks)

    def send_text_event(self, text: str, ticks: Sequence[Tick]) -> None:
        self.sent_events += 1
        self.send_raw(text)
        oldest = ticks[0].published_at if ticks else None
        self.stats.record_write(len(ticks), 0, oldest)  # send_raw counted the bytes

    def send_heartbeat(self) -> None:
        self.send_raw(": heartbeat\n\n")

    def send_raw(self, text: str) -> None:
        """Write and flush without waiting; each unflushed write counts as pending."""
        if self.closed.done():
            return
        self.write(text)
        # The response is chunked: each flush adds its size in hex and two line breaks.
        self.stats.bytes += len(text) + len(f"{len(text):x}") + 4
        self.pending_writes += 1
        flushed = self.flush()
        if self.unsent_since is None and self.unsent():
            self.unsent_since = self.context.hub.clock()
        flushed.add_done_callback(self._on_flushed)

    def _on_flushed(self, future: asyncio.Future[None]) -> None:
        self.pending_writes -= 1
        if future.cancelled() or future.exception() is not None:
            self.end("connection lost")
            return
        if self.pending_writes == 0:
            self.unsent_since = None
            if self.held and not self.closed.done():
                self.send_held()

    def symbols_changed(self, change: SymbolChange) -> None:
        # No id line: EventSource keeps the last ticks event's id for a resume.
        text = render_symbols_change(
            change,
            self.context.config,
            self.grant.symbols,
            NAME,
            lambda data: f"event: symbols\ndata: {data}\n\n",
        )
        self.send_raw(text)

    def hub_closed(self) -> None:
        self.end(REASON_SHUTDOWN, DISCONNECTED_SHUTDOWN)

    def hub_restarted(self) -> None:
        # EventSource reconnects with its Last-Event-ID, which gets it a reset.
        self.end(REASON_FEED_RESTARTED, DISCONNECTED_RESTART)

    def on_connection_close(self) -> None:
        self.end("closed by client", DISCONNECTED_CLIENT)

    def end(self, reason: str, kind: str = DISCONNECTED_LOST) -> None:
        """End the stream with ``reason``; the first reason given is the one logged.

        ``kind`` names the reason in the disconnect counters.
        """
        if self.end_reason is None:
            self.end_reason = reason
            self.end_kind = kind
            if kind == DISCONNECTED_SLOW:
                logger.warning("sse %s disconnected: %s", self.client_id, reason)
        if not self.closed.done():
            self.closed.set_result(None)

    def abort(self) -> None:
        stream = getattr(self.request.connection, "stream", None)
        if stream is not None:
            stream.close()

    def end_stream(self) -> None:
        if self.subscription is not None:
            self.subscription.close()
        self.context.open_connections.discard(self)
        self.release_address()
        self.stats.count_disconnect(self.end_kind)
        if not self._finished:
            try:
                if self.end_reason == REASON_SHUTDOWN:
                    self.write(f": closing: {REASON_SHUTDOWN}\n\n")
                self.finish()
            except tornado.iostream.StreamClosedError:
                pass  # the client disconnected, so the response cannot be finished
        duration = asyncio.get_running_loop().time() - self.opened_at
        logger.info(
            "sse %s disconnected: %s after %.1f s, %d events sent",
            self.client_id,
            self.end_reason,
            duration,
            self.sent_events,
        )

def ticks_data(cursor: int, ticks_json: str, conflated: int = 0) -> str:
    """Build a ``ticks`` event's data; ``conflated`` counts ticks that newer ones replaced."""
    if conflated:
        return f'{{"cursor":{cursor},"ticks":{ticks_json},"conflated":{conflated}}}'
    return f'{{"cursor":{cursor},"ticks":{ticks_json}}}'


def routes(context: ServerContext) -> list[Route]:
    return [(r"/sse", SseHandler, {"context": context})]


TRANSPORT = Transport(
    name=NAME,
    label="Server-Sent Events",
    description="One long HTTP response; the server writes an event per batch and the "
    "client resumes from the last event id after a drop.",
    routes=routes,
    browser_module=web_root() / "js" / "transports" / "sse.js",
    client=SseClient,
)
