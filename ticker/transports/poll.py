"""Short-poll transport: ``GET /poll`` responds at once, and the client polls again at an interval.

It is the long-poll handler with a hold time of zero, on a route of its own so that the two
techniques are compared (and counted) separately.
"""

from __future__ import annotations

from ticker.clients.polling import short_poll_client
from ticker.context import ServerContext
from ticker.resources import web_root
from ticker.transports.base import Route, Transport
from ticker.transports.longpoll import LongPollHandler

NAME = "poll"


class PollHandler(LongPollHandler):
    """``GET /poll?cursor=N&epoch=E&symbols=A,B``: ``/long-poll`` with a hold time of zero."""

    def hold_timeout(self) -> float:
        return 0.0


def routes(context: ServerContext) -> list[Route]:
    return [(r"/poll", PollHandler, {"context": context, "transport_name": NAME})]


TRANSPORT = Transport(
    name=NAME,
    label="Short poll",
    description="The client polls at a fixed interval and the server responds at once, with "
    "the ticks since its cursor or 204.",
    routes=routes,
    browser_module=web_root() / "js" / "transports" / "poll.js",
    client=short_poll_client,
)
