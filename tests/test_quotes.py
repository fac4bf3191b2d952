"""Quote fields: bid below ask around the price, the session's range around the price."""

from __future__ import annotations

import json
import random

import pytest

from ticker.prices.bars import SHIPPED_PRICES, read_daily_prices
from ticker.config import SymbolConfig
from ticker.hub import Hub, PriceUpdate
from ticker.prices.quotes import bid_ask
from ticker.prices.replay import ReplayPrices
from ticker.prices.simulated import SimulatedPrices


def entry(symbol: str = "AAA", price: float = 100.0, spread: float = 0.0005, **kwargs: float):
    return SymbolConfig(symbol, symbol, price, kwargs.get("volatility", 0.4), 0.05, 0.5, spread)


@pytest.mark.parametrize("spread", [0.0, 0.0001, 0.0005, 0.01, 0.1])
def test_bid_ask_surround_price(spread: float) -> None:
    rng = random.Random(13)
    for _ in range(2000):
        price = round(rng.choice([0.01, 0.02, 0.5, 1.0, 99.99, 600.0]) * rng.uniform(1, 3), 2)
        bid, ask = bid_ask(price, spread)
        assert bid < ask, (price, spread)
        assert bid <= price <= ask, (price, spread)
        assert bid >= 0.01
        assert (bid, ask) == (round(bid, 2), round(ask, 2))


def test_spread_widens_with_setting() -> None:
    narrow = bid_ask(500.0, 0.0002)
    wide = bid_ask(500.0, 0.002)
    assert narrow[1] - narrow[0] == pytest.approx(0.1)
    assert wide[1] - wide[0] == pytest.approx(1.0)


def published(hub: Hub, updates: list[PriceUpdate]) -> list[dict[str, object]]:
    batch = hub.publish(updates)
    assert batch is not None
    return [json.loads(tick.json) for tick in batch.ticks]


def check_invariants(tick: dict[str, object]) -> None:
    price = tick["price"]
    assert isinstance(price, float)
    assert tick["bid"] < tick["ask"]  # type: ignore[operator]
    assert tick["bid"] <= price <= tick["ask"]  # type: ignore[operator]
    assert tick["low"] <= price <= tick["high"]  # type: ignore[operator]
    assert tick["change"] == round(price - tick["open"], 2)  # type: ignore[operator]
    assert isinstance(tick["size"], int) and tick["size"] > 0


def test_simulated_quotes_keep_invariants() -> None:
    symbols = [entry("AAA", 100.0), entry("PENNY", 0.05, volatility=2.0)]
    prices = SimulatedPrices(symbols, time_scale=3600.0, rng=random.Random(14))
    hub = Hub({s.symbol: s.price for s in symbols}, history_size=10, max_subscribers=1)
    for step in range(5000):
        elapsed = step * 0.5
        updates = []
        for symbol in ("AAA", "PENNY"):
            result = prices.update(symbol, elapsed)
            assert result is not None
            updates.append(PriceUpdate(symbol, result[0], 0.0, result[1]))
        for tick in published(hub, updates):
            check_invariants(tick)
            # The simulated session opens at the start price.
            start = {"AAA": 100.0, "PENNY": 0.05}[str(tick["symbol"])]
            assert tick["open"] == start


def test_replayed_quotes_keep_invariants() -> None:
    data = read_daily_prices(SHIPPED_PRICES)
    symbols = [entry(symbol, data.bars[symbol][0].open) for symbol in data.symbols()]
    prices = ReplayPrices(data, symbols, day_seconds=10.0, seed=15, rng=random.Random(15))
    hub = Hub({s.symbol: s.price for s in symbols}, history_size=10, max_subscribers=1)
    checked = 0
    for step in range(len(data.dates) * 20):
        elapsed = step * 0.5
        for symbol in data.symbols():
            result = prices.update(symbol, elapsed)
            if result is None:
                continue
            [tick] = published(hub, [PriceUpdate(symbol, result[0], 0.0, result[1])])
            check_invariants(tick)
            bar = data.bars[symbol]
            assert tick["date"] in {b.date for b in bar}
            checked += 1
    assert checked > 20_000


def test_old_fields_keep_meaning_without_quote() -> None:
    hub = Hub({"AAA": 100.0}, history_size=10, max_subscribers=1)
    [tick] = published(hub, [PriceUpdate("AAA", 101.5, 5.0)])
    assert tick == {
        "seq": 1,
        "symbol": "AAA",
        "price": 101.5,
        "change": 1.5,
        "change_pct": 1.5,
        "ts": 5.0,
    }
