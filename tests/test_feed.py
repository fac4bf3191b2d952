from __future__ import annotations

import asyncio
import json
import math
import random
import statistics

import pytest

from conftest import eventually
from ticker.config import Config, SymbolConfig, parse_config
from ticker.feed import Feed
from ticker.hub import Hub
from ticker.prices.simulated import PriceModel, SimulatedPrices


def symbol(
    name: str = "AAA",
    price: float = 100.0,
    volatility: float = 0.3,
    drift: float = 0.1,
    mean_interval: float = 0.5,
) -> SymbolConfig:
    return SymbolConfig(name, name, price, volatility, drift, mean_interval)


def test_model_is_reproducible_with_seed() -> None:
    symbols = [symbol("AAA"), symbol("BBB", 50.0)]
    first = PriceModel(symbols, random.Random(42))
    second = PriceModel(symbols, random.Random(42))
    steps = [(name, 1 / 252) for _ in range(100) for name in ("AAA", "BBB")]
    assert [first.move(*step) for step in steps] == [second.move(*step) for step in steps]


def test_model_differs_with_other_seed() -> None:
    first = PriceModel([symbol()], random.Random(1))
    second = PriceModel([symbol()], random.Random(2))
    assert [first.move("AAA", 1 / 252) for _ in range(10)] != [
        second.move("AAA", 1 / 252) for _ in range(10)
    ]


def test_model_log_returns_match_gbm() -> None:
    volatility, drift, dt, steps = 0.4, 0.1, 1 / 252, 50_000
    model = PriceModel([symbol(volatility=volatility, drift=drift, price=1e6)], random.Random(3))
    returns = []
    previous = model.prices["AAA"]
    for _ in range(steps):
        model.move("AAA", dt)
        current = model.prices["AAA"]
        returns.append(math.log(current / previous))
        previous = current

    expected_mean = (drift - volatility**2 / 2) * dt
    expected_std = volatility * math.sqrt(dt)
    standard_error = expected_std / math.sqrt(steps)
    # Seeded, so this is exact for the seed; the bounds say how far a fair draw may stray.
    assert abs(statistics.fmean(returns) - expected_mean) < 4 * standard_error
    assert statistics.stdev(returns) == pytest.approx(expected_std, rel=0.02)


def test_model_rounds_prices_to_cents() -> None:
    model = PriceModel([symbol()], random.Random(5))
    for _ in range(100):
        price = model.move("AAA", 1 / 252)
        assert price == round(price, 2)


def test_model_price_never_below_one_cent() -> None:
    model = PriceModel([symbol(price=0.02, volatility=3.0, drift=-5.0)], random.Random(6))
    prices = [model.move("AAA", 1.0) for _ in range(200)]
    assert min(prices) == 0.01
    assert all(price >= 0.01 for price in prices)


def test_simulated_step_follows_elapsed_time() -> None:
    # Zero volatility leaves only the drift, so the price shows how much time was simulated.
    entry = symbol(volatility=0.0, drift=0.5, price=1000.0)
    prices = SimulatedPrices([entry], time_scale=252 * 6.5 * 3600, rng=random.Random(1))
    first = prices.update("AAA", 0.5)  # the first update counts one mean interval: 0.5 years
    second = prices.update("AAA", 1.5)  # a second of real time is a year here
    assert first is not None and second is not None
    assert first[0] == round(1000.0 * math.exp(0.5 * 0.5), 2)
    assert second[0] == round(1000.0 * math.exp(0.5 * 1.5), 2)


RATES_CONFIG = """
[feed]
seed = 3

[[symbols]]
symbol = "BUSY"
name = "Busy"
price = 100.0
volatility = 0.2
drift = 0.0
mean_interval = 0.004

[[symbols]]
symbol = "QUIET"
name = "Quiet"
price = 100.0
volatility = 0.2
drift = 0.0
mean_interval = 0.04
"""


def make_feed(config: Config) -> tuple[Feed, Hub]:
    hub = Hub({s.symbol: s.price for s in config.symbols}, 100_000, 10)
    return Feed.from_config(hub, config), hub


@pytest.mark.gen_test
async def test_feed_publishes_each_symbol_at_own_rate() -> None:
    feed, hub = make_feed(parse_config(RATES_CONFIG))
    feed.start()
    await eventually(lambda: hub.last_seq >= 400)
    await feed.stop()

    ticks, _ = hub.ticks_after(0, None, 100_000)
    counts = {name: sum(1 for tick in ticks if tick.symbol == name) for name in ("BUSY", "QUIET")}
    # The expected ratio is 10; a loose bound keeps a loaded machine from failing it.
    assert counts["BUSY"] > 4 * counts["QUIET"]
    # ts is each update's scheduled moment, and batches go out in time order.
    stamps = [tick.ts for tick in ticks]
    assert stamps == sorted(stamps)
    assert len(set(stamps)) > 0.9 * len(stamps)  # uneven times, not one beat for all
    first = json.loads(ticks[0].json)
    assert {"bid", "ask", "size", "open", "high", "low"} <= set(first)


@pytest.mark.gen_test
async def test_feed_applies_symbol_changes(config: Config) -> None:
    feed, hub = make_feed(config)
    feed.start()
    await eventually(lambda: hub.last_seq >= 10)

    faster_ko = symbol("KO", 50.0, mean_interval=0.001)
    new = symbol("NEW", 10.0, mean_interval=0.005)
    hub.update_symbols({"AAPL": 100.0, "KO": 50.0, "NEW": 10.0})
    feed.apply_symbols([config.symbols[0], faster_ko, new])
    removed_at = hub.last_seq
    await eventually(
        lambda: any(t.symbol == "NEW" for t in hub.ticks_after(removed_at, None, 10**5)[0])
    )
    await eventually(lambda: hub.last_seq >= removed_at + 200)
    await feed.stop()

    after, _ = hub.ticks_after(removed_at, None, 10**5)
    assert "MSFT" not in {tick.symbol for tick in after}
    counts = {name: sum(1 for t in after if t.symbol == name) for name in ("AAPL", "KO")}
    assert counts["KO"] > 3 * counts["AAPL"]  # 10 times the rate of AAPL on average


@pytest.mark.gen_test
async def test_feed_stop_is_idempotent(config: Config, hub: Hub) -> None:
    feed = Feed.from_config(hub, config)
    feed.start()
    await feed.stop()
    await feed.stop()
    published = hub.last_seq
    await asyncio.sleep(0.05)  # a stopped feed must stay silent for several intervals
    assert hub.last_seq == published
