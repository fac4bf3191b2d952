"""WebSocket transport: ``/ws``, one ``ticks`` message per published batch.

A connection holds one hub subscription from open to close; ``subscribe`` and ``unsubscribe``
messages change its symbols. Writes are never awaited inside ``Hub.publish``. While a write is
still unsent, live ticks are conflated (see ticker/transports/conflation.py); a client that
leaves a write unsent for ``websocket.slow_consumer_timeout`` seconds, or lets
``websocket.max_pending_messages`` replies and replays pile up, is disconnected as a slow
consumer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Sequence
from typing import Any

import tornado.websocket

from ticker.access import OPEN, admit, key_note
from ticker.api import render_symbols_change, snapshot_body
from ticker.clients.websocket import WebSocketClient
from ticker.context import ServerContext
from ticker.errors import (
    CLOSE_GOING_AWAY,
    CLOSE_POLICY_VIOLATION,
    CLOSE_SERVICE_RESTART,
    CLOSE_TRY_AGAIN_LATER,
    DISCONNECTED_CLIENT,
    DISCONNECTED_LOST,
    DISCONNECTED_RESTART,
    DISCONNECTED_SHUTDOWN,
    DISCONNECTED_SLOW,
    REASON_ADDRESS_LIMIT,
    REASON_CLIENT_CLOSED,
    REASON_FEED_RESTARTED,
    REASON_SERVER_FULL,
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
from ticker.params import parse_message, parse_symbol_list, shorten
from ticker.resources import web_root
from ticker.stats import websocket_frame_size
from ticker.transports.base import Route, Transport
from ticker.transports.conflation import HeldTicks, slow_consumer_reason

logger = logging.getLogger("ticker.transports.websocket")

NAME = "websocket"


class WebSocketHandler(tornado.websocket.WebSocketHandler):
    """``/ws``: JSON messages as described in docs/protocol.md."""

    def initialize(self, context: ServerContext) -> None:
        self.context = context
        context.name_node(self)
        self.client_id = context.new_client_id("ws")
        self.stats = context.stats.transport(NAME)
        self.subscription: Subscription | None = None
        self.pending_writes = 0
        self.sent_messages = 0
        self.held = HeldTicks()
        self.unsent_since: float | None = None
        """The hub clock when the connection last had unsent data and nothing unsent before."""
        self.address: str | None = None
        """The client address while it counts against the per-address limit."""
        self.disconnect_reason: str | None = None
        self.disconnect_kind: str | None = None
        self.closed = asyncio.get_running_loop().create_future()
        """Resolved when the connection has closed, for an orderly shutdown."""

    def prepare(self) -> None:
        # Before the upgrade, so that a refusal is a plain HTTP 401 or 403 with a JSON body.
        grant = admit(self, self.context, NAME, check_origin=True)
        self.grant = grant if grant is not None else OPEN

    def check_origin(self, origin: str) -> bool:
        return self.context.access.websocket_origin_allowed(origin, self.request.headers.get("Host"))

    def open(self, *args: str, **kwargs: str) -> None:
        self.opened_at = asyncio.get_running_loop().time()
        peer = self.request.remote_ip or "unknown"
        hub = self.context.hub
        if self.context.shutting_down:
            self.refuse(REFUSED_SHUTDOWN, CLOSE_GOING_AWAY, REASON_SHUTDOWN)
            return
        limit = self.context.config.limits.max_connections_per_address
        if not self.context.address_limits.acquire(NAME, peer, limit):
            reason = REASON_ADDRESS_LIMIT.format(transport=NAME, address=peer, limit=limit)
            self.refuse(REFUSED_ADDRESS_LIMIT, CLOSE_POLICY_VIOLATION, reason)
            return
        self.address = peer
        try:
            self.subscription = hub.subscribe(self, frozenset(), NAME, self.client_id)
        except HubFull:
            reason = REASON_SERVER_FULL.format(limit=hub.max_subscribers)
            self.refuse(REFUSED_SERVER_FULL, CLOSE_TRY_AGAIN_LATER, reason)
            return
        self.context.open_connections.add(self)
        self.stats.requests += 1
        logger.info(
            "websocket %s connected from %s%s", self.client_id, peer, key_note(self.grant.key_name)
        )

    async def on_message(self, message: str | bytes) -> None:
        # Tornado delivers the next message only after this one is handled, so a resume that
        # waits below keeps the order of the client's messages.
        if self.subscription is None or self.subscription.closed or self.check_slow():
            return
        try:
            data = parse_message(message)
            kind = data.get("type")
            if kind == "subscribe":
                resume = parse_resume(data.get("epoch"), data.get("cursor"))
                if resume is not None:
                    # On a backplane node, another node may have served this cursor already.
                    await self.context.catch_up(*resume)
                    if self.subscription.closed:
                        return
                self.subscribe(data.get("symbols"), data.get("epoch"), data.get("cursor"))
            elif kind == "unsubscribe":
                self.unsubscribe(data.get("symbols"))
            elif kind == "time":
                self.send_time(data.get("id"))
            else:
                raise InvalidRequest(
                    f"unknown message type {shorten(kind)}; expected subscribe, unsubscribe or time"
                )
        except LimitExceeded as exc:
            self.context.refused(NAME, exc.kind, self.client_id, self.request.remote_ip or "", str(exc))
            self.send_error_message(str(exc))
        except InvalidRequest as exc:
            self.stats.count_refusal(REFUSED_BAD_REQUEST)
            self.send_error_message(str(exc))

    def refuse(self, kind: str, code: int, reason: str) -> None:
        """Close a connection that ``open`` does not accept, counting and logging why."""
        self.context.refused(NAME, kind, self.client_id, self.request.remote_ip or "", reason)
        self.disconnect(code, reason)

    def subscribe(self, value: Any, epoch: Any, cursor: Any) -> None:
        """Add symbols, then replay the ticks after ``cursor`` or send a snapshot.

        With ``epoch`` and ``cursor`` from an earlier connection, every tick since then is sent
        as ``ticks`` messages; a cursor the history no longer covers, or another epoch, gets a
        snapshot marked ``reset``. Without them, the reply is a snapshot. Either way the next
        live ``ticks`` message follows on with no gap and no repeat.
        """
        assert self.subscription is not None
        hub = self.context.hub
        requested = parse_symbol_list(value, hub, self.grant.symbols, self.max_symbols)
        resume = parse_resume(epoch, cursor)
        current = self.subscription.symbols
        if requested is None or current is None:
            combined: Symbols = None
        else:
            combined = current | requested
        self.subscription.update(combined)
        if self.held:
            self.send_held()  # so that what follows is newer than anything sent before

        reset = False
        if resume is not None:
            resume_epoch, resume_cursor = resume
            if resume_epoch == hub.epoch and hub.has_cursor(resume_cursor):
                self.replay(resume_cursor, requested)
                return
            reset = True
            logger.info(
                "websocket %s: reset because cursor %d of epoch %r cannot be resumed",
                self.client_id,
                resume_cursor,
                resume_epoch[:64],
            )
        if reset:
            self.stats.resets += 1
        cursor_now, ticks = hub.snapshot(requested)
        body = snapshot_body(hub.epoch, cursor_now, encode_ticks(ticks), reset=reset)
        # Add the type and the full subscription to the shared snapshot layout.
        message = (
            f'{{"type":"snapshot","symbols":{json.dumps(self.subscribed_symbols())},{body[1:]}'
        )
        self.send(message)

    def replay(self, cursor: int, symbols: Symbols) -> None:
        """Send every tick after ``cursor`` for ``symbols`` from the hub's history."""
        hub = self.context.hub
        limit = self.context.config.longpoll.max_ticks_per_response
        while True:
            ticks, next_cursor = hub.ticks_after(cursor, symbols, limit)
            if not ticks:
                return
            self.send(ticks_message(next_cursor, encode_ticks(ticks)), ticks)
            cursor = next_cursor

    def unsubscribe(self, value: Any) -> None:
        assert self.subscription is not None
        hub = self.context.hub
        removed = parse_symbol_list(value, hub, self.grant.symbols, self.max_symbols)
        current = self.subscription.symbols
        if removed is None:
            self.subscription.update(frozenset())
        else:
            base = frozenset(hub.symbols) if current is None else current
            self.subscription.update(base - removed)
        self.send(json.dumps({"type": "unsubscribed", "symbols": self.subscribed_symbols()}))

    def send_time(self, request_id: Any) -> None:
        """Reply with the server's clock, for the client's clock-offset estimate."""
        reply = {"type": "time", "id": request_id, "server_time_ms": time.time() * 1000.0}
        self.send(json.dumps(reply))

    @property
    def max_symbols(self) -> int:
        return self.context.config.limits.max_symbols_per_subscription

    def subscribed_symbols(self) -> list[str]:
        assert self.subscription is not None
        symbols = self.subscription.symbols
        return [s for s in self.context.hub.symbols if symbols is None or s in symbols]

    def send_error_message(self, message: str) -> None:
        self.send(json.dumps({"type": "error", "message": message}))

    def deliver(self, batch: Batch, selection: Selection) -> None:
        """Write the batch now, or hold its ticks back while an earlier write is unsent."""
        if self.check_slow():
            return
        if self.unsent() or self.held:
            self.stats.conflated += self.held.add(batch.cursor, selection.ticks)
            if not self.unsent():
                self.send_held()
            return
        message = selection.rendered.get(NAME)
        if message is None:
            message = ticks_message(batch.cursor, selection.json)
            selection.rendered[NAME] = message
        self.send(message, selection.ticks)

    def send_held(self) -> None:
        cursor, ticks, replaced = self.held.take()
        self.send(ticks_message(cursor, encode_ticks(ticks), replaced), ticks)

    def unsent(self) -> bool:
        """Return whether the connection's buffer still contains data that the client has not read."""
        connection = self.ws_connection
        stream = getattr(connection, "stream", None)
        return stream is not None and stream.writing()

    def check_slow(self) -> bool:
        """Disconnect a slow consumer and return True, or return False."""
        settings = self.context.config.websocket
        reason = slow_consumer_reason(
            self.pending_writes,
            settings.max_pending_messages,
            self.unsent_since,
            self.context.hub.clock(),
            settings.slow_consumer_timeout,
        )
        if reason is None:
            return False
        self.disconnect(CLOSE_POLICY_VIOLATION, reason, DISCONNECTED_SLOW)
        return True

    def send(self, message: str, ticks: Sequence[Tick] = ()) -> None:
        """Queue a message without waiting; a closed connection just ends the subscription.

        ``ticks`` are the ticks the message carries, for the transport's counters.
        """
        try:
            written = self.write_message(message)
        except tornado.websocket.WebSocketClosedError:
            self.end_subscription()
            return
        self.pending_writes += 1
        self.sent_messages += 1
        if self.unsent_since is None and self.unsent():
            self.unsent_since = self.context.hub.clock()
        # Messages are ASCII JSON, so their length in characters is their size in bytes.
        oldest = ticks[0].published_at if ticks else None
        self.stats.record_write(len(ticks), websocket_frame_size(len(message)), oldest)
        written.add_done_callback(self._on_written)

    def _on_written(self, future: asyncio.Future[None]) -> None:
        self.pending_writes -= 1
        # A write to a connection that closed meanwhile fails; on_close reports the close.
        if future.cancelled() or future.exception() is not None:
            return
        if self.pending_writes == 0:
            self.unsent_since = None
            if self.held and self.subscription is not None and not self.subscription.closed:
                self.send_held()

    def symbols_changed(self, change: SymbolChange) -> None:
        message = render_symbols_change(
            change,
            self.context.config,
            self.grant.symbols,
            NAME,
            lambda body: f'{{"type":"symbols",{body[1:]}',
        )
        self.send(message)

    def hub_closed(self) -> None:
        self.disconnect(CLOSE_GOING_AWAY, REASON_SHUTDOWN, DISCONNECTED_SHUTDOWN)

    def hub_restarted(self) -> None:
        self.disconnect(CLOSE_SERVICE_RESTART, REASON_FEED_RESTARTED, DISCONNECTED_RESTART)

    def disconnect(self, code: int, reason: str, kind: str | None = None) -> None:
        """Close with ``code`` and ``reason``; the first reason given is the one logged.

        ``kind`` names the reason in the disconnect counters; a refused connection has none.
        """
        if self.disconnect_reason is None:
            self.disconnect_reason = reason
            self.disconnect_kind = kind
            if kind is not None:
                # Counted now: the client may take a while to complete the close handshake.
                self.stats.count_disconnect(kind)
            if kind == DISCONNECTED_SLOW:
                logger.warning("websocket %s disconnected: %s", self.client_id, reason)
        self.end_subscription()
        self.close(code, reason)

    def abort(self) -> None:
        stream = getattr(self.ws_connection, "stream", None)
        if stream is not None:
            stream.close()
        # Tornado runs on_close from here; a closed stream alone may go unnoticed until the
        # close handshake's own timeout.
        self.on_connection_close()

    def end_subscription(self) -> None:
        if self.subscription is not None:
            self.subscription.close()

    def on_close(self) -> None:
        self.end_subscription()
        self.context.open_connections.discard(self)
        if self.address is not None:
            self.context.address_limits.release(NAME, self.address)
            self.address = None
        if not self.closed.done():
            self.closed.set_result(None)
        if self.subscription is None:
            return  # refused in open(), already counted and logged
        reason = self.disconnect_reason
        kind = self.disconnect_kind
        if reason is None and self.close_code is not None:
            reason = f"{REASON_CLIENT_CLOSED} (code {self.close_code})"
            kind = DISCONNECTED_CLIENT
        elif reason is None:
            kind = DISCONNECTED_LOST
            # Tornado reports these cases alike, so the log cannot tell them apart.
            reason = (
                "closed without a status code (by the client, by a lost connection, "
                "or after a protocol error such as a message over max_message_size)"
            )
        if self.disconnect_kind is None:
            self.stats.count_disconnect(kind or DISCONNECTED_LOST)
        duration = asyncio.get_running_loop().time() - self.opened_at
        logger.info(
            "websocket %s disconnected: %s after %.1f s, %d messages sent",
            self.client_id,
            reason,
            duration,
            self.sent_messages,
        )


