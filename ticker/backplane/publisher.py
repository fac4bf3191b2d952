"""The feed side: append the batches of the feed's hub to the Redis stream.

``StreamPublisher`` subscribes to the hub like a transport. ``deliver`` only queues the batch
(the hub never waits for Redis). One task appends the queue to the stream in as few entries as
possible, so the batches queued while one append was in flight go out together. While Redis is
unreachable the queue holds ``max_pending`` batches at most. Past that the oldest batch
is dropped, and nodes see the gap in the seqs and declare it to their clients with a reset.
"""

from __future__ import annotations

import asyncio
import collections
import logging

import redis.asyncio

from ticker.backplane.connection import Outage, RedisError
from ticker.backplane.lock import FeedLock
from ticker.backplane.stream import encode_batch
from ticker.hub import Batch, Selection
from ticker.ratelimit_log import RateLimitedLog

logger = logging.getLogger("ticker.backplane.publisher")

MAX_TICKS_PER_ENTRY = 500
"""Ticks in one stream entry at most, so that a node catching up never gets one huge batch."""

class StreamPublisher:
    """Appends the hub's batches to ``stream``, trimmed to about ``max_length`` entries."""

    def __init__(
        self,
        client: redis.asyncio.Redis,
        stream: str,
        epoch: str,
        max_length: int,
        max_pending: int,
        lock: FeedLock | None = None,
    ):
        self.client = client
        self.lock = lock
        """Renewed before the first append after Redis was lost, so that a feed whose lock
        expired meanwhile and was taken by another never appends again."""
        self.stream = stream
        self.epoch = epoch
        self.max_length = max_length
        # deliver() drops the oldest batch itself, to count and log it, before maxlen would.
        self.pending: collections.deque[Batch] = collections.deque(maxlen=max_pending)
        self.max_pending = max_pending
        self.appended_batches = 0
        self.dropped_ticks = 0
        """Ticks that never reached the stream because the queue was full while Redis was away."""
        self.outage = Outage(logger)
        self._wake = asyncio.Event()
        self._drop_log = RateLimitedLog(logger)

    # The hub's Subscriber interface.

    def deliver(self, batch: Batch, selection: Selection) -> None:
        if len(self.pending) >= self.max_pending:
            dropped = self.pending.popleft()
            self.dropped_ticks += len(dropped.ticks)
            self._drop_log.log(
                logging.WARNING,
                "queue-full",
                "backplane queue full (%d batches): dropped seq %d-%d; nodes will declare a gap",
                self.max_pending,
                dropped.ticks[0].seq,
                dropped.cursor,
            )
        self.pending.append(batch)
        self._wake.set()

    def hub_closed(self) -> None:
        self._wake.set()

    # The task that writes to Redis.

    async def run(self) -> None:
        """Append queued batches as they come; reconnect with backoff when Redis is lost.

        Runs until cancelled; raises FeedLockHeld when another feed took the lock while Redis
        was unreachable. A batch may be appended twice when a connection breaks after
        Redis stored it but before the reply came; nodes skip seqs they already have.
        """
        while True:
            if not self.pending:
                self._wake.clear()
                await self._wake.wait()
                continue
            batches = list(self.pending)
            try:
                await self._append(batches)
            except RedisError as exc:
                consequence = "queueing up to %d batches, reconnecting"
                await self.outage.retry_later(exc, consequence, self.max_pending)
                continue
            self.outage.end("appended %d queued batches", len(batches))
            # deliver may have dropped old batches while the append was in flight.
            last = batches[-1].cursor
            while self.pending and self.pending[0].cursor <= last:
                self.pending.popleft()

    async def flush(self) -> None:
        """Append what is queued, once; for an orderly stop. Raises RedisError on failure."""
        if self.pending:
            await self._append(list(self.pending))
            self.pending.clear()

    async def _append(self, batches: list[Batch]) -> None:
        if self.outage.ongoing and self.lock is not None:
            await self.lock.renew()
        # The queued batches go out as few entries as possible: a node then reads and fans out
        # one batch where the feed published several, which costs it less per tick.
        ticks = [tick for batch in batches for tick in batch.ticks]
        pipeline = self.client.pipeline(transaction=False)
        for start in range(0, len(ticks), MAX_TICKS_PER_ENTRY):
            fields = encode_batch(self.epoch, ticks[start : start + MAX_TICKS_PER_ENTRY])
            pipeline.xadd(
                self.stream,
                fields,  # type: ignore[arg-type]
                maxlen=self.max_length,
                approximate=True,
            )
        await pipeline.execute()
        self.appended_batches += len(batches)
