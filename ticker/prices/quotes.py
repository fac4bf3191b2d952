"""Quote fields around a last price: bid and ask from a spread, a traded size, the session range.

Everything is rounded to cents the way the hub publishes it, so the published fields keep
``bid < ask``, ``bid <= price <= ask`` and ``low <= price <= high``.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from ticker.hub import Quote

CENT = 0.01
ROUND_LOT = 100
"""Shares in one round lot; simulated sizes are whole lots."""
MEAN_SIMULATED_LOTS = 5.0


@dataclass
class Session:
    """The open, high and low of one symbol's session, in cents-rounded dollars."""

    open: float
    high: float
    low: float

    @classmethod
    def starting_at(cls, price: float) -> Session:
        price = round(price, 2)
        return cls(price, price, price)

    def record(self, price: float) -> None:
        price = round(price, 2)
        self.high = max(self.high, price)
        self.low = min(self.low, price)


def bid_ask(price: float, spread: float) -> tuple[float, float]:
    """Return the bid and ask around ``price`` for a spread that is a fraction of the price.

    The spread is at least one cent; the bid is never below one cent.
    """
    price = round(price, 2)
    half = price * spread / 2
    # Rounding outwards keeps the price inside the quote; the epsilon absorbs float error.
    bid = math.floor((price - half) * 100 + 1e-9) / 100
    ask = math.ceil((price + half) * 100 - 1e-9) / 100
    if ask - bid < CENT - 1e-9:
        ask = round(bid + CENT, 2)
    if bid < CENT:
        bid = CENT
        ask = max(ask, round(2 * CENT, 2))
    return round(bid, 2), round(ask, 2)


def simulated_size(rng: random.Random) -> int:
    """Return a traded size in whole round lots, mostly small with now and then a block."""
    lots = max(1, round(rng.expovariate(1.0 / MEAN_SIMULATED_LOTS)))
    return lots * ROUND_LOT


def sized_quote(
    price: float, spread: float, session: Session, size: int, date: str | None = None
) -> Quote:
    """Record ``price`` in ``session`` and return its quote fields."""
    session.record(price)
    bid, ask = bid_ask(price, spread)
    return Quote(bid, ask, size, session.open, session.high, session.low, date)
