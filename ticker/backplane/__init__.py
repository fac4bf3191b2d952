"""A Redis Streams backplane: one feed process publishes, every server node consumes.

``ticker feed --backplane URL`` numbers the ticks and appends each batch to a Redis stream
(``publisher``); ``ticker serve --backplane URL`` nodes read that stream into their own hub
(``node``), so that seqs, epochs and cursors are the same on every node. ``stream`` holds the
entry format, ``connection`` the Redis client set-up.
"""

from __future__ import annotations

import importlib.util

from ticker.errors import ConfigError


class BackplaneError(Exception):
    """The backplane cannot be used: Redis is unreachable or the stream belongs to another feed."""


def require_redis() -> None:
    """Raise ConfigError, naming the extra to install, when redis-py is missing."""
    if importlib.util.find_spec("redis") is None:
        raise ConfigError(
            "the backplane needs the redis package; install it with: pip install 'ticker[redis]'"
        )
