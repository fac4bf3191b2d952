"""The feed lock: a Redis key with an expiry that only one feed per stream may hold.

The key's value is the owner's epoch. The owner renews the expiry while it runs; a feed that
stops without releasing it (killed, or cut off from Redis) loses it once ``ttl`` passes.
"""

from __future__ import annotations

import redis.asyncio

LOCK_TTL = 10.0
"""Seconds a lock lasts without renewal; a killed feed's successor waits at most this long."""

# Renew the expiry if the key is ours, take it again if it vanished (Redis lost its data or the
# key expired while Redis was unreachable), and report failure if another feed owns it.
RENEW_SCRIPT = """
local owner = redis.call('GET', KEYS[1])
if owner == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not owner then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""

RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class FeedLockHeld(Exception):
    """Another feed owns the stream; the message names the key and what to do."""


class FeedLock:
    """The lock on ``key`` for the feed whose epoch is ``owner``."""

    def __init__(self, client: redis.asyncio.Redis, key: str, owner: str, ttl: float = LOCK_TTL):
        self.client = client
        self.key = key
        self.owner = owner
        self.ttl = ttl

    @property
    def ttl_ms(self) -> int:
        return max(1, round(self.ttl * 1000))

    async def acquire(self) -> None:
        """Take the lock; raise FeedLockHeld when another feed owns it."""
        if await self.client.set(self.key, self.owner, nx=True, px=self.ttl_ms):
            return
        holder: str | None = await self.client.get(self.key)  # type: ignore[assignment]
        remaining_ms = await self.client.pttl(self.key)
        raise FeedLockHeld(
            f"another feed (epoch {holder}) is publishing to this stream: it owns the lock "
            f"key {self.key!r} ({max(0, remaining_ms) / 1000:.1f} s left, renewed while that "
            f"feed runs, gone within {self.ttl:g} s of it stopping). Stop the other feed, or "
            "give this one another [backplane] stream"
        )

    async def renew(self) -> None:
        """Extend the expiry; raise FeedLockHeld when another feed took the lock meanwhile."""
        renewed = await self.client.eval(RENEW_SCRIPT, 1, self.key, self.owner, self.ttl_ms)
        if not renewed:
            holder: str | None = await self.client.get(self.key)  # type: ignore[assignment]
            raise FeedLockHeld(
                f"lost the lock key {self.key!r} to another feed (epoch {holder}) while Redis "
                "was unreachable; this feed stops so that only one feed numbers the ticks"
            )

    async def release(self) -> None:
        """Delete the key if it is still ours, so that a successor need not wait."""
        await self.client.eval(RELEASE_SCRIPT, 1, self.key, self.owner)
