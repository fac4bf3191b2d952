"""Parsing of the request values and client messages that the transports read.

Each function raises InvalidRequest with a message that names the value and states what is
expected, and no other exception for any input; the transports turn that into a 400 response or
a WebSocket error message.
"""

from __future__ import annotations

import json
import re
import reprlib
from typing import Any

from ticker.errors import InvalidRequest
from ticker.hub import Hub, Symbols

ALL_SYMBOLS = "*"
MAX_CURSOR_DIGITS = 30
MAX_EPOCH_LENGTH = 64
_CURSOR = re.compile(r"[0-9]+")
_EVENT_ID = re.compile(
    rf"(?P<epoch>[^:\s]{{1,{MAX_EPOCH_LENGTH}}}):(?P<cursor>[0-9]{{1,{MAX_CURSOR_DIGITS}}})"
)
# Plain decimal seconds: no sign, exponent, underscore, nan or inf, which float() would accept.
_SECONDS = re.compile(r"[0-9]+(\.[0-9]*)?|\.[0-9]+")


def parse_symbols(raw: str | None, hub: Hub) -> Symbols:
    """Parse a comma-separated ``symbols`` parameter; None, ``""`` or ``*`` mean all."""
    if raw is None or raw.strip() in ("", ALL_SYMBOLS):
        return None
    names = [name.strip() for name in raw.split(",")]
    if any(not name for name in names):
        raise InvalidRequest(
            f"invalid symbols {shorten(raw)}: expected comma-separated symbols such as AAPL,MSFT"
        )
    return hub.validate_symbols(names)


def parse_symbol_list(value: object, hub: Hub) -> Symbols:
    """Parse the ``symbols`` list of a WebSocket message; ``["*"]`` means all."""
    if not isinstance(value, list) or not value:
        raise InvalidRequest(
            f'invalid symbols {shorten(value)}: expected a non-empty list such as ["AAPL", "MSFT"]'
        )
    for name in value:
        if not isinstance(name, str):
            raise InvalidRequest(
                f'invalid symbol {shorten(name)}: expected a string such as "AAPL"'
            )
    if ALL_SYMBOLS in value:
        return None
    return hub.validate_symbols(value)


def parse_cursor(raw: str | None) -> int | None:
    """Parse the ``cursor`` parameter: a seq of 0 or more, or None when absent."""
    if raw is None:
        return None
    if not _CURSOR.fullmatch(raw) or len(raw) > MAX_CURSOR_DIGITS:
        raise InvalidRequest(
            f"invalid cursor {shorten(raw)}: expected the integer seq of the last tick seen, "
            f"0 or more, with at most {MAX_CURSOR_DIGITS} digits"
        )
    return int(raw)


def parse_timeout(raw: str | None, default: float, maximum: float) -> float:
    """Parse the ``timeout`` parameter in seconds; clamp it to ``maximum``."""
    if raw is None:
        return default
    if not _SECONDS.fullmatch(raw):
        raise InvalidRequest(
            f"invalid timeout {shorten(raw)}: expected seconds as a plain number of 0 or more, "
            f"such as 25 or 0.5 (0 answers at once, more than {maximum:g} is clamped)"
        )
    return min(float(raw), maximum)


def parse_event_id(raw: str) -> tuple[str, int] | None:
    """Parse an SSE event id ``<epoch>:<cursor>``; return None for any other text.

    A malformed id is not an error: the stream starts with a reset instead, as for an id from
    another epoch.
    """
    match = _EVENT_ID.fullmatch(raw)
    if match is None:
        return None
    return match["epoch"], int(match["cursor"])


def parse_message(message: str | bytes) -> dict[str, Any]:
    """Parse one WebSocket message from a client into a JSON object.

    Raises InvalidRequest for a binary message, invalid JSON, JSON nested too deeply for the
    parser, and JSON that is not an object. ``NaN``, ``Infinity`` and numbers out of range count
    as invalid, because a reply that echoes such a value could not encode it as JSON.
    """
    if isinstance(message, bytes):
        raise InvalidRequest("binary messages are not supported; send JSON text")
    try:
        data = json.loads(
            message,
            parse_constant=_reject_constant,
            parse_float=_finite_float,
            parse_int=_bounded_int,
        )
    except ValueError as exc:
        raise InvalidRequest(f"invalid JSON: {exc}") from None
    except RecursionError:
        raise InvalidRequest("invalid JSON: nested too deeply; send a flat JSON object") from None
    if not isinstance(data, dict):
        raise InvalidRequest(
            f'invalid message {shorten(data)}: expected a JSON object such as '
            '{"type": "subscribe", "symbols": ["*"]}'
        )
    return data


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON; send a finite number")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"number {shorten(text)} is out of range; send a finite number")
    return value


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_CURSOR_DIGITS:
        raise ValueError(
            f"integer {shorten(text)} has more than {MAX_CURSOR_DIGITS} digits; send a smaller one"
        )
    return int(text)


def shorten(value: object, limit: int = 40) -> str:
    """Quote a client value for a message, cut so that a huge value cannot flood it.

    reprlib stops at a few levels and items, so a deep or long value costs little to quote.
    """
    text = _SHORT_REPR.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


_SHORT_REPR = reprlib.Repr()
_SHORT_REPR.maxlevel = 3
_SHORT_REPR.maxstring = 40
_SHORT_REPR.maxother = 40
