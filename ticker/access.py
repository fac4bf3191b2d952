"""Access control at request time: API keys, entitlements, WebSocket origins and CORS.

The rules come from ``[access]`` in the config (see ticker.access_config). A refusal is sent as
JSON, counted, and logged at INFO with the client id, at most ten times a minute per kind. Keys
never reach a log: they are compared as SHA-256 digests in constant time, and a key in the query
string is cut from the request's URI before anything can log it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus, urlsplit

import tornado.httputil
import tornado.web

from ticker.access_config import ANY_ORIGIN, AccessConfig, ApiKey
from ticker.errors import InvalidRequest, NotEntitled
from ticker.hub import Symbols
from ticker.params import parse_symbols
from ticker.ratelimit_log import RateLimitedLog

if TYPE_CHECKING:
    from ticker.context import ServerContext

logger = logging.getLogger("ticker.access")

KEY_PARAMETER = "key"
"""Query parameter that carries the key where a client cannot set headers (EventSource, WebSocket)."""
REDACTED = "REDACTED"

# Refusal kinds, as counted in stats and metrics.
REFUSED_NO_KEY = "missing_key"
REFUSED_BAD_KEY = "invalid_key"
REFUSED_NOT_ENTITLED = "not_entitled"
REFUSED_ORIGIN = "origin"
REFUSED_CORS = "cors_origin"

PREFLIGHT_MAX_AGE_SECONDS = 600
EXPOSED_HEADERS = "Retry-After, X-Ticker-Epoch, X-Ticker-Cursor"
"""Response headers that a cross-origin poller needs; CORS hides all others from scripts."""


@dataclass(frozen=True)
class Grant:
    """The key and the symbols that one request is granted."""

    key_name: str | None
    """The name of the key it presented, or None when access control is off."""
    symbols: Symbols
    """The key's entitlement; None means every symbol."""


OPEN = Grant(None, None)


def key_note(key_name: str | None) -> str:
    """Return `` with key NAME`` for a connection log line, or nothing with access control off."""
    return f" with key {key_name}" if key_name else ""


class AccessRefused(Exception):
    """A request is refused with ``status`` and ``message`` (sent as ``{"error": message}``)."""

    def __init__(self, status: int, kind: str, message: str, **body: Any) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.body = {"error": message, **body}


class AccessControl:
    """The access rules of one server, with its refusal counters."""

    def __init__(self, config: AccessConfig) -> None:
        self.config = config
        self._digests = [(_digest(key.secret), key) for key in config.keys]
        self.refusals: dict[str, int] = {}
        """Requests refused since start, by kind, across every endpoint."""
        self.log = RateLimitedLog(logger)

    def authenticate(self, authorization: str | None, query_key: str | None) -> Grant:
        """Return the grant of the key in ``authorization`` (a Bearer header) or ``query_key``.

        Raises AccessRefused (401) for a missing, malformed or unknown key; returns OPEN when
        access control is off.
        """
        if not self.config.enabled:
            return OPEN
        presented = query_key
        if authorization is not None:
            scheme, _, token = authorization.strip().partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise AccessRefused(
                    401, REFUSED_BAD_KEY, "invalid Authorization header: expected Bearer KEY"
                )
            presented = token.strip()
        if not presented:
            raise AccessRefused(
                401,
                REFUSED_NO_KEY,
                "missing API key: send the header Authorization: Bearer KEY, or the query "
                f"parameter {KEY_PARAMETER}=KEY where headers cannot be set",
            )
        key = self.find_key(presented)
        if key is None:
            raise AccessRefused(401, REFUSED_BAD_KEY, "invalid API key")
        return Grant(key.name, key.symbols)

    def find_key(self, presented: str) -> ApiKey | None:
        """Return the configured key equal to ``presented``, comparing in constant time."""
        digest = _digest(presented)
        found = None
        # Every digest is compared, so the time taken does not depend on which key matched.
        for known, key in self._digests:
            if hmac.compare_digest(digest, known):
                found = key
        return found

    def websocket_origin_allowed(self, origin: str, host: str | None) -> bool:
        """Return whether a WebSocket handshake from ``origin`` is allowed.

        The server's own origin is allowed, and so are ``access.allowed_origins``. Like
        Tornado's default check, "own" means that the Origin's host and port equal the Host
        header.
        """
        if host is not None and urlsplit(origin).netloc.lower() == host.lower():
            return True
        return _listed(origin, self.config.allowed_origins)

    def cors_origin_allowed(self, origin: str) -> bool:
        return _listed(origin, self.config.cors_origins)

    def count_refusal(self, kind: str) -> None:
        self.refusals[kind] = self.refusals.get(kind, 0) + 1


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


def _listed(origin: str, allowed: tuple[str, ...]) -> bool:
    return ANY_ORIGIN in allowed or origin.lower() in allowed


