"""Estimate each symbol's annualised volatility and drift from daily closes.

The estimator takes ``r``, the daily log returns ``ln(close_t / close_t-1)`` over consecutive
trading days. Volatility is the sample standard deviation of ``r`` times ``sqrt(252)``. Drift is
the mean of ``r`` times 252 plus half the squared volatility, which is the ``drift`` of the
geometric Brownian motion that the simulated feed runs.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass

from ticker.prices.bars import DailyBar, DailyPrices

TRADING_DAYS_PER_YEAR = 252


@dataclass(frozen=True)
class Estimate:
    symbol: str
    volatility: float
    drift: float
    last_close: float
    returns: int
    """Daily returns the estimate rests on."""


def estimate(symbol: str, bars: tuple[DailyBar, ...]) -> Estimate:
    """Estimate from ``bars`` in date order. Raises ValueError with fewer than three bars."""
    if len(bars) < 3:
        raise ValueError(f"{symbol}: {len(bars)} days of prices; calibration needs at least 3")
    returns = [math.log(b.close / a.close) for a, b in zip(bars, bars[1:])]
    volatility = statistics.stdev(returns) * math.sqrt(TRADING_DAYS_PER_YEAR)
    drift = statistics.fmean(returns) * TRADING_DAYS_PER_YEAR + volatility**2 / 2
    return Estimate(symbol, volatility, drift, bars[-1].close, len(returns))


def symbols_block(prices: DailyPrices) -> str:
    """Return ``[[symbols]]`` tables for every symbol of ``prices``, ready for config.toml."""
    lines = [
        f"# Estimated from {prices.source}: annualised from daily close-to-close log returns.",
        "# The start price is the last close; rename each symbol's name as you like.",
    ]
    for symbol, bars in prices.bars.items():
        result = estimate(symbol, bars)
        lines += [
            "",
            f"# {result.returns} daily returns from {bars[0].date} to {bars[-1].date}",
            "[[symbols]]",
            f"symbol = {json.dumps(symbol)}",
            f"name = {json.dumps(symbol)}",
            f"price = {result.last_close:.2f}",
            f"volatility = {result.volatility:.4f}",
            f"drift = {result.drift:.4f}",
        ]
    return "\n".join(lines) + "\n"
