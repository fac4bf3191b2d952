"""Shared plumbing of the HTTP handlers: JSON bodies, JSON errors and the access log."""

from __future__ import annotations

import json
import logging
from types import TracebackType
from typing import Any

import tornado.web

from ticker.access import (
    OPEN,
    Grant,
    admit,
    allow_cross_origin,
    answer_preflight,
    hide_key,
    redact_uri,
)
from ticker.context import ServerContext
from ticker.params import shorten

access_log = logging.getLogger("tornado.access")


def log_server_errors(
    handler: tornado.web.RequestHandler,
    typ: type[BaseException] | None,
    value: BaseException | None,
    tb: TracebackType | None,
) -> None:
    """Log an exception from ``handler`` as Tornado does, unless it is a client error (4xx).

    Tornado logs every HTTPError as a warning. A client's mistake is in the access log already
    (as INFO), and a warning for each would let any client flood the log.
    """
    if isinstance(value, tornado.web.HTTPError) and value.status_code < 500:
        return
    tornado.web.RequestHandler.log_exception(handler, typ, value, tb)


class JsonHandler(tornado.web.RequestHandler):
    """A handler whose every response, errors included, is JSON that no cache stores.

    Query arguments are stricter than Tornado's: a repeated one and one that is not UTF-8 get 400
    with a message naming the parameter, and such client errors are not logged as warnings.
    """

    context: ServerContext
    requires_key = True
    """Whether an API key is required when ``access.enabled`` is on; pages and clocks opt out."""
    grant: Grant = OPEN

    def initialize(self, context: ServerContext) -> None:
        self.context = context
        context.name_node(self)

    def prepare(self) -> None:
        allow_cross_origin(self, self.context.access)
        if self.request.method == "OPTIONS":
            return
        if not self.requires_key:
            hide_key(self.request)
            return
        # A transport handler has a transport_name, under which its refusals are counted.
        grant = admit(self, self.context, getattr(self, "transport_name", None))
        if grant is not None:
            self.grant = grant

    def options(self, *args: str) -> None:
        """Respond to a CORS preflight as ``access.cors_origins`` allows."""
        answer_preflight(self, self.context)

    def get_query_argument(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Return the query argument ``name`` as Tornado does; raise HTTPError 400 if repeated.

        Tornado returns the last of repeated values, which would hide a client's mistake.
        """
        count = len(self.request.query_arguments.get(name, []))
        if count > 1:
            raise client_error(
                f"invalid query: parameter {shorten(name)} is given {count} times; give it once"
            )
        return super().get_query_argument(name, *args, **kwargs)

    def decode_argument(self, value: bytes, name: str | None = None) -> str:
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            where = f"parameter {shorten(name)}" if name is not None else "path"
            raise client_error(
                f"invalid {where}: {shorten(value)} is not UTF-8; percent-encode UTF-8 text"
            ) from None

    log_exception = log_server_errors

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
        allow_cross_origin(self, self.context.access)
        self.finish(json.dumps({"error": message}))

    def reject(self, status_code: int, message: str) -> None:
        """Send ``{"error": message}`` with ``status_code``."""
        self.set_status(status_code)
        self.write_json({"error": message})


def client_error(message: str) -> tornado.web.HTTPError:
    """Build a 400 error whose JSON body is ``message``, which may contain any character."""
    return tornado.web.HTTPError(400, "%s", message)


class StaticHandler(tornado.web.StaticFileHandler):
    """Tornado's static file handler, without a warning for each bad path a client sends."""

    log_exception = log_server_errors


class NotFoundHandler(JsonHandler):
    """The 404 handler for every path that no route matches."""

    def prepare(self) -> None:
        self.reject(404, f"not found: {self.request.path}")


def log_request(handler: tornado.web.RequestHandler) -> None:
    """Log each finished request.

    Success is DEBUG because long-polls finish on every tick, and so are the 503 responses that
    an orderly shutdown sends to waiting polls, and health probes, which a load balancer sends
    every few seconds whatever their answer (a handler marks itself with ``is_probe``).
    """
    status = handler.get_status()
    context: ServerContext | None = getattr(handler, "context", None)
    if (
        status < 400
        or getattr(handler, "is_probe", False)
        or (status == 503 and context is not None and context.shutting_down)
    ):
        level = logging.DEBUG
    elif status < 500:
        level = logging.INFO
    elif status == 503:
        level = logging.WARNING
    else:
        level = logging.ERROR
    if access_log.isEnabledFor(level):
        request = handler.request
        duration_ms = 1000.0 * request.request_time()
        # Keys in the query string are cut; the client id ties the line to the connection log.
        client_id = getattr(handler, "client_id", None) or "-"
        access_log.log(
            level,
            "%d %s %s (%s) %s %.1f ms",
            status,
            request.method,
            redact_uri(request.uri or ""),
            request.remote_ip,
            client_id,
            duration_ms,
        )
