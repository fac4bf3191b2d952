"""The JSON API that every transport shares, and the dashboard's page."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ticker.config import Config
from ticker.context import ServerContext
from ticker.errors import InvalidRequest
from ticker.hub import SymbolChange, Symbols, encode_ticks
from ticker.http import JsonHandler
from ticker.pages import set_page_headers
from ticker.params import parse_symbols
from ticker.resources import web_root

if TYPE_CHECKING:
    from ticker.transports.base import Transport


class SymbolsHandler(JsonHandler):
    """``GET /api/symbols``: the symbols with their settings, their version and the feed mode."""

    def get(self) -> None:
        feed = self.context.feed
        entitlement = self.grant.symbols
        self.write_json(
            {
                "symbols": symbol_entries(self.context.config, entitlement),
                "version": self.context.hub.symbols_version,
                "restricted": entitlement is not None,
                "feed": {
                    "mode": self.context.config.feed.mode,
                    "day": feed.current_day() if feed is not None else None,
                },
            }
        )


def symbol_entries(config: Config, entitlement: Symbols = None) -> list[dict[str, Any]]:
    """Describe the configured symbols as ``/api/symbols`` and the ``symbols`` messages do.

    With an API key's ``entitlement``, only the symbols it covers are described.
    """
    return [
        {
            "symbol": entry.symbol,
            "name": entry.name,
            "start_price": entry.price,
            "mean_interval": entry.mean_interval,
            "spread": entry.spread,
        }
        for entry in config.symbols
        if entitlement is None or entry.symbol in entitlement
    ]


def render_symbols_change(
    change: SymbolChange,
    config: Config,
    entitlement: Symbols,
    transport: str,
    frame: Callable[[str], str],
) -> str:
    """Return ``change`` as ``transport``'s message, built by ``frame`` from the JSON body.

    Clients without a restricted key share one message per transport. A restricted key gets a
    message of its own that names only the symbols it may see.
    """
    if entitlement is None:
        message = change.rendered.get(transport)
        if message is None:
            message = change.rendered[transport] = frame(symbols_change_json(config, change))
        return message
    return frame(symbols_change_json(config, change, entitlement))


def symbols_change_json(config: Config, change: SymbolChange, entitlement: Symbols = None) -> str:
    """Encode a symbol change with the symbols now configured, for the push transports.

    With an API key's ``entitlement``, symbols outside it are left out, so that a restricted key
    does not learn of them.
    """
    body = {
        "version": change.version,
        "added": [symbol for symbol in change.added if entitlement is None or symbol in entitlement],
        "removed": [
            symbol for symbol in change.removed if entitlement is None or symbol in entitlement
        ],
        "symbols": symbol_entries(config, entitlement),
    }
    return json.dumps(body, separators=(",", ":"))


class SnapshotHandler(JsonHandler):
    """``GET /api/snapshot?symbols=A,B``: the latest tick per symbol and the cursor to poll from."""

    def get(self) -> None:
        hub = self.context.hub
        try:
            symbols = parse_symbols(
                self.get_query_argument("symbols", None),
                hub,
                self.grant.symbols,
                self.context.config.limits.max_symbols_per_subscription,
            )
        except InvalidRequest as exc:
            self.reject(400, str(exc))
            return
        cursor, ticks = hub.snapshot(symbols)
        self.write_raw_json(snapshot_body(hub.epoch, cursor, encode_ticks(ticks)))


def snapshot_body(epoch: str, cursor: int, ticks_json: str, reset: bool = False) -> str:
    """Build a snapshot (or reset) body around ticks that are already encoded."""
    prefix = '{"reset":true,' if reset else "{"
    return f'{prefix}"epoch":{json.dumps(epoch)},"cursor":{cursor},"ticks":{ticks_json}}}'


class IndexHandler(JsonHandler):
    """``GET /``: the dashboard page; its scripts and styles come from ``/static/``.

    The page is read once, when the application is built, so no request reads the disk.
    """

    requires_key = False

    def initialize(self, context: ServerContext, page: bytes) -> None:  # type: ignore[override]
        super().initialize(context)
        self.page = page

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.set_header("Cache-Control", "no-cache")
        set_page_headers(self)

    def get(self) -> None:
        self.finish(self.page)


def read_index_page() -> bytes:
    return (web_root() / "index.html").read_bytes()


class TransportsHandler(JsonHandler):
    """``GET /api/transports``: the enabled transports, in the dashboard's menu order."""

    requires_key = False

    def initialize(  # type: ignore[override]
        self, context: ServerContext, transports: Sequence[Transport]
    ) -> None:
        super().initialize(context)
        self.transports = transports

    def get(self) -> None:
        listed = [
            {
                "name": transport.name,
                "label": transport.label,
                "description": transport.description,
                "module": transport.module_url,
            }
            for transport in self.transports
        ]
        self.write_json({"transports": listed})


class TransportModuleHandler(JsonHandler):
    """The browser module of one transport, read when the application is built."""

    requires_key = False

    def initialize(self, context: ServerContext, source: bytes) -> None:  # type: ignore[override]
        super().initialize(context)
        self.source = source

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "text/javascript; charset=UTF-8")
        self.set_header("Cache-Control", "no-cache")

    def get(self) -> None:
        self.finish(self.source)


class StatsHandler(JsonHandler):
    """``GET /api/stats``: per-transport counters, open connections and the feed's lag."""

    def get(self) -> None:
        open_counts = self.context.hub.counts()
        feed = self.context.feed
        transports = {
            name: stats.to_json(open_counts.get(name, 0))
            for name, stats in self.context.stats.transports.items()
        }
        for name, count in open_counts.items():
            if name not in transports:
                transports[name] = self.context.stats.transport(name).to_json(count)
        self.write_json(
            {
                "epoch": self.context.hub.epoch,
                "cursor": self.context.hub.last_seq,
                "feed_lag_ms": round(feed.last_lag * 1000.0, 3) if feed else None,
                "feed_skipped_steps": feed.skipped_steps if feed else None,
                "transports": transports,
            }
        )


class TimeHandler(JsonHandler):
    """``GET /api/time``: the server's clock in ms since the Unix epoch, for clock alignment."""

    requires_key = False

    def get(self) -> None:
        self.write_json({"server_time_ms": time.time() * 1000.0})
