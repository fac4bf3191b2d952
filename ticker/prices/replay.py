"""Replayed prices: real daily bars, one trading day per ``replay_day_seconds``, looping.

A day's bar gives only its open, high, low and close, so each replayed day follows an intraday
path drawn for it. The path starts at the open, passes through the high and the low at random
moments, and ends at the close. The path of a symbol and day depends only on the seed, the
symbol and the date, so a replayed day is the same on every run with the same seed.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from dataclasses import dataclass

from ticker.prices.bars import DailyBar, DailyPrices
from ticker.config import SymbolConfig
from ticker.hub import Quote
from ticker.prices.quotes import Session, sized_quote

SESSION_SECONDS = 6.5 * 3600
"""Length of a real trading session."""
INTRADAY_POINTS = 390
"""Steps of an intraday path: one per minute of a 6.5-hour session."""
BRIDGE_NOISE = 0.5
"""Standard deviation of one step of a path's noise, as a fraction of the day's range divided by
the square root of the step count: large enough to wiggle, small enough to stay in range mostly."""


def intraday_path(bar: DailyBar, rng: random.Random, points: int = INTRADAY_POINTS) -> list[float]:
    """Return ``points + 1`` prices from the open to the close that reach the high and the low.

    The high and the low fall on two distinct random steps. Between two fixed prices the path
    is a Brownian bridge, clipped to the day's range, so its maximum is exactly the high and its
    minimum exactly the low.
    """
    if points < 3:
        raise ValueError(f"points must be 3 or more, got {points}")
    high_step, low_step = rng.sample(range(1, points), 2)
    anchors = sorted(
        [(0, bar.open), (high_step, bar.high), (low_step, bar.low), (points, bar.close)]
    )
    scale = BRIDGE_NOISE * (bar.high - bar.low) / math.sqrt(points)

    path = [0.0] * (points + 1)
    for (start, start_price), (end, end_price) in zip(anchors, anchors[1:]):
        steps = end - start
        walk = [0.0]
        for _ in range(steps):
            walk.append(walk[-1] + rng.gauss(0.0, scale))
        for k in range(steps + 1):
            # Subtracting the walk's end, pro rata, pins the bridge to 0 at both anchors.
            noise = walk[k] - walk[steps] * k / steps
            value = start_price + (end_price - start_price) * k / steps + noise
            path[start + k] = min(bar.high, max(bar.low, value))
    return path


@dataclass
class DayPath:
    """One symbol's path for one day, with the running high and low along it."""

    bar: DailyBar
    prices: list[float]
    running_high: list[float]
    running_low: list[float]

    @classmethod
    def draw(cls, bar: DailyBar, rng: random.Random) -> DayPath:
        prices = intraday_path(bar, rng)
        running_high, running_low = [prices[0]], [prices[0]]
        for price in prices[1:]:
            running_high.append(max(running_high[-1], price))
            running_low.append(min(running_low[-1], price))
        return cls(bar, prices, running_high, running_low)

    def at(self, fraction: float) -> tuple[float, float, float]:
        """Return the price, the high so far and the low so far at ``fraction`` of the day."""
        position = min(max(fraction, 0.0), 1.0) * (len(self.prices) - 1)
        step = min(int(position), len(self.prices) - 2)
        weight = position - step
        price = self.prices[step] * (1 - weight) + self.prices[step + 1] * weight
        high = max(self.running_high[step], price)
        low = min(self.running_low[step], price)
        return price, high, low


class ReplayPrices:
    """The replay feed's prices and quotes; the session is the replayed trading day.

    A symbol without a bar for the day being replayed (before its listing, say) does not update
    during that day.
    """

    mode = "replay"

    def __init__(
        self,
        prices: DailyPrices,
        symbols: Iterable[SymbolConfig],
        day_seconds: float,
        seed: int | None,
        rng: random.Random,
    ):
        self.prices = prices
        self.day_seconds = day_seconds
        self.rng = rng
        self.base_seed = seed if seed is not None else rng.getrandbits(64)
        self.entries: dict[str, SymbolConfig] = {}
        self.bars: dict[str, dict[str, DailyBar]] = {}
        self.paths: dict[str, DayPath] = {}
        """The current day's path per symbol; one day each, drawn when first needed."""
        for entry in symbols:
            self.add(entry)

    def add(self, entry: SymbolConfig) -> None:
        """Start replaying ``entry.symbol``. Raises KeyError when the file has no rows for it."""
        self.bars[entry.symbol] = {bar.date: bar for bar in self.prices.bars[entry.symbol]}
        self.entries[entry.symbol] = entry

    def remove(self, symbol: str) -> None:
        self.entries.pop(symbol, None)
        self.bars.pop(symbol, None)
        self.paths.pop(symbol, None)

    def reconfigure(self, entry: SymbolConfig) -> None:
        """Apply a changed mean interval or spread from the next update on."""
        self.entries[entry.symbol] = entry

    def day_at(self, elapsed: float) -> tuple[str, float]:
        """Return the date replayed ``elapsed`` seconds after the start, and the fraction of it."""
        days = elapsed / self.day_seconds
        index = math.floor(days)
        return self.prices.dates[index % len(self.prices.dates)], days - index

    def path(self, symbol: str, date: str) -> DayPath | None:
        """Return ``symbol``'s path for ``date``, or None when it has no bar that day."""
        current = self.paths.get(symbol)
        if current is not None and current.bar.date == date:
            return current
        bar = self.bars[symbol].get(date)
        if bar is None:
            return None
        path = DayPath.draw(bar, random.Random(f"{self.base_seed}:{symbol}:{date}"))
        self.paths[symbol] = path
        return path

    def update(self, symbol: str, elapsed: float) -> tuple[float, Quote] | None:
        """Return the price and quote of an update ``elapsed`` seconds after the feed started."""
        date, fraction = self.day_at(elapsed)
        path = self.path(symbol, date)
        if path is None:
            return None
        entry = self.entries[symbol]
        price, high, low = path.at(fraction)
        price = round(price, 2)
        session = Session(round(path.bar.open, 2), round(high, 2), round(low, 2))
        # Sizes are scaled as if the updates came at the symbol's mean interval through a real
        # session, so that they add up to about the day's volume there.
        mean_size = path.bar.volume * entry.mean_interval / SESSION_SECONDS
        size = max(1, round(self.rng.expovariate(1.0 / mean_size))) if mean_size > 0 else 0
        return price, sized_quote(price, entry.spread, session, size, date)

    def describe(self) -> str:
        return (
            f"replay of {self.prices.source}, {len(self.prices.dates)} trading days "
            f"from {self.prices.dates[0]}, one every {self.day_seconds:g} s"
        )
