"""The Redis client of the backplane: one place for its options, errors and log-safe URL.

Importing this module imports redis-py, which the ``redis`` extra installs; call
``ticker.backplane.require_redis`` first to turn a missing package into a clear error.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from ticker.backplane import BackplaneError

CONNECT_TIMEOUT = 3.0
"""Seconds to wait for Redis to accept a connection."""
READ_BLOCK = 1.0
"""Seconds a node's XREAD waits for new entries before asking again."""
REPLY_TIMEOUT = READ_BLOCK + 5.0
"""Seconds without a reply after which the connection counts as lost."""

__all__ = [
    "BackplaneError",
    "RedisError",
    "check_reachable",
    "connect",
    "describe_url",
]


def describe_url(url: str) -> str:
    """Return ``url`` with any password replaced by ``***``, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def connect(url: str) -> redis.asyncio.Redis:
    """Return a client for ``url`` that fails at once instead of retrying on its own.

    The publisher and the node have their own reconnect loops, which log once and back off,
    so redis-py's built-in retries are turned off.
    """
    client: redis.asyncio.Redis = redis.asyncio.Redis.from_url(
        url,
        decode_responses=True,
        retry=Retry(NoBackoff(), 0),
        socket_connect_timeout=CONNECT_TIMEOUT,
        socket_timeout=REPLY_TIMEOUT,
    )
    return client


async def check_reachable(client: redis.asyncio.Redis, url: str) -> None:
    """Raise BackplaneError naming the URL when Redis does not answer a PING."""
    try:
        await client.ping()
    except RedisError as exc:
        raise BackplaneError(
            f"cannot reach the backplane at {describe_url(url)}: {exc}; "
            "start Redis there or fix --backplane / [backplane] url"
        ) from None
