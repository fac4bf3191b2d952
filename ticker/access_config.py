"""The ``[access]`` section of ``config.toml``: API keys, their entitlements and allowed origins.

A key's secret comes from exactly one of three sources, so that secrets need not be committed
with the config: ``key`` (in the file), ``key_env`` (the name of an environment variable) or
``key_file`` (a file whose stripped content is the key). A relative ``key_file`` is relative to
the config file's directory.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ticker.errors import ConfigError
from ticker.params import ALL_SYMBOLS

ANY_ORIGIN = "*"
KEY_PATTERN = re.compile(r"[A-Za-z0-9._~+/=-]{16,256}")
"""Printable characters that survive a header and a query string; 16 at least against guessing."""
KEY_NAME_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,64}")

Fail = Callable[[str, str], ConfigError]
"""Build the error for a key and a problem, such as ``access.keys[0].symbols``."""


@dataclass(frozen=True)
class ApiKey:
    name: str
    """Label of the key in logs and metrics; the secret itself is never logged."""
    secret: str = field(repr=False)
    symbols: frozenset[str] | None = None
    """Symbols the key may receive; None means every configured symbol."""


@dataclass(frozen=True)
class AccessConfig:
    enabled: bool = False
    """Require an API key on the market-data endpoints and transports."""
    keys: tuple[ApiKey, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    """WebSocket origins accepted besides the server's own; ``*`` accepts any."""
    cors_origins: tuple[str, ...] = ()
    """Origins whose pages may read HTTP responses (CORS); ``*`` allows any."""


def parse_access(table: Any, symbols: tuple[str, ...], source: str, fail: Fail) -> AccessConfig:
    """Validate the ``[access]`` table; ``symbols`` are the configured ones.

    Raises the ConfigError that ``fail`` builds, naming the key, for every invalid value, for a
    ``key_env`` that is not set and for a ``key_file`` that cannot be read.
    """
    if not isinstance(table, dict):
        raise fail("access", "expected a table [access]")
    known = ["enabled", "keys", "allowed_origins", "cors_origins"]
    for key in table:
        if key not in known:
            raise fail(f"access.{key}", f"unknown key; expected one of: {', '.join(known)}")

    enabled = table.get("enabled", False)
    if not isinstance(enabled, bool):
        raise fail("access.enabled", f"expected true or false, got {enabled!r}")
    base_dir = Path(source).parent
    keys = _parse_keys(table.get("keys", []), symbols, base_dir, fail)
    if enabled and not keys:
        raise fail(
            "access.keys",
            "missing; add at least one [[access.keys]] table or set access.enabled = false",
        )
    return AccessConfig(
        enabled=enabled,
        keys=keys,
        allowed_origins=_parse_origins(table.get("allowed_origins", []), "access.allowed_origins", fail),
        cors_origins=_parse_origins(table.get("cors_origins", []), "access.cors_origins", fail),
    )


def _parse_keys(
    entries: Any, symbols: tuple[str, ...], base_dir: Path, fail: Fail
) -> tuple[ApiKey, ...]:
    if not isinstance(entries, list):
        raise fail("access.keys", "expected [[access.keys]] tables")
    keys: list[ApiKey] = []
    for index, entry in enumerate(entries):
        prefix = f"access.keys[{index}]"
        if not isinstance(entry, dict):
            raise fail(prefix, "expected an [[access.keys]] table")
        known = ["name", "key", "key_env", "key_file", "symbols"]
        for key in entry:
            if key not in known:
                raise fail(f"{prefix}.{key}", f"unknown key; expected one of: {', '.join(known)}")

        name = entry.get("name")
        if not isinstance(name, str) or not KEY_NAME_PATTERN.fullmatch(name):
            raise fail(
                f"{prefix}.name",
                f"expected 1 to 64 characters of A-Z, a-z, 0-9, '_', '.' and '-', got {name!r}",
            )
        if any(other.name == name for other in keys):
            raise fail(f"{prefix}.name", f"duplicate key name {name!r}")
        secret = _read_secret(entry, prefix, base_dir, fail)
        for other in keys:
            if other.secret == secret:
                raise fail(prefix, f"the same key as the one named {other.name!r}; use distinct keys")
        keys.append(ApiKey(name, secret, _parse_entitlement(entry, prefix, symbols, fail)))
    return tuple(keys)


def _read_secret(entry: Mapping[str, Any], prefix: str, base_dir: Path, fail: Fail) -> str:
    sources = [key for key in ("key", "key_env", "key_file") if key in entry]
    if len(sources) != 1:
        raise fail(prefix, "expected exactly one of key, key_env and key_file")
    source = sources[0]
    value = entry[source]
    if not isinstance(value, str) or not value:
        raise fail(f"{prefix}.{source}", "expected a non-empty string")

    if source == "key_env":
        secret = os.environ.get(value)
        if secret is None:
            raise fail(f"{prefix}.key_env", f"the environment variable {value} is not set")
        secret = secret.strip()
    elif source == "key_file":
        path = base_dir / value
        try:
            secret = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise fail(f"{prefix}.key_file", f"cannot read {path}: {exc.__class__.__name__}") from None
    else:
        secret = value
    # The message never quotes the secret, since check-config output may end up in a log.
    if not KEY_PATTERN.fullmatch(secret):
        raise fail(
            f"{prefix}.{source}",
            f"invalid key of {len(secret)} characters: expected 16 to 256 characters of "
            "A-Z, a-z, 0-9 and ._~+/=- (for example the output of: openssl rand -hex 24)",
        )
    return secret


def _parse_entitlement(
    entry: Mapping[str, Any], prefix: str, symbols: tuple[str, ...], fail: Fail
) -> frozenset[str] | None:
    value = entry.get("symbols")
    if value is None:
        raise fail(f"{prefix}.symbols", 'missing; list the symbols the key may see, or ["*"] for all')
    if not isinstance(value, list) or not value or not all(isinstance(s, str) for s in value):
        raise fail(f"{prefix}.symbols", 'expected a non-empty array of symbols such as ["AAPL"]')
    if ALL_SYMBOLS in value:
        return None
    for index, symbol in enumerate(value):
        if symbol not in symbols:
            raise fail(
                f"{prefix}.symbols[{index}]",
                f"unknown symbol {symbol!r}; configured symbols: {', '.join(symbols)}",
            )
    return frozenset(value)


def _parse_origins(value: Any, key: str, fail: Fail) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise fail(key, 'expected an array of origins such as ["https://example.com"]')
    for index, origin in enumerate(value):
        if origin == ANY_ORIGIN:
            continue
        parts = urlsplit(origin)
        if (
            parts.scheme not in ("http", "https")
            or not parts.netloc
            or origin != f"{parts.scheme}://{parts.netloc}"
            or origin != origin.lower()
        ):
            raise fail(
                f"{key}[{index}]",
                f"invalid origin {origin!r}: expected lower-case scheme://host[:port] with no "
                'path or trailing slash, such as "https://example.com", or "*" for any origin',
            )
    return tuple(value)
