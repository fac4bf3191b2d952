"""One running ticker server: the hub, the feed and the HTTP server, started and stopped together."""

from __future__ import annotations

import asyncio
import logging
import socket

import tornado.httpserver
import tornado.netutil

from ticker.app import enabled_transports, make_app, make_hub
from ticker.config import Config
from ticker.context import ServerContext
from ticker.feed import Feed

logger = logging.getLogger("ticker.server")

class TickerServer:
    """Serves ``config`` on ``host``:``port``; ``port`` 0 picks a free port.

    Raises ConfigError when the config enables a transport that is not registered.
    """

    def __init__(self, config: Config, host: str | None = None, port: int | None = None):
        self.config = config
        self.host = host if host is not None else config.server.host
        self.requested_port = port if port is not None else config.server.port
        self.transports = enabled_transports(config)
        self.hub = make_hub(config)
        self.context = ServerContext(config, self.hub)
        self.feed = Feed.from_config(self.hub, config)
        self.context.feed = self.feed
        self.http_server: tornado.httpserver.HTTPServer | None = None
        self.port = 0
        self._stopped = False

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def start(self, run_feed: bool = True, sockets: list[socket.socket] | None = None) -> None:
        """Bind the port, start the feed and accept clients.

        With ``run_feed`` False, only direct calls to ``hub.publish`` (from tests) or a backplane
        node publish ticks. ``sockets`` are listening sockets bound already (shared by several
        processes); without them the port is bound here. Raises OSError when the port cannot be
        bound (for example, when it is in use).
        """
        if sockets is None:
            sockets = bind_listening_sockets(self.host, self.requested_port)
        self.port = sockets[0].getsockname()[1]
        settings = self.config.server
        # Tornado waits an hour for a request's headers and forever for its body by default, so
        # a client that stops halfway through a request would hold its connection that long.
        self.http_server = tornado.httpserver.HTTPServer(
            make_app(self.context, self.transports),
            idle_connection_timeout=settings.idle_connection_timeout,
            body_timeout=settings.body_timeout,
            max_header_size=settings.max_header_size,
            max_body_size=settings.max_body_size,
            xheaders=settings.xheaders,
        )
        self.http_server.add_sockets(sockets)
        if run_feed:
            self.feed.start()
        logger.info(
            "ticker listening on %s (%d symbols, transports: %s, epoch %s); "
            "open it in a browser for the dashboard",
            self.url,
            len(self.config.symbols),
            ", ".join(transport.name for transport in self.transports),
            self.hub.epoch,
        )

    async def stop(self) -> None:
        """Stop accepting, stop the feed, say goodbye to every client and close; idempotent.

        Waiting long-polls get 503, SSE streams end, and WebSockets are closed with 1001.
        """
        if self._stopped:
            return
        self._stopped = True
        logger.info("ticker stopping")
        self.context.shutting_down = True
        if self.http_server is not None:
            self.http_server.stop()
        await self.feed.stop()

        # Each wait is bounded, so a client that never responds cannot delay the stop indefinitely.
        timeout = self.config.server.shutdown_timeout
        streams = [connection.closed for connection in self.context.open_connections]
        self.hub.close()
        if streams:
            done, pending = await asyncio.wait(streams, timeout=timeout)
            if pending:
                logger.warning(
                    "%d streaming clients did not finish closing within %g s; dropping them",
                    len(pending),
                    timeout,
                )
                for connection in list(self.context.open_connections):
                    connection.abort()
                await asyncio.wait(pending, timeout=timeout)
        if self.http_server is not None:
            try:
                await asyncio.wait_for(self.http_server.close_all_connections(), timeout=timeout)
            except TimeoutError:
                logger.warning("open HTTP connections did not close within %g s", timeout)
        logger.info("ticker stopped")


def bind_listening_sockets(host: str, port: int) -> list[socket.socket]:
    """Bind ``host``:``port`` for every address family the host resolves to; raises OSError."""
    return tornado.netutil.bind_sockets(port, host, socket.AF_UNSPEC)