def ticks_message(cursor: int, ticks_json: str, conflated: int = 0) -> str:
    """Build a ``ticks`` message; ``conflated`` counts ticks that newer ones replaced."""
    if conflated:
        return f'{{"type":"ticks","cursor":{cursor},"ticks":{ticks_json},"conflated":{conflated}}}'
    return f'{{"type":"ticks","cursor":{cursor},"ticks":{ticks_json}}}'


def parse_resume(epoch: Any, cursor: Any) -> tuple[str, int] | None:
    """Check the optional ``epoch`` and ``cursor`` of a subscribe message; both or neither."""
    if epoch is None and cursor is None:
        return None
    if not isinstance(epoch, str) or not epoch:
        raise InvalidRequest(f"invalid epoch {shorten(epoch)}: expected the epoch string of a snapshot")
    if isinstance(cursor, bool) or not isinstance(cursor, int) or cursor < 0:
        raise InvalidRequest(
            f"invalid cursor {shorten(cursor)}: expected the integer seq of the last tick seen"
        )
    return epoch, cursor


def routes(context: ServerContext) -> list[Route]:
    return [(r"/ws", WebSocketHandler, {"context": context})]


TRANSPORT = Transport(
    name=NAME,
    label="WebSocket",
    description="One socket per client; the server pushes a message per batch and the client "
    "resumes from its cursor after a drop.",
    routes=routes,
    browser_module=web_root() / "js" / "transports" / "websocket.js",
    client=WebSocketClient,
)
