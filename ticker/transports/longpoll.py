"""Long-poll HTTP transport: ``GET /long-poll``, cursor-based and loss-free.

A poll with a cursor gets every tick after it, at once if there are some and otherwise as soon
as one is published, or 204 when its hold time passes. A poll without a cursor waits for the
next update, which is what the classic long-poll tutorial client expects. The handler stores no
data of its own. It reads the hub's history and waits on a future that the hub resolves.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from typing import Any

from ticker.api import snapshot_body, symbol_entries
from ticker.clients.polling import long_poll_client
from ticker.context import ServerContext
from ticker.errors import (
    REASON_ADDRESS_LIMIT,
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
from ticker.params import parse_cursor, parse_symbols, parse_symbols_version, parse_timeout
from ticker.resources import web_root
from ticker.stats import http_head_size
from ticker.transports.base import Route, Transport

logger = logging.getLogger("ticker.transports.longpoll")

NAME = "longpoll"
RETRY_AFTER_SECONDS = 1

# Outcomes that end a poll's wait.
WAKE_DATA = "data"
WAKE_TIMEOUT = "timeout"
WAKE_GONE = "client disconnected"
WAKE_SHUTDOWN = "shutdown"
WAKE_RESTART = "feed restarted"

# Poll outcomes, as the counters name them.
OUTCOME_DATA = "data"
OUTCOME_EMPTY = "empty"
OUTCOME_RESET = "reset"
OUTCOME_GONE = "gone"
OUTCOME_UNAVAILABLE = "unavailable"


class LongPollHandler(JsonHandler):
    """``GET /long-poll?cursor=N&epoch=E&symbols=A,B&timeout=S`` (see docs/protocol.md)."""

    _wake: asyncio.Future[str] | None = None
    _subscription: Subscription | None = None
    _body_size = 0
    _sent_ticks: Sequence[Tick] = ()
    known_symbols_version: int | None = None
    """The ``symbols_version`` the client sent: the version of its symbol list."""

    def initialize(self, context: ServerContext, transport_name: str = NAME) -> None:
        """``transport_name`` names the transport in hub counts and stats; a plug-in that
        serves this handler on its own route passes its own name."""
        super().initialize(context)
        self.transport_name = transport_name

    async def get(self) -> None:
        hub = self.context.hub
        self.client_id = self.context.new_client_id("lp")
        self.stats = self.context.stats.transport(self.transport_name)
        limits = self.context.config.limits
        try:
            symbols = parse_symbols(
                self.get_query_argument("symbols", None),
                hub,
                self.grant.symbols,
                limits.max_symbols_per_subscription,
            )
            cursor = parse_cursor(self.get_query_argument("cursor", None))
            timeout = self.hold_timeout()
            self.known_symbols_version = parse_symbols_version(
                self.get_query_argument("symbols_version", None)
            )
        except LimitExceeded as exc:
            self.context.refused(self.transport_name, exc.kind, self.client_id, self.peer, str(exc))
            self.reject(400, str(exc))
            return
        except InvalidRequest as exc:
            self.stats.count_refusal(REFUSED_BAD_REQUEST)
            self.reject(400, str(exc))
            return
        epoch = self.get_query_argument("epoch", None)
        if cursor is not None:
            await self.context.catch_up(epoch, cursor)

        if cursor is None:
            cursor = hub.last_seq
        elif epoch is not None and epoch != hub.epoch:
            self.answer_reset(symbols, "its epoch is from another server start")
            return
        elif not hub.has_cursor(cursor):
            self.answer_reset(
                symbols, f"cursor {cursor} is outside the history {hub.first_seq - 1}-{hub.last_seq}"
            )
            return

        if self.answer_ticks(cursor, symbols):
            return
        if self.symbols_outdated():
            self.answer_symbols()
            return
        if timeout == 0:
            self.answer_empty()
            return
        if self.context.shutting_down:
            self.refuse(503, REFUSED_SHUTDOWN, REASON_SHUTDOWN)
            return
        address_limit = limits.max_polls_per_address
        if not self.context.address_limits.acquire(self.transport_name, self.peer, address_limit):
            reason = REASON_ADDRESS_LIMIT.format(
                transport=self.transport_name, address=self.peer, limit=address_limit
            )
            self.refuse(429, REFUSED_ADDRESS_LIMIT, reason)
            return
        try:
            outcome = await self.wait(symbols, timeout)
        except HubFull as exc:
            self.refuse(503, REFUSED_SERVER_FULL, f"server full: {exc}")
            return
        finally:
            self.context.address_limits.release(self.transport_name, self.peer)

        if outcome == WAKE_GONE:
            logger.debug("long-poll %s: client disconnected while waiting", self.client_id)
            self.stats.count_outcome(OUTCOME_GONE)
        elif outcome == WAKE_SHUTDOWN:
            self.reject_unavailable(REASON_SHUTDOWN)
        elif outcome == WAKE_RESTART:
            self.answer_reset(symbols, "the feed restarted or its ticks have a gap")
        elif not hub.has_cursor(cursor):
            # The history moved past the cursor before this poll got to run again.
            self.answer_reset(symbols, f"cursor {cursor} fell out of the history while waiting")
        elif not self.answer_ticks(cursor, symbols):
            if self.symbols_outdated():
                self.answer_symbols()
            else:
                # A timeout, or ticks that another batch made irrelevant; check the history
                # last so that a batch published after the timer fired is never skipped.
                self.answer_empty()

    def hold_timeout(self) -> float:
        """Return how long to hold an empty poll, from the ``timeout`` parameter."""
        settings = self.context.config.longpoll
        raw = self.get_query_argument("timeout", None)
        return parse_timeout(raw, settings.hold_timeout, settings.max_hold_timeout)

    async def wait(self, symbols: Symbols, timeout: float) -> str:
        """Wait until a matching batch is published, the hold ends or the client leaves.

        Raises HubFull when the hub has no room for another subscription.
        """
        loop = asyncio.get_running_loop()
        self._wake = loop.create_future()
        self._subscription = self.context.hub.subscribe(
            self, symbols, self.transport_name, self.client_id
        )
        timer = loop.call_later(timeout, self._resolve, WAKE_TIMEOUT)
        try:
            return await self._wake
        finally:
            timer.cancel()
            self._subscription.close()

    @property
    def peer(self) -> str:
        return self.request.remote_ip or "unknown"

    def refuse(self, status: int, kind: str, reason: str) -> None:
        """Respond ``status`` with ``Retry-After``, counting and logging the refusal."""
        self.context.refused(self.transport_name, kind, self.client_id, self.peer, reason)
        self.stats.count_outcome(OUTCOME_UNAVAILABLE)
        self.set_header("Retry-After", str(RETRY_AFTER_SECONDS))
        self.reject(status, f"{reason}; retry after {RETRY_AFTER_SECONDS} s")

    def reject_unavailable(self, message: str) -> None:
        """Respond to a waiting poll with 503 because the server is stopping."""
        self.stats.count_outcome(OUTCOME_UNAVAILABLE)
        self.set_header("Retry-After", str(RETRY_AFTER_SECONDS))
        self.reject(503, message)

    def write(self, chunk: str | bytes | dict[str, Any]) -> None:
        super().write(chunk)
        self._body_size += len(chunk) if not isinstance(chunk, dict) else 0

    def on_finish(self) -> None:
        """Count the response: its ticks, its bytes with headers, and a 204."""
        stats = self.context.stats.transport(self.transport_name)
        stats.requests += 1
        status = self.get_status()
        if status == 204:
            stats.no_content += 1
        head = http_head_size(status, self._reason, list(self._headers.get_all()))
        ticks = self._sent_ticks
        oldest = min((tick.published_at for tick in ticks), default=None)
        stats.record_write(len(ticks), head + self._body_size, oldest)

    def _resolve(self, outcome: str) -> None:
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(outcome)

    def deliver(self, batch: Batch, selection: Selection) -> None:
        self._resolve(WAKE_DATA)

    def symbols_changed(self, change: SymbolChange) -> None:
        # Only a client that sent its symbols_version can tell that the list is new.
        if self.known_symbols_version is not None:
            self._resolve(WAKE_DATA)

    def hub_closed(self) -> None:
        self._resolve(WAKE_SHUTDOWN)

    def hub_restarted(self) -> None:
        self._resolve(WAKE_RESTART)

    def symbols_outdated(self) -> bool:
        known = self.known_symbols_version
        return known is not None and known != self.context.hub.symbols_version

    def symbols_fields(self) -> str:
        """Return the body's symbol fields: the version, and the list when the client's is old."""
        hub = self.context.hub
        fields = f'"symbols_version":{hub.symbols_version}'
        if self.symbols_outdated():
            entries = symbol_entries(self.context.config, self.grant.symbols)
            fields += f',"symbols":{json.dumps(entries)}'
        return fields

    def answer_symbols(self) -> None:
        """Send the new symbol list with no ticks and the newest cursor."""
        hub = self.context.hub
        body = (
            f'{{"epoch":{json.dumps(hub.epoch)},"cursor":{hub.last_seq},"ticks":[],'
            f'"more":false,{self.symbols_fields()}}}'
        )
        self.write_raw_json(body)

    def on_connection_close(self) -> None:
        self._resolve(WAKE_GONE)

    def answer_ticks(self, cursor: int, symbols: Symbols) -> bool:
        """Send the ticks after ``cursor`` if there are any, and return whether it sent them."""
        hub = self.context.hub
        limit = self.context.config.longpoll.max_ticks_per_response
        # Fetching one tick past the limit shows whether the client must poll again at once.
        ticks, next_cursor = hub.ticks_after(cursor, symbols, limit + 1)
        if not ticks:
            return False
        more = len(ticks) > limit
        if more:
            ticks = ticks[:limit]
            next_cursor = ticks[-1].seq
        body = (
            f'{{"epoch":{json.dumps(hub.epoch)},"cursor":{next_cursor},'
            f'"ticks":{encode_ticks(ticks)},"more":{"true" if more else "false"},'
            f"{self.symbols_fields()}}}"
        )
        self._sent_ticks = ticks
        self.stats.count_outcome(OUTCOME_DATA)
        self.write_raw_json(body)
        return True

    def answer_empty(self) -> None:
        """Send 204 with the newest cursor, so that a narrow subscription never falls behind."""
        hub = self.context.hub
        self.stats.count_outcome(OUTCOME_EMPTY)
        self.set_status(204)
        self.set_header("X-Ticker-Epoch", hub.epoch)
        self.set_header("X-Ticker-Cursor", str(hub.last_seq))
        self.set_header("X-Ticker-Symbols-Version", str(hub.symbols_version))
        self.finish()

    def answer_reset(self, symbols: Symbols, reason: str) -> None:
        hub = self.context.hub
        logger.info("long-poll %s: reset because %s", self.client_id, reason)
        self.stats.resets += 1
        self.stats.count_outcome(OUTCOME_RESET)
        cursor, ticks = hub.snapshot(symbols)
        self.write_raw_json(snapshot_body(hub.epoch, cursor, encode_ticks(ticks), reset=True))


def routes(context: ServerContext) -> list[Route]:
    return [(r"/long-poll", LongPollHandler, {"context": context, "transport_name": NAME})]


TRANSPORT = Transport(
    name=NAME,
    label="Long-poll",
    description="The server holds each HTTP request until a tick arrives, then the client "
    "asks again from its cursor.",
    routes=routes,
    browser_module=web_root() / "js" / "transports" / "longpoll.js",
    client=long_poll_client,
)
