"""The Redis client of the backplane: one place for its options, errors and log-safe URL.

Importing this module imports redis-py, which the ``redis`` extra installs; call
``ticker.backplane.require_redis`` first to turn a missing package into a clear error.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from ticker.backplane import BackplaneError
from ticker.clients.reconnect import backoff_delay

CONNECT_TIMEOUT = 3.0
"""Seconds to wait for Redis to accept a connection."""
READ_BLOCK = 1.0
"""Seconds a node's XREAD waits for new entries before asking again."""
REPLY_TIMEOUT = READ_BLOCK + 5.0
"""Seconds without a reply after which the connection counts as lost."""
RETRY_BASE_DELAY = 0.1
RETRY_MAX_DELAY = 5.0
"""Seconds between attempts to reach Redis again: exponential from the base up to the max."""

__all__ = [
    "BackplaneError",
    "Outage",
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
    """Raise BackplaneError naming the URL when Redis does not respond to a PING."""
    try:
        await client.ping()
    except RedisError as exc:
        raise BackplaneError(
            f"cannot reach the backplane at {describe_url(url)}: {exc}; "
            "start Redis there or fix --backplane / [backplane] url"
        ) from None


class Outage:
    """One stretch of time without Redis: logged once, retried with backoff, end logged."""

    def __init__(self, logger: logging.Logger):
        self.logger = logger
        self.since: float | None = None
        """When Redis stopped responding (``time.monotonic``), or None while it responds."""
        self.attempt = 0

    @property
    def ongoing(self) -> bool:
        return self.since is not None

    async def retry_later(self, exc: Exception, consequence: str, *args: object) -> None:
        """Log the first failure at WARNING (``consequence % args`` describes what happens
        meanwhile) and later ones at DEBUG, then wait the backoff before the next attempt."""
        if self.since is None:
            self.since = time.monotonic()
            self.logger.warning("lost the backplane: %s; " + consequence, exc, *args)
        else:
            self.logger.debug("backplane still unreachable: %s", exc)
        await asyncio.sleep(
            backoff_delay(self.attempt, RETRY_BASE_DELAY, RETRY_MAX_DELAY, random.random)
        )
        self.attempt += 1

    def end(self, outcome: str, *args: object) -> None:
        """Log how long Redis was away and ``outcome % args``, if it was away."""
        self.attempt = 0
        if self.since is not None:
            self.logger.info(
                "backplane reachable again after %.1f s; " + outcome,
                time.monotonic() - self.since,
                *args,
            )
            self.since = None
