"""Replay of the shipped daily prices: intraday paths, looping and reproducibility."""

from __future__ import annotations

import random

import pytest

from ticker.prices.bars import SHIPPED_PRICES, DailyBar, parse_daily_prices, read_daily_prices
from ticker.config import SymbolConfig
from ticker.prices.replay import INTRADAY_POINTS, ReplayPrices, intraday_path

DATA = read_daily_prices(SHIPPED_PRICES)


def replay(seed: int | None, day_seconds: float = 10.0) -> ReplayPrices:
    symbols = [
        SymbolConfig(symbol, symbol, DATA.bars[symbol][0].open, 0.0, 0.0, 0.5)
        for symbol in DATA.symbols()
    ]
    return ReplayPrices(DATA, symbols, day_seconds, seed, random.Random(seed))


def test_shipped_file_has_five_symbols() -> None:
    assert DATA.symbols() == ("AAPL", "FB", "GOOG", "IBM", "MSFT")
    assert DATA.dates[0] == "2012-03-01"
    assert DATA.dates[-1] == "2013-03-01"
    assert len(DATA.bars["AAPL"]) == 251


def test_path_passes_through_high_low_close() -> None:
    rng = random.Random(16)
    for symbol, bars in DATA.bars.items():
        for bar in bars:
            path = intraday_path(bar, rng)
            assert len(path) == INTRADAY_POINTS + 1
            assert path[0] == bar.open, (symbol, bar.date)
            assert max(path) == bar.high, (symbol, bar.date)
            assert min(path) == bar.low, (symbol, bar.date)
            assert path[-1] == bar.close, (symbol, bar.date)


def test_path_moves_within_the_day() -> None:
    bar = DATA.bars["AAPL"][3]
    path = intraday_path(bar, random.Random(17))
    assert len({round(price, 2) for price in path}) > 50  # ticks, not one jump a day


def test_flat_day_stays_flat() -> None:
    bar = DailyBar("2012-01-02", 10.0, 10.0, 10.0, 10.0, 0)
    assert set(intraday_path(bar, random.Random(18))) == {10.0}


def sample_day(prices: ReplayPrices, day: int) -> list[float]:
    result = []
    for step in range(100):
        update = prices.update("AAPL", (day + step / 100) * prices.day_seconds)
        assert update is not None
        result.append(update[0])
    return result


def test_replayed_day_reproducible_with_seed() -> None:
    assert sample_day(replay(seed=5), day=3) == sample_day(replay(seed=5), day=3)
    assert sample_day(replay(seed=5), day=3) != sample_day(replay(seed=6), day=3)


def test_replay_day_ends_at_close() -> None:
    prices = replay(seed=5)
    bar = DATA.bars["AAPL"][2]
    update = prices.update("AAPL", 3 * prices.day_seconds - 1e-9)
    assert update is not None
    assert update[0] == pytest.approx(bar.close, abs=0.01)
    assert update[1].date == bar.date


def test_replay_loops_at_end_of_file() -> None:
    prices = replay(seed=5)
    days = len(DATA.dates)
    assert prices.day_at(0.0) == ("2012-03-01", 0.0)
    date, fraction = prices.day_at((days + 0.5) * prices.day_seconds)
    assert date == "2012-03-01"
    assert fraction == pytest.approx(0.5)


def test_symbol_without_bar_does_not_update() -> None:
    prices = replay(seed=5)
    # FB was listed in May 2012, after the file's first day.
    assert prices.update("FB", 0.5 * prices.day_seconds) is None
    first_fb_day = DATA.dates.index(DATA.bars["FB"][0].date)
    update = prices.update("FB", (first_fb_day + 0.5) * prices.day_seconds)
    assert update is not None
    assert update[1].date == DATA.bars["FB"][0].date


BAD_FILES = [
    ("symbol,date,open\nAAA,2012-01-02,1\n", "missing columns high, low, close, volume"),
    ("symbol,date,open,high,low,close,volume\n", "no rows"),
    (
        "symbol,date,open,high,low,close,volume\nAAA,2012-13-02,1,1,1,1,1\n",
        "line 2: invalid date '2012-13-02'",
    ),
    ("symbol,date,open,high,low,close,volume\nAAA,2012-01-02,x,1,1,1,1\n", "invalid open 'x'"),
    (
        "symbol,date,open,high,low,close,volume\nAAA,2012-01-02,5,4,1,2,1\n",
        "open 5.0 is outside the day's low 1.0 and high 4.0",
    ),
    (
        "symbol,date,open,high,low,close,volume\n"
        "AAA,2012-01-03,1,1,1,1,1\nAAA,2012-01-02,1,1,1,1,1\n",
        "line 3: AAA 2012-01-02 is not after 2012-01-03",
    ),
]


@pytest.mark.parametrize(("text", "words"), BAD_FILES)
def test_invalid_file_names_line(text: str, words: str) -> None:
    with pytest.raises(ValueError, match="prices.csv") as caught:
        parse_daily_prices(text, source="prices.csv")
    assert words in str(caught.value)
