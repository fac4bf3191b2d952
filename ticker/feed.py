"""The simulated price feed: a geometric Brownian motion per symbol, published on a fixed beat.

``PriceModel`` and ``Schedule`` are pure: the random generator and the clock readings are passed
in, so tests drive them by hand. ``Feed`` is the coroutine that ties them to the event loop and
the hub.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Sequence

from ticker.config import SymbolConfig
from ticker.hub import Hub, PriceUpdate

logger = logging.getLogger("ticker.feed")

TRADING_SECONDS_PER_YEAR = 252 * 6.5 * 3600
"""Volatility and drift are annualised over trading time: 252 sessions of 6.5 hours."""

MIN_PRICE = 0.01


class PriceModel:
    """Moves each symbol's price by geometric Brownian motion, one step at a time.

    Each step multiplies the price by ``exp((drift - volatility**2 / 2) * dt + volatility *
    sqrt(dt) * z)`` with ``z`` standard normal and ``dt`` the step in years of trading time.
    The model keeps the exact price; published prices are rounded to cents and never below
    one cent, so rounding does not bias the path.
    """

    def __init__(self, symbols: Sequence[SymbolConfig], step_years: float, rng: random.Random):
        if step_years <= 0:
            raise ValueError(f"step_years must be positive, got {step_years}")
        self.symbols = tuple(symbols)
        self.step_years = step_years
        self.rng = rng
        self.prices = {entry.symbol: entry.price for entry in self.symbols}

    @classmethod
    def for_interval(
        cls,
        symbols: Sequence[SymbolConfig],
        tick_interval: float,
        time_scale: float,
        seed: int | None,
    ) -> PriceModel:
        step_years = tick_interval * time_scale / TRADING_SECONDS_PER_YEAR
        return cls(symbols, step_years, random.Random(seed))

    def step(self) -> list[tuple[str, float]]:
        """Advance every symbol by one step; return (symbol, price rounded to cents) pairs."""
        dt = self.step_years
        result = []
        for entry in self.symbols:
            z = self.rng.gauss(0.0, 1.0)
            log_return = (entry.drift - entry.volatility**2 / 2) * dt
            log_return += entry.volatility * math.sqrt(dt) * z
            price = self.prices[entry.symbol] * math.exp(log_return)
            self.prices[entry.symbol] = price
            result.append((entry.symbol, max(MIN_PRICE, round(price, 2))))
        return result


class Schedule:
    """Absolute deadlines ``start + k * interval``, so that the rate never drifts.

    When the caller is late by a whole interval or more, the missed deadlines are skipped rather
    than run in a burst.
    """

    def __init__(self, start: float, interval: float):
        self.start = start
        self.interval = interval
        self.step = 0

    def next_deadline(self, now: float) -> tuple[float, int]:
        """Move to the next deadline that is not a whole interval in the past.

        Returns the deadline and how many deadlines were skipped to reach it.
        """
        self.step += 1
        deadline = self.start + self.step * self.interval
        skipped = 0
        if now - deadline >= self.interval:
            skipped = int((now - deadline) // self.interval)
            self.step += skipped
            deadline = self.start + self.step * self.interval
        return deadline, skipped


class Feed:
    """Runs a PriceModel on the event loop and publishes each step to the hub as one batch.

    Every tick carries the wall-clock time its step was scheduled for, so a late loop shows up
    as latency at the client.
    """

    def __init__(self, model: PriceModel, hub: Hub, tick_interval: float):
        self.model = model
        self.hub = hub
        self.tick_interval = tick_interval
        self.steps = 0
        self.skipped_steps = 0
        self.last_lag = 0.0
        """How late the last step ran after its deadline, in seconds."""
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """Whether the publishing loop is alive: started, not stopped, and not ended by an error."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start publishing on the running event loop; idempotent."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="ticker-feed")
            logger.info(
                "feed started: %d symbols every %.3f s", len(self.model.symbols), self.tick_interval
            )

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
        logger.info("feed stopped after %d steps (%d skipped)", self.steps, self.skipped_steps)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        # Deadlines are on the monotonic loop clock; ts is the same moment on the wall clock.
        wall_offset = time.time() - start
        schedule = Schedule(start, self.tick_interval)
        try:
            while True:
                deadline, skipped = schedule.next_deadline(loop.time())
                if skipped:
                    self.skipped_steps += skipped
                    logger.warning(
                        "feed is %.3f s behind; skipped %d steps",
                        skipped * self.tick_interval,
                        skipped,
                    )
                delay = deadline - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                self.last_lag = max(0.0, loop.time() - deadline)
                self.publish_step((deadline + wall_offset) * 1000.0)
        except Exception:
            logger.exception("feed stopped by an unexpected error after %d steps", self.steps)
            raise

    def publish_step(self, ts: float) -> None:
        """Advance the model once and publish the prices stamped with ``ts`` (ms since epoch)."""
        updates = [PriceUpdate(symbol, price, ts) for symbol, price in self.model.step()]
        self.hub.publish(updates)
        self.steps += 1
