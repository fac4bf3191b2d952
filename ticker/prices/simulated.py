"""Simulated prices: a geometric Brownian motion per symbol, moved at each of its updates.

Pure: the random generator is passed in and the caller gives each update's time.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable

from ticker.config import SymbolConfig
from ticker.hub import Quote
from ticker.prices.quotes import Session, simulated_size, sized_quote

TRADING_SECONDS_PER_YEAR = 252 * 6.5 * 3600
"""Volatility and drift are annualised over trading time: 252 sessions of 6.5 hours."""

MIN_PRICE = 0.01


class PriceModel:
    """Moves each symbol's price by geometric Brownian motion over a given time step.

    A step of ``dt`` years multiplies the price by ``exp((drift - volatility**2 / 2) * dt +
    volatility * sqrt(dt) * z)`` with ``z`` standard normal. The model keeps the exact price;
    published prices are rounded to cents and never below one cent, so rounding does not bias
    the path.
    """

    def __init__(self, symbols: Iterable[SymbolConfig], rng: random.Random):
        self.rng = rng
        self.entries: dict[str, SymbolConfig] = {}
        self.prices: dict[str, float] = {}
        for entry in symbols:
            self.add(entry)

    def add(self, entry: SymbolConfig) -> None:
        """Start (or restart) ``entry.symbol`` at its configured price."""
        self.entries[entry.symbol] = entry
        self.prices[entry.symbol] = entry.price

    def remove(self, symbol: str) -> None:
        self.entries.pop(symbol, None)
        self.prices.pop(symbol, None)

    def move(self, symbol: str, years: float) -> float:
        """Advance ``symbol`` by ``years`` of trading time; return its price rounded to cents."""
        entry = self.entries[symbol]
        z = self.rng.gauss(0.0, 1.0)
        log_return = (entry.drift - entry.volatility**2 / 2) * years
        log_return += entry.volatility * math.sqrt(years) * z
        price = self.prices[symbol] * math.exp(log_return)
        self.prices[symbol] = price
        return max(MIN_PRICE, round(price, 2))


class SimulatedPrices:
    """The simulated feed's prices and quotes; the session is the time since the symbol started."""

    mode = "simulated"

    def __init__(self, symbols: Iterable[SymbolConfig], time_scale: float, rng: random.Random):
        self.time_scale = time_scale
        self.rng = rng
        self.model = PriceModel((), rng)
        self.sessions: dict[str, Session] = {}
        self.last_update: dict[str, float] = {}
        for entry in symbols:
            self.add(entry)

    def add(self, entry: SymbolConfig) -> None:
        self.model.add(entry)
        self.sessions[entry.symbol] = Session.starting_at(entry.price)
        self.last_update.pop(entry.symbol, None)

    def remove(self, symbol: str) -> None:
        self.model.remove(symbol)
        self.sessions.pop(symbol, None)
        self.last_update.pop(symbol, None)

    def reconfigure(self, entry: SymbolConfig) -> None:
        """Apply changed settings from the next update on; a new price starts a new session."""
        previous = self.model.entries[entry.symbol]
        if entry.price != previous.price:
            self.add(entry)
        else:
            self.model.entries[entry.symbol] = entry

    def update(self, symbol: str, elapsed: float) -> tuple[float, Quote] | None:
        """Return the price and quote of an update ``elapsed`` seconds after the feed started."""
        entry = self.model.entries[symbol]
        previous = self.last_update.get(symbol, elapsed - entry.mean_interval)
        self.last_update[symbol] = elapsed
        years = max(0.0, elapsed - previous) * self.time_scale / TRADING_SECONDS_PER_YEAR
        price = self.model.move(symbol, years)
        quote = sized_quote(price, entry.spread, self.sessions[symbol], simulated_size(self.rng))
        return price, quote

    def describe(self) -> str:
        return "simulated prices"
