"""Build the Tornado application: routes, settings and the handlers' shared context."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import tornado.web

from ticker.api import (
    IndexHandler,
    SnapshotHandler,
    StatsHandler,
    SymbolsHandler,
    TimeHandler,
    TransportModuleHandler,
    TransportsHandler,
    read_index_page,
)
from ticker.config import Config
from ticker.context import ServerContext
from ticker.health import HealthHandler
from ticker.hub import Hub
from ticker.http import NotFoundHandler, log_request
from ticker.metrics import MetricsHandler, make_registry
from ticker.pages import StaticPageHandler
from ticker.resources import web_root
from ticker.transports.base import Transport
from ticker.transports.registry import discover_transports, select_transports


def make_hub(config: Config) -> Hub:
    """Build an empty hub for the configured symbols."""
    return Hub(
        {entry.symbol: entry.price for entry in config.symbols},
        history_size=config.hub.history_size,
        max_subscribers=config.server.max_clients,
    )


def enabled_transports(config: Config) -> list[Transport]:
    """Return the transports that ``config`` enables; raise ConfigError for an unknown name."""
    return select_transports(discover_transports(), config.transports.enabled, config.source)


def make_app(
    context: ServerContext, transports: Sequence[Transport] | None = None
) -> tornado.web.Application:
    """Build the application that serves the API, the transports and the dashboard.

    ``transports`` defaults to the ones the config enables.
    """
    if transports is None:
        transports = enabled_transports(context.config)
    shared = {"context": context}
    websocket = context.config.websocket
    settings: dict[str, Any] = {
        "static_path": str(web_root()),
        "static_url_prefix": "/static/",
        "static_handler_class": StaticPageHandler,
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
        (r"/api/stats", StatsHandler, shared),
        (r"/api/time", TimeHandler, shared),
        (r"/healthz", HealthHandler, shared),
        (r"/metrics", MetricsHandler, {"context": context, "registry": make_registry(context)}),
        (r"/api/transports", TransportsHandler, {"context": context, "transports": transports}),
        (r"/compare/?", tornado.web.RedirectHandler, {"url": "/static/compare.html"}),
    ]
    for transport in transports:
        routes.extend(transport.routes(context))
        routes.append(
            (
                transport.module_url,
                TransportModuleHandler,
                {"context": context, "source": transport.browser_module.read_bytes()},
            )
        )
    return tornado.web.Application(routes, **settings)
