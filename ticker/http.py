"""Shared plumbing of the HTTP handlers: JSON bodies, JSON errors and the access log."""

from __future__ import annotations

import json
import logging
from typing import Any

import tornado.web

from ticker.context import ServerContext

access_log = logging.getLogger("tornado.access")


class JsonHandler(tornado.web.RequestHandler):
    """A handler whose every response, errors included, is JSON that no cache stores."""

    context: ServerContext

    def initialize(self, context: ServerContext) -> None:
        self.context = context
        context.name_node(self)

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")
        # Tornado calls this before initialize, and again when it clears a response for an error.
        context: ServerContext | None = getattr(self, "context", None)
        if context is not None:
            context.name_node(self)

    def compute_etag(self) -> None:
        # Live data is never revalidated, so an ETag would only cost a hash per response.
        return None

    def write_json(self, body: dict[str, Any]) -> None:
        self.finish(json.dumps(body, separators=(",", ":")))

    def write_raw_json(self, text: str) -> None:
        """Send JSON text that was built from already-encoded ticks."""
        self.finish(text)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        # The client gets a short reason; a traceback goes only to the log (Tornado logs it).
        message = self._reason if status_code < 500 else "internal server error"
        if status_code == 405:
            message = f"method {self.request.method} not allowed on {self.request.path}; use GET"
        exc_info = kwargs.get("exc_info")
        if exc_info is not None and isinstance(exc_info[1], tornado.web.HTTPError):
            error = exc_info[1]
            if error.log_message and status_code < 500:
                message = error.log_message % error.args if error.args else error.log_message
        self.finish(json.dumps({"error": message}))

    def reject(self, status_code: int, message: str) -> None:
        """Send ``{"error": message}`` with ``status_code``."""
        self.set_status(status_code)
        self.write_json({"error": message})


class NotFoundHandler(JsonHandler):
    """The 404 handler for every path that no route matches."""

    def prepare(self) -> None:
        self.reject(404, f"not found: {self.request.path}")


def log_request(handler: tornado.web.RequestHandler) -> None:
    """Log each finished request.

    Success is DEBUG because long-polls finish on every tick, and so are the 503 responses that
    an orderly shutdown sends to waiting polls.
    """
    status = handler.get_status()
    context: ServerContext | None = getattr(handler, "context", None)
    if status < 400 or (status == 503 and context is not None and context.shutting_down):
        level = logging.DEBUG
    elif status < 500:
        level = logging.INFO
    elif status == 503:
        level = logging.WARNING
    else:
        level = logging.ERROR
    if access_log.isEnabledFor(level):
        duration_ms = 1000.0 * handler.request.request_time()
        access_log.log(
            level, "%d %s %.1f ms", status, handler._request_summary(), duration_ms
        )
