"""The node side: read the stream into the local hub, so every node serves the same seqs.

At start the node back-fills its hub from the newest entries (XREVRANGE), then follows the
stream with a blocking XREAD. Each entry goes to ``Hub.publish_numbered`` with the feed's seqs.
A new epoch in the stream (the feed restarted) or a hole in the seqs (entries trimmed or dropped
while this node was cut off) restarts the hub, which sends every client a reset when it resumes.
When Redis is lost the node keeps serving what its hub holds, logs once and reconnects with
backoff; it then reads on from the last entry it applied.
"""

from __future__ import annotations

import asyncio
import logging

import redis.asyncio

from ticker.backplane.connection import READ_BLOCK, Outage, RedisError
from ticker.backplane.stream import MalformedEntry, StreamBatch, decode_entry
from ticker.hub import Hub

logger = logging.getLogger("ticker.backplane.node")

READ_COUNT = 1000
"""Entries one XREAD returns at most, so that a node catching up never takes one huge reply."""
STREAM_START = "0-0"

Entry = tuple[str, dict[str, str]]
"""A stream entry as redis-py returns it: the id and the fields."""


class StreamFollower:
    """Applies stream entries to ``hub`` in order; the part of a node that needs no Redis."""

    def __init__(self, hub: Hub):
        self.hub = hub
        self.last_entry_id = STREAM_START
        self.gaps = 0
        self.epoch_changes = 0

    def apply(self, batch: StreamBatch) -> None:
        """Publish ``batch`` into the hub; restart the hub first for a new epoch or a gap.

        Seqs the hub already contains (a batch appended twice) are skipped.
        """
        hub = self.hub
        ticks = batch.ticks
        if batch.epoch != hub.epoch:
            if hub.last_seq:
                logger.info(
                    "the feed started epoch %s (was %s at seq %d); clients get a reset",
                    batch.epoch,
                    hub.epoch,
                    hub.last_seq,
                )
            self.epoch_changes += 1
            hub.restart(batch.epoch, batch.first_seq - 1)
        else:
            ticks = [tick for tick in ticks if tick.seq > hub.last_seq]
            if not ticks:
                self.last_entry_id = batch.entry_id
                return
            if ticks[0].seq != hub.last_seq + 1:
                logger.warning(
                    "missed seq %d-%d of epoch %s; declaring the gap to clients with a reset",
                    hub.last_seq + 1,
                    ticks[0].seq - 1,
                    hub.epoch,
                )
                self.gaps += 1
                hub.restart(hub.epoch, ticks[0].seq - 1)
        hub.publish_numbered(ticks)
        self.last_entry_id = batch.entry_id

    def apply_entry(self, entry_id: str, fields: dict[str, str]) -> None:
        """Decode and apply one entry; log and skip one that is not a ticker batch."""
        try:
            batch = decode_entry(entry_id, fields)
        except MalformedEntry as exc:
            logger.error("%s; skipped", exc)
            self.last_entry_id = entry_id
            return
        self.apply(batch)


def newest_run(batches: list[StreamBatch]) -> list[StreamBatch]:
    """Return the newest batches of ``batches`` (oldest first) that form one run without a gap.

    The run ends at the newest batch and goes back while the epoch stays and the seqs
    join, so that a back-filled hub never has a hole.
    """
    if not batches:
        return []
    start = len(batches) - 1
    while start > 0:
        older, newer = batches[start - 1], batches[start]
        if older.epoch != newer.epoch or older.last_seq + 1 != newer.first_seq:
            break
        start -= 1
    return batches[start:]


class BackplaneNode:
    """Follows ``stream`` on ``client`` into ``hub``; ``history_entries`` entries are back-filled."""

    def __init__(self, client: redis.asyncio.Redis, stream: str, hub: Hub, history_entries: int):
        self.client = client
        self.stream = stream
        self.follower = StreamFollower(hub)
        self.history_entries = history_entries
        self.outage = Outage(logger)
        self._applied = asyncio.Event()
        """Set, and replaced by a fresh event, each time a read has applied entries."""
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """Whether the task that follows the stream is alive (Redis may be unreachable)."""
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Back-fill the hub and start following; raises RedisError when Redis fails.

        With an empty stream it waits for the feed's first batch, because before that the node
        has no epoch that its clients could resume in on another node.
        """
        await self.backfill()
        if self.follower.hub.last_seq == 0:
            logger.info("stream %r is empty; waiting for the feed's first batch", self.stream)
            while self.follower.hub.last_seq == 0:
                await self._read()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="ticker-backplane")

    async def backfill(self) -> None:
        # decode_responses makes every id, field and value a str.
        entries: list[Entry] = await self.client.xrevrange(  # type: ignore[assignment]
            self.stream, count=self.history_entries
        )
        batches: list[StreamBatch] = []
        for entry_id, fields in reversed(entries):
            try:
                batches.append(decode_entry(entry_id, fields))
            except MalformedEntry as exc:
                logger.error("%s; back-fill starts after it", exc)
                batches.clear()
        run = newest_run(batches)
        for batch in run:
            self.follower.apply(batch)
        if entries:
            self.follower.last_entry_id = entries[0][0]
        hub = self.follower.hub
        logger.info(
            "back-filled seq %d-%d of epoch %s from %d stream entries",
            hub.first_seq,
            hub.last_seq,
            hub.epoch,
            len(run),
        )

    async def stop(self) -> None:
        """Stop following and close the Redis connection; idempotent."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        await self.client.aclose()

    async def _run(self) -> None:
        hub = self.follower.hub
        while True:
            try:
                await self._read()
            except RedisError as exc:
                held = hub.last_seq - hub.first_seq + 1
                await self.outage.retry_later(exc, "serving the %d ticks held, reconnecting", held)
                continue
            self.outage.end("reading on after entry %s", self.follower.last_entry_id)

    async def _read(self) -> None:
        """Wait up to READ_BLOCK for new entries and apply them; raises RedisError."""
        reply: list[tuple[str, list[Entry]]] = await self.client.xread(  # type: ignore[assignment]
            {self.stream: self.follower.last_entry_id},
            count=READ_COUNT,
            block=round(READ_BLOCK * 1000),
        )
        for _stream, entries in reply:
            for entry_id, fields in entries:
                try:
                    self.follower.apply_entry(entry_id, fields)
                except Exception:
                    logger.exception("applying stream entry %s failed; skipped", entry_id)
                    self.follower.last_entry_id = entry_id
        if reply:
            applied, self._applied = self._applied, asyncio.Event()
            applied.set()

    async def catch_up(self, epoch: str, cursor: int, timeout: float) -> None:
        """Wait until the hub has seq ``cursor`` of ``epoch``, its epoch changes, or ``timeout``.

        Another node may have read the stream a little sooner and given a client this cursor
        already. Without the wait, this node would take the cursor for one ahead of its newest
        seq and respond with a reset.
        """
        hub = self.follower.hub
        deadline = asyncio.get_running_loop().time() + timeout
        while hub.epoch == epoch and hub.last_seq < cursor:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return
            try:
                await asyncio.wait_for(self._applied.wait(), remaining)
            except TimeoutError:
                return
