from __future__ import annotations

import asyncio
import math
import random
import statistics

import pytest

from conftest import eventually
from ticker.config import Config, SymbolConfig
from ticker.feed import Feed, PriceModel, Schedule
from ticker.hub import Hub


def symbol(name: str = "AAA", price: float = 100.0, volatility: float = 0.3, drift: float = 0.1):
    return SymbolConfig(name, name, price, volatility, drift)


def test_model_is_reproducible_with_seed() -> None:
    symbols = [symbol("AAA"), symbol("BBB", 50.0)]
    first = PriceModel(symbols, 1 / 252, random.Random(42))
    second = PriceModel(symbols, 1 / 252, random.Random(42))
    assert [first.step() for _ in range(100)] == [second.step() for _ in range(100)]


def test_model_differs_with_other_seed() -> None:
    first = PriceModel([symbol()], 1 / 252, random.Random(1))
    second = PriceModel([symbol()], 1 / 252, random.Random(2))
    assert [first.step() for _ in range(10)] != [second.step() for _ in range(10)]


def test_model_log_returns_match_gbm() -> None:
    volatility, drift, dt, steps = 0.4, 0.1, 1 / 252, 50_000
    model = PriceModel([symbol(volatility=volatility, drift=drift, price=1e6)], dt, random.Random(3))
    returns = []
    previous = model.prices["AAA"]
    for _ in range(steps):
        model.step()
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
    model = PriceModel([symbol()], 1 / 252, random.Random(5))
    for _ in range(100):
        [(_name, price)] = model.step()
        assert price == round(price, 2)


def test_model_price_never_below_one_cent() -> None:
    model = PriceModel([symbol(price=0.02, volatility=3.0, drift=-5.0)], 1.0, random.Random(6))
    prices = [model.step()[0][1] for _ in range(200)]
    assert min(prices) == 0.01
    assert all(price >= 0.01 for price in prices)


def test_model_for_interval_scales_time() -> None:
    model = PriceModel.for_interval([symbol()], tick_interval=0.5, time_scale=60.0, seed=None)
    assert model.step_years == pytest.approx(30.0 / (252 * 6.5 * 3600))


def test_schedule_keeps_absolute_deadlines() -> None:
    schedule = Schedule(start=100.0, interval=0.5)
    # Each call happens a little late; the deadlines still do not drift.
    assert schedule.next_deadline(now=100.0) == (100.5, 0)
    assert schedule.next_deadline(now=100.6) == (101.0, 0)
    assert schedule.next_deadline(now=101.3) == (101.5, 0)


def test_schedule_skips_missed_deadlines() -> None:
    schedule = Schedule(start=0.0, interval=1.0)
    assert schedule.next_deadline(now=0.0) == (1.0, 0)
    # The loop stalled until 4.2: deadlines 2 and 3 are skipped and 4 runs 0.2 s late.
    deadline, skipped = schedule.next_deadline(now=4.2)
    assert skipped == 2
    assert deadline == 4.0
    assert schedule.next_deadline(now=4.3) == (5.0, 0)


def test_schedule_late_less_than_interval_is_kept() -> None:
    schedule = Schedule(start=0.0, interval=1.0)
    assert schedule.next_deadline(now=1.9) == (1.0, 0)


@pytest.mark.gen_test
async def test_feed_publishes_batches_on_schedule(config: Config, hub: Hub) -> None:
    model = PriceModel.for_interval(config.symbols, 0.01, 1.0, seed=1)
    feed = Feed(model, hub, tick_interval=0.01)
    symbols = len(config.symbols)
    feed.start()
    await eventually(lambda: hub.last_seq >= 5 * symbols)
    await feed.stop()

    assert hub.last_seq % symbols == 0  # whole batches only
    _cursor, ticks = hub.snapshot()
    assert [tick.symbol for tick in ticks] == list(config.symbol_names())
    batch_times = sorted({tick.ts for tick in hub.ticks_after(0, None, 1000)[0]})
    steps = [b - a for a, b in zip(batch_times, batch_times[1:])]
    # ts is the scheduled moment, so batches are one interval apart however late the loop ran.
    assert all(step == pytest.approx(10.0, abs=1e-3) for step in steps)


@pytest.mark.gen_test
async def test_feed_stop_is_idempotent(config: Config, hub: Hub) -> None:
    feed = Feed(PriceModel.for_interval(config.symbols, 0.01, 1.0, seed=1), hub, 0.01)
    feed.start()
    await feed.stop()
    await feed.stop()
    published = hub.last_seq
    await asyncio.sleep(0.05)  # a stopped feed must stay silent for several intervals
    assert hub.last_seq == published
