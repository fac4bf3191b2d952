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

from ticker.errors import REFUSED_TOO_MANY_SYMBOLS, InvalidRequest, LimitExceeded, NotEntitled
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


def parse_symbols(
    raw: str | None, hub: Hub, entitlement: Symbols = None, max_count: int | None = None
) -> Symbols:
    """Parse a comma-separated ``symbols`` parameter; None, ``""`` or ``*`` mean all.

    With an API key's ``entitlement``, "all" means all that it covers, and a symbol outside it
    raises NotEntitled. Raises LimitExceeded when it names more than ``max_count`` symbols.
    """
    if raw is None or raw.strip() in ("", ALL_SYMBOLS):
        return entitlement
    names = [name.strip() for name in raw.split(",")]
    check_count(len(names), max_count)
    if any(not name for name in names):
        raise InvalidRequest(
            f"invalid symbols {shorten(raw)}: expected comma-separated symbols such as AAPL,MSFT"
        )
    return validate_entitled(names, hub, entitlement)


def validate_entitled(names: list[str], hub: Hub, entitlement: Symbols) -> frozenset[str]:
    """Return ``names`` as a set; raise NotEntitled for names outside ``entitlement``, first.

    Checking the entitlement before the hub means a restricted key learns nothing about the
    symbols it does not cover, not even whether they exist.
    """
    if entitlement is not None:
        outside = sorted(set(names) - entitlement)
        if outside:
            raise NotEntitled(outside)
    return hub.validate_symbols(names)


def parse_symbol_list(
    value: object, hub: Hub, entitlement: Symbols = None, max_count: int | None = None
) -> Symbols:
    """Parse the ``symbols`` list of a WebSocket message; ``["*"]`` means all.

    ``entitlement`` and ``max_count`` apply as in parse_symbols.
    """
    if value is None:
        raise InvalidRequest('missing "symbols": expected a non-empty list such as ["AAPL", "MSFT"]')
    if not isinstance(value, list) or not value:
        raise InvalidRequest(
            f'invalid symbols {shorten(value)}: expected a non-empty list such as ["AAPL", "MSFT"]'
        )
    check_count(len(value), max_count)
    for name in value:
        if not isinstance(name, str):
            raise InvalidRequest(
                f'invalid symbol {shorten(name)}: expected a string such as "AAPL"'
            )
    if ALL_SYMBOLS in value:
        return entitlement
    return validate_entitled(value, hub, entitlement)


def check_count(count: int, max_count: int | None) -> None:
    if max_count is not None and count > max_count:
        raise LimitExceeded(
            f"too many symbols: {count} named, at most {max_count} per subscription; "
            "name fewer, or use * for all",
            REFUSED_TOO_MANY_SYMBOLS,
        )


def parse_cursor(raw: str | None) -> int | None:
    """Parse the ``cursor`` parameter: a seq of 0 or more, or None when absent."""
    return _parse_count(raw, "cursor", "the integer seq of the last tick seen, 0 or more")


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
            f"invalid {name} {shorten(raw)}: expected {expected}, "
            f"with at most {MAX_CURSOR_DIGITS} digits"
        )
    return int(raw)


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
