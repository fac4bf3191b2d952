"""Build the Tornado application: routes, settings and the handlers' shared context."""

from __future__ import annotations

from typing import Any

import tornado.web

from ticker.api import IndexHandler, SnapshotHandler, SymbolsHandler, read_index_page
from ticker.config import Config
from ticker.context import ServerContext
from ticker.hub import Hub
from ticker.http import NotFoundHandler, log_request
from ticker.resources import web_root
from ticker.transports.longpoll import LongPollHandler
from ticker.transports.websocket import WebSocketHandler

TRANSPORTS = ("websocket", "longpoll")


def make_hub(config: Config) -> Hub:
    """Build an empty hub for the configured symbols."""
    return Hub(
        {entry.symbol: entry.price for entry in config.symbols},
        history_size=config.hub.history_size,
        max_subscribers=config.server.max_clients,
    )


def make_app(context: ServerContext) -> tornado.web.Application:
    """Build the application that serves the API, both transports and the dashboard."""
    shared = {"context": context}
    websocket = context.config.websocket
    settings: dict[str, Any] = {
        "static_path": str(web_root()),
        "static_url_prefix": "/static/",
        "default_handler_class": NotFoundHandler,
        "default_handler_args": shared,
        "log_function": log_request,
        # Tornado takes 0 or None as "no pings"; the timeout is only read when pings are on.
        "websocket_ping_interval": websocket.ping_interval or None,
        "websocket_ping_timeout": websocket.ping_timeout or None,
        "websocket_max_message_size": websocket.max_message_size,
    }
    routes: list[Any] = [
        (r"/", IndexHandler, {"context": context, "page": read_index_page()}),
        (r"/api/symbols", SymbolsHandler, shared),
        (r"/api/snapshot", SnapshotHandler, shared),
        (r"/long-poll", LongPollHandler, shared),
        (r"/ws", WebSocketHandler, shared),
    ]
    return tornado.web.Application(routes, **settings)
