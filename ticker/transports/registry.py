"""Find transport plug-ins through the ``ticker.transports`` entry-point group.

The built-in transports are registered in ticker's own ``pyproject.toml``, the same way a
third-party package registers its own.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from importlib.metadata import entry_points

from ticker.errors import ConfigError
from ticker.transports.base import ENTRY_POINT_GROUP, Transport

logger = logging.getLogger("ticker.transports")

NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")


def discover_transports() -> dict[str, Transport]:
    """Load every registered transport, by name.

    Raises ConfigError when an entry point does not load, is not a Transport, has an invalid
    name or repeats a name, and when none is registered (ticker is not installed).
    """
    found: dict[str, Transport] = {}
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        where = f"entry point {entry_point.name!r} ({entry_point.value})"
        try:
            transport = entry_point.load()
        except Exception as exc:
            raise ConfigError(f"transport {where} failed to load: {exc}") from exc
        if not isinstance(transport, Transport):
            raise ConfigError(
                f"transport {where} is a {type(transport).__name__}, expected a "
                "ticker.transports.base.Transport"
            )
        validate_transport(transport, where)
        if transport.name in found:
            raise ConfigError(f"transport {where} repeats the name {transport.name!r}")
        found[transport.name] = transport
    if not found:
        raise ConfigError(
            f"no transports registered in the entry-point group {ENTRY_POINT_GROUP!r}; "
            "install ticker with pip (pip install -e . from a checkout)"
        )
    return found


def validate_transport(transport: Transport, where: str) -> None:
    if not NAME_PATTERN.fullmatch(transport.name):
        raise ConfigError(
            f"transport {where} has the invalid name {transport.name!r}; expected 1 to 32 "
            "lower-case letters, digits and '-'"
        )
    if not transport.browser_module.is_file():
        raise ConfigError(
            f"transport {where} declares the browser module {transport.browser_module}, "
            "which is not a file"
        )


def select_transports(
    available: dict[str, Transport], enabled: Iterable[str], source: str
) -> list[Transport]:
    """Return the enabled transports in config order; raise ConfigError naming an unknown one."""
    selected = []
    for index, name in enumerate(enabled):
        if name not in available:
            raise ConfigError(
                f"{source}: transports.enabled[{index}]: unknown transport {name!r}; "
                f"available: {', '.join(available)}"
            )
        selected.append(available[name])
    return selected
