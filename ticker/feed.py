"""The feed: each symbol updates at its own random times, and due updates go out as one batch.

``Arrivals`` decides when each symbol updates, and a price source (``SimulatedPrices`` or
``ReplayPrices``) decides the price and quote. Both are pure. ``Feed`` is the coroutine that ties
them to the event loop and the hub, and takes symbol changes while it runs.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Sequence
from typing import Protocol

from ticker.prices.arrivals import Arrivals
from ticker.config import Config, SymbolConfig
from ticker.hub import Hub, PriceUpdate, Quote
from ticker.prices.replay import ReplayPrices
from ticker.prices.simulated import SimulatedPrices

logger = logging.getLogger("ticker.feed")


class PriceSource(Protocol):
    """A source of the feed's prices; ``elapsed`` is seconds since the feed started."""

    mode: str
    """``simulated`` or ``replay``, as in ``feed.mode``."""

    def add(self, entry: SymbolConfig) -> None: ...

    def remove(self, symbol: str) -> None: ...

    def reconfigure(self, entry: SymbolConfig) -> None:
        """Apply changed settings of a symbol from its next update on."""

    def update(self, symbol: str, elapsed: float) -> tuple[float, Quote] | None:
        """Return the price and quote of one update, or None when the symbol does not trade."""

    def describe(self) -> str: ...


def make_price_source(config: Config, rng: random.Random) -> PriceSource:
    """Build the price source that ``config.feed.mode`` selects."""
    if config.replay is not None:
        return ReplayPrices(
            config.replay, config.symbols, config.feed.replay_day_seconds, config.feed.seed, rng
        )
    return SimulatedPrices(config.symbols, config.feed.time_scale, rng)


class Feed:
    """Publishes every symbol's updates to the hub at the times ``Arrivals`` draws.

    Each update carries the wall-clock time it was scheduled for, so a late loop shows up as
    latency at the client. Updates that fall due in the same turn of the loop go out as one
    batch, in time order.
    """

    def __init__(
        self, hub: Hub, symbols: Sequence[SymbolConfig], source: PriceSource, rng: random.Random
    ):
        self.hub = hub
        self.source = source
        self.entries = {entry.symbol: entry for entry in symbols}
        self.arrivals = Arrivals(rng)
        self.steps = 0
        """Batches published."""
        self.skipped_steps = 0
        """Updates skipped because the loop fell a whole mean interval behind."""
        self.last_lag = 0.0
        """How late the last batch ran after its earliest scheduled time, in seconds."""
        self.started_at = 0.0
        """The loop clock's reading when the feed started."""
        self._wall_offset = 0.0
        self._task: asyncio.Task[None] | None = None
        self._waiter: asyncio.Future[None] | None = None

    @classmethod
    def from_config(cls, hub: Hub, config: Config) -> Feed:
        rng = random.Random(config.feed.seed)
        return cls(hub, config.symbols, make_price_source(config, rng), rng)

    @property
    def running(self) -> bool:
        """Whether the publishing loop is alive: started, not stopped, and not ended by an error."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start publishing on the running event loop; idempotent."""
        if self._task is not None:
            return
        loop = asyncio.get_running_loop()
        self.started_at = loop.time()
        # Deadlines are on the monotonic loop clock; ts is the same moment on the wall clock.
        self._wall_offset = time.time() - self.started_at
        for entry in self.entries.values():
            self.arrivals.add(entry.symbol, entry.mean_interval, self.started_at)
        self._task = loop.create_task(self._run(), name="ticker-feed")
        logger.info("feed started: %d symbols, %s", len(self.entries), self.source.describe())

    async def stop(self) -> None:
        """Stop publishing and wait for the loop to end; idempotent."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        logger.info(
            "feed stopped after %d batches (%d updates skipped)", self.steps, self.skipped_steps
        )

    def apply_symbols(self, symbols: Sequence[SymbolConfig]) -> None:
        """Make ``symbols`` the feed's symbols: start new ones, stop removed ones, and apply
        changed settings from each symbol's next update on.

        Raises KeyError, before changing anything, when the replay data lacks a new symbol.
        """
        new = {entry.symbol: entry for entry in symbols}
        if isinstance(self.source, ReplayPrices):
            for symbol in new:
                if symbol not in self.entries and symbol not in self.source.prices.bars:
                    raise KeyError(symbol)
        now = asyncio.get_running_loop().time() if self._task is not None else None
        for symbol in [symbol for symbol in self.entries if symbol not in new]:
            self.arrivals.remove(symbol)
            self.source.remove(symbol)
        for symbol, entry in new.items():
            previous = self.entries.get(symbol)
            if previous is None:
                self.source.add(entry)
                if now is not None:
                    self.arrivals.add(symbol, entry.mean_interval, now)
            elif previous != entry:
                self.source.reconfigure(entry)
                self.arrivals.set_mean_interval(symbol, entry.mean_interval)
        self.entries = new
        self._wake()

    def current_day(self) -> str | None:
        """Return the date being replayed, or None for a simulated feed."""
        if not isinstance(self.source, ReplayPrices) or self._task is None:
            return None
        elapsed = asyncio.get_running_loop().time() - self.started_at
        return self.source.day_at(elapsed)[0]

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                due = self.arrivals.next_due()
                delay = None if due is None else due - loop.time()
                if delay is None or delay > 0:
                    await self._sleep(delay)
                    continue  # the symbols may have changed, so look at the schedule again
                self.publish_due(loop.time())
        except Exception:
            logger.exception("feed stopped by an unexpected error after %d batches", self.steps)
            raise

    async def _sleep(self, delay: float | None) -> None:
        """Wait ``delay`` seconds, or without end when None, or until the symbols change."""
        loop = asyncio.get_running_loop()
        self._waiter = waiter = loop.create_future()
        timer = loop.call_later(delay, self._wake) if delay is not None else None
        try:
            await waiter
        finally:
            if timer is not None:
                timer.cancel()
            self._waiter = None

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def publish_due(self, now: float) -> None:
        """Publish every update due at ``now`` (loop clock) as one batch."""
        fired, skipped = self.arrivals.pop_due(now)
        if skipped:
            self.skipped_steps += skipped
            logger.warning("feed fell behind; skipped %d updates", skipped)
        if not fired:
            return
        updates = []
        for symbol, due in fired:
            result = self.source.update(symbol, due - self.started_at)
            if result is not None:
                price, quote = result
                ts = (due + self._wall_offset) * 1000.0
                updates.append(PriceUpdate(symbol, price, ts, quote))
        self.last_lag = max(0.0, now - fired[0][1])
        if updates:
            self.hub.publish(updates)
            self.steps += 1
