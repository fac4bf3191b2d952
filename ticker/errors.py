"""Exceptions and close reasons shared by the core and the transports."""

from __future__ import annotations


class TickerError(Exception):
    """Base class of the errors this package raises on purpose."""


class ConfigError(TickerError):
    """The configuration is invalid; the message names the file, the key and what is expected."""


class InvalidRequest(TickerError):
    """A client sent a value the server cannot use; the message names the value and the fix."""


class LimitExceeded(InvalidRequest):
    """A request is over a configured limit; ``kind`` names the limit in the counters."""

    def __init__(self, message: str, kind: str):
        super().__init__(message)
        self.kind = kind


class NotEntitled(InvalidRequest):
    """A client asked for symbols outside its API key's entitlement (HTTP 403)."""

    MAX_NAMED = 10
    """Symbols named at most, so that a huge request cannot flood the response or the log."""

    def __init__(self, symbols: list[str]) -> None:
        self.symbols = [symbol[:16] for symbol in symbols[: self.MAX_NAMED]]
        more = f" and {len(symbols) - self.MAX_NAMED} more" if len(symbols) > self.MAX_NAMED else ""
        super().__init__(
            f"not entitled to {', '.join(self.symbols)}{more}: this API key does not cover "
            f"{'that symbol' if len(symbols) == 1 else 'those symbols'}; ask for symbols it covers"
        )


class HubFull(TickerError):
    """The hub already has ``server.max_clients`` subscriptions."""


# WebSocket close codes (RFC 6455, section 7.4.1) and the reasons sent with them.
CLOSE_GOING_AWAY = 1001
CLOSE_POLICY_VIOLATION = 1008
CLOSE_MESSAGE_TOO_BIG = 1009
CLOSE_SERVICE_RESTART = 1012
CLOSE_TRY_AGAIN_LATER = 1013

REASON_SHUTDOWN = "server shutting down"
REASON_FEED_RESTARTED = "the feed restarted or its ticks have a gap; resume to get a reset"
REASON_SLOW_CONSUMER = "client too slow: {pending} messages pending"
REASON_STALLED = "client too slow: nothing read for {seconds:g} s"
REASON_ADDRESS_LIMIT = "too many {transport} connections from {address}: the limit is {limit}"
REASON_SERVER_FULL = "server full: {limit} clients connected, try again later"
REASON_CLIENT_CLOSED = "closed by client"

# Kinds of refusal and disconnect, as the counters name them.
REFUSED_SERVER_FULL = "server_full"
REFUSED_ADDRESS_LIMIT = "address_limit"
REFUSED_TOO_MANY_SYMBOLS = "too_many_symbols"
REFUSED_BAD_REQUEST = "bad_request"
REFUSED_SHUTDOWN = "shutdown"
DISCONNECTED_CLIENT = "client"
DISCONNECTED_SLOW = "slow_consumer"
DISCONNECTED_SHUTDOWN = "shutdown"
DISCONNECTED_LOST = "lost"
DISCONNECTED_RESTART = "feed_restart"
