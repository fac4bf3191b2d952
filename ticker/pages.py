"""Security headers of the dashboard pages, and the static file handler that sends them."""

from __future__ import annotations

import tornado.web

from ticker.http import StaticHandler

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'self'"
)
"""Only the page's own origin may supply scripts, styles, modules and connections.

``default-src 'self'`` covers ``connect-src``, which in CSP Level 3 (Chromium, Firefox) also
matches ``ws:`` and ``wss:`` to the same host and port. ``data:`` images allow the pages' empty
icon.
"""


def set_page_headers(handler: tornado.web.RequestHandler) -> None:
    """Add the CSP and the headers that keep a page's URL, which may hold a key, to itself."""
    handler.set_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    handler.set_header("X-Content-Type-Options", "nosniff")
    # A dashboard URL may carry ?key=, so no request from the page sends it on as a Referer.
    handler.set_header("Referrer-Policy", "no-referrer")


class StaticPageHandler(StaticHandler):
    """Serves ``/static/``, with the page headers on every file."""

    def set_extra_headers(self, path: str) -> None:
        set_page_headers(self)
