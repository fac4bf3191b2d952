"""The transport plug-in interface.

A transport is one ``Transport`` object, registered under the entry-point group
``ticker.transports``. It declares its name, its URL routes, the browser module that speaks it
and, for tests and benchmarks, a Python client. It reads everything from the hub, so adding one
changes neither the hub nor any other transport.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ticker.clients.base import TransportClient
    from ticker.context import ServerContext

Route = tuple[str, Any, dict[str, Any]]
"""A Tornado URL rule: path pattern, handler class and the handler's ``initialize`` arguments."""

ENTRY_POINT_GROUP = "ticker.transports"


@dataclass(frozen=True)
class Transport:
    """One transport plug-in."""

    name: str
    """Identifier in config, URLs, stats and logs: lower-case letters, digits and ``-``."""
    label: str
    """Display name in the dashboard, such as "Server-Sent Events"."""
    description: str
    """One sentence on how the transport delivers ticks."""
    routes: Callable[[ServerContext], list[Route]]
    """Build the transport's URL rules for one server."""
    browser_module: Path
    """An ES module whose default export is a subclass of the page's ``Transport`` class."""
    client: Callable[[str], TransportClient]
    """Build a Python client for the server at a base URL such as ``http://127.0.0.1:8888``."""

    @property
    def module_url(self) -> str:
        """The URL at which the server serves ``browser_module``."""
        return f"/transports/{self.name}.js"
