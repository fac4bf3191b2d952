"""Parsing of the request values that several transports share.

Each function raises InvalidRequest with a message that names the value and states what is
expected; the transports turn that into a 400 response or a WebSocket error message.
"""

from __future__ import annotations

import re

from ticker.errors import InvalidRequest
from ticker.hub import Hub, Symbols

ALL_SYMBOLS = "*"
MAX_CURSOR_DIGITS = 30
_CURSOR = re.compile(r"[0-9]+")
# Plain decimal seconds: no sign, exponent, underscore, nan or inf, which float() would accept.
_SECONDS = re.compile(r"[0-9]+(\.[0-9]*)?|\.[0-9]+")


def parse_symbols(raw: str | None, hub: Hub) -> Symbols:
    """Parse a comma-separated ``symbols`` parameter; None, ``""`` or ``*`` mean all."""
    if raw is None or raw.strip() in ("", ALL_SYMBOLS):
        return None
    names = [name.strip() for name in raw.split(",")]
    if any(not name for name in names):
        raise InvalidRequest(
            f"invalid symbols {raw!r}: expected comma-separated symbols such as AAPL,MSFT"
        )
    return hub.validate_symbols(names)


def parse_symbol_list(value: object, hub: Hub) -> Symbols:
    """Parse the ``symbols`` list of a WebSocket message; ``["*"]`` means all."""
    if not isinstance(value, list) or not value:
        raise InvalidRequest(
            f'invalid symbols {value!r}: expected a non-empty list such as ["AAPL", "MSFT"]'
        )
    for name in value:
        if not isinstance(name, str):
            raise InvalidRequest(f"invalid symbol {name!r}: expected a string such as \"AAPL\"")
    if ALL_SYMBOLS in value:
        return None
    return hub.validate_symbols(value)


def parse_cursor(raw: str | None) -> int | None:
    """Parse the ``cursor`` parameter: a seq of 0 or more, or None when absent."""
    return _parse_count(raw, "cursor", "the integer seq of the last tick seen, 0 or more")


def parse_timeout(raw: str | None, default: float, maximum: float) -> float:
    """Parse the ``timeout`` parameter in seconds; clamp it to ``maximum``."""
    if raw is None:
        return default
    if not _SECONDS.fullmatch(raw):
        raise InvalidRequest(
            f"invalid timeout {raw[:40]!r}: expected seconds as a plain number of 0 or more, "
            f"such as 25 or 0.5 (0 answers at once, more than {maximum:g} is clamped)"
        )
    return min(float(raw), maximum)


def parse_symbols_version(raw: str | None) -> int | None:
    """Parse the ``symbols_version`` parameter: the version of the symbol list a client has."""
    return _parse_count(
        raw, "symbols_version", "the integer version from /api/symbols or an earlier response"
    )


def _parse_count(raw: str | None, name: str, expected: str) -> int | None:
    """Parse a whole number of 0 or more with at most MAX_CURSOR_DIGITS digits, or None."""
    if raw is None:
        return None
    if not _CURSOR.fullmatch(raw) or len(raw) > MAX_CURSOR_DIGITS:
        raise InvalidRequest(
            f"invalid {name} {raw[:40]!r}: expected {expected}, "
            f"with at most {MAX_CURSOR_DIGITS} digits"
        )
    return int(raw)