def redact_uri(uri: str) -> str:
    """Return ``uri`` with the value of every ``key`` query parameter replaced by REDACTED.

    Parameter names are compared after percent-decoding, as Tornado decodes them, so
    ``%6Bey=...`` is redacted too.
    """
    path, separator, query = uri.partition("?")
    if not separator:
        return uri
    parts = query.split("&")
    for index, part in enumerate(parts):
        name = unquote_plus(part.partition("=")[0])
        if name == KEY_PARAMETER:
            parts[index] = f"{KEY_PARAMETER}={REDACTED}"
    return f"{path}?{'&'.join(parts)}"


def hide_key(request: tornado.httputil.HTTPServerRequest) -> None:
    """Cut a key from the request's URI, so that no later log line can quote it.

    Tornado's error log and the access log both quote the URI. The parsed query arguments keep
    the key.
    """
    if request.uri is not None and "?" in request.uri:
        request.uri = redact_uri(request.uri)
        request.query = request.uri.partition("?")[2]


def admit(
    handler: tornado.web.RequestHandler,
    context: ServerContext,
    transport: str | None,
    check_origin: bool = False,
) -> Grant | None:
    """Check a request's key, its ``symbols`` parameter and, with ``check_origin``, its Origin.

    Returns the request's grant, or None after sending the refusal (401 or 403 with a JSON
    body) and counting it under ``transport`` when it names one.
    """
    access = context.access
    request = handler.request
    hide_key(request)
    try:
        origin = request.headers.get("Origin")
        if check_origin and origin is not None:
            if not access.websocket_origin_allowed(origin, request.headers.get("Host")):
                raise AccessRefused(
                    403,
                    REFUSED_ORIGIN,
                    f"origin {origin[:100]} is not allowed to open a WebSocket here; the server's "
                    "operator can add it to access.allowed_origins",
                )
        grant = access.authenticate(
            request.headers.get("Authorization"), handler.get_query_argument(KEY_PARAMETER, None)
        )
        if grant.symbols is not None:
            try:
                parse_symbols(handler.get_query_argument("symbols", None), context.hub, grant.symbols)
            except NotEntitled as exc:
                raise AccessRefused(403, REFUSED_NOT_ENTITLED, str(exc), symbols=exc.symbols) from None
            except InvalidRequest:
                pass  # the handler reports a malformed parameter with 400
        return grant
    except AccessRefused as refusal:
        refuse(handler, context, transport, refusal)
        return None


def refuse(
    handler: tornado.web.RequestHandler,
    context: ServerContext,
    transport: str | None,
    refusal: AccessRefused,
) -> None:
    """Send, count and log ``refusal``; the log names the client id, never the key."""
    client_id: str | None = getattr(handler, "client_id", None)
    if client_id is None:
        client_id = context.new_client_id("req")
        # The access log line of this request then carries the same id.
        setattr(handler, "client_id", client_id)
    context.access.count_refusal(refusal.kind)
    if transport is not None:
        context.stats.transport(transport).count_refusal(refusal.kind)
    context.access.log.log(
        logging.INFO,
        refusal.kind,
        "refused %s %s from %s with %d: %s",
        client_id,
        handler.request.path,
        handler.request.remote_ip,
        refusal.status,
        refusal,
    )

    handler.set_status(refusal.status)
    if refusal.status == 401:
        handler.set_header("WWW-Authenticate", 'Bearer realm="ticker"')
    handler.set_header("Content-Type", "application/json; charset=UTF-8")
    handler.set_header("Cache-Control", "no-store")
    handler.finish(json.dumps(refusal.body))


def allow_cross_origin(handler: tornado.web.RequestHandler, access: AccessControl) -> None:
    """Add the CORS headers that let the request's Origin read the response, if it is allowed."""
    if not access.config.cors_origins:
        return
    handler.set_header("Vary", "Origin")
    origin = handler.request.headers.get("Origin")
    if origin is not None and access.cors_origin_allowed(origin):
        handler.set_header("Access-Control-Allow-Origin", origin)
        handler.set_header("Access-Control-Expose-Headers", EXPOSED_HEADERS)


def answer_preflight(handler: tornado.web.RequestHandler, context: ServerContext) -> None:
    """Respond to an ``OPTIONS`` request: 204 for an allowed origin, else 403 naming the origin."""
    origin = handler.request.headers.get("Origin")
    handler.set_header("Allow", "GET, OPTIONS")
    if origin is not None and not context.access.cors_origin_allowed(origin):
        refuse(
            handler,
            context,
            None,
            AccessRefused(
                403,
                REFUSED_CORS,
                f"cross-origin requests from {origin[:100]} are not allowed; the server's "
                "operator can add the origin to access.cors_origins",
            ),
        )
        return
    allow_cross_origin(handler, context.access)
    if origin is not None:
        handler.set_header("Access-Control-Allow-Methods", "GET, OPTIONS")
        handler.set_header("Access-Control-Allow-Headers", "Authorization, Last-Event-ID")
        handler.set_header("Access-Control-Max-Age", str(PREFLIGHT_MAX_AGE_SECONDS))
    handler.set_status(204)
    handler.finish()
